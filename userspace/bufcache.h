/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Record-sized buffers kept per thread instead of returned to malloc
 * (bufcache.c).
 *
 * Why: a connection that moves small messages takes and drops its
 * buffers on every message: the datapath's 64 KiB queue for each
 * direction, and OpenSSL's read and write record buffers, which
 * SSL_MODE_RELEASE_BUFFERS frees whenever they run empty so that an idle
 * connection holds none. That is cheap while glibc serves those sizes
 * from the top of the heap. Once a burst of connections has come and
 * gone (10,000 idle connections closed), the heap is free space cut up
 * by the objects that outlived them, and every such malloc sorts a large
 * free chunk back into glibc's size-sorted bins: half of a worker's CPU
 * on request/response traffic, for good (docs/performance.md).
 *
 * How: blocks of two classes, one for a record buffer and one for a
 * 64 KiB queue or read-ahead buffer, at most GW_BUFCACHE_KEEP of each
 * per thread: 1.3 MiB at most per worker, whatever the connections. OpenSSL's allocations go through the same classes
 * (CRYPTO_set_mem_functions, gw_bufcache_install); every other size goes
 * straight to malloc. Under AddressSanitizer nothing is kept, so a use
 * after free stays visible.
 */
#ifndef GW_BUFCACHE_H
#define GW_BUFCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The classes fit what OpenSSL 3.0 asks for: a write buffer of 16,584
 * bytes, a read buffer of 16,712 (65,536 with the datapath's read-ahead);
 * its handshake buffer (21,848) and everything else are not cached.
 */
#define GW_BUFCACHE_SMALL_MIN (16 * 1024)
#define GW_BUFCACHE_SMALL (17 * 1024)	/* a TLS record and its overhead */
#define GW_BUFCACHE_LARGE_MIN (60 * 1024)
#define GW_BUFCACHE_LARGE (64 * 1024)	/* GW_BUF_SIZE, OpenSSL's 64 KiB read-ahead */
#define GW_BUFCACHE_KEEP 16		/* blocks of each class per thread */

struct gw_bufcache_stats {
	uint64_t reused;	/* blocks taken from the cache */
	uint64_t allocated;	/* blocks taken from malloc */
	uint64_t kept;		/* blocks put back in the cache */
	uint64_t freed;		/* blocks given back to malloc (cache full) */
};

/*
 * Route OpenSSL's allocations through the cache; first thing in main(),
 * before OpenSSL allocates anything. 0, or -EBUSY when it already has.
 */
int gw_bufcache_install(void);

/* n bytes (a cached block when n falls in a class), or NULL. */
void *gw_bufcache_alloc(size_t n);

/* Give p back (NULL is fine): kept if it is a class block and there is room. */
void gw_bufcache_free(void *p);

/* This thread's counts. */
struct gw_bufcache_stats gw_bufcache_stats(void);

/* Whether blocks are kept at all (not under AddressSanitizer). */
bool gw_bufcache_keeps(void);

#endif
