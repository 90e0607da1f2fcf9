/*-------------------------------------------------------------------------
 *
 * knn.h
 *	  Building blocks of nearest-neighbour graph search: a binary heap of
 *	  (distance, id) pairs and a hash set of 64-bit ids.
 *
 * Both grow by doubling through a caller-supplied allocator, so the glue can
 * charge them to a PostgreSQL memory context and the unit tests to malloc.
 *
 * src/core/kernels/knn.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef KNN_H
#define KNN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* realloc-like allocator; returns NULL on failure (glue: errors instead) */
typedef void *(*knn_realloc_fn) (void *ptr, size_t size, void *arg);

typedef struct KnnAlloc
{
	knn_realloc_fn realloc;
	void	   *arg;
} KnnAlloc;

/* The malloc-based allocator (tests, tools) */
extern const KnnAlloc knn_malloc_alloc;

typedef struct KnnItem
{
	float		dist;
	uint64_t	id;
} KnnItem;

/*
 * Binary heap of KnnItem.  A min-heap has the smallest distance on top; a
 * max-heap the largest.  Ties break on id so orders are deterministic.
 */
typedef struct KnnHeap
{
	KnnItem    *items;
	int			len;
	int			cap;
	bool		max;			/* max-heap? */
	KnnAlloc	alloc;
} KnnHeap;

extern void knn_heap_init(KnnHeap *h, bool max, int cap, KnnAlloc alloc);
extern void knn_heap_free(KnnHeap *h);
extern void knn_heap_push(KnnHeap *h, float dist, uint64_t id);
extern KnnItem knn_heap_pop(KnnHeap *h);

/* The top item (heap must not be empty) */
static inline KnnItem
knn_heap_top(const KnnHeap *h)
{
	return h->items[0];
}

/* Pop everything into out[] in ascending distance order (h left empty) */
extern void knn_heap_drain_sorted(KnnHeap *h, KnnItem *out);

/*
 * Hash set of 64-bit ids (open addressing, linear probing).  The id
 * UINT64_MAX is reserved as the empty marker.
 */
typedef struct KnnIdSet
{
	uint64_t   *slots;
	size_t		mask;			/* capacity - 1 (capacity is a power of 2) */
	size_t		count;
	KnnAlloc	alloc;
} KnnIdSet;

extern void knn_idset_init(KnnIdSet *s, size_t expected, KnnAlloc alloc);
extern void knn_idset_free(KnnIdSet *s);

/* Add id; returns true if it was not already present */
extern bool knn_idset_add(KnnIdSet *s, uint64_t id);
extern bool knn_idset_contains(const KnnIdSet *s, uint64_t id);
extern void knn_idset_clear(KnnIdSet *s);

/* Distance between the items with ids a and b */
typedef float (*knn_pair_dist_fn) (uint64_t a, uint64_t b, void *arg);

/*
 * HNSW neighbour selection (the heuristic of Malkov & Yashunin, algorithm
 * 4, keeping pruned connections): walk cand[0..n-1] (ascending distance to
 * the base element) and keep a candidate only if it is nearer to the base
 * than to every candidate kept so far; then top up with the pruned ones, in
 * order, until lmax are kept.  Writes the kept items to out (room for
 * lmax) in ascending distance and returns how many.  scratch has room for
 * n items (the pruned ones wait there).
 */
extern int	knn_select_neighbors(const KnnItem *cand, int n, int lmax,
								 knn_pair_dist_fn dist, void *arg, KnnItem *out,
								 KnnItem *scratch);

/*
 * The same selection for a full list that takes one more candidate, done
 * incrementally.  items[0..n-1] is the list, nearest first, with the new
 * candidate at newIdx; closer[i] says whether the selection that made the
 * list kept item i on its merits (not as a top-up).  When valid (the flags
 * come from a selection over these items in this order), only the pairs
 * the new candidate can change are measured: the new one against the kept
 * ones before it, and the kept ones after it against the new one (plus, if
 * one of those falls out, the others after it against the kept ones);
 * otherwise every pair is, as in knn_select_neighbors.  The result equals
 * knn_select_neighbors over items[] either way.  Updates closer[] for the
 * items looked at and returns the index of the one item to leave out when
 * n > lmax, else -1.  kept has room for 2n ints.
 */
extern int	knn_select_update(const KnnItem *items, uint8_t *closer, int n, int lmax,
							  int newIdx, bool valid, knn_pair_dist_fn dist, void *arg,
							  int *kept);

#endif							/* KNN_H */
