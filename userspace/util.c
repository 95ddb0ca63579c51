// SPDX-License-Identifier: GPL-2.0-only
/*
 * Small helpers every module shares: truncation-checked formatting, the
 * diagnostics list, clocks, durations, hex and a hash. A leaf: it depends
 * on nothing else in userspace/, so any module may use it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

int gw_snprintf(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= len)
		return -ENOSPC;
	return 0;
}

void gw_diag_add(struct gw_diag *d, const char *fmt, ...)
{
	char **msgs;
	va_list ap;
	char *m;

	va_start(ap, fmt);
	if (vasprintf(&m, fmt, ap) < 0)
		m = NULL;
	va_end(ap);
	if (!m)
		goto out_dropped;
	msgs = realloc(d->msgs, (d->n + 1) * sizeof(*msgs));
	if (!msgs) {
		free(m);
		goto out_dropped;
	}
	msgs[d->n++] = m;
	d->msgs = msgs;
	return;
out_dropped:
	d->dropped++;
}

void gw_diag_free(struct gw_diag *d)
{
	unsigned int i;

	if (!d)
		return;
	for (i = 0; i < d->n; i++)
		free(d->msgs[i]);
	free(d->msgs);
	d->msgs = NULL;
	d->n = 0;
	d->dropped = 0;
}

uint64_t gw_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int gw_parse_duration_ms(const char *s, uint64_t *ms)
{
	static const struct {
		const char *suffix;
		uint64_t mult;
	} units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60 * 1000 }, { "h", 3600 * 1000 },
	};
	unsigned long long v;
	unsigned int i;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -ERANGE;
	/* Zero is zero in any unit: "0" turns a timeout off as "0s" does. */
	if (!v && !*end) {
		*ms = 0;
		return 0;
	}
	for (i = 0; i < ARRAY_SIZE(units); i++) {
		if (strcmp(end, units[i].suffix))
			continue;
		if (v > UINT64_MAX / units[i].mult)
			return -ERANGE;
		*ms = v * units[i].mult;
		return 0;
	}
	return -EINVAL;
}

int gw_fmt_rfc3339_now(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	char tmp[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	if (!strftime(tmp, sizeof(tmp), "%Y-%m-%dT%H:%M:%S", &tm))
		return -ENOSPC;
	return gw_snprintf(buf, len, "%s.%03ldZ", tmp, ts.tv_nsec / 1000000);
}

int gw_hex(const unsigned char *in, size_t n, bool colons, char *out, size_t outlen)
{
	static const char lower[] = "0123456789abcdef", upper[] = "0123456789ABCDEF";
	const char *digits = colons ? upper : lower;
	size_t need = colons ? (n ? 3 * n : 1) : 2 * n + 1;
	size_t i, o = 0;

	if (outlen < need)
		return -ENOSPC;
	for (i = 0; i < n; i++) {
		if (colons && i)
			out[o++] = ':';
		out[o++] = digits[in[i] >> 4];
		out[o++] = digits[in[i] & 0xf];
	}
	out[o] = '\0';
	return 0;
}

/* Explicit ranges rather than tolower(): the same answer in every locale. */
int gw_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

uint32_t gw_hash_fnv1a(const void *p, size_t len)
{
	const unsigned char *b = p;
	uint32_t h = 2166136261u;

	while (len--)
		h = (h ^ *b++) * 16777619u;
	return h;
}

void gw_sbuf_printf(struct gw_sbuf *sb, const char *fmt, ...)
{
	va_list ap;
	size_t cap;
	char *grown;
	int n;

	if (sb->err)
		return;
	if (sb->fixed && !sb->cap) {
		sb->err = -ENOSPC;
		return;
	}
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(sb->buf ? sb->buf + sb->len : NULL, sb->buf ? sb->cap - sb->len : 0,
			      fmt, ap);
		va_end(ap);
		if (n < 0) {
			sb->err = -EINVAL;
			return;
		}
		if (sb->buf && (size_t)n < sb->cap - sb->len) {
			sb->len += n;
			return;
		}
		if (sb->fixed) {
			sb->err = -ENOSPC;
			sb->len = sb->cap - 1;
			return;
		}
		cap = 2 * sb->cap + n + 256;
		grown = realloc(sb->buf, cap);
		if (!grown) {
			/* vsnprintf wrote part of this text: cut it off again. */
			if (sb->buf)
				sb->buf[sb->len] = '\0';
			sb->err = -ENOMEM;
			return;
		}
		if (!sb->buf)
			grown[0] = '\0';
		sb->buf = grown;
		sb->cap = cap;
	}
}

void gw_sbuf_put(struct gw_sbuf *sb, const void *data, size_t n)
{
	size_t cap;
	char *grown;

	if (sb->err)
		return;
	if (sb->len + n + 1 > sb->cap || !sb->buf) {
		if (sb->fixed) {
			sb->err = -ENOSPC;
			return;
		}
		cap = 2 * sb->cap + n + 256;
		grown = realloc(sb->buf, cap);
		if (!grown) {
			sb->err = -ENOMEM;
			return;
		}
		sb->buf = grown;
		sb->cap = cap;
	}
	memcpy(sb->buf + sb->len, data, n);
	sb->len += n;
	sb->buf[sb->len] = '\0';
}

void gw_sbuf_free(struct gw_sbuf *sb)
{
	if (!sb->fixed)
		free(sb->buf);
	sb->buf = NULL;
	sb->len = sb->cap = 0;
}
