/*-------------------------------------------------------------------------
 *
 * softmax_head.c
 *	  Multinomial logistic regression over embeddings (see softmax_head.h).
 *
 * The two products of each evaluation, logits = Z W^T and the gradient
 * G^T Z, run on the packed-panel kernels of gemm.h (Z^T is packed once).
 * Parameters, the L-BFGS state and every reduction are double.
 *
 * src/core/models/softmax_head.c
 *
 *-------------------------------------------------------------------------
 */
#include "core/models/softmax_head.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/kernels/gemm.h"

#define LBFGS_M		10
#define ARMIJO_C1	1e-4
#define MAX_HALVINGS 50

/* The problem, standardised */
typedef struct Fit
{
	int			n,
				d,
				k;
	const int32_t *y;
	const double *cw;
	double		c;
	float	   *z;				/* (n, d) standardised features */
	float	   *ztp;			/* Z^T (d, n) packed for gemm */
	float	   *wf;				/* (k, d) weights as float */
	float	   *wp;				/* wf packed */
	float	   *logits;			/* (n, k) */
	float	   *g;				/* (k, n): cw * (p - onehot) */
	float	   *gw;				/* (k, d) */
} Fit;

/* Objective at theta (k, d + 1), its gradient into grad */
static double
objective(Fit *f, const double *theta, double *grad)
{
	int			n = f->n,
				d = f->d,
				k = f->k;
	double		loss = 0;

	for (int c = 0; c < k; c++)
		for (int j = 0; j < d; j++)
			f->wf[(size_t) c * d + j] = (float) theta[(size_t) c * (d + 1) + j];
	gemm_pack(f->wf, k, d, f->wp);
	memset(f->logits, 0, sizeof(float) * (size_t) n * k);
	gemm_packed(f->z, d, f->wp, f->logits, k, n, k, d);
	for (int i = 0; i < n; i++)
	{
		double		l[256],
				   *lp = l,
					mx = -INFINITY,
					sum = 0,
					w = f->cw ? f->cw[f->y[i]] : 1.0;
		double	   *heap = NULL;

		if (k > 256)
			lp = heap = malloc(sizeof(double) * k);
		for (int c = 0; c < k; c++)
		{
			lp[c] = (double) f->logits[(size_t) i * k + c] + theta[(size_t) c * (d + 1) + d];
			if (lp[c] > mx)
				mx = lp[c];
		}
		for (int c = 0; c < k; c++)
			sum += exp(lp[c] - mx);
		loss += w * (mx + log(sum) - lp[f->y[i]]);
		for (int c = 0; c < k; c++)
			f->g[(size_t) c * n + i] = (float) (w * (exp(lp[c] - mx) / sum - (c == f->y[i])));
		free(heap);
	}
	memset(f->gw, 0, sizeof(float) * (size_t) k * d);
	gemm_packed(f->g, n, f->ztp, f->gw, d, k, d, n);
	for (int c = 0; c < k; c++)
	{
		double		gb = 0;

		for (int i = 0; i < n; i++)
			gb += f->g[(size_t) c * n + i];
		for (int j = 0; j < d; j++)
		{
			double		t = theta[(size_t) c * (d + 1) + j];

			grad[(size_t) c * (d + 1) + j] = (double) f->gw[(size_t) c * d + j] + t / f->c;
			loss += t * t / (2 * f->c);
		}
		grad[(size_t) c * (d + 1) + d] = gb;
	}
	return loss;
}

static double
dot(const double *a, const double *b, size_t n)
{
	double		s = 0;

	for (size_t i = 0; i < n; i++)
		s += a[i] * b[i];
	return s;
}

static double
max_abs(const double *a, size_t n)
{
	double		m = 0;

	for (size_t i = 0; i < n; i++)
		if (fabs(a[i]) > m)
			m = fabs(a[i]);
	return m;
}

/* L-BFGS state: the last pairs (s, y) and 1 / (s.y) */
typedef struct Lbfgs
{
	size_t		p;
	int			count;
	int			head;
	double	   *s[LBFGS_M];
	double	   *y[LBFGS_M];
	double		rho[LBFGS_M];
	double		alpha[LBFGS_M];
} Lbfgs;

/* dir = -H g by the two-loop recursion */
static void
lbfgs_direction(Lbfgs *L, const double *g, double *dir)
{
	size_t		p = L->p;
	double		gamma = 1.0;

	for (size_t i = 0; i < p; i++)
		dir[i] = -g[i];
	for (int t = 0; t < L->count; t++)
	{
		int			j = (L->head - 1 - t + LBFGS_M) % LBFGS_M;

		L->alpha[j] = L->rho[j] * dot(L->s[j], dir, p);
		for (size_t i = 0; i < p; i++)
			dir[i] -= L->alpha[j] * L->y[j][i];
	}
	if (L->count > 0)
	{
		int			j = (L->head - 1 + LBFGS_M) % LBFGS_M;

		gamma = 1.0 / (L->rho[j] * dot(L->y[j], L->y[j], p));
	}
	for (size_t i = 0; i < p; i++)
		dir[i] *= gamma;
	for (int t = L->count - 1; t >= 0; t--)
	{
		int			j = (L->head - 1 - t + LBFGS_M) % LBFGS_M;
		double		beta = L->rho[j] * dot(L->y[j], dir, p);

		for (size_t i = 0; i < p; i++)
			dir[i] += (L->alpha[j] - beta) * L->s[j][i];
	}
}

/* Standardise x into f->z: mean[j], sd[j] (1 where a feature is constant) */
static void
standardise(const float *x, int n, int d, float *z, double *mean, double *sd)
{
	for (int j = 0; j < d; j++)
	{
		double		m = 0,
					v = 0;

		for (int i = 0; i < n; i++)
			m += x[(size_t) i * d + j];
		m /= n;
		for (int i = 0; i < n; i++)
		{
			double		e = x[(size_t) i * d + j] - m;

			v += e * e;
		}
		v = sqrt(v / n);
		mean[j] = m;
		sd[j] = v > 1e-12 ? v : 1.0;
		for (int i = 0; i < n; i++)
			z[(size_t) i * d + j] = (float) ((x[(size_t) i * d + j] - m) / sd[j]);
	}
}

/* The L-BFGS iterations from theta = 0 */
static PgiStatus
minimise(Fit *f, const HeadFitOptions *o, double *theta, double *buf, HeadFitResult *res,
		 PgiError *err)
{
	size_t		p = (size_t) f->k * (f->d + 1);
	double	   *g = buf,
			   *gn = buf + p,
			   *xn = buf + 2 * p,
			   *dir = buf + 3 * p;
	Lbfgs		L = {.p = p};
	double		fx;

	for (int j = 0; j < LBFGS_M; j++)
	{
		L.s[j] = buf + (4 + 2 * j) * p;
		L.y[j] = buf + (5 + 2 * j) * p;
	}
	memset(theta, 0, sizeof(double) * p);
	fx = res->loss_first = objective(f, theta, g);
	res->monotone = true;
	for (res->iterations = 0; res->iterations < o->max_iter; res->iterations++)
	{
		double		gd,
					step,
					fn = fx,
					sy;
		int			h;

		if (o->cancel && o->cancel(o->cancel_arg))
			return pgi_error(err, PGI_ERR_IO, NULL, "training cancelled");
		if (max_abs(g, p) <= o->tol * f->n)
		{
			res->converged = true;
			break;
		}
		lbfgs_direction(&L, g, dir);
		gd = dot(g, dir, p);
		if (!(gd < 0))
		{
			/* not a descent direction: forget the curvature pairs */
			L.count = 0;
			for (size_t i = 0; i < p; i++)
				dir[i] = -g[i];
			gd = -dot(g, g, p);
		}
		step = L.count == 0 ? 1.0 / fmax(1.0, sqrt(-gd)) : 1.0;
		for (h = 0; h < MAX_HALVINGS; h++, step *= 0.5)
		{
			for (size_t i = 0; i < p; i++)
				xn[i] = theta[i] + step * dir[i];
			fn = objective(f, xn, gn);
			if (fn <= fx + ARMIJO_C1 * step * gd)
				break;
		}
		if (h == MAX_HALVINGS)
		{
			/* no decrease left at float precision */
			res->converged = true;
			break;
		}
		if (fn > fx)
			res->monotone = false;
		/* the curvature pair */
		{
			double	   *s = L.s[L.head],
					   *y = L.y[L.head];

			for (size_t i = 0; i < p; i++)
			{
				s[i] = xn[i] - theta[i];
				y[i] = gn[i] - g[i];
			}
			sy = dot(s, y, p);
			if (sy > 1e-12 * dot(y, y, p))
			{
				L.rho[L.head] = 1.0 / sy;
				L.head = (L.head + 1) % LBFGS_M;
				if (L.count < LBFGS_M)
					L.count++;
			}
		}
		memcpy(theta, xn, sizeof(double) * p);
		memcpy(g, gn, sizeof(double) * p);
		if ((fx - fn) <= 1e-13 * fmax(1.0, fabs(fn)))
		{
			fx = fn;
			res->iterations++;
			res->converged = true;
			break;
		}
		fx = fn;
	}
	res->loss = fx;
	return PGI_OK;
}

PgiStatus
head_fit(const float *x, const int32_t *y, int n, int d, int k, const HeadFitOptions *o,
		 float *w, HeadFitResult *res, PgiError *err)
{
	Fit			f = {0};
	size_t		p;
	double	   *theta = NULL,
			   *buf = NULL,
			   *mean = NULL,
			   *sd = NULL;
	float	   *zt = NULL;
	PgiStatus	st = PGI_OK;

	memset(res, 0, sizeof(*res));
	if (n < 1 || d < 1 || k < 2 || k > 100000 || d > 1000000 || !(o->c > 0) || o->max_iter < 1 ||
		(double) n * d > 1e10)
		return pgi_error(err, PGI_ERR_PARAM, NULL, "bad head sizes (n %d, d %d, k %d)", n, d, k);
	for (int i = 0; i < n; i++)
		if (y[i] < 0 || y[i] >= k)
			return pgi_error(err, PGI_ERR_PARAM, NULL, "label %d out of range", (int) y[i]);
	for (size_t i = 0; i < (size_t) n * d; i++)
		if (!isfinite(x[i]))
			return pgi_error(err, PGI_ERR_DATA, NULL, "a training embedding is not finite");
	p = (size_t) k * (d + 1);
	f = (Fit) {.n = n, .d = d, .k = k, .y = y, .cw = o->class_weight, .c = o->c};
	f.z = malloc(sizeof(float) * (size_t) n * d);
	zt = malloc(sizeof(float) * (size_t) n * d);
	f.ztp = malloc(sizeof(float) * gemm_packed_floats(d, n));
	f.wf = malloc(sizeof(float) * (size_t) k * d);
	f.wp = malloc(sizeof(float) * gemm_packed_floats(k, d));
	f.logits = malloc(sizeof(float) * (size_t) n * k);
	f.g = malloc(sizeof(float) * (size_t) n * k);
	f.gw = malloc(sizeof(float) * (size_t) k * d);
	theta = malloc(sizeof(double) * p);
	buf = malloc(sizeof(double) * p * (4 + 2 * LBFGS_M));
	mean = malloc(sizeof(double) * d);
	sd = malloc(sizeof(double) * d);
	if (!f.z || !zt || !f.ztp || !f.wf || !f.wp || !f.logits || !f.g || !f.gw || !theta || !buf ||
		!mean || !sd)
	{
		st = pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory fitting a head of %d x %d", k, d);
		goto done;
	}
	standardise(x, n, d, f.z, mean, sd);
	for (int i = 0; i < n; i++)
		for (int j = 0; j < d; j++)
			zt[(size_t) j * n + i] = f.z[(size_t) i * d + j];
	gemm_pack(zt, d, n, f.ztp);
	if ((st = minimise(&f, o, theta, buf, res, err)) != PGI_OK)
		goto done;
	/* back onto raw features: W' = W / sd, b' = b - sum W mean / sd */
	for (int c = 0; c < k; c++)
	{
		double		b = theta[(size_t) c * (d + 1) + d];

		for (int j = 0; j < d; j++)
		{
			double		wj = theta[(size_t) c * (d + 1) + j] / sd[j];

			w[(size_t) c * (d + 1) + j] = (float) wj;
			b -= wj * mean[j];
		}
		w[(size_t) c * (d + 1) + d] = (float) b;
	}
done:
	free(f.z);
	free(zt);
	free(f.ztp);
	free(f.wf);
	free(f.wp);
	free(f.logits);
	free(f.g);
	free(f.gw);
	free(theta);
	free(buf);
	free(mean);
	free(sd);
	return st;
}

void
head_probs(const float *w, int d, int k, const float *x, int n, float *probs)
{
	for (int i = 0; i < n; i++)
	{
		double		mx = -INFINITY,
					sum = 0;
		float	   *pr = probs + (size_t) i * k;
		double		l;

		for (int c = 0; c < k; c++)
		{
			const float *wc = w + (size_t) c * (d + 1);

			l = wc[d];
			for (int j = 0; j < d; j++)
				l += (double) wc[j] * x[(size_t) i * d + j];
			pr[c] = (float) l;
			if (l > mx)
				mx = l;
		}
		for (int c = 0; c < k; c++)
			sum += exp(pr[c] - mx);
		for (int c = 0; c < k; c++)
			pr[c] = (float) (exp(pr[c] - mx) / sum);
	}
}

static uint64_t
splitmix64(uint64_t *s)
{
	uint64_t	z = (*s += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

void
head_split(const int32_t *y, int n, int k, double fraction, uint64_t seed, uint8_t *test)
{
	int		   *idx = malloc(sizeof(int) * (n > 0 ? n : 1));
	uint64_t	s = seed;

	memset(test, 0, (size_t) n);
	if (idx == NULL)
		return;
	for (int c = 0; c < k; c++)
	{
		int			m = 0,
					t;

		for (int i = 0; i < n; i++)
			if (y[i] == c)
				idx[m++] = i;
		/* Fisher-Yates */
		for (int i = m - 1; i > 0; i--)
		{
			int			j = (int) (splitmix64(&s) % (uint64_t) (i + 1));
			int			tmp = idx[i];

			idx[i] = idx[j];
			idx[j] = tmp;
		}
		t = (int) floor(fraction * m + 0.5);
		if (t > m - 1)
			t = m - 1;
		for (int i = 0; i < t; i++)
			test[idx[i]] = 1;
	}
	free(idx);
}
