/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Immutable per-peer objects shared between connections of one thread
 * (tcache.c).
 *
 * Why: a connection keeps its peer's identity (identity.h) and its
 * chain's issuer and serial numbers (gw_certrefs) for as long as it
 * lives, for audit lines, "mtlsgwctl conns" and the checks of a reload.
 * Built per connection they are most of an established kTLS connection's
 * memory (about 1.6 KiB for both legs, in a dozen small blocks), and they
 * are the same for every connection of one client certificate, and for
 * every connection to one backend.
 *
 * How: each kind of object has a small direct-mapped table per thread,
 * keyed by a hash of what the object is built from (a leaf's SHA-256, a
 * chain's bytes). A table slot holds one reference; a connection takes
 * another. An object found is only ever one equal to what would be
 * built, so sharing changes no answer. A slot's object is dropped when
 * another one lands in the slot, and every slot is dropped when its
 * thread ends (a pthread key). The objects carry their own reference
 * count, atomic, so that whichever thread drops the last reference frees
 * them.
 */
#ifndef GW_TCACHE_H
#define GW_TCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum gw_tcache_kind {
	GW_TCACHE_IDENTITY,
	GW_TCACHE_CERTREFS,
	GW_TCACHE_KINDS,
};

/* Slots per kind and thread. */
#define GW_TCACHE_SLOTS 64

struct gw_tcache_ops {
	/* Is obj the object key describes? */
	bool (*matches)(const void *obj, const void *key);
	void (*put)(void *obj);		/* one reference less (the object's free) */
	size_t refs;			/* offsetof its unsigned int reference count */
};

/* The object under hash that matches key, with a new reference, or NULL. */
void *gw_tcache_find(enum gw_tcache_kind kind, const struct gw_tcache_ops *ops, uint64_t hash,
		     const void *key);
/* Keep obj under hash (the table takes its own reference); best effort. */
void gw_tcache_add(enum gw_tcache_kind kind, const struct gw_tcache_ops *ops, uint64_t hash,
		   void *obj);
/* Drop every object this thread's tables hold (tests; threads do it at exit). */
void gw_tcache_flush(void);

#endif /* GW_TCACHE_H */
