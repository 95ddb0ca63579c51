// SPDX-License-Identifier: GPL-2.0-only
/*
 * The audit log (audit.h): one JSON line per event, built by json.h so it
 * is valid UTF-8 whatever a certificate holds; reopen on SIGUSR1; safe
 * from any worker thread (one lock).
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
#include "util.h"

/*
 * Workers write events concurrently (one write(2) per line, O_APPEND);
 * open, reopen and close take the lock exclusively.
 */
static pthread_rwlock_t audit_lock = PTHREAD_RWLOCK_INITIALIZER;
static int audit_fd = -1;
static char *audit_path;

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
	return fd < 0 ? fd : 0;
}

void gw_audit_close(void)
{
	pthread_rwlock_wrlock(&audit_lock);
	audit_close_locked();
	pthread_rwlock_unlock(&audit_lock);
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
	ssize_t n;
	int err = 0;

	if (gw_fmt_rfc3339_now(ts, sizeof(ts)))
		ts[0] = '\0';
	gw_json_init(&j, NULL);
	gw_json_begin(&j);
	gw_json_str(&j, "ts", ts);
	gw_json_str(&j, "event", ev->event);
	if (ev->conn_id)
		gw_json_u64(&j, "conn", ev->conn_id);
	gw_json_str(&j, "listener", ev->listener);
	put_addr(&j, "src", ev->src);
	put_addr(&j, "dst", ev->dst);
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
	gw_json_str(&j, "rule", ev->rule);
	gw_json_str(&j, "decision", ev->decision);
	gw_json_str(&j, "reason", ev->reason);
	gw_json_str(&j, "detail", ev->detail);
	gw_json_str(&j, "datapath", ev->datapath);
	gw_json_raw_members(&j, ev->extra_json);
	if (ev->counts) {
		gw_json_u64(&j, "bytes_in", ev->bytes_in);
		gw_json_u64(&j, "bytes_out", ev->bytes_out);
		gw_json_u64(&j, "duration_ms", ev->duration_ms);
	}
	gw_json_end(&j);
	text = gw_json_text(&j, &len);
	if (!text) {
		err = gw_json_err(&j);
		goto out;
	}
	pthread_rwlock_rdlock(&audit_lock);
	if (audit_fd < 0) {
		err = -EBADF;
	} else {
		n = write(audit_fd, text, len);
		if (n < 0)
			err = -errno;
		else if ((size_t)n != len)
			err = -EIO;
	}
	pthread_rwlock_unlock(&audit_lock);
out:
	gw_json_free(&j);
	return err;
}
