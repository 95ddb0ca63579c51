/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The server behind the control socket and the metrics endpoint: short
 * request/answer exchanges inside an event loop that never wait on a
 * client. Each client has a slot with its own buffer and deadline; at
 * most GW_REQSRV_MAX_CLIENTS at once (while they are all taken the
 * listening socket is not watched, and the rest wait in its queue).
 *
 * A request is read in full: a line (GW_REQSRV_LINE; the end of the
 * stream ends one too), or an HTTP/1.x request head (GW_REQSRV_HTTP; the
 * server answers 400, 405, 408 and 431 itself). The handler answers it
 * at once into a buffer, which is written as fast as the client takes it.
 * A client gets GW_REQSRV_READ_MS to send its request and
 * GW_REQSRV_WRITE_MS to take the answer; then it is closed.
 *
 * With TLS (gw_reqsrv_tls: the metrics endpoint's metrics.tls) a client
 * first completes a non-blocking handshake, within GW_REQSRV_TLS_READ_MS
 * together with its request; the request and the answer go through
 * OpenSSL, and the answer ends with close_notify.
 */
#ifndef GW_REQSRV_H
#define GW_REQSRV_H

#include <stdbool.h>
#include <stddef.h>
#include <openssl/ssl.h>

#include "loop.h"
#include "util.h"

#define GW_REQSRV_MAX_CLIENTS 16
#define GW_REQSRV_READ_MS 1000
#define GW_REQSRV_WRITE_MS 10000
#define GW_REQSRV_BACKOFF_MS 100	/* out of descriptors: not accepting */
#define GW_REQSRV_TLS_READ_MS 5000	/* handshake and request, as handshake_timeout's default */

enum gw_reqsrv_proto {
	GW_REQSRV_LINE,
	GW_REQSRV_HTTP,
};

struct gw_reqsrv;
struct gw_reqcl;

/*
 * Answer a complete request into out: for LINE the line without its end,
 * for HTTP the target of a GET (the handler writes the whole HTTP
 * response). req is NUL-terminated and may be changed. An out that
 * failed (no memory) closes the client without an answer.
 */
typedef void (*gw_reqsrv_fn)(struct gw_reqsrv *s, char *req, struct gw_sbuf *out);

/*
 * TLS for the clients of a server, decided per client.
 * open: for an accepted socket fd, 0 with *ssl a server SSL on it (TLS)
 *       or NULL (plain); < 0 closes it. *arg goes to done and close.
 * done: the handshake ended; !ok: refused or failed (OpenSSL sent the
 *       alert), the client is closed next.
 * close: the client is gone, after its SSL was freed.
 */
struct gw_reqsrv_tls {
	int (*open)(struct gw_reqsrv *s, int fd, SSL **ssl, void **arg);
	void (*done)(struct gw_reqsrv *s, SSL *ssl, void *arg, bool ok);
	void (*close)(struct gw_reqsrv *s, void *arg);
};

struct gw_reqsrv {
	struct gw_loop *loop;
	const struct gw_reqsrv_tls *tls;	/* NULL: plain for every client */
	struct gw_ev ev;		/* the listening socket; fd -1: stopped */
	enum gw_reqsrv_proto proto;
	gw_reqsrv_fn fn;
	const char *name;		/* for messages: "control socket" */
	struct gw_timer backoff;	/* pending: out of descriptors */
	struct gw_reqcl *clients;
	unsigned int n_clients;
};

/* A stopped server (before any start). */
void gw_reqsrv_init(struct gw_reqsrv *s);

/*
 * Serve on the listening socket fd (the server owns it from now). On a
 * running server this replaces its listening socket (closed); the
 * clients it has carry on.
 */
void gw_reqsrv_start(struct gw_reqsrv *s, struct gw_loop *l, int fd,
		     enum gw_reqsrv_proto proto, const char *name, gw_reqsrv_fn fn);

/*
 * Close the listening socket and every client (their memory goes after
 * the loop's current batch). Stopped servers are fine.
 */
void gw_reqsrv_stop(struct gw_reqsrv *s);

static inline bool gw_reqsrv_running(const struct gw_reqsrv *s)
{
	return s->ev.fd >= 0;
}

#endif
