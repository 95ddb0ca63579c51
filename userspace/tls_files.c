// SPDX-License-Identifier: GPL-2.0-only
/*
 * The TLS input files of one generation build (tls_files.h): a hash of
 * paths, each with the file's bytes (read at its first use, wiped when
 * freed) and a short list of what they were parsed into, one entry per
 * (library context, kind): a chain, a key, a CA bundle or CRLs.
 *
 * Parsing follows what tls.c did on the files before: the same OpenSSL
 * calls in the same order, from a memory BIO instead of a file BIO, so a
 * bad file fails with the same errors.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "log.h"
#include "tls_files.h"
#include "util.h"

/* The table's first size; it doubles at one file per bucket. */
#define TF_MIN_BUCKETS 16

enum tf_kind { TF_CHAIN, TF_KEY, TF_CERTS, TF_CRLS };

/* One path's contents parsed in one library context. */
struct tf_parsed {
	struct tf_parsed *next;
	OSSL_LIB_CTX *libctx;
	enum tf_kind kind;
	int err;			/* 0, -EINVAL with why, -ENOMEM */
	char why[512];
	X509 *leaf;			/* TF_CHAIN */
	STACK_OF(X509) *certs;		/* TF_CHAIN: after the leaf; TF_CERTS: all */
	STACK_OF(X509_CRL) *crls;	/* TF_CRLS */
	EVP_PKEY *pkey;			/* TF_KEY */
};

struct tf_file {
	struct tf_file *hnext;		/* hash chain */
	uint32_t hash;
	char *path;
	int err;			/* 0, or -errno of the read with why */
	char why[128];
	unsigned char *data;		/* the bytes read, wiped when freed */
	size_t len;
	struct tf_parsed *parsed;
};

struct gw_tls_files {
	struct tf_file **bucket;
	unsigned int mask;		/* buckets - 1, a power of two less one */
	unsigned int n;
};

struct gw_tls_files *gw_tls_files_new(void)
{
	struct gw_tls_files *tf = calloc(1, sizeof(*tf));

	if (!tf)
		return NULL;
	tf->bucket = calloc(TF_MIN_BUCKETS, sizeof(*tf->bucket));
	if (!tf->bucket) {
		free(tf);
		return NULL;
	}
	tf->mask = TF_MIN_BUCKETS - 1;
	return tf;
}

static void parsed_free(struct tf_parsed *p)
{
	X509_free(p->leaf);
	sk_X509_pop_free(p->certs, X509_free);
	sk_X509_CRL_pop_free(p->crls, X509_CRL_free);
	EVP_PKEY_free(p->pkey);
	free(p);
}

static void wipe_free(unsigned char *data, size_t len)
{
	if (data)
		OPENSSL_cleanse(data, len);
	free(data);
}

void gw_tls_files_free(struct gw_tls_files *tf)
{
	struct tf_file *f, *fnext;
	struct tf_parsed *p, *pnext;
	unsigned int i;

	if (!tf)
		return;
	for (i = 0; i <= tf->mask; i++)
		for (f = tf->bucket[i]; f; f = fnext) {
			fnext = f->hnext;
			for (p = f->parsed; p; p = pnext) {
				pnext = p->next;
				parsed_free(p);
			}
			wipe_free(f->data, f->len);
			free(f->path);
			free(f);
		}
	free(tf->bucket);
	free(tf);
}

/*
 * The whole file into f->data: sized by fstat, grown if it grows while
 * being read, and every buffer given up wiped first (no realloc, which
 * would leave a copy of a key behind). 0 or -errno.
 */
static int read_file(struct tf_file *f)
{
	unsigned char *buf, *bigger;
	size_t cap, len = 0;
	struct stat st;
	int fd, err;
	ssize_t n;

	fd = open(f->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		err = -errno;
		goto out_close;
	}
	/* One byte more than the size: the end shows without growing. */
	cap = st.st_size > 0 && st.st_size < INT_MAX ? (size_t)st.st_size + 1 : 4096;
	buf = malloc(cap);
	if (!buf) {
		err = -ENOMEM;
		goto out_close;
	}
	for (;;) {
		if (len == cap) {
			/* BIO_new_mem_buf takes an int. */
			err = -EFBIG;
			if (cap > INT_MAX / 2)
				goto out_wipe;
			err = -ENOMEM;
			bigger = malloc(cap * 2);
			if (!bigger)
				goto out_wipe;
			memcpy(bigger, buf, len);
			wipe_free(buf, len);
			buf = bigger;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			goto out_wipe;
		}
		if (!n)
			break;
		len += (size_t)n;
	}
	close(fd);
	f->data = buf;
	f->len = len;
	return 0;
out_wipe:
	wipe_free(buf, len);
out_close:
	close(fd);
	return err;
}

/* Twice the buckets, the files put again. A table that cannot grow still works. */
static void grow(struct gw_tls_files *tf)
{
	unsigned int had = tf->mask + 1, i;
	struct tf_file **nb, *f, *next;

	if (had > UINT_MAX / 2)
		return;
	nb = calloc((size_t)had * 2, sizeof(*nb));
	if (!nb)
		return;
	for (i = 0; i < had; i++)
		for (f = tf->bucket[i]; f; f = next) {
			next = f->hnext;
			f->hnext = nb[f->hash & (2 * had - 1)];
			nb[f->hash & (2 * had - 1)] = f;
		}
	free(tf->bucket);
	tf->bucket = nb;
	tf->mask = 2 * had - 1;
}

/* The file at path, read at the first call (a read error is kept in it); NULL: no memory. */
static struct tf_file *file_get(struct gw_tls_files *tf, const char *path)
{
	uint32_t h = gw_hash_fnv1a(path, strlen(path));
	struct tf_file *f;

	for (f = tf->bucket[h & tf->mask]; f; f = f->hnext)
		if (f->hash == h && !strcmp(f->path, path))
			return f;
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->path = strdup(path);
	if (!f->path) {
		free(f);
		return NULL;
	}
	f->hash = h;
	f->err = read_file(f);
	if (f->err)
		(void)gw_snprintf(f->why, sizeof(f->why), "%s", strerror(-f->err));
	if (tf->n > tf->mask)
		grow(tf);
	f->hnext = tf->bucket[h & tf->mask];
	tf->bucket[h & tf->mask] = f;
	tf->n++;
	return f;
}

/* SSL_CTX_use_certificate_chain_file's reading, from bio. */
static int parse_chain(struct tf_parsed *p, BIO *bio)
{
	unsigned long e;
	X509 *x;

	x = X509_new_ex(p->libctx, NULL);
	if (!x || !PEM_read_bio_X509_AUX(bio, &x, NULL, NULL)) {
		X509_free(x);	/* NULL if PEM freed it */
		/* What that function adds: the same message as before. */
		ERR_raise(ERR_LIB_SSL, ERR_R_PEM_LIB);
		return -EINVAL;
	}
	p->leaf = x;
	p->certs = sk_X509_new_null();
	if (!p->certs)
		return -EINVAL;
	while ((x = X509_new_ex(p->libctx, NULL)) && PEM_read_bio_X509(bio, &x, NULL, NULL))
		if (!sk_X509_push(p->certs, x)) {
			X509_free(x);
			return -EINVAL;
		}
	X509_free(x);
	/* The end of the file reads as "no start line"; anything else is a bad certificate. */
	e = ERR_peek_last_error();
	if (ERR_GET_LIB(e) != ERR_LIB_PEM || ERR_GET_REASON(e) != PEM_R_NO_START_LINE)
		return -EINVAL;
	ERR_clear_error();
	return 0;
}

static int parse_key(struct tf_parsed *p, BIO *bio)
{
	p->pkey = PEM_read_bio_PrivateKey_ex(bio, NULL, NULL, NULL, p->libctx, NULL);
	return p->pkey ? 0 : -EINVAL;
}

static int parse_certs(struct tf_parsed *p, BIO *bio)
{
	X509 *x;

	p->certs = sk_X509_new_null();
	if (!p->certs)
		return -EINVAL;
	/* Made in the library context before PEM fills them in. */
	while ((x = X509_new_ex(p->libctx, NULL)) && PEM_read_bio_X509(bio, &x, NULL, NULL))
		if (!sk_X509_push(p->certs, x)) {
			X509_free(x);
			return -EINVAL;
		}
	X509_free(x);
	/* The loop ends on "no start line": expected at end of file. */
	ERR_clear_error();
	return 0;
}

static int parse_crls(struct tf_parsed *p, BIO *bio, const struct tf_file *f)
{
	X509_CRL *crl;
	BIO *der;

	p->crls = sk_X509_CRL_new_null();
	if (!p->crls)
		return -EINVAL;
	while ((crl = X509_CRL_new_ex(p->libctx, NULL)) &&
	       PEM_read_bio_X509_CRL(bio, &crl, NULL, NULL))
		if (!sk_X509_CRL_push(p->crls, crl)) {
			X509_CRL_free(crl);
			return -EINVAL;
		}
	X509_CRL_free(crl);
	if (!sk_X509_CRL_num(p->crls)) {
		/* Not PEM: one DER CRL, read from the start. */
		ERR_clear_error();
		der = BIO_new_mem_buf(f->data, (int)f->len);
		crl = der ? X509_CRL_new_ex(p->libctx, NULL) : NULL;
		if (!crl || !d2i_X509_CRL_bio(der, &crl) || !sk_X509_CRL_push(p->crls, crl)) {
			X509_CRL_free(crl);
			BIO_free(der);
			return -EINVAL;
		}
		BIO_free(der);
	}
	ERR_clear_error();
	return 0;
}

static int parse(struct tf_parsed *p, const struct tf_file *f)
{
	BIO *bio;
	int err;

	if (f->err) {
		(void)gw_snprintf(p->why, sizeof(p->why), "%s", f->why);
		return -EINVAL;
	}
	/* Errors left by others would read as this file's. */
	ERR_clear_error();
	bio = BIO_new_mem_buf(f->data, (int)f->len);
	if (!bio)
		return -ENOMEM;
	switch (p->kind) {
	case TF_CHAIN:
		err = parse_chain(p, bio);
		break;
	case TF_KEY:
		err = parse_key(p, bio);
		break;
	case TF_CERTS:
		err = parse_certs(p, bio);
		break;
	default:
		err = parse_crls(p, bio, f);
		break;
	}
	BIO_free(bio);
	if (err)
		gw_ssl_errors(p->why, sizeof(p->why));
	return err;
}

/* path parsed as kind in libctx, from the cache or now; NULL: no memory. */
static const struct tf_parsed *get(struct gw_tls_files *tf, OSSL_LIB_CTX *libctx,
				   const char *path, enum tf_kind kind)
{
	struct tf_file *f = file_get(tf, path);
	struct tf_parsed *p;

	if (!f)
		return NULL;
	for (p = f->parsed; p; p = p->next)
		if (p->libctx == libctx && p->kind == kind)
			return p;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->libctx = libctx;
	p->kind = kind;
	p->err = parse(p, f);
	p->next = f->parsed;
	f->parsed = p;
	return p;
}

int gw_tls_files_chain(struct gw_tls_files *tf, OSSL_LIB_CTX *libctx, const char *path,
		       X509 **leaf, STACK_OF(X509) **rest, const char **why)
{
	const struct tf_parsed *p = get(tf, libctx, path, TF_CHAIN);

	if (!p)
		return -ENOMEM;
	*leaf = p->leaf;
	*rest = p->certs;
	*why = p->why;
	return p->err;
}

int gw_tls_files_key(struct gw_tls_files *tf, OSSL_LIB_CTX *libctx, const char *path,
		     EVP_PKEY **pkey, const char **why)
{
	const struct tf_parsed *p = get(tf, libctx, path, TF_KEY);

	if (!p)
		return -ENOMEM;
	*pkey = p->pkey;
	*why = p->why;
	return p->err;
}

int gw_tls_files_certs(struct gw_tls_files *tf, OSSL_LIB_CTX *libctx, const char *path,
		       STACK_OF(X509) **certs, const char **why)
{
	const struct tf_parsed *p = get(tf, libctx, path, TF_CERTS);

	if (!p)
		return -ENOMEM;
	*certs = p->certs;
	*why = p->why;
	return p->err;
}

int gw_tls_files_crls(struct gw_tls_files *tf, OSSL_LIB_CTX *libctx, const char *path,
		      STACK_OF(X509_CRL) **crls, const char **why)
{
	const struct tf_parsed *p = get(tf, libctx, path, TF_CRLS);

	if (!p)
		return -ENOMEM;
	*crls = p->crls;
	*why = p->why;
	return p->err;
}

int gw_tls_files_bytes(struct gw_tls_files *tf, const char *path, const unsigned char **data,
		       size_t *len, const char **why)
{
	const struct tf_file *f = file_get(tf, path);

	if (!f)
		return -ENOMEM;
	*data = f->data;
	*len = f->len;
	*why = f->why;
	return f->err ? -EINVAL : 0;
}
