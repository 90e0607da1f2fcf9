/*
 * pg_nfc.h
 *	  NFC through PostgreSQL's unicode_normalize(), for the parity driver.
 *
 * test/tokenizer/bpe/pg_nfc.h
 */
#ifndef PG_NFC_H
#define PG_NFC_H

#include <stddef.h>
#include <stdint.h>

extern int64_t pg_unicode_nfc(void *arg, const uint32_t *in, size_t n_in,
							  uint32_t *out, size_t out_cap);

#endif
