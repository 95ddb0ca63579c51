/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The TLS input files of one generation build, each read once and parsed
 * once per OpenSSL library context, for every listener that names it
 * (internal to tls.c and gen.c; prefix gw_tls_files_).
 *
 * 1,000 listeners with the same certificate, key, CA bundle and CRLs
 * read and decoded those files 1,000 times per worker (about 2 ms a
 * listener, 92 % of a --check); now once. The bytes of a path are read at
 * its first use and kept for the whole build, so every listener and every
 * worker of one generation sees the same content even if the file is
 * rewritten meanwhile; the cache dies with the build, so the next reload
 * reads every file again. Objects are parsed per library context because
 * a worker's TLS contexts are made of its own context's objects (gen.c
 * says why), and shared by reference: SSL_CTX and X509_STORE take their
 * own references, so the cache may go while they live.
 *
 * A failure is kept with OpenSSL's words for it, and each listener that
 * names the file reports it against its own key and line (tls.c). File
 * bytes are wiped before they are freed: they may be a private key.
 *
 * Only the thread that builds generations uses a cache; nothing locks.
 */
#ifndef GW_TLS_FILES_H
#define GW_TLS_FILES_H

#include <openssl/ssl.h>

struct gw_tls_files;

/* An empty cache; NULL on allocation failure. */
struct gw_tls_files *gw_tls_files_new(void);
/* Drop the cache's references and wipe the bytes read. NULL is fine. */
void gw_tls_files_free(struct gw_tls_files *tf);

/*
 * Each getter parses path's bytes in libctx (NULL: the default context)
 * the first time and answers from the cache after that. Objects are
 * borrowed: valid while the cache lives, to be up-referenced (as
 * SSL_CTX_use_certificate, X509_STORE_add_cert... do) by anyone keeping
 * them. 0, or -EINVAL with *why set to what went wrong (the file's read
 * error or OpenSSL's errors, possibly ""), or -ENOMEM.
 */

/*
 * A certificate chain file: the leaf (first PEM certificate, trusted
 * form accepted) and the certificates after it, as
 * SSL_CTX_use_certificate_chain_file reads them.
 */
int gw_tls_files_chain(struct gw_tls_files *tf, OSSL_LIB_CTX *libctx, const char *path,
		       X509 **leaf, STACK_OF(X509) **rest, const char **why);

/* A PEM private key. */
int gw_tls_files_key(struct gw_tls_files *tf, OSSL_LIB_CTX *libctx, const char *path,
		     EVP_PKEY **pkey, const char **why);

/*
 * A CA bundle: its PEM certificates up to the first that does not parse
 * (none is not an error here; the caller says so). -EINVAL only when the
 * file cannot be read.
 */
int gw_tls_files_certs(struct gw_tls_files *tf, OSSL_LIB_CTX *libctx, const char *path,
		       STACK_OF(X509) **certs, const char **why);

/* The bytes of a file as read (a session ticket key file), borrowed like the objects. */
int gw_tls_files_bytes(struct gw_tls_files *tf, const char *path, const unsigned char **data,
		       size_t *len, const char **why);

/* A CRL file: one or more PEM CRLs, or a single DER CRL. At least one. */
int gw_tls_files_crls(struct gw_tls_files *tf, OSSL_LIB_CTX *libctx, const char *path,
		      STACK_OF(X509_CRL) **crls, const char **why);

#endif
