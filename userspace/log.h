/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Leveled logging for the daemon's own messages (not the audit log).
 * Library modules (config, identity, authz, addr) never print: they return
 * errors or fill a struct gw_diag and the caller decides.
 */
#ifndef GW_LOG_H
#define GW_LOG_H

#include <stdarg.h>
#include <stdint.h>

enum gw_log_level {
	GW_LOG_ERROR,
	GW_LOG_WARN,
	GW_LOG_INFO,
	GW_LOG_DEBUG,
};

void gw_log_set_level(enum gw_log_level level);
enum gw_log_level gw_log_get_level(void);
void gw_log(enum gw_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void gw_vlog(enum gw_log_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

#define pr_err(...)   gw_log(GW_LOG_ERROR, __VA_ARGS__)
#define pr_warn(...)  gw_log(GW_LOG_WARN, __VA_ARGS__)
#define pr_info(...)  gw_log(GW_LOG_INFO, __VA_ARGS__)
#define pr_debug(...) gw_log(GW_LOG_DEBUG, __VA_ARGS__)

/*
 * A message that an attacker or a broken resource can make repeat (every
 * accept under fd exhaustion, every failed audit write): printed at most
 * once per GW_LOG_RL_INTERVAL_MS, the next printed line says how many were
 * left out. Zero-initialised; one per call site, shared by threads.
 */
#define GW_LOG_RL_INTERVAL_MS 5000

struct gw_ratelimit {
	uint64_t next_ms;		/* nothing printed before this */
	uint64_t suppressed;		/* left out since the last printed line */
};

void gw_log_rl(struct gw_ratelimit *rl, enum gw_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define pr_err_rl(rl, ...)  gw_log_rl(rl, GW_LOG_ERROR, __VA_ARGS__)
#define pr_warn_rl(rl, ...) gw_log_rl(rl, GW_LOG_WARN, __VA_ARGS__)

/*
 * Drain the OpenSSL error queue into one message: "<what>: <err1>; <err2>".
 * Always empties the queue, even when the level is filtered out.
 */
void gw_log_ssl(enum gw_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Drain the OpenSSL error queue into buf (empty string when none). */
void gw_ssl_errors(char *buf, size_t len);

#endif
