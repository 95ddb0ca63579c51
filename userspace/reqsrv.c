// SPDX-License-Identifier: GPL-2.0-only
/*
 * The control socket's and the metrics endpoint's server (reqsrv.h):
 * accept within the slot limit, read a request without waiting, answer,
 * write without waiting, close; deadlines on every client.
 *
 * A client is closed from its own event or from its deadline; its memory
 * is freed after the loop's batch (an event of the batch may point to
 * it).
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <openssl/err.h>

#include "control.h"
#include "log.h"
#include "reqsrv.h"

struct gw_reqcl {
	struct gw_reqsrv *s;
	struct gw_ev ev;
	struct gw_timer deadline;
	struct gw_deferred dfree;
	struct gw_reqcl *next, **pprev;
	struct gw_sbuf out;		/* the answer; off of it written */
	size_t off;
	size_t len;			/* of the request in buf */
	bool answering;
	SSL *ssl;			/* NULL: plain */
	void *tls_arg;			/* the gw_reqsrv_tls's */
	bool handshaken;
	char buf[GW_CTL_MAX_REQUEST];
};

static void listen_update(struct gw_reqsrv *s);

static void client_free(struct gw_deferred *d)
{
	struct gw_reqcl *cl = gw_container_of(d, struct gw_reqcl, dfree);

	gw_sbuf_free(&cl->out);
	free(cl);
}

static void client_close(struct gw_reqcl *cl)
{
	struct gw_reqsrv *s = cl->s;
	char sink[256];

	/* A handler may stop the server that is answering (then it is closed). */
	if (cl->ev.fd < 0)
		return;
	gw_timer_stop(s->loop, &cl->deadline);
	gw_loop_set(s->loop, &cl->ev, 0);
	/* Unread bytes would turn the close into a reset that can cut the answer. */
	while (recv(cl->ev.fd, sink, sizeof(sink), MSG_DONTWAIT) > 0)
		;
	if (cl->ssl) {
		SSL_free(cl->ssl);
		cl->ssl = NULL;
		s->tls->close(s, cl->tls_arg);
	}
	close(cl->ev.fd);
	cl->ev.fd = -1;
	*cl->pprev = cl->next;
	if (cl->next)
		cl->next->pprev = cl->pprev;
	s->n_clients--;
	gw_loop_defer(s->loop, &cl->dfree, client_free);
	listen_update(s);
}

/*
 * OpenSSL wants the socket readable or writable before it can go on:
 * watch for that (0), or the error ends the client (-1; its error queue
 * is left for the caller to read and clear).
 */
static int tls_wait(struct gw_reqcl *cl, int ret)
{
	switch (SSL_get_error(cl->ssl, ret)) {
	case SSL_ERROR_WANT_READ:
		gw_loop_set(cl->s->loop, &cl->ev, EPOLLIN);
		return 0;
	case SSL_ERROR_WANT_WRITE:
		gw_loop_set(cl->s->loop, &cl->ev, EPOLLOUT);
		return 0;
	default:
		return -1;
	}
}

/* Send len bytes of buf or part of them: > 0 sent, 0 try later (watched), -1 failed. */
static ssize_t client_send(struct gw_reqcl *cl, const char *buf, size_t len)
{
	ssize_t n;
	int r;

	if (cl->ssl) {
		r = SSL_write(cl->ssl, buf, (int)(len > INT_MAX ? INT_MAX : len));
		if (r > 0)
			return r;
		if (!tls_wait(cl, r))
			return 0;
		ERR_clear_error();
		return -1;
	}
	do
		n = send(cl->ev.fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN) {
		gw_loop_set(cl->s->loop, &cl->ev, EPOLLOUT);
		return 0;
	}
	return n > 0 ? n : -1;
}

/* Write what the client takes of the answer; closed when all went or it failed. */
static void client_write(struct gw_reqcl *cl)
{
	while (cl->ev.fd >= 0 && cl->off < cl->out.len) {
		ssize_t n = client_send(cl, cl->out.buf + cl->off, cl->out.len - cl->off);

		if (!n)
			return;
		if (n < 0)
			break;
		cl->off += (size_t)n;
	}
	/* One try at close_notify: the answer is complete without it (Content-Length). */
	if (cl->ssl && cl->off == cl->out.len && SSL_shutdown(cl->ssl) < 0)
		ERR_clear_error();
	client_close(cl);
}

static void answer_http_error(struct gw_reqcl *cl, const char *status, const char *extra)
{
	gw_sbuf_printf(&cl->out, "HTTP/1.0 %s\r\nContent-Type: text/plain\r\n%s"
		       "Content-Length: %zu\r\nConnection: close\r\n\r\n%s\r\n",
		       status, extra, strlen(status) + 2, status);
}

static void client_timeout(struct gw_timer *t)
{
	struct gw_reqcl *cl = gw_container_of(t, struct gw_reqcl, deadline);
	static const char line_timeout[] = "error: request not complete within 1 s\n";

	if (cl->answering) {
		client_close(cl);
		return;
	}
	/* One try to say why, then it is closed whatever it took. */
	if (cl->s->proto == GW_REQSRV_HTTP)
		answer_http_error(cl, "408 Request Timeout", "");
	else
		gw_sbuf_printf(&cl->out, "%s", line_timeout);
	if (!cl->out.err && (!cl->ssl || cl->handshaken))
		client_send(cl, cl->out.buf, cl->out.len);
	client_close(cl);
}

static void answer(struct gw_reqcl *cl, const char *line_end)
{
	struct gw_reqsrv *s = cl->s;
	struct gw_http_req req;

	cl->answering = true;
	if (gw_timer_start(s->loop, &cl->deadline, GW_REQSRV_WRITE_MS, client_timeout)) {
		client_close(cl);
		return;
	}
	if (s->proto == GW_REQSRV_LINE) {
		if (line_end)
			cl->len = (size_t)(line_end - cl->buf);
		cl->buf[cl->len] = '\0';
		if (memchr(cl->buf, '\0', cl->len))
			gw_sbuf_printf(&cl->out, "error: a NUL byte in the request\n");
		else
			s->fn(s, cl->buf, &cl->out);
	} else {
		enum gw_http_parse p = gw_http_parse(cl->buf, cl->len, &req);

		if (p == GW_HTTP_DONE && strcmp(req.method, "GET"))
			answer_http_error(cl, "405 Method Not Allowed", "Allow: GET\r\n");
		else if (p == GW_HTTP_DONE)
			s->fn(s, req.target, &cl->out);
		else if (p == GW_HTTP_INCOMPLETE && cl->len + 1 >= sizeof(cl->buf))
			answer_http_error(cl, "431 Request Header Fields Too Large", "");
		else	/* bad, or its stream ended mid-request */
			answer_http_error(cl, "400 Bad Request", "");
	}
	if (cl->out.err) {
		client_close(cl);
		return;
	}
	client_write(cl);
}

/* Whether buf holds a whole request now; its line end for LINE. */
static bool request_done(struct gw_reqcl *cl, const char **line_end)
{
	struct gw_http_req req;

	if (cl->s->proto == GW_REQSRV_LINE) {
		*line_end = memchr(cl->buf, '\n', cl->len);
		return *line_end || cl->len + 1 >= sizeof(cl->buf);
	}
	return gw_http_parse(cl->buf, cl->len, &req) != GW_HTTP_INCOMPLETE ||
	       cl->len + 1 >= sizeof(cl->buf);
}

/* The TLS handshake goes on: 1 done, 0 waiting for the socket, -1 closed. */
static int client_handshake(struct gw_reqcl *cl)
{
	int r = SSL_do_handshake(cl->ssl);

	if (r == 1) {
		cl->handshaken = true;
		cl->s->tls->done(cl->s, cl->ssl, cl->tls_arg, true);
		gw_loop_set(cl->s->loop, &cl->ev, EPOLLIN);
		return 1;
	}
	if (!tls_wait(cl, r))
		return 0;
	cl->s->tls->done(cl->s, cl->ssl, cl->tls_arg, false);
	ERR_clear_error();
	client_close(cl);
	return -1;
}

/* Read into buf: > 0 bytes, 0 the end of the stream, -EAGAIN (watched), or another -errno. */
static ssize_t client_recv(struct gw_reqcl *cl)
{
	size_t room = sizeof(cl->buf) - 1 - cl->len;
	ssize_t n;
	int r;

	if (cl->ssl) {
		r = SSL_read(cl->ssl, cl->buf + cl->len, (int)room);
		if (r > 0)
			return r;
		if (SSL_get_error(cl->ssl, r) == SSL_ERROR_ZERO_RETURN)
			return 0;
		if (!tls_wait(cl, r))
			return -EAGAIN;
		ERR_clear_error();
		return -EIO;
	}
	n = recv(cl->ev.fd, cl->buf + cl->len, room, MSG_DONTWAIT);
	return n >= 0 ? n : -errno;
}

static void client_event(struct gw_ev *ev, uint32_t events)
{
	struct gw_reqcl *cl = gw_container_of(ev, struct gw_reqcl, ev);
	const char *line_end = NULL;
	ssize_t n;

	if (cl->ssl && !cl->handshaken && client_handshake(cl) <= 0)
		return;
	if (cl->answering) {
		/* OpenSSL may wait for the socket to be readable to write. */
		if (cl->ssl || (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			client_write(cl);
		return;
	}
	/* OpenSSL hands over one record at a time: read what it holds too. */
	do {
		n = client_recv(cl);
		if (n == -EAGAIN || n == -EINTR)
			return;
		if (n < 0 || (n == 0 && !cl->len)) {
			client_close(cl);
			return;
		}
		cl->len += (size_t)n;
		/* The end of its stream ends the request too. */
		if (n == 0 || request_done(cl, &line_end)) {
			answer(cl, line_end);
			return;
		}
	} while (cl->ssl && SSL_pending(cl->ssl) > 0);
}

static void backoff_over(struct gw_timer *t)
{
	listen_update(gw_container_of(t, struct gw_reqsrv, backoff));
}

/* Watch the listening socket while a slot is free and descriptors are there. */
static void listen_update(struct gw_reqsrv *s)
{
	gw_loop_set(s->loop, &s->ev,
		    s->n_clients < GW_REQSRV_MAX_CLIENTS && !gw_timer_pending(&s->backoff) ?
		    EPOLLIN : 0);
}

static void accept_event(struct gw_ev *ev, uint32_t events)
{
	struct gw_reqsrv *s = gw_container_of(ev, struct gw_reqsrv, ev);
	static struct gw_ratelimit rl;
	struct gw_reqcl *cl;
	int fd;

	(void)events;
	while (s->ev.fd >= 0 && s->n_clients < GW_REQSRV_MAX_CLIENTS) {
		fd = accept4(ev->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			if (errno == ECONNABORTED)
				continue;
			/* EMFILE, ENFILE, ENOBUFS, ENOMEM: the queue waits. */
			pr_warn_rl(&rl, "%s: accept: %s; not accepting for %u ms", s->name,
				   strerror(errno), GW_REQSRV_BACKOFF_MS);
			gw_timer_start(s->loop, &s->backoff, GW_REQSRV_BACKOFF_MS, backoff_over);
			break;
		}
		cl = calloc(1, sizeof(*cl));
		if (!cl) {
			close(fd);
			break;
		}
		if (s->tls && s->tls->open(s, fd, &cl->ssl, &cl->tls_arg)) {
			free(cl);
			close(fd);
			continue;
		}
		cl->s = s;
		cl->ev.fd = fd;
		cl->ev.fn = client_event;
		cl->next = s->clients;
		if (cl->next)
			cl->next->pprev = &cl->next;
		cl->pprev = &s->clients;
		s->clients = cl;
		s->n_clients++;
		gw_loop_set(s->loop, &cl->ev, EPOLLIN);
		if (gw_timer_start(s->loop, &cl->deadline,
				   cl->ssl ? GW_REQSRV_TLS_READ_MS : GW_REQSRV_READ_MS, client_timeout))
			client_close(cl);
	}
	listen_update(s);
}

void gw_reqsrv_init(struct gw_reqsrv *s)
{
	memset(s, 0, sizeof(*s));
	s->ev.fd = -1;
}

static void listen_close(struct gw_reqsrv *s)
{
	if (s->ev.fd < 0)
		return;
	gw_timer_stop(s->loop, &s->backoff);
	gw_loop_set(s->loop, &s->ev, 0);
	close(s->ev.fd);
	s->ev.fd = -1;
}

void gw_reqsrv_start(struct gw_reqsrv *s, struct gw_loop *l, int fd,
		     enum gw_reqsrv_proto proto, const char *name, gw_reqsrv_fn fn)
{
	listen_close(s);
	s->loop = l;
	s->ev.fd = fd;
	s->ev.fn = accept_event;
	s->proto = proto;
	s->name = name;
	s->fn = fn;
	listen_update(s);
}

void gw_reqsrv_stop(struct gw_reqsrv *s)
{
	while (s->clients)
		client_close(s->clients);
	listen_close(s);
}
