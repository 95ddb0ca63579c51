// SPDX-License-Identifier: GPL-2.0-only
/*
 * Server-side TLS session cache (sesscache.h): a hash of session IDs over
 * a list in insertion order. Every session has the same timeout (the
 * listener's SSL_CTX sets it), so insertion order is expiry order and
 * both the size limit and expiry evict from the old end.
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

struct sc_entry {
	struct sc_entry *hnext;		/* hash chain */
	struct sc_entry *older, *newer;	/* insertion order */
	SSL_SESSION *sess;		/* the cache's reference */
	time_t expires;
	unsigned int idlen;
	unsigned char id[SSL_MAX_SSL_SESSION_ID_LENGTH];
};

struct gw_sesscache {
	pthread_mutex_t lock;
	unsigned int refs;		/* atomic: every worker's context of a listener */
	unsigned int max, n;
	unsigned int mask;		/* buckets - 1, a power of two less one */
	struct sc_entry **bucket;
	struct sc_entry *oldest, *newest;
};

struct gw_sesscache *gw_sesscache_new(unsigned int max)
{
	struct gw_sesscache *sc = calloc(1, sizeof(*sc));
	unsigned int nb = 16;

	if (!sc)
		return NULL;
	while (nb < max && nb < (1u << 20))
		nb <<= 1;
	sc->bucket = calloc(nb, sizeof(*sc->bucket));
	if (!sc->bucket) {
		free(sc);
		return NULL;
	}
	sc->mask = nb - 1;
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

void gw_sesscache_free(struct gw_sesscache *sc)
{
	struct sc_entry *e, *next;

	if (!sc || __atomic_sub_fetch(&sc->refs, 1, __ATOMIC_ACQ_REL))
		return;
	for (e = sc->oldest; e; e = next) {
		next = e->newer;
		SSL_SESSION_free(e->sess);
		free(e);
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

	for (pp = slot(sc, id, len); *pp; pp = &(*pp)->hnext)
		if ((*pp)->idlen == len && !memcmp((*pp)->id, id, len))
			return pp;
	return NULL;
}

/* Take e out of the table and the list; returns its session reference. */
static SSL_SESSION *unlink_entry(struct gw_sesscache *sc, struct sc_entry **pp)
{
	struct sc_entry *e = *pp;
	SSL_SESSION *sess = e->sess;

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
	free(e);
	return sess;
}

/* Under the lock: the oldest entry, if it is expired or full is set. */
static SSL_SESSION *evict_oldest(struct gw_sesscache *sc, time_t now, bool full)
{
	struct sc_entry *e = sc->oldest;

	if (!e || (!full && e->expires > now))
		return NULL;
	return unlink_entry(sc, lookup(sc, e->id, e->idlen));
}

bool gw_sesscache_add(struct gw_sesscache *sc, SSL_SESSION *sess)
{
	SSL_SESSION *gone[3] = { NULL };
	const unsigned char *id;
	unsigned int len, i = 0;
	struct sc_entry *e, **pp;
	time_t now = time(NULL);

	id = SSL_SESSION_get_id(sess, &len);
	if (!len || len > sizeof(e->id))
		return false;
	e = calloc(1, sizeof(*e));
	if (!e)
		return false;
	e->sess = sess;
	e->expires = (time_t)SSL_SESSION_get_time(sess) + (time_t)SSL_SESSION_get_timeout(sess);
	e->idlen = len;
	memcpy(e->id, id, len);

	pthread_mutex_lock(&sc->lock);
	pp = lookup(sc, id, len);
	if (pp)
		gone[i++] = unlink_entry(sc, pp);
	/* Two expired ones at most per insert keep the work per call bounded. */
	while (i < 3 && (gone[i] = evict_oldest(sc, now, sc->n >= sc->max)))
		i++;
	pp = slot(sc, id, len);
	e->hnext = *pp;
	*pp = e;
	e->older = sc->newest;
	if (sc->newest)
		sc->newest->newer = e;
	else
		sc->oldest = e;
	sc->newest = e;
	sc->n++;
	pthread_mutex_unlock(&sc->lock);

	for (i = 0; i < 3; i++)
		SSL_SESSION_free(gone[i]);
	return true;
}

SSL_SESSION *gw_sesscache_find(struct gw_sesscache *sc, const unsigned char *id,
			       unsigned int len)
{
	SSL_SESSION *sess = NULL, *gone = NULL;
	struct sc_entry **pp;

	pthread_mutex_lock(&sc->lock);
	pp = lookup(sc, id, len);
	if (pp && (*pp)->expires <= time(NULL))
		gone = unlink_entry(sc, pp);
	else if (pp && SSL_SESSION_up_ref((*pp)->sess))
		sess = (*pp)->sess;
	pthread_mutex_unlock(&sc->lock);

	SSL_SESSION_free(gone);
	return sess;
}

void gw_sesscache_remove(struct gw_sesscache *sc, const unsigned char *id, unsigned int len)
{
	SSL_SESSION *gone = NULL;
	struct sc_entry **pp;

	pthread_mutex_lock(&sc->lock);
	pp = lookup(sc, id, len);
	if (pp)
		gone = unlink_entry(sc, pp);
	pthread_mutex_unlock(&sc->lock);
	SSL_SESSION_free(gone);
}

unsigned int gw_sesscache_count(struct gw_sesscache *sc)
{
	unsigned int n;

	pthread_mutex_lock(&sc->lock);
	n = sc->n;
	pthread_mutex_unlock(&sc->lock);
	return n;
}
