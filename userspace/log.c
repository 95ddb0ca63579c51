// SPDX-License-Identifier: GPL-2.0-only
/*
 * Daemon log: one line per message on stderr, "mtlsgw: <level>: <text>".
 * Under systemd (JOURNAL_STREAM set) each line carries a <N> syslog
 * priority prefix instead so journald keeps the level.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>

#include "log.h"
#include "util.h"

static enum gw_log_level log_level = GW_LOG_INFO;

static const char *const level_name[] = {
	[GW_LOG_ERROR] = "error",
	[GW_LOG_WARN] = "warning",
	[GW_LOG_INFO] = "info",
	[GW_LOG_DEBUG] = "debug",
};

static const int level_syslog[] = {
	[GW_LOG_ERROR] = 3,
	[GW_LOG_WARN] = 4,
	[GW_LOG_INFO] = 6,
	[GW_LOG_DEBUG] = 7,
};

/* Set by the primary worker on reload, read by every worker. */
void gw_log_set_level(enum gw_log_level level)
{
	__atomic_store_n(&log_level, level, __ATOMIC_RELAXED);
}

enum gw_log_level gw_log_get_level(void)
{
	return __atomic_load_n(&log_level, __ATOMIC_RELAXED);
}

void gw_vlog(enum gw_log_level level, const char *fmt, va_list ap)
{
	char msg[2048];

	if (level > gw_log_get_level())
		return;
	/* Truncation of a log line is acceptable; mark it. */
	if (vsnprintf(msg, sizeof(msg), fmt, ap) >= (int)sizeof(msg))
		memcpy(msg + sizeof(msg) - 4, "...", 4);
	if (getenv("JOURNAL_STREAM"))
		fprintf(stderr, "<%d>%s\n", level_syslog[level], msg);
	else
		fprintf(stderr, "mtlsgw: %s: %s\n", level_name[level], msg);
}

void gw_log(enum gw_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	gw_vlog(level, fmt, ap);
	va_end(ap);
}

void gw_log_rl(struct gw_ratelimit *rl, enum gw_log_level level, const char *fmt, ...)
{
	uint64_t now = gw_now_ms(), next = __atomic_load_n(&rl->next_ms, __ATOMIC_RELAXED);
	uint64_t left_out;
	char msg[1900];
	va_list ap;

	/* One thread wins the slot; the others count themselves out. */
	if (now < next || !__atomic_compare_exchange_n(&rl->next_ms, &next,
						       now + GW_LOG_RL_INTERVAL_MS, false,
						       __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
		__atomic_add_fetch(&rl->suppressed, 1, __ATOMIC_RELAXED);
		return;
	}
	left_out = __atomic_exchange_n(&rl->suppressed, 0, __ATOMIC_RELAXED);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (left_out)
		gw_log(level, "%s (and %llu more like it since the last one)", msg,
		       (unsigned long long)left_out);
	else
		gw_log(level, "%s", msg);
}

void gw_ssl_errors(char *buf, size_t len)
{
	unsigned long e;
	size_t off = 0;

	if (len)
		buf[0] = '\0';
	while ((e = ERR_get_error())) {
		char one[256];
		int n;

		ERR_error_string_n(e, one, sizeof(one));
		n = snprintf(buf + off, len > off ? len - off : 0, "%s%s",
			     off ? "; " : "", one);
		if (n > 0 && off + n < len)
			off += n;
	}
}

void gw_log_ssl(enum gw_log_level level, const char *fmt, ...)
{
	char what[1024], errs[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	gw_ssl_errors(errs, sizeof(errs));
	if (errs[0])
		gw_log(level, "%s: %s", what, errs);
	else
		gw_log(level, "%s", what);
}
