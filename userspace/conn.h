/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * One client connection and the lifecycle API that the modules moving it
 * through its life call (conn.c):
 *
 *   accept.c              creates it (gw_conn_new)
 *   handshake.c           TLS handshake, verification result, authorization
 *   upstream.c            nonblocking connect to the backend
 *   datapath_*.c          move the bytes (datapath.h)
 *
 * Each of them goes on by handing the connection to the next one down
 * that list's dependency order, never back up: a callback (event, timer)
 * is the only way back in.
 *
 * Concurrency: a connection belongs to exactly one worker and is only
 * touched from its loop. A connection is never freed while an epoll batch
 * may still reference it: gw_conn_close() marks it dead and the worker
 * frees it after the batch (gw_conns_reap).
 */
#ifndef GW_CONN_H
#define GW_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <openssl/ssl.h>

#include "addr.h"
#include "audit.h"
#include "config.h"
#include "identity.h"
#include "listener.h"
#include "loop.h"
#include "proxy.h"
#include "tls.h"
#include "worker.h"

struct gw_dp_ops;
struct gw_ktls_secrets;

/* A PROXY v2 header being read: its first bytes, then how many to drop. */
struct gw_proxy_in {
	unsigned char buf[GW_PROXY_V2_FIXED + GW_PROXY_V2_ADDRS_MAX];
	uint8_t have;			/* bytes in buf */
	bool done;			/* the header was read whole */
	uint32_t skip;			/* TLV bytes still to read and drop */
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
	union gw_inaddr src;
	union gw_inaddr dst;		/* local address the client reached */
	/*
	 * Behind a balancer (listeners[].proxy_protocol), src and dst are
	 * what its PROXY v2 header says, and via is the balancer
	 * (ss_family 0 otherwise, and for its LOCAL health checks).
	 */
	union gw_inaddr via;
	struct gw_proxy_in pp;		/* the header, while it is read (source.c) */

	/* deadline (handshake, connect or lifetime) in the worker's loop */
	struct gw_timer timer;
	void (*on_timeout)(struct gw_conn *c);
	/*
	 * idle_timeout while forwarding: due at t_progress_ms + idle_timeout,
	 * moved on from there when it finds newer progress. t_progress_ms is
	 * the loop's batch clock the last time payload moved either way
	 * (gw_conn_count_bytes): one store per move, no timer work.
	 */
	struct gw_timer idle_timer;
	uint64_t t_progress_ms;

	SSL *ssl;
	struct gw_verify_result vr;
	bool tls_peeked;		/* first byte looked like TLS */
	struct gw_identity *ident;
	/* limits.per_identity: the identity's table and entry, held while it lives. */
	struct gw_idlimit *idl;
	struct gw_idl_entry *idl_entry;
	int ls_route;			/* its route's index in ls->routes, -1 = none */
	struct gw_certrefs *certrefs;	/* for revocation of the live connection */
	const char *rule;		/* matching rule name, NULL if none */
	bool would_deny;		/* audit mode let a denial through */
	const char *tls_version;
	const char *cipher;
	const char *group;		/* key exchange group, OpenSSL's name */

	uint64_t t_start_ms;
	uint64_t t_open_ms;		/* conn_open logged (0 = not yet) */

	const struct gw_dp_ops *dp;	/* set by the handshake */
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
	/* the backend leg on kTLS too (upstream.tls on the splice datapath) */
	bool b_ktls;
	struct gw_ktls_secrets *b_ktls_secrets;
	bool b_ku_tx_pending;		/* owe the backend a KeyUpdate of ours */
	/* peer KeyUpdates in the current one-second window (both datapaths) */
	unsigned int ku_count;
	uint64_t ku_window_ms;
	bool ku_flood;			/* over the limit (userspace: seen in a callback) */
	bool renegotiation;		/* a TLS 1.2 ClientHello after the handshake (userspace) */

	/* forwarding state (userspace datapath) */
	struct gw_buf c2b, b2c;
	bool c_eof;			/* client sent close_notify or FIN */
	bool b_eof;			/* backend sent FIN */
	bool b_shut;			/* we sent FIN to the backend */
	bool c_shut;			/* we sent close_notify to the client */
	uint32_t c_read_wants;		/* EPOLLIN/EPOLLOUT SSL_read is waiting for */
	uint32_t c_write_wants;		/* same for SSL_write / SSL_shutdown */
	uint32_t proxy_hdr_left;	/* PROXY header bytes at the front of c2b */
	/* the backend leg in TLS (upstream.tls), NULL/0 over plain TCP */
	SSL *bssl;
	struct gw_upstream_vr uvr;	/* its verification, then its identity */
	const char *b_tls_version;
	const char *b_cipher;
	bool b_resumed;			/* the backend resumed our session */
	bool b_heard;			/* the backend sent payload */
	const SSL_SESSION *b_offered;	/* the session offered for resumption, compared only */
	struct gw_certrefs *b_certrefs;	/* the backend's chain, for revocation on a reload */
	uint32_t b_read_wants;		/* EPOLLIN/EPOLLOUT SSL_read is waiting for */
	uint32_t b_write_wants;		/* same for SSL_write / SSL_shutdown */
	/*
	 * The backend leg's OpenSSL object kept after a TLS 1.3 handoff, until
	 * the backend's first NewSessionTicket record is taken (datapath_splice.c),
	 * and the next sequence number it reads at.
	 */
	SSL *b_tix;
	uint64_t b_tix_seq;
	char *up_hdr;			/* PROXY header still to send before the ClientHello */
	uint32_t up_hdr_len, up_hdr_off;
	char *close_detail;		/* the conn_close line's detail, NULL = none */
	uint64_t bytes_in;		/* client -> backend payload */
	uint64_t bytes_out;		/* backend -> client payload */

	struct gw_conn *dead_next;
	struct gw_conn *all_prev, *all_next;	/* worker's list of live conns */
};

/* The connection an event of its client (cev) or backend (bev) socket belongs to. */
#define gw_conn_of(ev, member) gw_container_of(ev, struct gw_conn, member)

/*
 * A connection accepted on ls from src, counted as a handshake in
 * progress, in the worker's list. NULL on allocation failure (fd is then
 * still the caller's).
 */
struct gw_conn *gw_conn_new(struct gw_listener *ls, int fd, const struct sockaddr_storage *src);

/*
 * Log conn_close (once conn_open was), release the sockets and queue the
 * connection for freeing. abort: reset both TCP connections instead of
 * closing them gracefully, so an RST on one side shows up as an RST on the
 * other. Closing a closed connection does nothing.
 */
void gw_conn_close(struct gw_conn *c, const char *reason, bool abort);
/* Tell the client we are done (close_notify, whichever datapath), best effort. */
void gw_conn_close_notify(struct gw_conn *c);
/*
 * A deliberate end: close_notify unless the handshake is still running,
 * then a graceful close.
 */
void gw_conn_finish(struct gw_conn *c, const char *reason);

void gw_conn_set_events(struct gw_conn *c, struct gw_ev *ev, uint32_t events);
/*
 * Call on_timeout(c) in timeout_ms, instead of any deadline set before.
 * Without memory for it the connection is closed (out_of_memory): one
 * without a deadline could hang forever.
 */
void gw_conn_timer_start(struct gw_conn *c, uint64_t timeout_ms,
			 void (*on_timeout)(struct gw_conn *c));
void gw_conn_timer_stop(struct gw_conn *c);
/* The handshake ended (either way): the listener may accept again. */
void gw_conn_handshake_done(struct gw_conn *c);
/*
 * Forwarding starts: close c with idle_timeout once no payload moved
 * either way for its listener's idle_timeout (none when 0). Without
 * memory for the timer the connection is closed (out_of_memory). Does
 * nothing on a closed connection.
 */
void gw_conn_idle_start(struct gw_conn *c);
/* Payload moved: n_in client -> backend, n_out backend -> client (progress). */
void gw_conn_count_bytes(struct gw_conn *c, uint64_t n_in, uint64_t n_out);

/*
 * Why the worker's running generation would no longer let c through, or
 * NULL (gen.h's gw_gen_recheck, with the revocation lookup).
 */
const char *gw_conn_recheck(const struct gw_conn *c);
/* Close c for why (gw_conn_recheck's reason): audited, counted, logged. */
void gw_conn_revoke(struct gw_conn *c, const char *why);
/* Recheck every connection past its handshake; close those revoked. */
void gw_conns_recheck(struct gw_worker *w);

const char *gw_conn_datapath(const struct gw_conn *c);
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
/* The backend leg for audit lines: id NULL until its TLS handshake ended. */
struct gw_audit_upstream gw_conn_upstream(const struct gw_conn *c);
/* The parsed certificates of the connection's worker (certpool.h). */
struct gw_certpool *gw_conn_certpool(const struct gw_conn *c);

/* Close every live connection of w. */
void gw_conns_close_all(struct gw_worker *w, const char *reason);
/* Free the connections closed during the last batch. */
void gw_conns_reap(struct gw_worker *w);

#endif
