// SPDX-License-Identifier: GPL-2.0-only
/*
 * Server-side TLS session cache (sesscache.h): a hash of session IDs over
 * a list in insertion order. Every session has the same timeout (the
 * listener's SSL_CTX sets it), so insertion order is expiry order and
 * both the size limit and expiry evict from the old end.
 *
 * The table grows with the sessions held, from none: a cache is made for
 * every listener and worker (and by --check), most listeners hold few
 * sessions, and the full table for 20,000 is 256 KiB: 1,000 idle
 * listeners cost 256 MB before. Doubling at one session per bucket keeps
 * chains short and rehashes each session about once on the way up.
 *
 * Concurrency: any worker thread calls in; sc->lock guards the table and
 * the list. Sessions are freed outside it.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sesscache.h"
#include "tickets.h"

/* Longer sessions (a long SNI name and ALPN protocol) are not kept. */
#define SC_MAX_DER 2048
/* The table's first size, at the first session. */
#define SC_MIN_BUCKETS 16

struct sc_entry {
	struct sc_entry *hnext;		/* hash chain */
	struct sc_entry *older, *newer;	/* insertion order */
	X509 *leaf;			/* the cache's reference */
	time_t expires;
	unsigned int idlen;
	unsigned char id[SSL_MAX_SSL_SESSION_ID_LENGTH];
	unsigned int derlen;
	unsigned char der[];		/* the session without its peer certificate */
};

struct gw_sesscache {
	pthread_mutex_t lock;
	unsigned int refs;		/* atomic: every worker's context of a listener */
	unsigned int max, n;
	unsigned int max_buckets;	/* a power of two, enough for max */
	unsigned int mask;		/* buckets - 1 (buckets a power of two); 0 with none */
	struct sc_entry **bucket;	/* NULL until the first session */
	struct sc_entry *oldest, *newest;
};

struct gw_sesscache *gw_sesscache_new(unsigned int max)
{
	struct gw_sesscache *sc = calloc(1, sizeof(*sc));
	unsigned int nb = SC_MIN_BUCKETS;

	if (!sc)
		return NULL;
	while (nb < max && nb < (1u << 20))
		nb <<= 1;
	sc->max_buckets = nb;
	sc->max = max ? max : 1;
	sc->refs = 1;
	pthread_mutex_init(&sc->lock, NULL);
	return sc;
}

struct gw_sesscache *gw_sesscache_get(struct gw_sesscache *sc)
{
	__atomic_fetch_add(&sc->refs, 1, __ATOMIC_RELAXED);
	return sc;
}

static void entry_free(struct sc_entry *e)
{
	if (!e)
		return;
	X509_free(e->leaf);
	free(e);
}

void gw_sesscache_free(struct gw_sesscache *sc)
{
	struct sc_entry *e, *next;

	if (!sc || __atomic_sub_fetch(&sc->refs, 1, __ATOMIC_ACQ_REL))
		return;
	for (e = sc->oldest; e; e = next) {
		next = e->newer;
		entry_free(e);
	}
	free(sc->bucket);
	pthread_mutex_destroy(&sc->lock);
	free(sc);
}

/*
 * Session IDs are random bytes that OpenSSL makes: any 4 of them hash well.
 * An ID a client sends only selects a chain to search.
 */
static struct sc_entry **slot(struct gw_sesscache *sc, const unsigned char *id, unsigned int len)
{
	uint32_t h = 0;

	memcpy(&h, id, len < sizeof(h) ? len : sizeof(h));
	return &sc->bucket[h & sc->mask];
}

static struct sc_entry **lookup(struct gw_sesscache *sc, const unsigned char *id,
				unsigned int len)
{
	struct sc_entry **pp;

	if (!sc->bucket)
		return NULL;
	for (pp = slot(sc, id, len); *pp; pp = &(*pp)->hnext)
		if ((*pp)->idlen == len && !memcmp((*pp)->id, id, len))
			return pp;
	return NULL;
}

/* Take e out of the table and the list; the caller frees it (entry_free). */
static struct sc_entry *unlink_entry(struct gw_sesscache *sc, struct sc_entry **pp)
{
	struct sc_entry *e = *pp;

	*pp = e->hnext;
	if (e->older)
		e->older->newer = e->newer;
	else
		sc->oldest = e->newer;
	if (e->newer)
		e->newer->older = e->older;
	else
		sc->newest = e->older;
	sc->n--;
	return e;
}

/* Under the lock: the oldest entry, if it is expired or full is set. */
static struct sc_entry *evict_oldest(struct gw_sesscache *sc, time_t now, bool full)
{
	struct sc_entry *e = sc->oldest;

	if (!e || (!full && e->expires > now))
		return NULL;
	return unlink_entry(sc, lookup(sc, e->id, e->idlen));
}

/*
 * Under the lock, before an insert: make room for one more session, the
 * table twice as large once there is a session per bucket. false only
 * when there is no table at all and none can be had; a larger one that
 * cannot be had leaves longer chains.
 */
static bool grow(struct gw_sesscache *sc)
{
	unsigned int had = sc->bucket ? sc->mask + 1 : 0, nb, i;
	struct sc_entry **old = sc->bucket, *e, *next;

	if (had && (sc->n < had || had >= sc->max_buckets))
		return true;
	nb = had ? had * 2 : SC_MIN_BUCKETS;
	sc->bucket = calloc(nb, sizeof(*sc->bucket));
	if (!sc->bucket) {
		sc->bucket = old;
		return old != NULL;
	}
	sc->mask = nb - 1;
	for (i = 0; i < had; i++)
		for (e = old[i]; e; e = next) {
			struct sc_entry **pp = slot(sc, e->id, e->idlen);

			next = e->hnext;
			e->hnext = *pp;
			*pp = e;
		}
	free(old);
	return true;
}

bool gw_sesscache_add(struct gw_sesscache *sc, SSL_SESSION *sess, X509 *leaf)
{
	struct sc_entry *gone[3] = { NULL }, *e = NULL, **pp;
	const unsigned char *id;
	unsigned char *der, *w;
	unsigned int len, i = 0;
	time_t now = time(NULL);
	long derlen = 0;
	int n;

	id = SSL_SESSION_get_id(sess, &len);
	n = i2d_SSL_SESSION(sess, NULL);
	if (!leaf || !len || len > SSL_MAX_SSL_SESSION_ID_LENGTH || n <= 0 || n > (1 << 20))
		return false;
	der = w = malloc((size_t)n);
	if (der && i2d_SSL_SESSION(sess, &w) == n)
		derlen = gw_session_strip_peer(der, n);
	if (derlen > 0 && derlen <= SC_MAX_DER)
		e = malloc(sizeof(*e) + (size_t)derlen);
	if (!e || !X509_up_ref(leaf)) {
		free(der);
		free(e);
		return false;
	}
	memcpy(e->der, der, (size_t)derlen);
	e->derlen = (unsigned int)derlen;
	free(der);
	e->leaf = leaf;
	e->expires = gw_session_time(sess) + (time_t)SSL_SESSION_get_timeout(sess);
	e->idlen = len;
	memcpy(e->id, id, len);

	pthread_mutex_lock(&sc->lock);
	pp = lookup(sc, id, len);
	if (pp)
		gone[i++] = unlink_entry(sc, pp);
	/* Two expired ones at most per insert keep the work per call bounded. */
	while (i < 3 && (gone[i] = evict_oldest(sc, now, sc->n >= sc->max)))
		i++;
	if (!grow(sc)) {
		pthread_mutex_unlock(&sc->lock);
		for (i = 0; i < 3; i++)
			entry_free(gone[i]);
		entry_free(e);
		return false;
	}
	pp = slot(sc, id, len);
	e->hnext = *pp;
	*pp = e;
	e->older = sc->newest;
	e->newer = NULL;
	if (sc->newest)
		sc->newest->newer = e;
	else
		sc->oldest = e;
	sc->newest = e;
	sc->n++;
	pthread_mutex_unlock(&sc->lock);

	for (i = 0; i < 3; i++)
		entry_free(gone[i]);
	return true;
}

SSL_SESSION *gw_sesscache_find(struct gw_sesscache *sc, const unsigned char *id,
			       unsigned int len, X509 **leaf)
{
	unsigned char der[SC_MAX_DER];
	const unsigned char *p = der;
	struct sc_entry **pp, *gone = NULL;
	unsigned int derlen = 0;
	SSL_SESSION *sess;

	*leaf = NULL;
	pthread_mutex_lock(&sc->lock);
	pp = lookup(sc, id, len);
	if (pp && (*pp)->expires <= time(NULL)) {
		gone = unlink_entry(sc, pp);
	} else if (pp && (*pp)->derlen <= sizeof(der) && X509_up_ref((*pp)->leaf)) {
		*leaf = (*pp)->leaf;
		derlen = (*pp)->derlen;
		memcpy(der, (*pp)->der, derlen);
	}
	pthread_mutex_unlock(&sc->lock);
	entry_free(gone);
	if (!*leaf)
		return NULL;
	sess = d2i_SSL_SESSION(NULL, &p, derlen);
	if (!sess) {
		X509_free(*leaf);
		*leaf = NULL;
	}
	return sess;
}

void gw_sesscache_remove(struct gw_sesscache *sc, const unsigned char *id, unsigned int len)
{
	struct sc_entry **pp, *gone = NULL;

	pthread_mutex_lock(&sc->lock);
	pp = lookup(sc, id, len);
	if (pp)
		gone = unlink_entry(sc, pp);
	pthread_mutex_unlock(&sc->lock);
	entry_free(gone);
}

unsigned int gw_sesscache_count(struct gw_sesscache *sc)
{
	unsigned int n;

	pthread_mutex_lock(&sc->lock);
	n = sc->n;
	pthread_mutex_unlock(&sc->lock);
	return n;
}
