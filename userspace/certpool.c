// SPDX-License-Identifier: GPL-2.0-only
/*
 * Parsed client certificates, reused (certpool.h).
 *
 * Concurrency: a pool belongs to one worker and is used on its thread
 * only; the active pool is a thread-local pointer. The X509 objects it
 * hands out may then travel with their sessions to other workers, as any
 * reference-counted X509 may.
 */
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/asn1.h>
#include <openssl/x509.h>

#include "certpool.h"
#include "spkidec.h"

#define CP_MAX_DER (16 * 1024)

struct cp_slot {
	X509 *x;			/* the pool's reference, NULL if empty */
	long len;
	unsigned char *der;
	unsigned int hits;		/* reuses, halved when the other way is replaced */
};

/* Two ways per set: a set's slots are slot[2 * set] and slot[2 * set + 1]. */
#define CP_WAYS 2

struct gw_certpool {
	unsigned int mask;		/* sets - 1 */
	struct gw_certpool_stats stats;
	struct cp_slot slot[];
};

static __thread struct gw_certpool *active;
static __thread bool refusing;		/* gw_certpool_refuse() until leave */

struct gw_certpool *gw_certpool_new(unsigned int slots)
{
	unsigned int n = 16;
	struct gw_certpool *p;

	while (n < slots && n < 65536)
		n <<= 1;
	p = calloc(1, sizeof(*p) + n * sizeof(p->slot[0]));
	if (!p)
		return NULL;
	p->mask = n / CP_WAYS - 1;
	return p;
}

void gw_certpool_free(struct gw_certpool *p)
{
	unsigned int i;

	if (!p)
		return;
	for (i = 0; i < (p->mask + 1) * CP_WAYS; i++) {
		X509_free(p->slot[i].x);
		free(p->slot[i].der);
	}
	free(p);
}

void gw_certpool_enter(struct gw_certpool *p)
{
	active = p;
	refusing = false;
}

void gw_certpool_leave(void)
{
	active = NULL;
	refusing = false;
}

void gw_certpool_refuse(void)
{
	if (active)
		refusing = true;
}

struct gw_certpool_stats gw_certpool_take_stats(struct gw_certpool *p)
{
	struct gw_certpool_stats s = p->stats;

	memset(&p->stats, 0, sizeof(p->stats));
	return s;
}

/*
 * The set of a DER certificate: its last bytes are the end of the
 * signature value, as good as random. A match is a full comparison.
 */
static struct cp_slot *set_of(struct gw_certpool *p, const unsigned char *der, long len)
{
	uint32_t h;

	memcpy(&h, der + len - sizeof(h), sizeof(h));
	return &p->slot[((h ^ (uint32_t)len) & p->mask) * CP_WAYS];
}

static struct cp_slot *lookup(struct cp_slot *set, const unsigned char *der, long len)
{
	int i;

	for (i = 0; i < CP_WAYS; i++)
		if (set[i].x && set[i].len == len && !memcmp(set[i].der, der, (size_t)len))
			return &set[i];
	return NULL;
}

/*
 * The way a new certificate takes: an empty one, else the one reused
 * least. Every client's intermediates are reused on every handshake and
 * keep their way; a stream of leaves seen once (many clients, or one
 * that makes its certificates collide) replace each other. The ways that
 * stay are aged, so an entry no longer used gives way in the end.
 */
static struct cp_slot *victim(struct cp_slot *set)
{
	struct cp_slot *v = &set[0];
	int i;

	for (i = 0; i < CP_WAYS; i++) {
		if (!set[i].x)
			return &set[i];
		if (set[i].hits < v->hits)
			v = &set[i];
	}
	for (i = 0; i < CP_WAYS; i++)
		set[i].hits /= 2;
	return v;
}

/*
 * What OpenSSL 3.0's d2i_X509 does, with an EC key imported directly
 * (spkidec.h).
 */
static X509 *parse(X509 **px, const unsigned char **in, long len)
{
	X509 *x;

	gw_spki_enter();
	x = (X509 *)ASN1_item_d2i((ASN1_VALUE **)px, in, len, ASN1_ITEM_rptr(X509));
	gw_spki_leave();
	return x;
}

/*
 * Replaces libcrypto's d2i_X509 for the whole process (certpool.h). The
 * pool serves libssl's pattern only: *px a fresh X509 from X509_new_ex()
 * for the pooled object to replace.
 */
X509 *d2i_X509(X509 **px, const unsigned char **in, long len)
{
	struct gw_certpool *p = active;
	struct cp_slot *set, *s;
	const unsigned char *der;
	X509 *x;

	/* As a failed parse leaves it: *px freed and NULL, nothing consumed. */
	if (refusing) {
		if (px) {
			X509_free(*px);
			*px = NULL;
		}
		return NULL;
	}
	if (!p || !px || !*px || !in || !*in || len < 4 || len > CP_MAX_DER)
		return parse(px, in, len);
	der = *in;
	set = set_of(p, der, len);
	s = lookup(set, der, len);
	if (s && X509_up_ref(s->x)) {
		X509_free(*px);
		*px = s->x;
		*in += len;
		if (s->hits < UINT_MAX)
			s->hits++;
		p->stats.reused++;
		return s->x;
	}
	x = parse(px, in, len);
	/* Only a certificate that is the whole buffer: the same bytes, the same result. */
	if (!x || *in != der + len)
		return x;
	s = victim(set);
	if (!s->der || s->len != len) {
		unsigned char *buf = realloc(s->der, (size_t)len);

		if (!buf)
			return x;
		s->der = buf;
	}
	X509_free(s->x);
	s->x = NULL;
	if (!X509_up_ref(x))
		return x;
	memcpy(s->der, der, (size_t)len);
	s->len = len;
	s->hits = 0;
	s->x = x;
	p->stats.parsed++;
	return x;
}
