/*
 * unit.h
 *	  A tiny assertion harness for the C unit tests of src/core.
 *
 * CHECK(cond, fmt, ...) counts a pass or prints the failure; UNIT_DONE()
 * prints "<name>: N passed, M failed" and returns the exit status.
 */
#ifndef UNIT_H
#define UNIT_H

#include <stdio.h>

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

#define UNIT_DONE(name) \
	(printf("unit %s: %d passed, %d failed\n", (name), unit_passed, unit_failed), \
	 unit_failed ? 1 : 0)

#endif
