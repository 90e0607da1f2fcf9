/*-------------------------------------------------------------------------
 *
 * knn.c
 *	  Binary heaps of (distance, id) and a hash set of ids.
 *
 * src/core/kernels/knn.c
 *
 *-------------------------------------------------------------------------
 */
#include "core/kernels/knn.h"

#include <stdlib.h>
#include <string.h>

/* realloc wrapper for the malloc allocator */
static void *
knn_std_realloc(void *ptr, size_t size, void *arg)
{
	(void) arg;
	if (size == 0)
	{
		free(ptr);
		return NULL;
	}
	return realloc(ptr, size);
}

const KnnAlloc knn_malloc_alloc = {knn_std_realloc, NULL};

/* Does a belong above b in heap h? */
static inline bool
above(const KnnHeap *h, const KnnItem *a, const KnnItem *b)
{
	if (a->dist != b->dist)
		return h->max ? a->dist > b->dist : a->dist < b->dist;
	return h->max ? a->id > b->id : a->id < b->id;
}

/* Set up an empty heap with room for cap items */
void
knn_heap_init(KnnHeap *h, bool max, int cap, KnnAlloc alloc)
{
	if (cap < 16)
		cap = 16;
	h->alloc = alloc;
	h->items = alloc.realloc(NULL, sizeof(KnnItem) * (size_t) cap, alloc.arg);
	h->len = 0;
	h->cap = cap;
	h->max = max;
}

void
knn_heap_free(KnnHeap *h)
{
	if (h->items)
		h->alloc.realloc(h->items, 0, h->alloc.arg);
	h->items = NULL;
	h->len = h->cap = 0;
}

/* Insert an item */
void
knn_heap_push(KnnHeap *h, float dist, uint64_t id)
{
	KnnItem		it;
	int			i;

	if (h->len == h->cap)
	{
		h->cap *= 2;
		h->items = h->alloc.realloc(h->items, sizeof(KnnItem) * (size_t) h->cap, h->alloc.arg);
	}
	it.dist = dist;
	it.id = id;
	i = h->len++;
	while (i > 0)
	{
		int			parent = (i - 1) / 2;

		if (!above(h, &it, &h->items[parent]))
			break;
		h->items[i] = h->items[parent];
		i = parent;
	}
	h->items[i] = it;
}

/* Remove and return the top item (heap must not be empty) */
KnnItem
knn_heap_pop(KnnHeap *h)
{
	KnnItem		top = h->items[0];
	KnnItem		last = h->items[--h->len];
	int			i = 0;

	for (;;)
	{
		int			c = 2 * i + 1;

		if (c >= h->len)
			break;
		if (c + 1 < h->len && above(h, &h->items[c + 1], &h->items[c]))
			c++;
		if (!above(h, &h->items[c], &last))
			break;
		h->items[i] = h->items[c];
		i = c;
	}
	if (h->len > 0)
		h->items[i] = last;
	return top;
}

/* Empty the heap into out[] sorted by ascending distance */
void
knn_heap_drain_sorted(KnnHeap *h, KnnItem *out)
{
	int			n = h->len;

	if (h->max)
		for (int i = n - 1; i >= 0; i--)
			out[i] = knn_heap_pop(h);
	else
		for (int i = 0; i < n; i++)
			out[i] = knn_heap_pop(h);
}

#define IDSET_EMPTY UINT64_MAX

/* Mix the bits of an id (splitmix64 finaliser) */
static inline uint64_t
mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

/* Allocate cap empty slots */
static void
idset_alloc(KnnIdSet *s, size_t cap)
{
	s->slots = s->alloc.realloc(NULL, sizeof(uint64_t) * cap, s->alloc.arg);
	memset(s->slots, 0xff, sizeof(uint64_t) * cap);
	s->mask = cap - 1;
	s->count = 0;
}

/* Set up a set sized for about expected ids */
void
knn_idset_init(KnnIdSet *s, size_t expected, KnnAlloc alloc)
{
	size_t		cap = 64;

	while (cap < expected * 2)
		cap *= 2;
	s->alloc = alloc;
	idset_alloc(s, cap);
}

void
knn_idset_free(KnnIdSet *s)
{
	if (s->slots)
		s->alloc.realloc(s->slots, 0, s->alloc.arg);
	s->slots = NULL;
}

/* Forget every id, keeping the capacity */
void
knn_idset_clear(KnnIdSet *s)
{
	memset(s->slots, 0xff, sizeof(uint64_t) * (s->mask + 1));
	s->count = 0;
}

/* Double the capacity and re-insert */
static void
idset_grow(KnnIdSet *s)
{
	uint64_t   *old = s->slots;
	size_t		oldcap = s->mask + 1;

	idset_alloc(s, oldcap * 2);
	for (size_t i = 0; i < oldcap; i++)
		if (old[i] != IDSET_EMPTY)
			knn_idset_add(s, old[i]);
	s->alloc.realloc(old, 0, s->alloc.arg);
}

bool
knn_idset_add(KnnIdSet *s, uint64_t id)
{
	size_t		i;

	if ((s->count + 1) * 2 > s->mask + 1)
		idset_grow(s);
	for (i = mix(id) & s->mask;; i = (i + 1) & s->mask)
	{
		if (s->slots[i] == id)
			return false;
		if (s->slots[i] == IDSET_EMPTY)
		{
			s->slots[i] = id;
			s->count++;
			return true;
		}
	}
}

bool
knn_idset_contains(const KnnIdSet *s, uint64_t id)
{
	for (size_t i = mix(id) & s->mask;; i = (i + 1) & s->mask)
	{
		if (s->slots[i] == id)
			return true;
		if (s->slots[i] == IDSET_EMPTY)
			return false;
	}
}

/* Neighbour selection heuristic; see knn.h */
int
knn_select_neighbors(const KnnItem *cand, int n, int lmax,
					 knn_pair_dist_fn dist, void *arg, KnnItem *out,
					 KnnItem *scratch)
{
	int			kept = 0;
	int			npruned = 0;
	KnnItem    *pruned = scratch;

	for (int i = 0; i < n && kept < lmax; i++)
	{
		bool		good = true;

		for (int j = 0; j < kept; j++)
			if (dist(cand[i].id, out[j].id, arg) < cand[i].dist)
			{
				good = false;
				break;
			}
		if (good)
			out[kept++] = cand[i];
		else
			pruned[npruned++] = cand[i];
	}
	if (kept < lmax)
	{
		/* merge the pruned back in distance order */
		for (int i = 0; i < npruned && kept < lmax; i++)
		{
			int			j = kept++;

			while (j > 0 && (out[j - 1].dist > pruned[i].dist ||
							 (out[j - 1].dist == pruned[i].dist && out[j - 1].id > pruned[i].id)))
			{
				out[j] = out[j - 1];
				j--;
			}
			out[j] = pruned[i];
		}
	}
	return kept;
}

/* Is items[i] nearer to the base than to each of items[idx[0..n-1]]? */
static bool
nearer_than_all(const KnnItem *items, int i, const int *idx, int n,
				knn_pair_dist_fn dist, void *arg)
{
	for (int j = 0; j < n; j++)
		if (dist(items[i].id, items[idx[j]].id, arg) < items[i].dist)
			return false;
	return true;
}

int
knn_select_update(const KnnItem *items, uint8_t *closer, int n, int lmax,
				  int newIdx, bool valid, knn_pair_dist_fn dist, void *arg,
				  int *kept)
{
	int		   *added = kept + n;	/* kept now but not before: the new one first */
	int			nkept = 0;
	int			nadded = 0;
	int			lastPruned = -1;
	bool		lostOne = false;	/* an item kept before fell out */
	int			i;

	for (i = 0; i < n && nkept < lmax; i++)
	{
		bool		c;

		if (!valid || i == newIdx)
			c = nearer_than_all(items, i, kept, nkept, dist, arg);
		else if (nadded == 0)
			c = closer[i] != 0; /* nothing kept before it changed */
		else if (closer[i])
		{
			/* it beat every item kept before; now also the added ones? */
			c = nearer_than_all(items, i, added, nadded, dist, arg);
			lostOne |= !c;
		}
		else if (lostOne)
			c = nearer_than_all(items, i, kept, nkept, dist, arg);
		else
			c = false;			/* what pruned it is still kept */
		if (c && valid && (i == newIdx || !closer[i]))
			added[nadded++] = i;
		closer[i] = c;
		if (c)
			kept[nkept++] = i;
		else
			lastPruned = i;
	}
	if (n <= lmax)
		return -1;
	/* the top-up takes pruned items nearest first: the farthest one is left */
	return i < n ? n - 1 : lastPruned;
}
