/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * libcyaml's error report (internal to config*.c): capture what libcyaml
 * logs while it loads the configuration and turn its one error into
 * "FILE:LINE: key.path: message", with the line taken from the line map.
 *
 * Layered on config_lines.h; knows nothing of the schema.
 */
#ifndef GW_CONFIG_REPORT_H
#define GW_CONFIG_REPORT_H

#include <stdarg.h>
#include <stdbool.h>
#include <cyaml/cyaml.h>

#include "config_lines.h"
#include "util.h"

/*
 * libcyaml reports one error as a message line, then "Backtrace:" and one
 * line per level, innermost first:
 *   "  in mapping (line: 7, column: 5)"              (no name: skipped)
 *   "  in mapping field 'tls' (line: 7, column: 5)"
 *   "  in sequence entry '1' (line: 5, column: 5)"   (1-based entry)
 * gw_cy_log_fn() collects them here (zero it first); gw_cy_report() turns
 * them into one message.
 */
struct gw_cy_log {
	char msg[512];
	char levels[GW_LM_DEPTH][GW_LM_KEY + 64];
	unsigned int n_levels;
	bool in_backtrace;
};

/* libcyaml's log_fn; ctx is the struct gw_cy_log of this load. */
void gw_cy_log_fn(cyaml_log_t level, void *ctx, const char *fmt, va_list args)
	__attribute__((format(printf, 3, 0)));

/*
 * Add the error collected in cl (err: what libcyaml returned) to diag as
 * one "FILE:LINE: key.path: message".
 */
void gw_cy_report(const struct gw_cy_log *cl, const struct gw_line_map *lm,
		  const char *file, cyaml_err_t err, struct gw_diag *diag);

#endif
