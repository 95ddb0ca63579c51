// SPDX-License-Identifier: GPL-2.0-only
/*
 * The TLS echo backend of tls_backend.h: a forked process that accepts and
 * runs each connection in its own thread with blocking OpenSSL calls.
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "tls_backend.h"

struct tconn {
	SSL_CTX *ctx;
	const struct gwt_tls_backend_opts *o;
	struct gwt_backend_stats *st;
	struct gwt_backend_conn *rec;
	int fd;
};

static void record(struct gwt_backend_conn *r, EVP_MD_CTX *md, const unsigned char *buf,
		   int n, struct gwt_backend_stats *st)
{
	if (r->head_len < GWT_BACKEND_HEAD) {
		unsigned int k = GWT_BACKEND_HEAD - r->head_len;

		k = (unsigned int)n < k ? (unsigned int)n : k;
		memcpy(r->head + r->head_len, buf, k);
		r->head_len += k;
	}
	EVP_DigestUpdate(md, buf, (size_t)n);
	__atomic_add_fetch(&r->rx_bytes, (uint64_t)n, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&st->rx_total, (uint64_t)n, __ATOMIC_SEQ_CST);
}

static void *tconn_run(void *arg)
{
	struct tconn *t = arg;
	const struct gwt_tls_backend_opts *o = t->o;
	struct gwt_backend_conn *r = t->rec;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	SSL *ssl = SSL_new(t->ctx);
	bool ku_sent = false;
	unsigned char buf[16384];
	int n;

	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	SSL_set_fd(ssl, t->fd);
	if (SSL_accept(ssl) != 1)
		goto out;
	for (;;) {
		n = SSL_read(ssl, buf, sizeof(buf));
		if (n <= 0) {
			if (SSL_get_error(ssl, n) == SSL_ERROR_ZERO_RETURN) {
				r->fin_seen = 1;
				SSL_shutdown(ssl);
			} else {
				r->rst_seen = 1;
			}
			break;
		}
		record(r, md, buf, n, t->st);
		if (o->rst_after && r->rx_bytes >= o->rst_after) {
			struct linger l = { 1, 0 };

			setsockopt(t->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
			break;
		}
		if (o->key_update_after && !ku_sent && r->rx_bytes >= o->key_update_after) {
			SSL_key_update(ssl, SSL_KEY_UPDATE_REQUESTED);
			ku_sent = true;
		}
		if (SSL_write(ssl, buf, n) != n) {
			r->rst_seen = 1;
			break;
		}
		r->tx_bytes += (uint64_t)n;
		if (o->close_after && r->tx_bytes >= o->close_after) {
			SSL_shutdown(ssl);
			/* What follows until the gateway's close_notify is not echoed. */
			while ((n = SSL_read(ssl, buf, sizeof(buf))) > 0)
				record(r, md, buf, n, t->st);
			r->fin_seen = SSL_get_error(ssl, n) == SSL_ERROR_ZERO_RETURN;
			r->rst_seen = !r->fin_seen;
			break;
		}
	}
out:
	EVP_DigestFinal_ex(md, r->rx_sha256, NULL);
	EVP_MD_CTX_free(md);
	SSL_free(ssl);
	close(t->fd);
	__atomic_store_n(&r->done, 1, __ATOMIC_SEQ_CST);
	free(t);
	return NULL;
}

static SSL_CTX *server_ctx(const struct gwt_tls_backend_opts *o)
{
	const char *cert = o->cert ? o->cert : "backend";
	char chain[128], key[128];
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	snprintf(chain, sizeof(chain), "%s-chain.pem", cert);
	snprintf(key, sizeof(key), "%s.key", cert);
	if (!ctx ||
	    SSL_CTX_use_certificate_chain_file(ctx, gwt_pki_path(chain)) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, gwt_pki_path(key), SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_load_verify_locations(ctx, gwt_pki_path(o->client_ca ? o->client_ca :
							       "root-ca.crt"), NULL) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, o->max_version ? o->max_version :
					  TLS1_3_VERSION) != 1 ||
	    (o->ciphers && SSL_CTX_set_cipher_list(ctx, o->ciphers) != 1) ||
	    (o->ciphersuites && SSL_CTX_set_ciphersuites(ctx, o->ciphersuites) != 1)) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	/* Without it OpenSSL resumes no session of a verified client. */
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"gwt", 3);
	return ctx;
}

static void accept_loop(int lfd, SSL_CTX *ctx, const struct gwt_tls_backend_opts *o,
			struct gwt_backend_stats *st)
{
	unsigned int i = 0;

	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		struct tconn *t;
		pthread_t th;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			_exit(1);
		}
		t = calloc(1, sizeof(*t));
		if (!t)
			_exit(1);
		*t = (struct tconn){ .ctx = ctx, .o = o, .st = st, .fd = fd,
				     .rec = &st->conn[i++ % GWT_BACKEND_CONNS] };
		memset(t->rec, 0, sizeof(*t->rec));
		__atomic_add_fetch(&st->accepted, 1, __ATOMIC_SEQ_CST);
		if (pthread_create(&th, NULL, tconn_run, t))
			_exit(1);
		pthread_detach(th);
	}
}

int gwt_tls_backend_start(struct gwt_backend *b, const struct gwt_tls_backend_opts *o)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	SSL_CTX *ctx;
	int lfd;

	memset(b, 0, sizeof(*b));
	b->pid = -1;
	ctx = server_ctx(o);
	if (!ctx)
		return -EINVAL;
	b->st = mmap(NULL, sizeof(*b->st), PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (b->st == MAP_FAILED) {
		b->st = NULL;
		SSL_CTX_free(ctx);
		return -ENOMEM;
	}
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(lfd, 128) || getsockname(lfd, (struct sockaddr *)&sa, &len)) {
		if (lfd >= 0)
			close(lfd);
		SSL_CTX_free(ctx);
		return -errno;
	}
	b->port = ntohs(sa.sin_port);
	fflush(NULL);
	b->pid = fork();
	if (b->pid == 0) {
		signal(SIGPIPE, SIG_IGN);
		accept_loop(lfd, ctx, o, b->st);
		_exit(0);
	}
	close(lfd);
	SSL_CTX_free(ctx);
	return b->pid < 0 ? -ECHILD : 0;
}
