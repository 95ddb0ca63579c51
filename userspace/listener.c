// SPDX-License-Identifier: GPL-2.0-only
/*
 * A worker's listening sockets (listener.h): bind and listen, limits and
 * their per-worker shares, pause/resume, and applying or retiring them on
 * a reload. A listener stops accepting (its fd leaves the epoll set)
 * while the worker is at its share of max_connections or max_handshakes,
 * and resumes as soon as a connection or handshake finishes; the kernel
 * backlog holds the rest.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "addr.h"
#include "listener.h"
#include "log.h"
#include "steer.h"

unsigned int gw_limit_share(unsigned int limit, unsigned int n_workers, unsigned int index)
{
	return limit / n_workers + (index < limit % n_workers);
}

void gw_listener_update(struct gw_listener *ls)
{
	const struct gw_cfg_listener *lc = ls->cfg;
	struct gw_worker *w = ls->w;
	bool full, conns;

	if (ls->ev.fd < 0)
		return;
	conns = ls->n_conns >= gw_limit_share(lc->max_connections, w->n_workers, w->index);
	full = conns ||
	       ls->n_handshakes >= gw_limit_share(lc->max_handshakes, w->n_workers, w->index);
	if (full && !ls->paused && !gw_timer_pending(&ls->backoff)) {
		static struct gw_ratelimit rl;

		/* Clients can make it flap at their connection rate. */
		if (w->n_workers == 1)
			pr_warn_rl(&rl, "listener \"%s\": %s reached, not accepting until one finishes",
				   lc->name, conns ? "max_connections" : "max_handshakes");
		else
			pr_warn_rl(&rl, "listener \"%s\": worker %u: its share of %s reached, not accepting until one finishes",
				   lc->name, w->index, conns ? "max_connections" : "max_handshakes");
	}
	full = full || gw_timer_pending(&ls->backoff);
	ls->paused = full;
	/* With several workers, one of those waiting is woken per connection. */
	gw_loop_set(&w->loop, &ls->ev,
		    full ? 0 : w->n_workers > 1 ? EPOLLIN | EPOLLEXCLUSIVE : EPOLLIN);
}

static void backoff_over(struct gw_timer *t)
{
	gw_listener_update(gw_container_of(t, struct gw_listener, backoff));
}

void gw_listener_backoff(struct gw_listener *ls)
{
	/* Without a timer slot, keep watching: a busy loop beats a dead one. */
	if (gw_timer_start(&ls->w->loop, &ls->backoff, GW_ACCEPT_BACKOFF_MS, backoff_over))
		return;
	gw_listener_update(ls);
}

void gw_listeners_update(struct gw_worker *w)
{
	struct gw_listener *ls;

	for (ls = w->listeners; ls; ls = ls->next)
		if (!ls->removed)
			gw_listener_update(ls);
}

static int listen_socket(const struct gw_cfg_listener *lc, bool reuseport)
{
	int one = 1, fd, err;

	fd = socket(lc->listen.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)))
		goto out_errno;
	/*
	 * takeover: the successor binds the same addresses while we still
	 * listen; the steering map decides which socket gets the SYNs. Off
	 * otherwise, so a second daemon on the same ports fails loudly.
	 */
	if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)))
		goto out_errno;
	/* "[::]:port" means IPv6 only, as in nginx; list 0.0.0.0 separately. */
	if (lc->listen.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)))
		goto out_errno;
	if (bind(fd, (const struct sockaddr *)&lc->listen, lc->listen_len) ||
	    listen(fd, 4096))
		goto out_errno;
	return fd;
out_errno:
	err = -errno;
	close(fd);
	return err;
}

static struct gw_listener *listener_new(struct gw_worker *w, int fd, gw_ev_fn on_accept)
{
	struct gw_listener *ls = calloc(1, sizeof(*ls));

	if (!ls)
		return NULL;
	ls->ev.fd = fd;
	ls->ev.fn = on_accept;
	ls->w = w;
	ls->slot = GW_STEER_MAX_SLOTS;
	return ls;
}

static void listener_set_gen(struct gw_listener *ls, struct gw_gen *gen, unsigned int i)
{
	gw_gen_get(gen);
	gw_gen_put(ls->gen);
	ls->gen = gen;
	ls->index = i;
	ls->cfg = &gen->cfg->listeners[i];
	ls->tls = gw_gen_tls(gen, ls->w->index, i);
}

static void listener_free(struct gw_listener *ls)
{
	gw_timer_stop(&ls->w->loop, &ls->backoff);
	if (ls->slot < GW_STEER_MAX_SLOTS)
		ls->w->slots_used &= ~(1ULL << ls->slot);
	if (ls->ev.fd >= 0)
		close(ls->ev.fd);
	gw_gen_put(ls->gen);
	free(ls->routes);
	free(ls);
}

int gw_ls_route_find(struct gw_ls_route **v, unsigned int *n, const char *name)
{
	struct gw_ls_route *grown;
	unsigned int i;

	for (i = 0; i < *n; i++)
		if (!strcmp((*v)[i].name, name))
			return (int)i;
	grown = realloc(*v, (*n + 1) * sizeof(*grown));
	if (!grown)
		return -1;
	*v = grown;
	memset(&grown[i], 0, sizeof(grown[i]));
	gw_snprintf(grown[i].name, sizeof(grown[i].name), "%s", name);
	(*n)++;
	return (int)i;
}

/* Close a listener's socket; it lives on until its last connection ends. */
static void listener_retire(struct gw_worker *w, struct gw_listener *ls)
{
	if (w->steer)
		gw_steer_clear_socket(w->steer, ls->slot);
	gw_timer_stop(&w->loop, &ls->backoff);
	gw_loop_set(&w->loop, &ls->ev, 0);
	close(ls->ev.fd);
	ls->ev.fd = -1;
	ls->removed = true;
}

struct gw_listener *gw_listener_find(struct gw_worker *w, const struct sockaddr_storage *addr,
				     socklen_t len)
{
	struct gw_listener *ls;

	for (ls = w->listeners; ls; ls = ls->next)
		if (!ls->removed && gw_sockaddr_equal(&ls->cfg->listen, ls->cfg->listen_len,
						      addr, len))
			return ls;
	return NULL;
}

/* A fresh listener takes the first free steering slot (config allows enough). */
static void listener_add(struct gw_worker *w, struct gw_listener *ls, struct gw_gen *gen,
			 unsigned int i)
{
	unsigned int slot;

	for (slot = 0; slot < GW_STEER_MAX_SLOTS && (w->slots_used >> slot & 1); slot++)
		;
	ls->slot = slot;
	if (slot < GW_STEER_MAX_SLOTS)
		w->slots_used |= 1ULL << slot;
	if (w->steer && gw_steer_set_socket(w->steer, slot, ls->ev.fd))
		pr_err("listener \"%s\": cannot put its socket in the steering map: %s",
		       gen->cfg->listeners[i].name, strerror(errno));
	listener_set_gen(ls, gen, i);
	ls->next = w->listeners;
	w->listeners = ls;
	pr_info("listener \"%s\": listening on %s, upstream %s%s, mode %s",
		ls->cfg->name, ls->cfg->listen_str, ls->cfg->upstream.address_str,
		ls->cfg->upstream.tls ? " (mutual TLS)" : "", gw_mode_str(ls->cfg->mode));
}

int gw_listeners_apply(struct gw_worker *w, struct gw_gen *gen, gw_ev_fn on_accept)
{
	const struct gw_config *cfg = gen->cfg;
	struct gw_listener **fresh, *ls;
	unsigned int i;
	int err = 0;

	fresh = calloc(cfg->n_listeners, sizeof(*fresh));
	if (!fresh)
		return -ENOMEM;
	for (i = 0; i < cfg->n_listeners; i++) {
		const struct gw_cfg_listener *lc = &cfg->listeners[i];
		int fd;

		if (gw_listener_find(w, &lc->listen, lc->listen_len))
			continue;
		fd = listen_socket(lc, cfg->takeover);
		if (fd >= 0) {
			fresh[i] = listener_new(w, fd, on_accept);
			if (!fresh[i]) {
				close(fd);
				fd = -ENOMEM;
			}
		}
		if (fd < 0) {
			pr_err("listener \"%s\": cannot listen on %s: %s", lc->name,
			       lc->listen_str, strerror(-fd));
			err = fd;
			goto out_undo;
		}
	}
	/* Point of no return: retire, update, add. */
	for (ls = w->listeners; ls; ls = ls->next) {
		bool kept = false;

		for (i = 0; i < cfg->n_listeners && !ls->removed; i++) {
			const struct gw_cfg_listener *lc = &cfg->listeners[i];

			if (!fresh[i] && gw_sockaddr_equal(&ls->cfg->listen, ls->cfg->listen_len,
							   &lc->listen, lc->listen_len)) {
				listener_set_gen(ls, gen, i);
				kept = true;
				break;
			}
		}
		if (!kept && !ls->removed) {
			pr_info("listener \"%s\": removed, closing %s", ls->cfg->name,
				ls->cfg->listen_str);
			listener_retire(w, ls);
		}
	}
	for (i = 0; i < cfg->n_listeners; i++)
		if (fresh[i])
			listener_add(w, fresh[i], gen, i);
	gw_listeners_update(w);
	free(fresh);
	return 0;
out_undo:
	for (i = 0; i < cfg->n_listeners; i++)
		if (fresh[i])
			listener_free(fresh[i]);
	free(fresh);
	return err;
}

void gw_listeners_sync(struct gw_worker *w, struct gw_worker *pw, gw_ev_fn on_accept)
{
	struct gw_listener *ls, *pl;

	for (ls = w->listeners; ls; ls = ls->next) {
		if (ls->removed)
			continue;
		pl = gw_listener_find(pw, &ls->cfg->listen, ls->cfg->listen_len);
		if (!pl || pl->ev.fd < 0)
			listener_retire(w, ls);
	}
	for (pl = pw->listeners; pl; pl = pl->next) {
		if (pl->removed || pl->ev.fd < 0)
			continue;
		ls = gw_listener_find(w, &pl->cfg->listen, pl->cfg->listen_len);
		if (!ls) {
			int fd = fcntl(pl->ev.fd, F_DUPFD_CLOEXEC, 0);

			if (fd < 0) {
				pr_err("worker %u: listener \"%s\": %s", w->index, pl->cfg->name,
				       strerror(errno));
				continue;
			}
			ls = listener_new(w, fd, on_accept);
			if (!ls) {
				pr_err("worker %u: listener \"%s\": out of memory", w->index,
				       pl->cfg->name);
				close(fd);
				continue;
			}
			ls->next = w->listeners;
			w->listeners = ls;
		}
		listener_set_gen(ls, pw->gen, pl->index);
	}
}

void gw_listeners_close(struct gw_worker *w)
{
	struct gw_listener *ls;

	for (ls = w->listeners; ls; ls = ls->next) {
		if (ls->ev.fd < 0)
			continue;
		gw_loop_set(&w->loop, &ls->ev, 0);
		close(ls->ev.fd);
		ls->ev.fd = -1;
	}
}

void gw_listeners_reap(struct gw_worker *w)
{
	struct gw_listener **pl;

	for (pl = &w->listeners; *pl;) {
		struct gw_listener *ls = *pl;

		if (ls->removed && !ls->n_conns) {
			*pl = ls->next;
			listener_free(ls);
		} else {
			pl = &ls->next;
		}
	}
}

void gw_listeners_free(struct gw_worker *w)
{
	struct gw_listener *ls;

	while ((ls = w->listeners)) {
		w->listeners = ls->next;
		listener_free(ls);
	}
}
