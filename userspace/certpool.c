// SPDX-License-Identifier: GPL-2.0-only
/*
 * Parsed client certificates, reused (certpool.h).
 *
 * Concurrency: a pool belongs to one worker and is used on its thread
 * only; the active pool is a thread-local pointer. The X509 objects it
 * hands out may then travel with their sessions to other workers, as any
 * reference-counted X509 may.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/asn1.h>
#include <openssl/x509.h>

#include "certpool.h"

#define CP_MAX_DER (16 * 1024)

struct cp_slot {
	X509 *x;			/* the pool's reference, NULL if empty */
	long len;
	unsigned char *der;
};

struct gw_certpool {
	unsigned int mask;		/* slots - 1 */
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
	p->mask = n - 1;
	return p;
}

void gw_certpool_free(struct gw_certpool *p)
{
	unsigned int i;

	if (!p)
		return;
	for (i = 0; i <= p->mask; i++) {
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
 * The slot of a DER certificate: its last bytes are the end of the
 * signature value, as good as random. A client that makes its own
 * certificates collide only evicts them; a match is a full comparison.
 */
static struct cp_slot *slot_of(struct gw_certpool *p, const unsigned char *der, long len)
{
	uint32_t h;

	memcpy(&h, der + len - sizeof(h), sizeof(h));
	return &p->slot[(h ^ (uint32_t)len) & p->mask];
}

/* Exactly what OpenSSL 3.0's d2i_X509 does. */
static X509 *parse(X509 **px, const unsigned char **in, long len)
{
	return (X509 *)ASN1_item_d2i((ASN1_VALUE **)px, in, len, ASN1_ITEM_rptr(X509));
}

/*
 * Replaces libcrypto's d2i_X509 for the whole process (certpool.h). The
 * pool serves libssl's pattern only: *px a fresh X509 from X509_new_ex()
 * for the pooled object to replace.
 */
X509 *d2i_X509(X509 **px, const unsigned char **in, long len)
{
	struct gw_certpool *p = active;
	const unsigned char *der;
	struct cp_slot *s;
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
	s = slot_of(p, der, len);
	if (s->x && s->len == len && !memcmp(s->der, der, (size_t)len) && X509_up_ref(s->x)) {
		X509_free(*px);
		*px = s->x;
		*in += len;
		p->stats.reused++;
		return s->x;
	}
	x = parse(px, in, len);
	/* Only a certificate that is the whole buffer: the same bytes, the same result. */
	if (!x || *in != der + len)
		return x;
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
	s->x = x;
	p->stats.parsed++;
	return x;
}
