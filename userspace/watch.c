// SPDX-License-Identifier: GPL-2.0-only
/*
 * reload_on_change (watch.h): inotify on the directory of each input file
 * (editors and Kubernetes replace files by rename, so the file itself is
 * not what to watch), filtered by name, debounced with a timerfd.
 */
#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "log.h"
#include "watch.h"

/* Writes come in bursts (write, rename, several files): settle for 100 ms. */
#define WATCH_DEBOUNCE_MS 100

struct gw_watch {
	struct gw_loop *loop;
	struct gw_ev ino_ev;
	struct gw_ev debounce_ev;	/* timerfd: call back once writes settle */
	struct watch { int wd; char *name; } *watches;
	unsigned int n_watches;
	void (*on_change)(void *arg);
	void *arg;
};

static void watch_clear(struct gw_watch *wt)
{
	unsigned int i;

	for (i = 0; i < wt->n_watches; i++) {
		inotify_rm_watch(wt->ino_ev.fd, wt->watches[i].wd);
		free(wt->watches[i].name);
	}
	free(wt->watches);
	wt->watches = NULL;
	wt->n_watches = 0;
}

static bool watched(const struct gw_watch *wt, int wd, const char *name)
{
	unsigned int i;

	/* Kubernetes secret volumes swap a "..data" symlink. */
	if (!strncmp(name, "..data", 6))
		return true;
	for (i = 0; i < wt->n_watches; i++)
		if (wt->watches[i].wd == wd && !strcmp(wt->watches[i].name, name))
			return true;
	return false;
}

static void watch_add(struct gw_watch *wt, const char *path)
{
	char *d = strdup(path), *b = strdup(path);
	struct watch *nw;
	int wd;

	if (!d || !b)
		goto out;
	wd = inotify_add_watch(wt->ino_ev.fd, dirname(d), IN_CLOSE_WRITE | IN_MOVED_TO |
			       IN_CREATE | IN_DELETE | IN_MOVED_FROM);
	if (wd < 0) {
		pr_warn("reload_on_change: cannot watch \"%s\": %s", path, strerror(errno));
		goto out;
	}
	/* Routes share their listener's files, metrics.tls may too: one entry each. */
	if (watched(wt, wd, basename(b)))
		goto out;
	nw = realloc(wt->watches, (wt->n_watches + 1) * sizeof(*nw));
	if (!nw)
		goto out;
	wt->watches = nw;
	nw[wt->n_watches].wd = wd;
	nw[wt->n_watches].name = strdup(basename(b));
	if (nw[wt->n_watches].name)
		wt->n_watches++;
out:
	free(d);
	free(b);
}

/* The server side's files of a listener, a route or metrics.tls. */
static void watch_tls(struct gw_watch *wt, const struct gw_cfg_listener *l)
{
	unsigned int j;

	for (j = 0; j < l->tls.n_certs; j++) {
		watch_add(wt, l->tls.certs[j].cert);
		watch_add(wt, l->tls.certs[j].key);
	}
	if (l->tls.client_ca)
		watch_add(wt, l->tls.client_ca);
	for (j = 0; j < l->tls.n_crl; j++)
		watch_add(wt, l->tls.crl[j]);
	if (l->tls.ticket_key_file)
		watch_add(wt, l->tls.ticket_key_file);
}

void gw_watch_set(struct gw_watch *wt, const struct gw_config *cfg)
{
	unsigned int i, j;

	if (!wt)
		return;
	watch_clear(wt);
	if (!cfg->reload_on_change) {
		struct itimerspec off = { 0 };

		/* A change seen before it was turned off reloads nothing. */
		timerfd_settime(wt->debounce_ev.fd, 0, &off, NULL);
		return;
	}
	watch_add(wt, cfg->path);
	/* Every listener's files, then metrics.tls's. */
	for (i = 0; i <= cfg->n_listeners; i++) {
		const struct gw_cfg_listener *l = i < cfg->n_listeners ? &cfg->listeners[i] :
						  cfg->metrics_tls;

		if (!l)
			break;
		watch_tls(wt, l);
		for (j = 0; j < l->n_routes; j++)
			watch_tls(wt, &l->routes[j]);
	}
}

static void ino_event(struct gw_ev *ev, uint32_t events)
{
	struct gw_watch *wt = gw_container_of(ev, struct gw_watch, ino_ev);
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	struct itimerspec its = { .it_value.tv_nsec = WATCH_DEBOUNCE_MS * 1000000L };
	bool hit = false;
	ssize_t n;

	(void)events;
	while ((n = read(ev->fd, buf, sizeof(buf))) > 0) {
		char *p;

		for (p = buf; p < buf + n;) {
			const struct inotify_event *ie = (const struct inotify_event *)p;

			if (ie->len && watched(wt, ie->wd, ie->name))
				hit = true;
			p += sizeof(*ie) + ie->len;
		}
	}
	if (hit)
		timerfd_settime(wt->debounce_ev.fd, 0, &its, NULL);
}

static void debounce_event(struct gw_ev *ev, uint32_t events)
{
	struct gw_watch *wt = gw_container_of(ev, struct gw_watch, debounce_ev);
	uint64_t x;

	(void)events;
	if (read(ev->fd, &x, sizeof(x)) < 0)
		return;
	wt->on_change(wt->arg);
}

struct gw_watch *gw_watch_new(struct gw_loop *loop, void (*on_change)(void *arg), void *arg)
{
	struct gw_watch *wt = calloc(1, sizeof(*wt));

	if (!wt) {
		pr_warn("reload_on_change: out of memory; reload with SIGHUP");
		return NULL;
	}
	wt->loop = loop;
	wt->on_change = on_change;
	wt->arg = arg;
	wt->ino_ev.fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	wt->debounce_ev.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (wt->ino_ev.fd < 0 || wt->debounce_ev.fd < 0) {
		pr_warn("reload_on_change: inotify unavailable (%s); reload with SIGHUP",
			strerror(errno));
		gw_watch_free(wt);
		return NULL;
	}
	wt->ino_ev.fn = ino_event;
	wt->debounce_ev.fn = debounce_event;
	gw_loop_set(loop, &wt->ino_ev, EPOLLIN);
	gw_loop_set(loop, &wt->debounce_ev, EPOLLIN);
	return wt;
}

void gw_watch_free(struct gw_watch *wt)
{
	if (!wt)
		return;
	watch_clear(wt);
	if (wt->ino_ev.fd >= 0) {
		gw_loop_set(wt->loop, &wt->ino_ev, 0);
		close(wt->ino_ev.fd);
	}
	if (wt->debounce_ev.fd >= 0) {
		gw_loop_set(wt->loop, &wt->debounce_ev, 0);
		close(wt->debounce_ev.fd);
	}
	free(wt);
}
