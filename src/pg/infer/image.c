/*-------------------------------------------------------------------------
 *
 * image.c
 *	  SQL functions of image encoders: embed_image(model, bytea),
 *	  embed_image(model, bytea[]), logit_scale(model), and EmbedImageRows,
 *	  the batched pass of the EmbedBatch scan.
 *
 * An image's bytes (PNG or JPEG) are probed first: an image of more than
 * pg_infer.max_image_pixels pixels is refused before anything is
 * allocated for it.  Decoding (libpng / libjpeg-turbo) and preprocessing
 * (src/core/images) run one image at a time in a context reset between
 * images; the model then embeds the preprocessed pixels of up to
 * IMAGE_BATCH images per forward pass, so the memory of a call does not
 * grow with the number of images (but for the vectors it returns).  The decoders poll for cancel
 * between rows; the forward pass checks for interrupts between layers.
 *
 * src/pg/infer/image.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "core/images/image.h"
#include "core/kernels/par.h"
#include "core/models/clip.h"
#include "pg/infer/blas.h"
#include "pg/infer/image.h"
#include "pg/models/models.h"
#include "pg/pgi_error.h"

/* Images per forward pass */
#define IMAGE_BATCH 32

int			pgi_max_image_pixels = 50000000;

void
ImageInit(void)
{
	DefineCustomIntVariable("pg_infer.max_image_pixels",
							"Largest image, in pixels, embed_image() decodes",
							"Larger images are refused before they are decoded (a decompression-bomb guard); "
							"a decoded image takes 3 bytes per pixel.",
							&pgi_max_image_pixels, 50000000, 1, INT_MAX, PGC_SUSET, 0,
							NULL, NULL, NULL);
}

/* ERROR unless the model has an image tower */
static void
RequireImageEncoder(const LoadedModel *m)
{
	if (m->pm.arch != PGIM_ARCH_CLIP || !m->pm.clip.config.has_vision)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("model \"%s\" cannot embed images", m->name),
				 errdetail("embed_image() runs CLIP-style image encoders (Hugging Face CLIPModel, CLIPVisionModelWithProjection).")));
}

/* Polled by the decoders */
static int
CancelRequested(void *arg)
{
	return QueryCancelPending || ProcDiePending;
}

static void
CheckInterrupts(void *arg)
{
	CHECK_FOR_INTERRUPTS();
}

/*
 * Decode and preprocess one image into px (3, S, S); false with err set
 * when the image cannot be (bad, unsupported or too large); cancel raises
 */
static bool
PrepareImage(const LoadedModel *m, bytea *img, float *px, PgiError *err)
{
	const ImagePrep *p = &m->pm.clip.image;
	const uint8 *data = (const uint8 *) VARDATA_ANY(img);
	size_t		len = VARSIZE_ANY_EXHDR(img);
	ImageInfo	info;
	uint8	   *rgb,
			   *scratch;
	PgiStatus	st;

	if (image_probe(data, len, pgi_max_image_pixels, &info, err) != PGI_OK)
		return false;
	rgb = MemoryContextAllocHuge(CurrentMemoryContext, (size_t) info.width * info.height * 3);
	st = image_decode(data, len, &info, rgb, CancelRequested, NULL, err);
	CHECK_FOR_INTERRUPTS();
	if (st != PGI_OK)
		return false;
	scratch = MemoryContextAllocHuge(CurrentMemoryContext,
									 image_prep_scratch_bytes(p, info.width, info.height));
	st = image_preprocess(p, rgb, info.width, info.height, scratch, px, err);
	pfree(rgb);
	pfree(scratch);
	return st == PGI_OK;
}

/* Embed n preprocessed images px (n, 3, S, S) into out (n, proj_dim) */
static void
EmbedPixels(const LoadedModel *m, const float *px, int n, float *out)
{
	const ClipConfig *c = &m->pm.clip.config;
	BertRuntime rt = {BlasGet()->sgemm, CheckInterrupts, NULL, 256, {0}, NULL};
	size_t		plane = (size_t) 3 * c->vision.image_size * c->vision.image_size;

	par_set_threads(pgi_threads);
	for (int i = 0; i < n; i += IMAGE_BATCH)
	{
		int			k = Min(IMAGE_BATCH, n - i);
		float	   *scratch = MemoryContextAllocHuge(CurrentMemoryContext,
													 sizeof(float) * clip_vision_scratch_floats(c, k));
		PgiError	err = {0};

		if (clip_vision_forward(c, &m->pm.clip_weights.vision, &rt, px + plane * i, k, scratch,
								out + (size_t) i * c->proj_dim, &err) != PGI_OK)
			PgiReport(&err);
		pfree(scratch);
	}
}

static Vector *
MakeVec(const float *x, int dim)
{
	Vector	   *v = InitVector(dim);

	memcpy(v->x, x, sizeof(float) * dim);
	return v;
}

Vector *
EmbedImageOne(const char *model, bytea *img)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "pg_infer embed_image",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	LoadedModel *m = ModelGet(model);
	const ClipConfig *c;
	float	   *px,
			   *out;
	PgiError	err = {0};
	Vector	   *v;

	RequireImageEncoder(m);
	c = &m->pm.clip.config;
	px = palloc(sizeof(float) * 3 * c->vision.image_size * c->vision.image_size);
	out = palloc(sizeof(float) * c->proj_dim);
	if (!PrepareImage(m, img, px, &err))
		PgiReport(&err);
	EmbedPixels(m, px, 1, out);
	MemoryContextSwitchTo(old);
	v = MakeVec(out, c->proj_dim);
	MemoryContextDelete(cxt);
	return v;
}

void
EmbedImageRows(const char *model, bytea **imgs, int n, Vector **out)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "pg_infer embed_image rows",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext per = AllocSetContextCreate(cxt, "pg_infer one image", ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	LoadedModel *m = ModelGet(model);
	const ClipConfig *c;
	size_t		plane;
	float	   *px,
			   *x;
	int			row[IMAGE_BATCH];
	int			i = 0;

	RequireImageEncoder(m);
	c = &m->pm.clip.config;
	plane = (size_t) 3 * c->vision.image_size * c->vision.image_size;
	/* memory for one group of images, whatever n is */
	px = MemoryContextAllocHuge(cxt, sizeof(float) * plane * IMAGE_BATCH);
	x = palloc(sizeof(float) * c->proj_dim * IMAGE_BATCH);
	for (int k = 0; k < n; k++)
		out[k] = NULL;
	while (i < n)
	{
		int			nreal = 0;

		/* decode up to IMAGE_BATCH readable images */
		for (; i < n && nreal < IMAGE_BATCH; i++)
		{
			PgiError	err = {0};

			if (imgs[i] == NULL)
				continue;
			MemoryContextSwitchTo(per);
			/* an image that fails is left out: alone, it raises its error in row order */
			if (PrepareImage(m, imgs[i], px + plane * nreal, &err))
				row[nreal++] = i;
			MemoryContextSwitchTo(cxt);
			MemoryContextReset(per);
		}
		if (nreal == 0)
			continue;
		EmbedPixels(m, px, nreal, x);
		MemoryContextSwitchTo(old);
		for (int k = 0; k < nreal; k++)
			out[row[k]] = MakeVec(x + (size_t) k * c->proj_dim, c->proj_dim);
		MemoryContextSwitchTo(cxt);
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
}

PG_FUNCTION_INFO_V1(pgi_embed_image);
/* embed_image(model text, image bytea) -> vector */
Datum
pgi_embed_image(PG_FUNCTION_ARGS)
{
	char	   *model = text_to_cstring(PG_GETARG_TEXT_PP(0));

	PG_RETURN_POINTER(EmbedImageOne(model, PG_GETARG_BYTEA_PP(1)));
}

PG_FUNCTION_INFO_V1(pgi_embed_image_batch);
/* embed_image(model text, images bytea[]) -> vector[]: one pass, NULL for NULL */
Datum
pgi_embed_image_batch(PG_FUNCTION_ARGS)
{
	char	   *model = text_to_cstring(PG_GETARG_TEXT_PP(0));
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(1);
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	bytea	  **imgs;
	Vector	  **vecs;
	Datum	   *outs;
	int			dims[1];
	int			lbs[1] = {1};
	Oid			vector_oid = get_fn_expr_rettype(fcinfo->flinfo);

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("embed_image() takes a one-dimensional array of images")));
	deconstruct_array(arr, BYTEAOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	imgs = palloc(sizeof(bytea *) * Max(n, 1));
	vecs = palloc(sizeof(Vector *) * Max(n, 1));
	outs = palloc(sizeof(Datum) * Max(n, 1));
	for (int i = 0; i < n; i++)
		imgs[i] = nulls[i] ? NULL : DatumGetByteaPP(elems[i]);
	EmbedImageRows(model, imgs, n, vecs);
	for (int i = 0; i < n; i++)
	{
		if (!nulls[i] && vecs[i] == NULL)
			vecs[i] = EmbedImageOne(model, imgs[i]);	/* raises that image's error */
		outs[i] = PointerGetDatum(vecs[i]);
	}
	dims[0] = n;
	if (n == 0)
		PG_RETURN_ARRAYTYPE_P(construct_empty_array(get_element_type(vector_oid)));
	PG_RETURN_ARRAYTYPE_P(construct_md_array(outs, nulls, 1, dims, lbs, get_element_type(vector_oid),
											 -1, false, TYPALIGN_INT));
}

PG_FUNCTION_INFO_V1(pgi_logit_scale);
/* logit_scale(model text) -> real: exp of the model's learned log temperature */
Datum
pgi_logit_scale(PG_FUNCTION_ARGS)
{
	char	   *model = text_to_cstring(PG_GETARG_TEXT_PP(0));
	LoadedModel *m = ModelGet(model);

	if (m->pm.arch != PGIM_ARCH_CLIP)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("model \"%s\" is not a CLIP-style model", model)));
	PG_RETURN_FLOAT4((float4) exp(m->pm.clip.config.logit_scale));
}

PG_FUNCTION_INFO_V1(pgi_preprocess_image);
/*
 * preprocess_image(model text, image bytea) -> real[]: the pixels the model
 * sees, (3, S, S) channel first, flattened (to check a pipeline against
 * Hugging Face's processor, and to time decoding apart from the model)
 */
Datum
pgi_preprocess_image(PG_FUNCTION_ARGS)
{
	char	   *model = text_to_cstring(PG_GETARG_TEXT_PP(0));
	LoadedModel *m = ModelGet(model);
	int			n;
	float	   *px;
	Datum	   *d;
	PgiError	err = {0};

	RequireImageEncoder(m);
	n = 3 * m->pm.clip.config.vision.image_size * m->pm.clip.config.vision.image_size;
	px = palloc(sizeof(float) * n);
	if (!PrepareImage(m, PG_GETARG_BYTEA_PP(1), px, &err))
		PgiReport(&err);
	d = palloc(sizeof(Datum) * n);
	for (int i = 0; i < n; i++)
		d[i] = Float4GetDatum(px[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(d, n, FLOAT4OID, 4, true, TYPALIGN_INT));
}
