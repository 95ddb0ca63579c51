/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * One client connection and the listener it came from, shared by the
 * modules that move it through its life:
 *
 *   worker.c              accept, limits, timers, close and accounting
 *   handshake.c           TLS handshake, verification result, authorization
 *   upstream.c            nonblocking connect to the backend
 *   datapath_userspace.c  SSL_read/SSL_write copy loop with backpressure
 *
 * Concurrency: a worker is one thread with one epoll loop; a connection
 * belongs to exactly one worker and is only touched from its loop. A
 * connection is never freed while an epoll batch may still reference it:
 * gw_conn_close() marks it dead and the worker frees it after the batch.
 */
#ifndef GW_CONN_H
#define GW_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <openssl/ssl.h>

#include "config.h"
#include "identity.h"
#include "tls.h"

struct gw_worker;
struct gw_ev;

typedef void (*gw_ev_fn)(struct gw_ev *ev, uint32_t events);

/* An fd registered in the worker's epoll; events = what is registered now. */
struct gw_ev {
	int fd;
	uint32_t events;
	gw_ev_fn fn;
};

struct gw_conn;

/*
 * One loaded configuration and everything built from it. The worker holds
 * a reference to the current one; every connection holds one to the
 * generation it was accepted under, so a reload never changes the policy
 * objects under a live connection.
 */
struct gw_gen {
	uint64_t id;
	struct gw_config *cfg;
	/*
	 * One TLS context per worker and listener, tls[worker * n_listeners
	 * + listener]: a worker's handshakes take no lock another worker
	 * holds (SSL_CTX, X509_STORE, the verification cache). The contexts
	 * of one listener share their ticket keys, so a session resumes on
	 * any worker.
	 */
	struct gw_tls_server **tls;
	unsigned int n_workers;
	unsigned char *expiry_warned;	/* per listener: 1 = 72 h warned, 2 = 24 h */
	unsigned int refs;		/* atomic: workers share generations */
};

static inline struct gw_tls_server *gw_gen_tls(const struct gw_gen *gen,
					       unsigned int worker, unsigned int i)
{
	return gen->tls[worker * gen->cfg->n_listeners + i];
}

/*
 * A listening socket. It survives reloads that keep its address; its
 * policy (cfg, tls) always points into the current generation. A listener
 * removed by a reload closes its socket and lives on until its last
 * connection is gone.
 */
struct gw_listener {
	struct gw_worker *w;
	struct gw_ev ev;		/* the listening socket */
	struct gw_gen *gen;
	const struct gw_cfg_listener *cfg;
	struct gw_tls_server *tls;
	unsigned int index;		/* in gen->cfg->listeners */
	unsigned int slot;		/* in the steering SOCKMAP */
	bool paused;			/* limits reached: not accepting */
	bool removed;
	unsigned int n_conns;
	unsigned int n_handshakes;
	uint64_t bytes_in;		/* payload forwarded, for metrics */
	uint64_t bytes_out;
	struct gw_listener *next;
};

struct gw_ktls_secrets;

enum gw_dp {
	GW_DP_USERSPACE,		/* OpenSSL copy loop */
	GW_DP_SPLICE,			/* kTLS on the client socket, splice() */
};

enum gw_conn_state {
	GW_CONN_HANDSHAKE,
	GW_CONN_CONNECTING,
	GW_CONN_FORWARDING,
	GW_CONN_DEAD,
};

/* A bounded byte queue between the two sockets; data NULL while empty. */
struct gw_buf {
	char *data;
	uint32_t head, tail;
};

#define GW_BUF_SIZE (64 * 1024)

static inline uint32_t gw_buf_len(const struct gw_buf *b)
{
	return b->tail - b->head;
}

static inline uint32_t gw_buf_space(const struct gw_buf *b)
{
	return GW_BUF_SIZE - b->tail;
}

struct gw_conn {
	uint64_t id;
	struct gw_listener *ls;
	struct gw_gen *gen;		/* referenced while the connection lives */
	const struct gw_cfg_listener *lc;	/* its policy, in gen */
	struct gw_tls_server *tls;
	enum gw_conn_state state;
	struct gw_ev cev;		/* client socket */
	uint64_t cookie;		/* SO_COOKIE of the client socket (sock_diag) */
	struct gw_ev bev;		/* backend socket, fd -1 until connect */
	struct sockaddr_storage src;
	struct sockaddr_storage dst;	/* local address the client reached */

	/* deadline (handshake or connect), in the worker's timer heap */
	unsigned int heap_idx;		/* 1-based; 0 = no deadline */
	uint64_t deadline_ms;
	void (*on_timeout)(struct gw_conn *c);

	SSL *ssl;
	struct gw_verify_result vr;
	bool tls_peeked;		/* first byte looked like TLS */
	struct gw_identity *ident;
	struct gw_certrefs *certrefs;	/* for revocation of the live connection */
	const char *rule;		/* matching rule name, NULL if none */
	bool would_deny;		/* audit mode let a denial through */
	const char *tls_version;
	const char *cipher;

	uint64_t t_start_ms;
	uint64_t t_open_ms;		/* conn_open logged (0 = not yet) */

	enum gw_dp dp;
	/* splice datapath: client->backend and backend->client pipes */
	int pipe_cb[2], pipe_bc[2];
	uint32_t pipe_cb_len, pipe_bc_len;
	/*
	 * Which splice() may move something: set when epoll says so, cleared
	 * when a call says EAGAIN (GW_SP_* bits).
	 */
	uint8_t sp_ready;
	struct gw_ktls_secrets *ktls_secrets;	/* TLS 1.3 on kTLS: for rekey */
	bool ku_tx_pending;		/* owe the client a KeyUpdate of ours */
	/* peer KeyUpdates in the current one-second window (both datapaths) */
	unsigned int ku_count;
	uint64_t ku_window_ms;
	bool ku_flood;			/* over the limit (userspace: seen in a callback) */

	/* forwarding state (userspace datapath) */
	struct gw_buf c2b, b2c;
	bool c_eof;			/* client sent close_notify or FIN */
	bool b_eof;			/* backend sent FIN */
	bool b_shut;			/* we sent FIN to the backend */
	bool c_shut;			/* we sent close_notify to the client */
	uint32_t c_read_wants;		/* EPOLLIN/EPOLLOUT SSL_read is waiting for */
	uint32_t c_write_wants;		/* same for SSL_write / SSL_shutdown */
	uint32_t proxy_hdr_left;	/* PROXY header bytes at the front of c2b */
	uint64_t bytes_in;		/* client -> backend payload */
	uint64_t bytes_out;		/* backend -> client payload */

	struct gw_conn *dead_next;
	struct gw_conn *all_prev, *all_next;	/* worker's list of live conns */
};

/* worker.c */
void gw_conn_set_events(struct gw_conn *c, struct gw_ev *ev, uint32_t events);
void gw_conn_close(struct gw_conn *c, const char *reason, bool abort);
void gw_conn_timer_start(struct gw_conn *c, uint64_t timeout_ms,
			 void (*on_timeout)(struct gw_conn *c));
void gw_conn_timer_stop(struct gw_conn *c);
void gw_conn_handshake_done(struct gw_conn *c);
bool gw_conn_revalidate(struct gw_conn *c);

/* handshake.c */
void gw_handshake_start(struct gw_conn *c);
void gw_handshake_event(struct gw_ev *ev, uint32_t events);
void gw_handshake_timeout(struct gw_conn *c);
bool gw_handshake_authz(SSL *ssl, X509 *leaf, const char **reason);

/* upstream.c */
void gw_upstream_connect(struct gw_conn *c);
void gw_upstream_timeout(struct gw_conn *c);

/* The connection an event of its client (cev) or backend (bev) socket belongs to. */
#define gw_conn_of(ev, member) \
	((struct gw_conn *)((char *)(ev) - offsetof(struct gw_conn, member)))

/* worker.c: datapath-independent helpers */
const char *gw_conn_datapath(const struct gw_conn *c);
/* Tell the client we are done (close_notify), whichever datapath. */
void gw_conn_close_notify(struct gw_conn *c);
/*
 * May this connection move to kTLS with cipher (a gw_kcaps index, or
 * GW_KTLS_ANY_CIPHER: with any): the kernel takes it, the config allows it.
 */
#define GW_KTLS_ANY_CIPHER (-1)
bool gw_conn_ktls_allowed(const struct gw_conn *c, int cipher);
/*
 * Count a KeyUpdate from the client; false once it sent more than
 * GW_KEY_UPDATES_PER_S in one second (a storm costs us a key derivation
 * and a setsockopt each, see DESIGN.md).
 */
#define GW_KEY_UPDATES_PER_S 16
bool gw_conn_key_update_ok(struct gw_conn *c);
/* The parsed certificates of the connection's worker (certpool.h). */
struct gw_certpool *gw_conn_certpool(const struct gw_conn *c);

/* datapath_splice.c */
int gw_dp_splice_start(struct gw_conn *c);
void gw_dp_splice_free(struct gw_conn *c);
int gw_dp_splice_close_notify(struct gw_conn *c);

/* datapath_userspace.c */
void gw_dp_userspace_start(struct gw_conn *c);
void gw_dp_userspace_free(struct gw_conn *c);

#endif
