/*-------------------------------------------------------------------------
 *
 * blas.c
 *	  Load OpenBLAS at run time, with the fastest kernels the CPU has.
 *
 * Debian's OpenBLAS 0.3.21 picks its kernels (the "core type") in a
 * library constructor, from the CPU model.  On CPUs newer than it knows,
 * such as recent Xeons, it falls back to "Prescott" (SSE3) kernels and
 * sgemm runs about 6x slower than with OPENBLAS_CORETYPE=SkylakeX, with
 * the same results.  The variable has to be in the environment before the
 * library is loaded, so pg_infer does not link OpenBLAS: each backend
 * dlopen()s it on first use, after setting OPENBLAS_CORETYPE from its own
 * CPU check (SkylakeX for AVX-512, Haswell for AVX2) unless the user set
 * it.  Loading in the backend, not the postmaster, also keeps OpenBLAS's
 * threads out of fork().
 *
 * pg_infer.threads (default 1) sets OpenBLAS's threads per backend.
 *
 * src/pg/infer/blas.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <dlfcn.h>
#include <stdlib.h>

#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "pg/infer/blas.h"

int			pgi_threads = 1;

static PgiBlas blas;
static bool blasLoaded = false;
static void (*blasSetThreads) (int) = NULL;

/* OpenBLAS's sonames, most specific first */
static const char *const blasLibraries[] = {
	"libopenblas.so.0", "libopenblasp.so.0", "libopenblas.so"
};

/* pg_infer.threads assign hook: apply to a loaded OpenBLAS */
static void
AssignThreads(int newval, void *extra)
{
	if (blasLoaded && blasSetThreads)
		blasSetThreads(newval);
}

/* Register the GUCs (called from _PG_init) */
void
BlasInit(void)
{
	DefineCustomIntVariable("pg_infer.threads", "BLAS threads per backend",
							"Threads OpenBLAS may use in each backend for one query.",
							&pgi_threads, 1, 1, 64, PGC_USERSET, 0,
							NULL, AssignThreads, NULL);
}

/* The OpenBLAS core type for this CPU, or NULL to let OpenBLAS choose */
static const char *
ChooseCoretype(const char **cpu)
{
#if defined(__x86_64__)
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
		__builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
	{
		*cpu = "avx512";
		return "SkylakeX";
	}
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
	{
		*cpu = "avx2";
		return "Haswell";
	}
#endif
	*cpu = "baseline";
	return NULL;
}

/* Look up a symbol of the loaded library */
static void *
BlasSym(void *handle, const char *name, bool required)
{
	void	   *p = dlsym(handle, name);

	if (p == NULL && required)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FILE),
				 errmsg("OpenBLAS library \"%s\" has no symbol \"%s\"", blas.library, name)));
	return p;
}

/* Load OpenBLAS in this process (once) */
const PgiBlas *
BlasGet(void)
{
	const char *coretype;
	void	   *handle = NULL;
	char	   *(*getCorename) (void);
	char	   *(*getConfig) (void);

	if (blasLoaded)
		return &blas;

	coretype = ChooseCoretype(&blas.cpu);
	if (getenv("OPENBLAS_CORETYPE") != NULL)
		blas.coretypeSource = "user";
	else if (coretype != NULL)
	{
		setenv("OPENBLAS_CORETYPE", coretype, 1);
		blas.coretypeSource = "pg_infer";
	}
	else
		blas.coretypeSource = "openblas";

	for (size_t i = 0; i < lengthof(blasLibraries) && handle == NULL; i++)
	{
		handle = dlopen(blasLibraries[i], RTLD_NOW | RTLD_LOCAL);
		blas.library = blasLibraries[i];
	}
	if (handle == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FILE),
				 errmsg("could not load OpenBLAS: %s", dlerror()),
				 errhint("Install the libopenblas0 package.")));

	blas.sgemm = (PgiSgemmFn) BlasSym(handle, "cblas_sgemm", true);
	blasSetThreads = (void (*) (int)) BlasSym(handle, "openblas_set_num_threads", false);
	getCorename = (char *(*) (void)) BlasSym(handle, "openblas_get_corename", false);
	getConfig = (char *(*) (void)) BlasSym(handle, "openblas_get_config", false);
	blas.core = getCorename ? getCorename() : "unknown";
	blas.config = getConfig ? getConfig() : "unknown";
	if (blasSetThreads)
		blasSetThreads(pgi_threads);
	blasLoaded = true;
	return &blas;
}

PG_FUNCTION_INFO_V1(pgi_blas_info);
/* pg_infer.blas_info(): which BLAS and which kernels this backend uses */
Datum
pgi_blas_info(PG_FUNCTION_ARGS)
{
	const PgiBlas *b = BlasGet();
	TupleDesc	tupdesc;
	Datum		values[6];
	bool		nulls[6] = {false, false, false, false, false, false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	values[0] = CStringGetTextDatum(b->library);
	values[1] = CStringGetTextDatum(b->core);
	values[2] = CStringGetTextDatum(b->coretypeSource);
	values[3] = CStringGetTextDatum(b->cpu);
	values[4] = Int32GetDatum(pgi_threads);
	values[5] = CStringGetTextDatum(b->config);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}
