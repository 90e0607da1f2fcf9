/*
 * test_knn.c
 *	  Heaps and id sets against brute-force references (qsort, a flat array).
 */
#include <stdlib.h>
#include <string.h>

#include "core/kernels/knn.h"
#include "unit.h"

static int
cmp_item(const void *a, const void *b)
{
	const KnnItem *x = a,
			   *y = b;

	if (x->dist != y->dist)
		return x->dist < y->dist ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* points on a line: distance is |a - b| */
static float
line_dist(uint64_t a, uint64_t b, void *arg)
{
	const float *x = arg;

	return x[a] > x[b] ? x[a] - x[b] : x[b] - x[a];
}

/*
 * Base at 0; candidates at 1, 1.5, -2, 3, -4, 5 on a line.  By hand: keep 1
 * (nothing kept yet); 1.5 is nearer to 1 (0.5) than to the base (1.5):
 * pruned; -2 is 3 from 1 and 2 from the base: kept; 3 is 2 from 1 and 3 from
 * the base: pruned; -4 is 2 from -2 < 4: pruned; 5: pruned.  With lmax 2 the
 * result is {1, -2}; with lmax 4 the pruned 1.5 and 3 top it up.
 */
static void
check_select(void)
{
	float		x[6] = {1, 1.5f, -2, 3, -4, 5};
	KnnItem		cand[6],
				out[6],
				scratch[6];
	int			n;

	for (int i = 0; i < 6; i++)
	{
		cand[i].id = (uint64_t) i;
		cand[i].dist = x[i] < 0 ? -x[i] : x[i];
	}
	/* cand must be sorted by distance: 1, 1.5, -2, 3, -4, 5 already is */
	n = knn_select_neighbors(cand, 6, 2, line_dist, x, out, scratch);
	CHECK(n == 2 && out[0].id == 0 && out[1].id == 2, "select lmax=2: n=%d ids %d %d",
		  n, (int) out[0].id, (int) out[1].id);
	n = knn_select_neighbors(cand, 6, 4, line_dist, x, out, scratch);
	CHECK(n == 4 && out[0].id == 0 && out[1].id == 1 && out[2].id == 2 && out[3].id == 3,
		  "select lmax=4 tops up in distance order: n=%d", n);
	n = knn_select_neighbors(cand, 6, 10, line_dist, x, out, scratch);
	CHECK(n == 6, "select lmax > n keeps everything: n=%d", n);
	n = knn_select_neighbors(cand, 0, 4, line_dist, x, out, scratch);
	CHECK(n == 0, "select from nothing");
}

/* points in the plane, indexed by id */
static float pts[400][2];

/* negative inner product: not a metric, as under vector_ip_ops */
static float
neg_dot(uint64_t a, uint64_t b, void *arg)
{
	(void) arg;
	return -(pts[a][0] * pts[b][0] + pts[a][1] * pts[b][1]);
}

static float
l2sq(uint64_t a, uint64_t b, void *arg)
{
	float		dx = pts[a][0] - pts[b][0],
				dy = pts[a][1] - pts[b][1];

	(void) arg;
	return dx * dx + dy * dy;
}

/* counts the pair distances measured */
static long npairs;

static float
counted(uint64_t a, uint64_t b, void *arg)
{
	npairs++;
	return ((knn_pair_dist_fn) arg) (a, b, NULL);
}

/*
 * knn_select_update against knn_select_neighbors: a base point's list takes
 * 300 candidates one at a time, pruned incrementally (flags kept between
 * calls), and after each step equals a full selection over the same items;
 * the incremental path measures far fewer pairs.
 */
static void
check_select_update(knn_pair_dist_fn d, const char *name)
{
	unsigned	seed = 99;
	int			steps = 0,
				bad = 0;
	long		full = 0;

	for (int i = 0; i < 400; i++)
	{
		seed = seed * 1103515245u + 12345u;
		pts[i][0] = (float) ((seed >> 8) % 20001) / 10000.0f - 1.0f;
		seed = seed * 1103515245u + 12345u;
		pts[i][1] = (float) ((seed >> 8) % 20001) / 10000.0f - 1.0f;
	}
	for (int base = 0; base < 40; base++)
	{
		int			lmax = 3 + base % 6;
		KnnItem		list[9],
					items[9],
					out[9],
					scratch[9];
		uint8_t		closer[9];
		int			kept[18];
		int			n = 0;
		bool		valid = false;

		for (int c = 40; c < 400; c++)
		{
			KnnItem		x = {d((uint64_t) base, (uint64_t) c, NULL), (uint64_t) c};
			int			pos = n,
						drop,
						nref;
			uint8_t		fl[9];

			/* insert in distance order */
			while (pos > 0 && list[pos - 1].dist > x.dist)
				pos--;
			for (int i = 0, j = 0; i <= n; i++)
			{
				items[i] = i == pos ? x : list[j];
				fl[i] = i == pos ? 0 : closer[j];
				j += i != pos;
			}
			memcpy(closer, fl, n + 1);
			npairs = 0;
			nref = knn_select_neighbors(items, n + 1, lmax, counted, (void *) d, out, scratch);
			full += npairs;
			npairs = 0;
			drop = knn_select_update(items, closer, n + 1, lmax, pos, valid, counted, (void *) d, kept);
			full -= npairs;
			valid = n + 1 > lmax;	/* flags kept from here on (appends skip them) */
			/* the list without the dropped item */
			{
				int			k = 0;

				for (int i = 0; i <= n; i++)
					if (i != drop)
					{
						list[k] = items[i];
						closer[k] = closer[i];
						k++;
					}
				n = k;
			}
			steps++;
			if (n != nref)
				bad++;
			else
				for (int i = 0; i < n; i++)
					if (list[i].id != out[i].id)
					{
						bad++;
						break;
					}
		}
	}
	CHECK(bad == 0, "select_update (%s): %d of %d steps differ from a full selection", name, bad, steps);
	CHECK(full > 0, "select_update (%s): measured %ld fewer pairs than full selections", name, full);
}

int
main(void)
{
	check_select();
	check_select_update(l2sq, "l2");
	check_select_update(neg_dot, "inner product");
	unsigned	seed = 7;

	for (int round = 0; round < 2; round++)
	{
		bool		max = round == 1;
		KnnHeap		h;
		KnnItem		ref[5000],
					got[5000];
		int			n = 5000,
					bad = 0;

		knn_heap_init(&h, max, 4, knn_malloc_alloc);
		for (int i = 0; i < n; i++)
		{
			seed = seed * 1664525u + 1013904223u;
			ref[i].dist = (float) (seed % 1000) / 7.0f;	/* many ties */
			ref[i].id = (uint64_t) i;
			knn_heap_push(&h, ref[i].dist, ref[i].id);
		}
		CHECK(h.len == n, "heap length %d", h.len);
		qsort(ref, n, sizeof(KnnItem), cmp_item);
		CHECK(cmp_item(&(KnnItem) {knn_heap_top(&h).dist, knn_heap_top(&h).id},
					   max ? &ref[n - 1] : &ref[0]) == 0, "top of %s heap", max ? "max" : "min");
		knn_heap_drain_sorted(&h, got);
		for (int i = 0; i < n; i++)
			bad += cmp_item(&got[i], &ref[i]) != 0;
		CHECK(bad == 0, "%s heap drain: %d items out of order", max ? "max" : "min", bad);
		CHECK(h.len == 0, "drained heap is empty");
		/* interleaved push/pop keeps the invariant */
		for (int i = 0; i < 100; i++)
			knn_heap_push(&h, (float) (i % 10), (uint64_t) i);
		{
			float		prev = max ? 1e30f : -1e30f;
			int			order_bad = 0;

			for (int i = 0; i < 50; i++)
			{
				KnnItem		it = knn_heap_pop(&h);

				order_bad += max ? it.dist > prev : it.dist < prev;
				prev = it.dist;
				if (i % 5 == 0)
					knn_heap_push(&h, max ? -1.0f : 100.0f, 1000 + (uint64_t) i);
			}
			CHECK(order_bad == 0, "interleaved pops out of order: %d", order_bad);
		}
		knn_heap_free(&h);
	}

	{
		KnnIdSet	s;
		static unsigned char present[200000];
		int			bad = 0;

		knn_idset_init(&s, 10, knn_malloc_alloc);
		for (int i = 0; i < 100000; i++)
		{
			uint64_t	id;
			bool		added;

			seed = seed * 1664525u + 1013904223u;
			id = (uint64_t) (seed % 200000);
			added = knn_idset_add(&s, id << 20);	/* spread like TIDs */
			bad += added != !present[id];
			present[id] = 1;
		}
		CHECK(bad == 0, "idset add results wrong %d times", bad);
		bad = 0;
		for (uint64_t id = 0; id < 200000; id++)
			bad += knn_idset_contains(&s, id << 20) != (present[id] != 0);
		CHECK(bad == 0, "idset contains wrong %d times", bad);
		knn_idset_clear(&s);
		CHECK(s.count == 0 && !knn_idset_contains(&s, 0), "idset clear");
		CHECK(knn_idset_add(&s, 0) && !knn_idset_add(&s, 0), "idset re-add after clear");
		knn_idset_free(&s);
	}
	return UNIT_DONE("knn");
}
