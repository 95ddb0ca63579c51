/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What every fuzz target (tests/fuzz/NAME.c, one libFuzzer target each)
 * shares: the entry points, an invariant check that stops the run with the
 * broken condition, and a reader that takes typed values and lines off
 * the fuzzer's bytes.
 *
 * A target asserts what must hold for every input (FZ_CHECK), not only
 * that nothing crashed: libFuzzer saves the input and fails the run on the
 * abort(), like on a sanitizer report.
 */
#ifndef GW_FUZZ_H
#define GW_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/*
 * ASan's defaults for every target (ASAN_OPTIONS still overrides them): a
 * 16 MiB quarantine rather than 256 MiB. A freed block stays poisoned for
 * hundreds of executions after the one that freed it, and the heap stays
 * mapped: with 256 MiB the identity and config targets spent most of their
 * time in page faults on fresh memory. Defined here, once per target.
 */
const char *__asan_default_options(void);
__attribute__((used)) const char *__asan_default_options(void)
{
	return "quarantine_size_mb=16";
}

/*
 * For a target's own checking code (models, parsers of the output): no
 * coverage counters or comparison tracing there. The code under test
 * gives libFuzzer its feedback; tracing the checks only slowed each run
 * (a quarter of the authz target's time went to its model's comparisons).
 */
#define FZ_NO_COVERAGE __attribute__((no_sanitize("coverage")))

#define FZ_CHECK(cond)                                                        \
	do {                                                                  \
		if (!(cond)) {                                                \
			fprintf(stderr, "%s:%d: invariant broken: %s\n",      \
				__FILE__, __LINE__, #cond);                   \
			abort();                                              \
		}                                                             \
	} while (0)

/* The input, consumed from the front; an exhausted reader yields zeros. */
struct fz {
	const uint8_t *p;
	size_t n;
};

static inline uint8_t fz_u8(struct fz *f)
{
	uint8_t v = 0;

	if (f->n) {
		v = *f->p++;
		f->n--;
	}
	return v;
}

static inline uint16_t fz_u16(struct fz *f)
{
	uint16_t hi = fz_u8(f);

	return (uint16_t)(hi << 8 | fz_u8(f));
}

static inline void fz_bytes(struct fz *f, void *out, size_t n)
{
	size_t k = n < f->n ? n : f->n;

	memcpy(out, f->p, k);
	memset((uint8_t *)out + k, 0, n - k);
	f->p += k;
	f->n -= k;
}

/*
 * The next line (up to '\n' or the end, the '\n' dropped) as a malloc'd
 * string; an embedded NUL ends the string early, as it would for any C
 * consumer. NULL when the input is exhausted.
 */
static inline char *fz_line(struct fz *f)
{
	const uint8_t *nl;
	size_t len;
	char *s;

	if (!f->n)
		return NULL;
	nl = memchr(f->p, '\n', f->n);
	len = nl ? (size_t)(nl - f->p) : f->n;
	s = malloc(len + 1);
	if (!s)
		abort();
	memcpy(s, f->p, len);
	s[len] = '\0';
	f->p += len + (nl ? 1 : 0);
	f->n -= len + (nl ? 1 : 0);
	return s;
}

#endif
