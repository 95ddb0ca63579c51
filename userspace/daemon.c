// SPDX-License-Identifier: GPL-2.0-only
/*
 * The daemon (daemon.h): start-up order, signals, reload, the control
 * socket and its dispatch, takeover, housekeeping, and stop. Everything
 * here runs in the primary worker's thread and loop; the peers are
 * reached only through pool.h.
 *
 * Reload builds the complete new generation first (config, TLS contexts,
 * Stage 1 maps, listening sockets) and swaps it in only when all of it is
 * valid; the old one serves until then.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>
#include <systemd/sd-daemon.h>

#include "accept.h"
#include "admin.h"
#include "audit.h"
#include "conn.h"
#include "control.h"
#include "daemon.h"
#include "handover.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "pool.h"
#include "reqsrv.h"
#include "s1_summary.h"
#include "stage1.h"
#include "steer.h"
#include "watch.h"

/* Time the old daemon keeps accepting after a handover (SYNs in flight). */
#define HANDOVER_GRACE_MS 300
/* Certificate expiry checks. */
#define HOUSEKEEPING_MS (60 * 1000)

struct gw_daemon {
	struct gw_worker *w;		/* the primary */
	struct gw_admin admin;		/* status, conns, kill, metrics */
	struct gw_stage1 *s1;		/* NULL: userspace Stage 1 only */
	struct gw_s1_summary *s1_sum;
	struct gw_steer_prog *steer;	/* NULL: no steering */
	bool takeover;			/* started with --takeover */
	struct gw_watch *watch;		/* reload_on_change; NULL: off */
	struct gw_ev sig_ev;		/* signalfd */
	struct gw_reqsrv ctl;		/* control socket */
	char *ctl_path;
	ino_t ctl_ino;			/* our control socket's inode (unlink guard) */
	struct gw_timer house_timer;	/* certificate expiry warnings */
	struct gw_timer handover_timer;	/* a successor took over: stop then */
	uint64_t next_gen_id;
	char kernel_info[1024];		/* GW_KCAPS_SUMMARY_LEN */
};

static void begin_stop(struct gw_daemon *d, const char *why)
{
	struct gw_worker *w = d->w;

	if (w->stopping)
		return;
	gw_worker_stop_accepting(w);
	sd_notify(0, "STOPPING=1");
	gw_pool_stop(w, why);
	gw_worker_drain(w, why);
}

/* ---- reload ---- */

static void print_diag_log(const struct gw_diag *d, enum gw_log_level level)
{
	unsigned int i;

	for (i = 0; i < d->n; i++)
		gw_log(level, "%s", d->msgs[i]);
}

/* Swap gen in everywhere; nothing can fail from here. */
static void gen_swap(struct gw_daemon *d, struct gw_gen *gen)
{
	struct gw_worker *w = d->w;
	const char *old_audit = w->gen->cfg->audit;
	int err;

	if (d->s1)
		gw_stage1_attach(d->s1, gen->cfg);
	gw_handover_steer_apply(w, d->steer, w->gen->cfg->takeover);
	gen->id = ++d->next_gen_id;
	if (strcmp(old_audit, gen->cfg->audit)) {
		err = gw_audit_open(gen->cfg->audit);
		if (err)
			pr_err("reload: log.audit: cannot open \"%s\": %s; still writing to \"%s\"",
			       gen->cfg->audit, strerror(-err), old_audit);
	}
	gw_gen_put(w->gen);
	w->gen = gen;
	gw_log_set_level(gen->cfg->log_level);
	gw_audit_set_refuse(gen->cfg->audit_failure == GW_AUDIT_REFUSE);
	gw_conns_recheck(w);
	gw_pool_sync(w);
	gw_watch_set(d->watch, gen->cfg);
	gw_gen_check_expiry(gen);
	pr_info("reload: configuration generation %llu in effect", (unsigned long long)gen->id);
}

/*
 * The admin sockets a reload asks for, opened before anything changes so
 * that one that cannot be opened refuses the reload. -1: unchanged.
 */
struct admin_next {
	int ctl_fd;
	int metrics_fd;
	bool metrics_off;		/* metrics.listen removed */
};

static int admin_prepare(struct gw_daemon *d, const struct gw_config *cfg,
			 struct admin_next *n, struct gw_diag *out);
static void admin_abort(const struct gw_config *cfg, struct admin_next *n);
static void admin_commit(struct gw_daemon *d, const struct gw_config *cfg,
			 struct admin_next *n);

int gw_daemon_reload(struct gw_daemon *d, struct gw_diag *out)
{
	struct gw_diag diag = { 0 }, warn = { 0 };
	struct gw_worker *w = d->w;
	const char *path = w->gen->cfg->path;
	struct admin_next next;
	struct gw_gen *gen;
	char detail[64], why[256];
	int err = 0;

	sd_notify(0, "RELOADING=1");
	gen = gw_gen_build(path, w->n_workers, &diag, &warn);
	print_diag_log(&warn, GW_LOG_WARN);
	if (gen && gen->cfg->workers && gen->cfg->workers != w->n_workers)
		pr_warn("reload: workers: %u takes effect at the next start; %u workers keep running",
			gen->cfg->workers, w->n_workers);
	if (!gen) {
		unsigned int i;

		print_diag_log(&diag, GW_LOG_ERROR);
		for (i = 0; out && i < diag.n; i++)
			gw_diag_add(out, "%s", diag.msgs[i]);
		pr_err("reload: \"%s\" is invalid (%u problem%s); keeping the running configuration",
		       path, gw_diag_count(&diag), gw_diag_count(&diag) == 1 ? "" : "s");
		err = -EINVAL;
		goto out;
	}
	gw_gen_keep_sessions(gen, w->gen);
	err = admin_prepare(d, gen->cfg, &next, out);
	if (err) {
		pr_err("reload: keeping the running configuration");
		goto out_put;
	}
	if (d->s1) {
		err = gw_stage1_update(d->s1, gen->cfg, why, sizeof(why));
		if (err) {
			pr_err("reload: Stage 1: %s; keeping the running configuration", why);
			goto out_admin;
		}
	}
	err = gw_listeners_apply(w, gen, gw_accept_event);
	if (err) {
		pr_err("reload: keeping the running configuration");
		if (d->s1 && gw_stage1_update(d->s1, w->gen->cfg, why, sizeof(why)))
			pr_err("reload: Stage 1: cannot restore the running allowlist: %s", why);
		goto out_admin;
	}
	admin_commit(d, gen->cfg, &next);
	gen_swap(d, gen);
	goto out;
out_admin:
	admin_abort(gen->cfg, &next);
out_put:
	gw_gen_put(gen);
out:
	gw_snprintf(detail, sizeof(detail), "generation %llu", (unsigned long long)w->gen->id);
	gw_metric_add("mtlsgw_reloads_total", err ? "result=\"error\"" : "result=\"ok\"", 1);
	gw_audit_emit(&GW_AUDIT_EVENT(.event = "reload",
		.decision = err ? "error" : "ok",
		.reason = err ? (gen ? "listen_failed" : "invalid_config") : NULL,
		.detail = detail));
	gw_diag_free(&diag);
	gw_diag_free(&warn);
	sd_notify(0, "READY=1");
	return err;
}

/* ---- the control socket ---- */

static void handover_over(struct gw_timer *t)
{
	struct gw_daemon *d = gw_container_of(t, struct gw_daemon, handover_timer);

	/* Whatever completed its handshake in our queues: take it. */
	gw_accept_pending(d->w);
	begin_stop(d, "takeover");
}

/*
 * A successor owns the steering map now. Keep accepting for a moment
 * (SYNs already queued for our sockets), then drain.
 */
static int handover(struct gw_daemon *d)
{
	if (d->steer)
		gw_steer_set_handed_over(d->steer);
	/* Scrapes go to the successor from now on. */
	gw_admin_metrics_stop(&d->admin);
	return gw_timer_start(&d->w->loop, &d->handover_timer, HANDOVER_GRACE_MS, handover_over);
}

static void ctl_reload(struct gw_daemon *d, struct gw_sbuf *b)
{
	struct gw_diag diag = { 0 };
	unsigned int i;

	if (gw_daemon_reload(d, &diag)) {
		gw_sbuf_printf(b, "error: reload refused, the running configuration stays\n");
		for (i = 0; i < diag.n; i++)
			gw_sbuf_printf(b, "%s\n", diag.msgs[i]);
	} else {
		gw_sbuf_printf(b, "ok: generation %llu\n", (unsigned long long)d->w->gen->id);
	}
	gw_diag_free(&diag);
}

static void ctl_answer(struct gw_reqsrv *s, char *line, struct gw_sbuf *out)
{
	struct gw_daemon *d = gw_container_of(s, struct gw_daemon, ctl);
	struct gw_ctl_req req;

	gw_ctl_parse(line, &req);
	switch (req.cmd) {
	case GW_CTL_STATUS:
		gw_admin_status(&d->admin, out);
		break;
	case GW_CTL_CONNS:
		gw_admin_conns(&d->admin, out, req.json);
		break;
	case GW_CTL_TOP:
		gw_admin_top(out, req.json);
		break;
	case GW_CTL_RELOAD:
		ctl_reload(d, out);
		break;
	case GW_CTL_HANDOVER:
		/* Only a daemon that agreed to be taken over stops for a successor. */
		if (!d->w->gen->cfg->takeover)
			gw_sbuf_printf(out, "error: handover refused: takeover is off in this daemon's configuration\n");
		else if (handover(d))
			gw_sbuf_printf(out, "error: out of memory\n");
		else
			gw_sbuf_printf(out, "ok: draining\n");
		break;
	case GW_CTL_KILL:
		gw_sbuf_printf(out, "killed %u\n", gw_admin_kill(&d->admin, req.kill_by, req.value));
		break;
	case GW_CTL_UNKNOWN:
		gw_sbuf_printf(out, "error: unknown command \"%s\"; try status, conns [json], reload, kill conn|serial|spiffe-id VALUE\n",
			       req.word);
		break;
	}
}

/* Listen on the control socket path (its directory made if missing). fd or -errno. */
static int ctl_listen(const char *path)
{
	char *dir = strdup(path), *slash;
	int fd;

	slash = dir ? strrchr(dir, '/') : NULL;
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0750) && errno != EEXIST)
			pr_warn("control.socket: cannot create \"%s\": %s", dir, strerror(errno));
	}
	free(dir);
	fd = gw_ctl_listen_unix(path);
	if (fd < 0)
		pr_err("control.socket: cannot listen on \"%s\": %s", path, strerror(-fd));
	return fd;
}

/* Serve the control socket on fd, bound at path (replacing the one we had). */
static void ctl_serve(struct gw_daemon *d, int fd, const char *path)
{
	struct stat st;

	/* Our old socket file goes; one that is not ours any more stays. */
	if (d->ctl_path && strcmp(d->ctl_path, path) && !stat(d->ctl_path, &st) &&
	    st.st_ino == d->ctl_ino)
		unlink(d->ctl_path);
	free(d->ctl_path);
	d->ctl_path = strdup(path);
	/* The socket file's inode, to recognise it at exit. */
	d->ctl_ino = !stat(path, &st) ? st.st_ino : 0;
	gw_reqsrv_start(&d->ctl, &d->w->loop, fd, GW_REQSRV_LINE, "control socket", ctl_answer);
}

/* Control socket and metrics endpoint; failures here stop the start. */
static int admin_start(struct gw_daemon *d)
{
	const struct gw_config *cfg = d->w->gen->cfg;
	int fd = ctl_listen(cfg->control_socket);

	if (fd < 0)
		return fd;
	ctl_serve(d, fd, cfg->control_socket);
	return gw_admin_metrics_start(&d->admin, cfg->metrics_listen, cfg->takeover);
}

static bool str_changed(const char *a, const char *b)
{
	return (a == NULL) != (b == NULL) || (a && strcmp(a, b));
}

static int admin_prepare(struct gw_daemon *d, const struct gw_config *cfg,
			 struct admin_next *n, struct gw_diag *out)
{
	const struct gw_config *old = d->w->gen->cfg;
	int fd;

	n->ctl_fd = n->metrics_fd = -1;
	n->metrics_off = false;
	if (strcmp(old->control_socket, cfg->control_socket)) {
		n->ctl_fd = ctl_listen(cfg->control_socket);
		if (n->ctl_fd < 0) {
			if (out)
				gw_diag_add(out, "control.socket: cannot listen on \"%s\": %s",
					    cfg->control_socket, strerror(-n->ctl_fd));
			return n->ctl_fd;
		}
	}
	if (!str_changed(old->metrics_listen, cfg->metrics_listen))
		return 0;
	if (!cfg->metrics_listen) {
		n->metrics_off = true;
		return 0;
	}
	fd = gw_ctl_listen_tcp(cfg->metrics_listen, cfg->takeover);
	if (fd < 0) {
		pr_err("metrics.listen: cannot listen on %s: %s", cfg->metrics_listen,
		       strerror(-fd));
		if (out)
			gw_diag_add(out, "metrics.listen: cannot listen on %s: %s",
				    cfg->metrics_listen, strerror(-fd));
		admin_abort(cfg, n);
		return fd;
	}
	n->metrics_fd = fd;
	return 0;
}

static void admin_abort(const struct gw_config *cfg, struct admin_next *n)
{
	if (n->ctl_fd >= 0) {
		close(n->ctl_fd);
		unlink(cfg->control_socket);
	}
	if (n->metrics_fd >= 0)
		close(n->metrics_fd);
	n->ctl_fd = n->metrics_fd = -1;
}

static void admin_commit(struct gw_daemon *d, const struct gw_config *cfg,
			 struct admin_next *n)
{
	if (n->ctl_fd >= 0) {
		ctl_serve(d, n->ctl_fd, cfg->control_socket);
		pr_info("control socket now at \"%s\"", cfg->control_socket);
	}
	if (n->metrics_off) {
		gw_admin_metrics_stop(&d->admin);
		pr_info("metrics endpoint off");
	} else if (n->metrics_fd >= 0) {
		gw_admin_metrics_serve(&d->admin, n->metrics_fd);
		pr_info("metrics now on %s://%s/metrics", cfg->metrics_tls ? "https" : "http",
			cfg->metrics_listen);
	}
}

/* ---- signals, housekeeping, start ---- */

static void signal_event(struct gw_ev *ev, uint32_t events)
{
	struct gw_daemon *d = gw_container_of(ev, struct gw_daemon, sig_ev);
	struct signalfd_siginfo si;
	int err;

	(void)events;
	while (read(ev->fd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			begin_stop(d, si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
			break;
		case SIGUSR1:
			err = gw_audit_reopen();
			if (err)
				pr_err("SIGUSR1: cannot reopen the audit log: %s",
				       strerror(-err));
			else
				pr_info("SIGUSR1: audit log reopened");
			break;
		case SIGHUP:
			if (!d->w->stopping)
				gw_daemon_reload(d, NULL);
			break;
		}
	}
}

static int signals_start(struct gw_daemon *d)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &mask, NULL))
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	d->sig_ev.fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (d->sig_ev.fd < 0)
		return -errno;
	d->sig_ev.fn = signal_event;
	gw_loop_set(&d->w->loop, &d->sig_ev, EPOLLIN);
	return 0;
}

static void house_event(struct gw_timer *t)
{
	struct gw_daemon *d = gw_container_of(t, struct gw_daemon, house_timer);

	gw_gen_check_expiry(d->w->gen);
	gw_timer_start(&d->w->loop, &d->house_timer, HOUSEKEEPING_MS, house_event);
}

static void on_file_change(void *arg)
{
	struct gw_daemon *d = arg;

	if (d->w->stopping)
		return;
	pr_info("reload_on_change: a watched file changed, reloading");
	gw_daemon_reload(d, NULL);
}

static int stage1_start(struct gw_daemon *d)
{
	const struct gw_config *cfg = d->w->gen->cfg;
	char err[256];
	int ret;

	ret = gw_stage1_update(d->s1, cfg, err, sizeof(err));
	if (ret) {
		pr_err("Stage 1: %s", err);
		return ret;
	}
	gw_stage1_attach(d->s1, cfg);
	d->s1_sum = gw_s1_summary_start(d->w, d->s1, cfg->stage1_summary_ms);
	return d->s1_sum ? 0 : -ENOMEM;
}

struct gw_daemon *gw_daemon_new(struct gw_gen *gen, const struct gw_daemon_opts *o)
{
	struct gw_daemon *d = calloc(1, sizeof(*d));

	if (d)
		d->w = gw_worker_new(gen, gen->n_workers);
	if (!d || !d->w) {
		pr_err("out of memory");
		free(d);
		gw_gen_put(gen);
		gw_stage1_free(o->stage1);
		gw_steer_free(o->steer);
		return NULL;
	}
	gen->id = ++d->next_gen_id;
	d->s1 = o->stage1;
	d->steer = o->steer;
	d->takeover = o->takeover;
	d->w->steer = o->steer;
	d->w->ktls = o->ktls;
	d->sig_ev.fd = -1;
	gw_reqsrv_init(&d->ctl);
	gw_reqsrv_init(&d->admin.metrics);
	gw_snprintf(d->kernel_info, sizeof(d->kernel_info), "%s",
		    o->kernel_info ? o->kernel_info : "not probed");
	d->admin.w = d->w;
	d->admin.s1 = d->s1;
	d->admin.steer = d->steer;
	d->admin.kernel_info = d->kernel_info;
	return d;
}

int gw_daemon_listen(struct gw_daemon *d)
{
	struct gw_worker *w = d->w;
	int err;

	err = signals_start(d);
	if (err) {
		pr_err("signals: %s", strerror(-err));
		return err;
	}
	if (d->s1) {
		err = stage1_start(d);
		if (err)
			return err;
	}
	d->admin.t_start_ms = gw_now_ms();
	if (!d->takeover) {
		err = admin_start(d);
		if (err)
			return err;
	}
	err = gw_listeners_apply(w, w->gen, gw_accept_event);
	err = err ?: gw_handover_steer_start(w, d->steer, w->gen->cfg->takeover);
	if (err)
		return err;
	if (d->takeover) {
		/* Our sockets get the SYNs now; the old daemon may go. */
		gw_handover_notify(w->gen->cfg->control_socket);
		err = admin_start(d);
		if (err)
			return err;
	}
	if (w->gen->cfg->reload_on_change) {
		d->watch = gw_watch_new(&w->loop, on_file_change, d);
		gw_watch_set(d->watch, w->gen->cfg);
	}
	gw_gen_check_expiry(w->gen);
	return gw_timer_start(&w->loop, &d->house_timer, HOUSEKEEPING_MS, house_event);
}

int gw_daemon_run(struct gw_daemon *d)
{
	int err;

	err = gw_pool_start(d->w);
	if (err)
		return err;
	if (d->w->n_workers > 1)
		pr_info("workers: %u event loops accept from the same listening sockets",
			d->w->n_workers);
	sd_notify(0, "READY=1");
	err = gw_worker_loop(d->w);
	pr_info("stopped");
	return err;
}

void gw_daemon_free(struct gw_daemon *d)
{
	struct stat st;

	if (!d)
		return;
	gw_s1_summary_free(d->s1_sum);
	gw_watch_free(d->watch);
	gw_admin_metrics_stop(&d->admin);
	if (gw_reqsrv_running(&d->ctl)) {
		gw_reqsrv_stop(&d->ctl);
		/* After a takeover the path is our successor's socket: keep it. */
		if (d->ctl_path && !stat(d->ctl_path, &st) && st.st_ino == d->ctl_ino)
			unlink(d->ctl_path);
	}
	free(d->ctl_path);
	if (d->sig_ev.fd >= 0)
		close(d->sig_ev.fd);
	gw_timer_stop(&d->w->loop, &d->house_timer);
	gw_timer_stop(&d->w->loop, &d->handover_timer);
	gw_worker_free(d->w);
	gw_stage1_free(d->s1);
	gw_steer_free(d->steer);
	gw_metrics_free();
	free(d);
}
