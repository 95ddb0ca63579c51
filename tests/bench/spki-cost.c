// SPDX-License-Identifier: GPL-2.0-only
/*
 * spki-cost CHAIN.pem...: what parsing a certificate nobody has seen costs
 * with the EC key imported directly (spkidec.h) and with OpenSSL 3.0's
 * decoder, as libssl parses a client's leaf (d2i_X509 into an X509 of a
 * worker's library context). The leaves are the first certificate of
 * each file (tests/bench/mkleaves.py makes them); each is parsed once
 * per round, both ways in turn, and the keys of the two ways must be
 * equal. make bench prints it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/x509.h>

#include "spkidec.h"

#define ROUNDS 5

struct der {
	unsigned char *p;
	long len;
};

static double now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

static X509 *parse(OSSL_LIB_CTX *lib, const struct der *d)
{
	const unsigned char *in = d->p;
	X509 *x = X509_new_ex(lib, NULL);

	if (x && !d2i_X509(&x, &in, d->len))
		x = NULL;	/* a failed d2i_X509 freed it */
	return x;
}

/* Parse every leaf once; the mean ns per parse. */
static double round_ns(OSSL_LIB_CTX *lib, const struct der *d, int n)
{
	double t0 = now_ns();
	int i;

	for (i = 0; i < n; i++) {
		X509 *x = parse(lib, &d[i]);

		if (!x || !X509_get0_pubkey(x)) {
			fprintf(stderr, "spki-cost: leaf %d: no key\n", i);
			exit(1);
		}
		X509_free(x);
	}
	return (now_ns() - t0) / n;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	double direct[ROUNDS], decoder[ROUNDS];
	OSSL_LIB_CTX *lib = OSSL_LIB_CTX_new();
	int n = argc - 1, i, r;
	struct der *d;

	if (n < 1) {
		fprintf(stderr, "usage: spki-cost CHAIN.pem...\n");
		return 2;
	}
	if (!lib || !OSSL_PROVIDER_load(lib, "default"))
		return 1;
	d = calloc((size_t)n, sizeof(*d));
	for (i = 0; i < n; i++) {
		FILE *f = fopen(argv[i + 1], "r");
		X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;

		if (f)
			fclose(f);
		if (!x || (d[i].len = i2d_X509(x, &d[i].p)) <= 0) {
			fprintf(stderr, "spki-cost: %s: no certificate\n", argv[i + 1]);
			return 1;
		}
		X509_free(x);
	}
	if (!gw_spki_applies())
		printf("spki-cost: OpenSSL %s caches its decoders; the direct import is off\n",
		       OpenSSL_version(OPENSSL_VERSION_STRING));
	/* The same key both ways. */
	for (i = 0; i < n; i++) {
		X509 *a, *b;

		gw_spki_set_enabled(true);
		a = parse(lib, &d[i]);
		gw_spki_set_enabled(false);
		b = parse(lib, &d[i]);
		if (!a || !b || EVP_PKEY_eq(X509_get0_pubkey(a), X509_get0_pubkey(b)) != 1) {
			fprintf(stderr, "spki-cost: leaf %d: the two ways differ\n", i);
			return 1;
		}
		X509_free(a);
		X509_free(b);
	}
	for (r = 0; r < ROUNDS; r++) {
		gw_spki_set_enabled(true);
		direct[r] = round_ns(lib, d, n);
		gw_spki_set_enabled(false);
		decoder[r] = round_ns(lib, d, n);
	}
	qsort(direct, ROUNDS, sizeof(direct[0]), cmp_double);
	qsort(decoder, ROUNDS, sizeof(decoder[0]), cmp_double);
	printf("spki-cost: d2i_X509 of a never-seen P-256 leaf (%d leaves, %d rounds, medians): "
	       "%.1f us with the direct import (%.1f-%.1f), %.1f us with OpenSSL's decoder (%.1f-%.1f)\n",
	       n, ROUNDS, direct[ROUNDS / 2] / 1e3, direct[0] / 1e3, direct[ROUNDS - 1] / 1e3,
	       decoder[ROUNDS / 2] / 1e3, decoder[0] / 1e3, decoder[ROUNDS - 1] / 1e3);
	printf("spki-cost: direct imports %llu, handed to the decoder %llu\n",
	       (unsigned long long)gw_spki_stats().fast,
	       (unsigned long long)gw_spki_stats().decoder);
	for (i = 0; i < n; i++)
		OPENSSL_free(d[i].p);
	free(d);
	OSSL_LIB_CTX_free(lib);
	return 0;
}
