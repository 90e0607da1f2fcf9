/*
 * unit.h
 *	  A tiny assertion harness for the C unit tests of src/core.
 *
 * CHECK(cond, fmt, ...) counts a pass or prints the failure; UNIT_DONE()
 * prints "<name>: N passed, M failed" and returns the exit status.
 */
#ifndef UNIT_H
#define UNIT_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static int	unit_passed = 0;
static int	unit_failed = 0;

#define CHECK(cond, ...) \
	do { \
		if (cond) \
			unit_passed++; \
		else \
		{ \
			unit_failed++; \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
			fprintf(stderr, __VA_ARGS__); \
			fputc('\n', stderr); \
		} \
	} while (0)

/*
 * Read a whole file; NULL if absent.  The buffer has a NUL after the last
 * byte, so text fixtures can be used as strings.
 */
static inline uint8_t *
read_file(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	uint8_t    *buf;
	long		n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc(n > 0 ? (size_t) n + 1 : 1);
	if (buf == NULL || n < 0 || fread(buf, 1, (size_t) n, f) != (size_t) n)
	{
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	buf[n > 0 ? n : 0] = 0;
	*len = (size_t) n;
	return buf;
}

#define UNIT_DONE(name) \
	(printf("unit %s: %d passed, %d failed\n", (name), unit_passed, unit_failed), \
	 unit_failed ? 1 : 0)

#endif
