// SPDX-License-Identifier: GPL-2.0-only
/*
 * The audit log (audit.h): one JSON line per event, built by json.h so it
 * is valid UTF-8 whatever a certificate holds; reopen on SIGUSR1; safe
 * from any worker thread. A line that cannot be written is counted
 * (mtlsgw_audit_write_errors_total) and logged, rate-limited; with
 * log.audit_failure: refuse, new connections are refused until a write
 * succeeds again, which an audit_resumed line records with the number of
 * lines lost.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "audit.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

/* How often a refusing gateway tries the log again when no event does. */
#define AUDIT_PROBE_MS 1000

/*
 * Workers write events concurrently (one write(2) per line, O_APPEND);
 * open, reopen and close take the lock exclusively.
 */
static pthread_rwlock_t audit_lock = PTHREAD_RWLOCK_INITIALIZER;
static int audit_fd = -1;
static char *audit_path;

/*
 * While writes fail. failing and refuse are also read without the lock
 * (atomics): the path of a healthy log takes no other lock than the
 * rwlock. Once failing, every write goes through fail_lock, so exactly
 * one audit_resumed line ends a failure.
 */
static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;
static bool failing;			/* the last write failed */
static bool refuse;			/* log.audit_failure: refuse */
static uint64_t lost;			/* event lines not written since */
static bool partial;			/* a short write left a line unended */
static uint64_t next_probe_ms;		/* refusing: no retry before */
static struct gw_ratelimit write_rl, refuse_rl;

static void audit_close_locked(void)
{
	if (audit_fd >= 0)
		close(audit_fd);
	audit_fd = -1;
	free(audit_path);
	audit_path = NULL;
}

static int open_path(const char *path)
{
	int fd;

	if (!strcmp(path, "-"))
		return dup(STDERR_FILENO);
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	return fd < 0 ? -errno : fd;
}

/* One write(2). 0 or -errno; *done says how much went out. */
static int write_line(const char *p, size_t len, size_t *done)
{
	ssize_t n;
	int err = 0;

	*done = 0;
	pthread_rwlock_rdlock(&audit_lock);
	if (audit_fd < 0) {
		err = -EBADF;
	} else {
		n = write(audit_fd, p, len);
		if (n < 0)
			err = -errno;
		else if ((size_t)n != len)
			err = -ENOSPC;	/* a short write to a file: it is full */
		if (n > 0)
			*done = (size_t)n;
	}
	pthread_rwlock_unlock(&audit_lock);
	return err;
}

/* The path for a message (a reload may replace it meanwhile). */
static const char *path_copy(char *buf, size_t len)
{
	pthread_rwlock_rdlock(&audit_lock);
	snprintf(buf, len, "%s", audit_path ? audit_path : "(closed)");
	pthread_rwlock_unlock(&audit_lock);
	return buf;
}

/* A write failed (under fail_lock). line: an event line was lost. */
static void note_failure(int err, bool line, bool cut)
{
	char path[256];

	__atomic_store_n(&failing, true, __ATOMIC_RELEASE);
	next_probe_ms = gw_now_ms() + AUDIT_PROBE_MS;
	if (cut)
		partial = true;
	if (!line)
		return;
	lost++;
	gw_metric_add("mtlsgw_audit_write_errors_total", "", 1);
	pr_err_rl(&write_rl, "audit log \"%s\": cannot write: %s; %llu line(s) lost so far%s",
		  path_copy(path, sizeof(path)), strerror(-err), (unsigned long long)lost,
		  __atomic_load_n(&refuse, __ATOMIC_RELAXED) ?
		  ", new connections refused (log.audit_failure: refuse)" : "");
}

/*
 * Under fail_lock, while failing: one write of the end of a cut line, the
 * audit_resumed line and the event line (if any). It succeeds: the
 * failure is over.
 */
static int try_resume(const char *line, size_t len)
{
	struct gw_json j;
	const char *text;
	size_t n, done = 0;
	char ts[40], path[256];
	int err;

	gw_json_init(&j, NULL);
	if (partial)
		gw_sbuf_put(j.out, "\n", 1);
	if (gw_fmt_rfc3339_now(ts, sizeof(ts)))
		ts[0] = '\0';
	gw_json_begin(&j);
	gw_json_str(&j, "ts", ts);
	gw_json_str(&j, "event", "audit_resumed");
	gw_json_u64(&j, "lost", lost);
	gw_json_end(&j);
	if (line)
		gw_sbuf_put(j.out, line, len);
	text = gw_json_text(&j, &n);
	err = text ? write_line(text, n, &done) : -ENOMEM;
	if (!err) {
		pr_warn("audit log \"%s\" written again; %llu line(s) were lost",
			path_copy(path, sizeof(path)), (unsigned long long)lost);
		lost = 0;
		partial = false;
		__atomic_store_n(&failing, false, __ATOMIC_RELEASE);
	} else {
		note_failure(err, line != NULL, done > 0);
	}
	gw_json_free(&j);
	return err;
}

/* A descriptor is new: if writes were failing, try it at once. */
static void retry_after_open(void)
{
	pthread_mutex_lock(&fail_lock);
	if (failing)
		try_resume(NULL, 0);
	pthread_mutex_unlock(&fail_lock);
}

int gw_audit_open(const char *path)
{
	char *p = strdup(path);
	int fd;

	if (!p)
		return -ENOMEM;
	fd = open_path(path);
	if (fd < 0) {
		free(p);
		return fd;
	}
	pthread_rwlock_wrlock(&audit_lock);
	audit_close_locked();
	audit_fd = fd;
	audit_path = p;
	pthread_rwlock_unlock(&audit_lock);
	/* A counter that exists before the first error, for alert rules. */
	gw_metric_add("mtlsgw_audit_write_errors_total", "", 0);
	retry_after_open();
	return 0;
}

int gw_audit_reopen(void)
{
	int fd = -EBADF;

	pthread_rwlock_wrlock(&audit_lock);
	if (audit_path)
		fd = open_path(audit_path);
	if (fd >= 0) {
		close(audit_fd);
		audit_fd = fd;
	}
	pthread_rwlock_unlock(&audit_lock);
	if (fd < 0)
		return fd;
	retry_after_open();
	return 0;
}

void gw_audit_close(void)
{
	pthread_rwlock_wrlock(&audit_lock);
	audit_close_locked();
	pthread_rwlock_unlock(&audit_lock);
}

void gw_audit_set_refuse(bool on)
{
	__atomic_store_n(&refuse, on, __ATOMIC_RELAXED);
}

bool gw_audit_refusing(void)
{
	bool still;

	if (!__atomic_load_n(&refuse, __ATOMIC_RELAXED) ||
	    !__atomic_load_n(&failing, __ATOMIC_ACQUIRE))
		return false;
	pthread_mutex_lock(&fail_lock);
	if (failing && gw_now_ms() >= next_probe_ms)
		try_resume(NULL, 0);
	still = failing;
	pthread_mutex_unlock(&fail_lock);
	return still;
}

bool gw_audit_admit(const char *listener, int fd)
{
	char labels[256];

	if (!gw_audit_refusing())
		return true;
	close(fd);
	if (!gw_metric_labels(labels, sizeof(labels), "listener", listener, "result", "fail",
			      "reason", "audit_unavailable", NULL))
		gw_metric_add("mtlsgw_handshakes_total", labels, 1);
	pr_err_rl(&refuse_rl, "listener \"%s\": connection refused: the audit log cannot be written (log.audit_failure: refuse)",
		  listener);
	return false;
}

/* Write one finished line; the failure bookkeeping when it does not go out. */
static int audit_write(const char *line, size_t len)
{
	size_t done;
	int err;

	if (!__atomic_load_n(&failing, __ATOMIC_ACQUIRE)) {
		err = write_line(line, len, &done);
		if (!err)
			return 0;
		pthread_mutex_lock(&fail_lock);
		note_failure(err, true, done > 0);
		pthread_mutex_unlock(&fail_lock);
		return err;
	}
	pthread_mutex_lock(&fail_lock);
	if (failing) {
		err = try_resume(line, len);
	} else {
		/* Another thread ended the failure meanwhile. */
		err = write_line(line, len, &done);
		if (err)
			note_failure(err, true, done > 0);
	}
	pthread_mutex_unlock(&fail_lock);
	return err;
}

static void put_addr(struct gw_json *j, const char *key, const struct sockaddr *sa)
{
	char s[GW_SOCKADDR_STRLEN];

	if (sa && !gw_sockaddr_fmt(sa, s, sizeof(s)))
		gw_json_str(j, key, s);
}

static void put_list(struct gw_json *j, const char *key, char *const *v, unsigned int n)
{
	if (n)
		gw_json_str_list(j, key, v, n);
}

static void put_identity(struct gw_json *j, const struct gw_identity *id)
{
	char when[32], hex[GW_SHA256_HEX_LEN];
	struct tm tm;

	gw_json_str(j, "subject", id->subject);
	gw_json_str(j, "issuer", id->issuer);
	gw_json_str(j, "serial", id->serial);
	gw_json_str(j, "sha256", gw_identity_sha256_hex(id, hex));
	put_list(j, "san_dns", id->san_dns, id->n_san_dns);
	put_list(j, "san_uri", id->san_uri, id->n_san_uri);
	gw_json_str(j, "spiffe_id", id->spiffe_id);
	if (id->not_after && gmtime_r(&id->not_after, &tm) &&
	    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm))
		gw_json_str(j, "not_after", when);
}

int gw_audit_emit(const struct gw_audit_event *ev)
{
	struct gw_json j;
	const char *text;
	char ts[40];
	size_t len;
	int err;

	if (gw_fmt_rfc3339_now(ts, sizeof(ts)))
		ts[0] = '\0';
	gw_json_init(&j, NULL);
	gw_json_begin(&j);
	gw_json_str(&j, "ts", ts);
	gw_json_str(&j, "event", ev->event);
	if (ev->conn_id)
		gw_json_u64(&j, "conn", ev->conn_id);
	gw_json_str(&j, "listener", ev->listener);
	if (ev->route)
		gw_json_str(&j, "route", ev->route);
	if (ev->sni && *ev->sni)
		gw_json_str(&j, "sni", ev->sni);
	put_addr(&j, "src", ev->src);
	put_addr(&j, "dst", ev->dst);
	put_addr(&j, "via", ev->via);
	if (ev->id && ev->id_unverified) {
		/* Claims nobody vouched for: never where a query for the fields looks. */
		gw_json_obj_begin(&j, "unverified");
		put_identity(&j, ev->id);
		gw_json_end(&j);
	} else if (ev->id) {
		put_identity(&j, ev->id);
	}
	gw_json_str(&j, "tls_version", ev->tls_version);
	gw_json_str(&j, "cipher", ev->cipher);
	gw_json_str(&j, "group", ev->group);
	gw_json_str(&j, "rule", ev->rule);
	gw_json_str(&j, "decision", ev->decision);
	gw_json_str(&j, "reason", ev->reason);
	gw_json_str(&j, "detail", ev->detail);
	gw_json_str(&j, "datapath", ev->datapath);
	if (ev->up.id) {
		gw_json_obj_begin(&j, "upstream");
		put_identity(&j, ev->up.id);
		gw_json_str(&j, "tls_version", ev->up.tls_version);
		gw_json_str(&j, "cipher", ev->up.cipher);
		gw_json_bool(&j, "resumed", ev->up.resumed);
		gw_json_end(&j);
	}
	gw_json_raw_members(&j, ev->extra_json);
	if (ev->counts) {
		gw_json_u64(&j, "bytes_in", ev->bytes_in);
		gw_json_u64(&j, "bytes_out", ev->bytes_out);
		gw_json_u64(&j, "duration_ms", ev->duration_ms);
	}
	gw_json_end(&j);
	text = gw_json_text(&j, &len);
	if (text) {
		err = audit_write(text, len);
	} else {
		err = gw_json_err(&j);
		pthread_mutex_lock(&fail_lock);
		note_failure(err, true, false);
		pthread_mutex_unlock(&fail_lock);
	}
	gw_json_free(&j);
	return err;
}
