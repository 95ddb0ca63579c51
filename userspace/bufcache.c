// SPDX-License-Identifier: GPL-2.0-only
/*
 * Record-sized buffers kept per thread (bufcache.h).
 *
 * A block of a class is a malloc(class size) block; it is recognised on
 * free by its usable size (malloc_usable_size), which glibc makes the
 * same for every block of one size. A block of another origin with that
 * usable size is as good a block, so nothing depends on where it came
 * from.
 *
 * Concurrency: the caches are thread-local (a pthread key frees a
 * thread's blocks when it ends); the usable sizes are found once
 * (pthread_once) and read-only after.
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

#include "bufcache.h"

#if defined(__SANITIZE_ADDRESS__)
#define BC_KEEP 0	/* keep nothing: AddressSanitizer sees every free */
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BC_KEEP 0
#endif
#endif
#ifndef BC_KEEP
#define BC_KEEP GW_BUFCACHE_KEEP
#endif

enum { BC_SMALL, BC_LARGE, BC_CLASSES };

static const size_t class_size[BC_CLASSES] = { GW_BUFCACHE_SMALL, GW_BUFCACHE_LARGE };
static size_t class_usable[BC_CLASSES];

struct bc_thread {
	unsigned int n[BC_CLASSES];
	void *b[BC_CLASSES][GW_BUFCACHE_KEEP];
	struct gw_bufcache_stats st;
};

static __thread struct bc_thread bc;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_key_t key;
static bool key_ok;

static void thread_end(void *arg)
{
	struct bc_thread *t = arg;
	int c;

	for (c = 0; c < BC_CLASSES; c++)
		while (t->n[c])
			free(t->b[c][--t->n[c]]);
}

static void setup(void)
{
	int c;

	for (c = 0; c < BC_CLASSES; c++) {
		void *p = malloc(class_size[c]);

		class_usable[c] = p ? malloc_usable_size(p) : 0;
		free(p);
	}
	key_ok = !pthread_key_create(&key, thread_end);
}

static int class_of_request(size_t n)
{
	if (n >= GW_BUFCACHE_SMALL_MIN && n <= GW_BUFCACHE_SMALL)
		return BC_SMALL;
	if (n >= GW_BUFCACHE_LARGE_MIN && n <= GW_BUFCACHE_LARGE)
		return BC_LARGE;
	return -1;
}

static int class_of_block(void *p)
{
	size_t u = malloc_usable_size(p);
	int c;

	pthread_once(&once, setup);
	for (c = 0; c < BC_CLASSES; c++)
		if (class_usable[c] && u == class_usable[c])
			return c;
	return -1;
}

void *gw_bufcache_alloc(size_t n)
{
	int c = class_of_request(n);

	if (c < 0)
		return malloc(n);
	if (bc.n[c]) {
		bc.st.reused++;
		return bc.b[c][--bc.n[c]];
	}
	bc.st.allocated++;
	return malloc(class_size[c]);
}

void gw_bufcache_free(void *p)
{
#if BC_KEEP
	int c = p ? class_of_block(p) : -1;

	/* The first block a thread keeps arms the key that frees them at its end. */
	if (c >= 0 && bc.n[c] < BC_KEEP && key_ok &&
	    (pthread_getspecific(key) || !pthread_setspecific(key, &bc))) {
		bc.b[c][bc.n[c]++] = p;
		bc.st.kept++;
		return;
	}
	if (c >= 0)
		bc.st.freed++;
#endif
	free(p);
}

struct gw_bufcache_stats gw_bufcache_stats(void)
{
	return bc.st;
}

bool gw_bufcache_keeps(void)
{
	return BC_KEEP > 0;
}

static void *crypto_malloc(size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	return gw_bufcache_alloc(n);
}

static void *crypto_realloc(void *p, size_t n, const char *file, int line)
{
	size_t have;
	void *q;
	int c;

	(void)file;
	(void)line;
	if (!p)
		return gw_bufcache_alloc(n);
	if (!n) {
		gw_bufcache_free(p);
		return NULL;
	}
	c = class_of_block(p);
	if (c < 0)
		return realloc(p, n);
	have = class_usable[c];
	if (n <= have)
		return p;
	q = gw_bufcache_alloc(n);
	if (q) {
		memcpy(q, p, have);
		gw_bufcache_free(p);
	}
	return q;
}

static void crypto_free(void *p, const char *file, int line)
{
	(void)file;
	(void)line;
	gw_bufcache_free(p);
}

int gw_bufcache_install(void)
{
	pthread_once(&once, setup);
	return CRYPTO_set_mem_functions(crypto_malloc, crypto_realloc, crypto_free) ? 0 : -EBUSY;
}
