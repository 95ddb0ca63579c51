// SPDX-License-Identifier: GPL-2.0-only
/*
 * Session ticket keys (tickets.h): the key file's two forms, and the
 * ticket key callback's work.
 */
#include <ctype.h>
#include <dlfcn.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/asn1.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "tickets.h"
#include "util.h"

struct tkey {
	unsigned char name[16];
	unsigned char aes[32];
	unsigned char hmac[32];
};

struct gw_tickets {
	OSSL_LIB_CTX *libctx;
	EVP_CIPHER *cipher;		/* AES-256-CBC, fetched once in libctx */
	unsigned int n;
	struct tkey key[];
};

/* Whether data looks like base64 text: only its alphabet, "=" and white space. */
static bool is_text(const unsigned char *data, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!isalnum(data[i]) && !strchr("+/=\r\n \t", data[i]))
			return false;
	return len > 0;
}

static void key_binary(struct tkey *k, const unsigned char *b)
{
	memcpy(k->name, b, 16);
	memcpy(k->hmac, b + 16, 32);
	memcpy(k->aes, b + 48, 32);
}

static void key_text(struct tkey *k, const unsigned char *b)
{
	memcpy(k->name, b, 16);
	memcpy(k->aes, b + 16, 32);
	memcpy(k->hmac, b + 48, 32);
}

/* Base64 lines of 80 bytes each into tk->key; 0 or -1 with why. */
static int parse_text(struct gw_tickets *tk, const unsigned char *data, size_t len,
		      char *why, size_t whylen)
{
	unsigned char line[128], raw[96];
	unsigned int lineno = 0;
	size_t i = 0;
	int ret = 0;

	while (i < len && !ret) {
		size_t n = 0;
		int got, pad = 0;

		lineno++;
		for (; i < len && data[i] != '\n'; i++)
			if (!isspace(data[i]) && n < sizeof(line))
				line[n++] = data[i];
			else if (!isspace(data[i]))
				n = sizeof(line) + 1;
		i++;
		if (!n)
			continue;
		if (n > sizeof(line) || n % 4) {
			gw_snprintf(why, whylen, "line %u is not one base64 key of %d bytes",
				    lineno, GW_TICKET_KEY_LEN);
			ret = -1;
			break;
		}
		pad = (line[n - 1] == '=') + (line[n - 2] == '=');
		got = EVP_DecodeBlock(raw, line, (int)n);
		if (got < 0 || got - pad != GW_TICKET_KEY_LEN) {
			gw_snprintf(why, whylen, "line %u: %d bytes of base64, not a %d-byte key%s",
				    lineno, got < 0 ? 0 : got - pad, GW_TICKET_KEY_LEN,
				    got - pad == 48 ? " (48-byte AES-128 keys are not taken)" : "");
			ret = -1;
			break;
		}
		if (tk->n == GW_TICKET_KEYS_MAX) {
			gw_snprintf(why, whylen, "more than %d keys", GW_TICKET_KEYS_MAX);
			ret = -1;
			break;
		}
		key_text(&tk->key[tk->n++], raw);
	}
	OPENSSL_cleanse(line, sizeof(line));
	OPENSSL_cleanse(raw, sizeof(raw));
	return ret;
}

struct gw_tickets *gw_tickets_new(const unsigned char *data, size_t len, OSSL_LIB_CTX *libctx,
				  char *why, size_t whylen)
{
	bool text = is_text(data, len);
	struct gw_tickets *tk;
	size_t i;

	if (!text && (!len || len % GW_TICKET_KEY_LEN || len / GW_TICKET_KEY_LEN > GW_TICKET_KEYS_MAX)) {
		gw_snprintf(why, whylen,
			    "%zu bytes: not one or more %d-byte keys (\"openssl rand %d\"; at most %d), nor base64 lines of one",
			    len, GW_TICKET_KEY_LEN, GW_TICKET_KEY_LEN, GW_TICKET_KEYS_MAX);
		return NULL;
	}
	tk = calloc(1, sizeof(*tk) + GW_TICKET_KEYS_MAX * sizeof(tk->key[0]));
	if (!tk) {
		gw_snprintf(why, whylen, "out of memory");
		return NULL;
	}
	tk->libctx = libctx;
	if (text) {
		if (parse_text(tk, data, len, why, whylen))
			goto fail;
		if (!tk->n) {
			gw_snprintf(why, whylen, "no key in it");
			goto fail;
		}
	} else {
		for (i = 0; i < len; i += GW_TICKET_KEY_LEN)
			key_binary(&tk->key[tk->n++], data + i);
	}
	tk->cipher = EVP_CIPHER_fetch(libctx, "AES-256-CBC", NULL);
	if (!tk->cipher) {
		gw_snprintf(why, whylen, "AES-256-CBC is not available");
		goto fail;
	}
	return tk;
fail:
	gw_tickets_free(tk);
	return NULL;
}

void gw_tickets_free(struct gw_tickets *tk)
{
	if (!tk)
		return;
	EVP_CIPHER_free(tk->cipher);
	OPENSSL_cleanse(tk->key, GW_TICKET_KEYS_MAX * sizeof(tk->key[0]));
	free(tk);
}

unsigned int gw_tickets_count(const struct gw_tickets *tk)
{
	return tk ? tk->n : 0;
}

int gw_tickets_crypt(const struct gw_tickets *tk, unsigned char name[16], unsigned char *iv,
		     EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
	const struct tkey *k = NULL;
	OSSL_PARAM params[3];
	unsigned int i;
	int ivlen = EVP_CIPHER_get_iv_length(tk->cipher);

	if (enc) {
		k = &tk->key[0];
		if (RAND_bytes_ex(tk->libctx, iv, (size_t)ivlen, 0) <= 0)
			return -1;
		memcpy(name, k->name, sizeof(k->name));
	} else {
		for (i = 0; i < tk->n && !k; i++)
			if (!CRYPTO_memcmp(name, tk->key[i].name, sizeof(tk->key[i].name)))
				k = &tk->key[i];
		if (!k)
			return 0;
	}
	params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)k->hmac,
						      sizeof(k->hmac));
	params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0);
	params[2] = OSSL_PARAM_construct_end();
	if (!EVP_MAC_CTX_set_params(hctx, params))
		return -1;
	if (enc ? !EVP_EncryptInit_ex(cctx, tk->cipher, NULL, k->aes, iv) :
		  !EVP_DecryptInit_ex(cctx, tk->cipher, NULL, k->aes, iv))
		return -1;
	return !enc && k != &tk->key[0] ? 2 : 1;
}

/* ---- sessions decoded without their peer certificate ---- */

/* The session's peer certificate in OpenSSL's SSL_SESSION_ASN1: [3] EXPLICIT. */
#define SESSION_PEER_TAG 3

/* Is this element of the session's SEQUENCE its peer certificate? */
static bool is_peer(int tag, int cls)
{
	return cls == V_ASN1_CONTEXT_SPECIFIC && tag == SESSION_PEER_TAG;
}

/*
 * Remove the peer certificate from a session's DER, in place: the outer
 * SEQUENCE keeps every element but [3] (its header can only get shorter,
 * so nothing is overwritten before it is copied). The new length, or 0
 * if der is not a SEQUENCE of elements.
 */
long gw_session_strip_peer(unsigned char *der, long len)
{
	const unsigned char *p = der, *body, *end, *q;
	long blen, elen, kept = 0;
	unsigned char *w = der;
	int tag, cls;

	if (ASN1_get_object(&p, &blen, &tag, &cls, len) != V_ASN1_CONSTRUCTED ||
	    tag != V_ASN1_SEQUENCE || cls != V_ASN1_UNIVERSAL || p + blen != der + len)
		return 0;
	body = p;
	end = p + blen;
	for (q = p; q < end; q = p) {
		if (ASN1_get_object(&p, &elen, &tag, &cls, end - q) & 0x80 || elen > end - p)
			return 0;
		p += elen;
		if (!is_peer(tag, cls))
			kept += p - q;
	}
	ASN1_put_object(&w, 1, kept, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
	for (q = p = body; q < end; q = p) {
		ASN1_get_object(&p, &elen, &tag, &cls, end - q);
		p += elen;
		if (!is_peer(tag, cls)) {
			memmove(w, q, (size_t)(p - q));
			w += p - q;
		}
	}
	return w - der;
}

/* The largest session decoded through the window; larger ones are OpenSSL's alone. */
#define SESSION_MAX (1 << 20)

static __thread bool stripping;

void gw_tickets_enter(const struct gw_tickets *tk)
{
	stripping = tk != NULL;
}

void gw_tickets_leave(void)
{
	stripping = false;
}

typedef SSL_SESSION *(*d2i_session_fn)(SSL_SESSION **, const unsigned char **, long);
typedef SSL_SESSION *(*d2i_session_ex_fn)(SSL_SESSION **, const unsigned char **, long,
					  OSSL_LIB_CTX *, const char *);

/* libssl's own, found once (every thread finds the same). */
static void *openssl_fn(void **cache, const char *name)
{
	void *r = __atomic_load_n(cache, __ATOMIC_ACQUIRE);

	if (!r) {
		r = dlsym(RTLD_NEXT, name);
		__atomic_store_n(cache, r, __ATOMIC_RELEASE);
	}
	return r;
}

/* One call of either decoder, as libssl made it. */
struct d2i_call {
	SSL_SESSION **a;
	bool ex;			/* d2i_SSL_SESSION_ex (OpenSSL 3.2+) */
	OSSL_LIB_CTX *libctx;
	const char *propq;
};

static SSL_SESSION *openssl_decode(const struct d2i_call *c, const unsigned char **in, long len)
{
	static void *plain, *ex;
	void *fn = openssl_fn(c->ex ? &ex : &plain,
			      c->ex ? "d2i_SSL_SESSION_ex" : "d2i_SSL_SESSION");

	if (!fn)
		return NULL;
	if (c->ex)
		return ((d2i_session_ex_fn)fn)(c->a, in, len, c->libctx, c->propq);
	return ((d2i_session_fn)fn)(c->a, in, len);
}

/*
 * Outside the window, and for input this cannot strip, exactly OpenSSL's
 * decode. In it: the same session without its peer, *in advanced past
 * the whole input as OpenSSL would (tls_decrypt_ticket checks that
 * nothing is left).
 */
static SSL_SESSION *decode(const struct d2i_call *c, const unsigned char **in, long len)
{
	const unsigned char *q;
	unsigned char *copy;
	SSL_SESSION *s;
	long n;

	if (!stripping || !in || !*in || len <= 0 || len > SESSION_MAX)
		return openssl_decode(c, in, len);
	copy = malloc((size_t)len);
	if (!copy)
		return openssl_decode(c, in, len);
	memcpy(copy, *in, (size_t)len);
	n = gw_session_strip_peer(copy, len);
	if (!n) {
		OPENSSL_cleanse(copy, (size_t)len);
		free(copy);
		return openssl_decode(c, in, len);
	}
	q = copy;
	s = openssl_decode(c, &q, n);
	if (s)
		*in += len;
	/* The session's master secret was in it. */
	OPENSSL_cleanse(copy, (size_t)len);
	free(copy);
	return s;
}

/* Replace libssl's decoders for the whole process (tickets.h). */
SSL_SESSION *d2i_SSL_SESSION(SSL_SESSION **a, const unsigned char **in, long len)
{
	const struct d2i_call c = { .a = a };

	return decode(&c, in, len);
}

#if OPENSSL_VERSION_NUMBER >= 0x30200000L
/* OpenSSL 3.2 and later (Debian 13) decode tickets with this one. */
SSL_SESSION *d2i_SSL_SESSION_ex(SSL_SESSION **a, const unsigned char **in, long len,
				OSSL_LIB_CTX *libctx, const char *propq)
{
	const struct d2i_call c = { .a = a, .ex = true, .libctx = libctx, .propq = propq };

	return decode(&c, in, len);
}
#endif
