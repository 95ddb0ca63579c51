/* SPDX-License-Identifier: GPL-2.0-only */
/* Small helpers shared by every module: checked formatting, diagnostics, time. */
#ifndef GW_UTIL_H
#define GW_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GW_VERSION "0.2.0"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* snprintf that treats truncation as an error: 0 or -ENOSPC / -EINVAL. */
int gw_snprintf(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * A list of human-readable problems ("file:line: key: message"), filled by
 * library code (config loading, certificate loading) and printed by the
 * caller. Adding never fails silently: on allocation failure the count still
 * goes up so the caller knows the result is invalid.
 */
struct gw_diag {
	char **msgs;
	unsigned int n;
	unsigned int dropped;
};

void gw_diag_add(struct gw_diag *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static inline unsigned int gw_diag_count(const struct gw_diag *d)
{
	return d->n + d->dropped;
}
void gw_diag_free(struct gw_diag *d);

/* Monotonic clock in milliseconds. */
uint64_t gw_now_ms(void);

/*
 * Parse a duration: an integer followed by ms, s, m or h ("30s", "500ms"),
 * or a bare "0".
 * 0 on success with *ms set; -EINVAL for anything else, -ERANGE on overflow.
 */
int gw_parse_duration_ms(const char *s, uint64_t *ms);

/* Format the wall clock as RFC 3339 UTC with milliseconds. */
int gw_fmt_rfc3339_now(char *buf, size_t len);

/* Lower-case hex, or upper-case colon-separated ("AB:CD:...") when colons. */
int gw_hex(const unsigned char *in, size_t n, bool colons, char *out, size_t outlen);

/* The value of one hex digit (0-9, a-f, A-F; any locale), or -1. */
int gw_hexval(int c);

/*
 * FNV-1a, 32 bits, of len bytes: for hash tables over the operator's own
 * input (key paths, names, file paths), where nobody chooses collisions.
 */
uint32_t gw_hash_fnv1a(const void *p, size_t len);

/*
 * A printf appender, growable (buf NULL at first; gw_sbuf_free) or over a
 * caller's fixed buffer (GW_SBUF_FIXED). The text stays NUL-terminated.
 * The first failure sticks in err and later appends do nothing: -ENOSPC
 * when a fixed buffer is full (what fit stays), -ENOMEM (the text so far
 * stays), -EINVAL.
 */
struct gw_sbuf {
	char *buf;
	size_t len, cap;
	bool fixed;
	int err;
};

#define GW_SBUF_FIXED(b, n) ((struct gw_sbuf){ .buf = (b), .cap = (n), .fixed = true })

void gw_sbuf_printf(struct gw_sbuf *sb, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/*
 * Append n bytes as they are. Unlike gw_sbuf_printf, a piece that does not
 * fit a fixed buffer is left out whole (-ENOSPC): an escape or a UTF-8
 * sequence is never cut in two.
 */
void gw_sbuf_put(struct gw_sbuf *sb, const void *data, size_t n);
void gw_sbuf_free(struct gw_sbuf *sb);

#endif
