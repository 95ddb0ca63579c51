/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Per-identity limits (listeners[].limits.per_identity): concurrent
 * connections and new connections per second (a token bucket) for each
 * client identity, per daemon, whatever worker a connection lands on.
 *
 * One table per listener name, shared by the workers (a mutex held for a
 * lookup) and kept across reloads. An identity is a 32-byte key: the
 * SHA-256 of its SPIFFE ID, else its leaf's fingerprint. An entry with
 * live connections stays; idle ones (their bucket only) are dropped least
 * recently seen first beyond GW_IDL_MAX_IDLE, so the table holds at most
 * GW_IDL_MAX_IDLE idle identities plus one per live connection, each
 * gw_idlimit_entry_bytes() bytes. An identity dropped so starts again
 * with a full bucket.
 */
#ifndef GW_IDLIMIT_H
#define GW_IDLIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GW_IDL_MAX_IDLE 65536
#define GW_IDL_LABEL 96			/* bytes of an identity's name kept for top */
#define GW_IDL_WINDOW_MS 10000		/* top's new connections per second: over 10-20 s */

struct gw_idl_limits {
	unsigned int connections;	/* concurrent; 0 = no limit */
	double rate;			/* new connections per second; 0 = no limit */
	unsigned int burst;		/* bucket size, with rate */
};

enum gw_idl_verdict {
	GW_IDL_OK,
	GW_IDL_CONNECTIONS,		/* at the concurrent limit */
	GW_IDL_RATE,			/* no token left */
	GW_IDL_NOMEM,
};

struct gw_idlimit;
struct gw_idl_entry;

/*
 * The table named name (a listener's name, or "LISTENER/ROUTE" for a
 * route of it: gw_cfg_listener's qname), made on first use; NULL without
 * memory.
 */
struct gw_idlimit *gw_idlimit_get(const char *name);

/* A table's name split: the listener's name into listener[64 + 1], and the route or NULL. */
const char *gw_idlimit_name_split(const char *name, char listener[65]);

/*
 * One more connection of identity key (named label, for top; cut at
 * GW_IDL_LABEL), if lim allows it at now_ms: then *e is its entry, held
 * until gw_idlimit_release. With force (audit mode) it is counted either
 * way and the verdict only reported. A refusal takes no token.
 */
enum gw_idl_verdict gw_idlimit_acquire(struct gw_idlimit *t, const unsigned char key[32],
				       const char *label, const struct gw_idl_limits *lim,
				       uint64_t now_ms, bool force, struct gw_idl_entry **e);
/* The connection of e ended, after bytes both ways. */
void gw_idlimit_release(struct gw_idlimit *t, struct gw_idl_entry *e, uint64_t bytes);

/* One identity as mtlsgwctl top shows it. */
struct gw_idl_top {
	char label[GW_IDL_LABEL];	/* as the certificate has it: escape before printing */
	unsigned int conns;		/* live */
	double per_second;		/* new connections, over the last 10-20 s */
	uint64_t opens, refused;	/* since it was first seen */
	uint64_t bytes;			/* of its connections that ended */
};

/* The n identities with the most live connections, then new ones per second; how many. */
unsigned int gw_idlimit_top(struct gw_idlimit *t, uint64_t now_ms, struct gw_idl_top *out,
			    unsigned int n);

/* Identities tracked, and the table's memory in bytes (entries and buckets). */
unsigned int gw_idlimit_tracked(struct gw_idlimit *t);
size_t gw_idlimit_bytes(struct gw_idlimit *t);
size_t gw_idlimit_entry_bytes(void);

/* Each table by its listener's name (top, the tracked gauge). */
void gw_idlimit_each_table(void (*fn)(const char *listener, struct gw_idlimit *t, void *arg),
			   void *arg);

/* Free every table (at exit, once no connection holds an entry). */
void gw_idlimit_free_all(void);

const char *gw_idl_verdict_str(enum gw_idl_verdict v);

#endif
