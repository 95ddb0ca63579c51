// SPDX-License-Identifier: GPL-2.0-only
/*
 * The audit log (audit.h): one JSON line per event, strings JSON-escaped
 * (quotes, backslashes, control characters); reopen on SIGUSR1; safe from
 * any worker thread (one lock).
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

/* A growable line buffer; on allocation failure it stays failed. */
struct jbuf {
	char *p;
	size_t len, cap;
	bool failed;
};

static void jb_put(struct jbuf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->cap ? b->cap * 2 : 1024);
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p) {
			b->failed = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* JSON string body: escape quotes, backslash and every control byte. */
static void jb_escaped(struct jbuf *b, const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	char esc[8];

	for (; *u; u++) {
		if (*u == '"' || *u == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*u;
			jb_put(b, esc, 2);
		} else if (*u < 0x20 || *u == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", *u);
			jb_put(b, esc, 6);
		} else {
			jb_put(b, (const char *)u, 1);
		}
	}
}

static void jb_str(struct jbuf *b, const char *key, const char *val)
{
	if (!val)
		return;
	jb_put(b, ",\"", 2);
	jb_put(b, key, strlen(key));
	jb_put(b, "\":\"", 3);
	jb_escaped(b, val);
	jb_put(b, "\"", 1);
}

static void jb_int(struct jbuf *b, const char *key, uint64_t v)
{
	char num[32];

	snprintf(num, sizeof(num), "%llu", (unsigned long long)v);
	jb_put(b, ",\"", 2);
	jb_put(b, key, strlen(key));
	jb_put(b, "\":", 2);
	jb_put(b, num, strlen(num));
}

static void jb_str_list(struct jbuf *b, const char *key, char **v, unsigned int n)
{
	unsigned int i;

	if (!n)
		return;
	jb_put(b, ",\"", 2);
	jb_put(b, key, strlen(key));
	jb_put(b, "\":[", 3);
	for (i = 0; i < n; i++) {
		jb_put(b, i ? ",\"" : "\"", i ? 2 : 1);
		jb_escaped(b, v[i]);
		jb_put(b, "\"", 1);
	}
	jb_put(b, "]", 1);
}

static void jb_addr(struct jbuf *b, const char *key, const struct sockaddr *sa)
{
	char s[GW_SOCKADDR_STRLEN];

	if (sa && !gw_sockaddr_fmt(sa, s, sizeof(s)))
		jb_str(b, key, s);
}

static void jb_identity(struct jbuf *b, const struct gw_identity *id)
{
	char when[32], hex[GW_SHA256_HEX_LEN];
	struct tm tm;

	jb_str(b, "subject", id->subject);
	jb_str(b, "issuer", id->issuer);
	jb_str(b, "serial", id->serial);
	jb_str(b, "sha256", gw_identity_sha256_hex(id, hex));
	jb_str_list(b, "san_dns", id->san_dns, id->n_san_dns);
	jb_str_list(b, "san_uri", id->san_uri, id->n_san_uri);
	jb_str(b, "spiffe_id", id->spiffe_id);
	if (id->not_after && gmtime_r(&id->not_after, &tm) &&
	    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm))
		jb_str(b, "not_after", when);
}

int gw_audit_emit(const struct gw_audit_event *ev)
{
	struct jbuf b = { 0 };
	char ts[40];
	ssize_t n;
	int err = 0;

	if (gw_fmt_rfc3339_now(ts, sizeof(ts)))
		ts[0] = '\0';
	jb_put(&b, "{\"ts\":\"", 7);
	jb_put(&b, ts, strlen(ts));
	jb_put(&b, "\"", 1);
	jb_str(&b, "event", ev->event);
	if (ev->conn_id)
		jb_int(&b, "conn", ev->conn_id);
	jb_str(&b, "listener", ev->listener);
	jb_addr(&b, "src", ev->src);
	jb_addr(&b, "dst", ev->dst);
	if (ev->id)
		jb_identity(&b, ev->id);
	jb_str(&b, "tls_version", ev->tls_version);
	jb_str(&b, "cipher", ev->cipher);
	jb_str(&b, "rule", ev->rule);
	jb_str(&b, "decision", ev->decision);
	jb_str(&b, "reason", ev->reason);
	jb_str(&b, "detail", ev->detail);
	jb_str(&b, "datapath", ev->datapath);
	if (ev->extra_json)
		jb_put(&b, ev->extra_json, strlen(ev->extra_json));
	if (ev->counts) {
		jb_int(&b, "bytes_in", ev->bytes_in);
		jb_int(&b, "bytes_out", ev->bytes_out);
		jb_int(&b, "duration_ms", ev->duration_ms);
	}
	jb_put(&b, "}\n", 2);
	if (b.failed) {
		err = -ENOMEM;
		goto out;
	}
	pthread_rwlock_rdlock(&audit_lock);
	if (audit_fd < 0) {
		err = -EBADF;
	} else {
		n = write(audit_fd, b.p, b.len);
		if (n < 0)
			err = -errno;
		else if ((size_t)n != b.len)
			err = -EIO;
	}
	pthread_rwlock_unlock(&audit_lock);
out:
	free(b.p);
	return err;
}
