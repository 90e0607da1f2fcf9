/*-------------------------------------------------------------------------
 *
 * image.h
 *	  Image embedding entry points shared by the SQL functions (image.c)
 *	  and the executor's row batching (batch.c).
 *
 * src/pg/infer/image.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGI_IMAGE_H
#define PGI_IMAGE_H

#include "pg/vector/vector.h"

extern int	pgi_max_image_pixels;

extern void ImageInit(void);

/* embed_image(model, img) of one image; ERROR as the SQL function */
extern Vector *EmbedImageOne(const char *model, bytea *img);

/*
 * One pass over n images: out[i] NULL for a NULL image and for an image
 * that must be evaluated alone (EmbedImageOne) because it would raise an
 * ERROR (corrupt, unsupported, too large)
 */
extern void EmbedImageRows(const char *model, bytea **imgs, int n, Vector **out);

#endif							/* PGI_IMAGE_H */
