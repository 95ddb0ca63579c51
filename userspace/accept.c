// SPDX-License-Identifier: GPL-2.0-only
/*
 * Accepting connections (accept.h): the accept loop, the userspace Stage 1
 * check (source.h: defense in depth behind the eBPF allowlist, and the
 * only enforcement where no program is attached), and the handoff that spreads
 * long-lived connections over the workers. What a worker keeps goes to
 * the handshake.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "accept.h"
#include "audit.h"
#include "conn.h"
#include "handshake.h"
#include "listener.h"
#include "log.h"
#include "source.h"

#define ACCEPT_BATCH 64

static void accept_one(struct gw_listener *ls, int fd, const struct sockaddr_storage *src)
{
	struct gw_conn *c;

	/* Behind a balancer the source is known after its PROXY header. */
	if (!ls->cfg->proxy_accept &&
	    !gw_source_allowed(ls->cfg, 0, (const struct sockaddr *)src,
			       (const struct sockaddr *)&ls->cfg->listen, NULL)) {
		close(fd);
		return;
	}
	if (!gw_audit_admit(ls->cfg->name, fd))
		return;
	c = gw_conn_new(ls, fd, src);
	if (!c) {
		static struct gw_ratelimit rl;

		pr_err_rl(&rl, "listener \"%s\": out of memory accepting a connection",
			  ls->cfg->name);
		close(fd);
		return;
	}
	gw_handshake_start(c);
}

/*
 * Connections taken per wake-up. With several workers, few: a worker that
 * takes a burst has to do all those handshakes while the others may idle.
 */
static unsigned int accept_batch(const struct gw_worker *w)
{
	return w->n_workers > 1 ? 4 : ACCEPT_BATCH;
}

static unsigned int load_of(struct gw_worker *w)
{
	return __atomic_load_n(&w->load_conns, __ATOMIC_RELAXED) +
	       __atomic_load_n(&w->load_pending, __ATOMIC_RELAXED);
}

/*
 * Connections stay with the worker that accepted them, and the kernel
 * wakes an idle worker for a new one; but connections that arrive while
 * every worker is idle all go to the first. So a worker that has more
 * connections than another passes the new one on: long-lived connections
 * spread evenly. The receiver must stay within its share of the
 * listener's limits (counted over all its listeners, which errs low).
 * true: fd is the other worker's now.
 */
static bool handoff(struct gw_listener *ls, int fd, const struct sockaddr_storage *src)
{
	const struct gw_cfg_listener *lc = ls->cfg;
	struct gw_worker *w = ls->w, *to = NULL;
	unsigned int i, best = w->n_conns;
	struct gw_handoff *h;
	uint64_t one = 1;

	for (i = 0; i < w->n_workers; i++) {
		struct gw_worker *o = w->workers[i];
		unsigned int n;

		if (!o || o == w || !__atomic_load_n(&o->accepting, __ATOMIC_ACQUIRE))
			continue;
		n = load_of(o);
		if (n < best && n + 1 <= gw_limit_share(lc->max_connections, o->n_workers, o->index) &&
		    __atomic_load_n(&o->load_handshakes, __ATOMIC_RELAXED) +
		    __atomic_load_n(&o->load_pending, __ATOMIC_RELAXED) + 1 <=
		    gw_limit_share(lc->max_handshakes, o->n_workers, o->index)) {
			best = n;
			to = o;
		}
	}
	if (!to)
		return false;
	h = malloc(sizeof(*h));
	if (!h)
		return false;
	h->fd = fd;
	h->src = *src;
	h->listen = lc->listen;
	h->listen_len = lc->listen_len;
	__atomic_add_fetch(&to->load_pending, 1, __ATOMIC_RELAXED);
	pthread_mutex_lock(&to->call_lock);
	if (to->exited) {
		/* It drained and ended meanwhile: serve it here. */
		pthread_mutex_unlock(&to->call_lock);
		__atomic_sub_fetch(&to->load_pending, 1, __ATOMIC_RELAXED);
		free(h);
		return false;
	}
	h->next = to->inbox;
	to->inbox = h;
	pthread_mutex_unlock(&to->call_lock);
	if (write(to->call_ev.fd, &one, sizeof(one)) != sizeof(one))
		pr_err("worker %u: cannot wake it: %s", to->index, strerror(errno));
	return true;
}

void gw_accept_event(struct gw_ev *ev, uint32_t events)
{
	struct gw_listener *ls = gw_container_of(ev, struct gw_listener, ev);
	unsigned int i;

	(void)events;
	for (i = 0; i < accept_batch(ls->w) && !ls->paused && ls->ev.fd >= 0; i++) {
		struct sockaddr_storage src;
		socklen_t len = sizeof(src);
		int fd;

		fd = accept4(ev->fd, (struct sockaddr *)&src, &len,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			static struct gw_ratelimit rl;

			if (errno == EAGAIN || errno == EINTR)
				break;
			if (errno == ECONNABORTED)
				continue;
			/* EMFILE, ENFILE, ENOBUFS: the queue waits in the kernel. */
			pr_warn_rl(&rl, "listener \"%s\": accept: %s; not accepting for %u ms",
				   ls->cfg->name, strerror(errno), GW_ACCEPT_BACKOFF_MS);
			gw_listener_backoff(ls);
			break;
		}
		if (ls->w->n_workers > 1 && handoff(ls, fd, &src))
			continue;
		accept_one(ls, fd, &src);
		gw_listener_update(ls);
	}
}

void gw_accept_pending(struct gw_worker *w)
{
	struct gw_listener *ls;

	for (ls = w->listeners; ls; ls = ls->next)
		if (ls->ev.fd >= 0 && !ls->paused)
			gw_accept_event(&ls->ev, EPOLLIN);
}

void gw_accept_handoffs(struct gw_worker *w, struct gw_handoff *h)
{
	while (h) {
		struct gw_handoff *next = h->next;
		struct gw_listener *ls = gw_listener_find(w, &h->listen, h->listen_len);

		/*
		 * The connection is established: closing it unread would reset
		 * the client. So a worker that began to stop meanwhile serves it
		 * while it drains; only a listener a reload removed loses it.
		 */
		if (!ls) {
			close(h->fd);
		} else {
			accept_one(ls, h->fd, &h->src);
			gw_listener_update(ls);
		}
		__atomic_sub_fetch(&w->load_pending, 1, __ATOMIC_RELAXED);
		free(h);
		h = next;
	}
}

void gw_handoffs_drop(struct gw_handoff *h)
{
	while (h) {
		struct gw_handoff *next = h->next;

		close(h->fd);
		free(h);
		h = next;
	}
}
