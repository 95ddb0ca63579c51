/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The configuration: YAML (libcyaml) -> a validated struct gw_config.
 *
 * gw_cfg_load() either returns a complete, validated configuration or NULL
 * with every problem it found in the diag list, each as
 * "FILE:LINE: key.path: what is wrong". Validation covers syntax, unknown
 * keys, types, required keys, value ranges, and that every referenced file
 * exists and is readable (and that private keys are not readable by group
 * or other). Parsing the certificates themselves is tls.c's job.
 *
 * All paths in the result are absolute (relative ones are resolved against
 * the directory of the config file). Durations are in milliseconds.
 */
#ifndef GW_CONFIG_H
#define GW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "addr.h"
#include "authz.h"
#include "config_listener.h"
#include "config_tls.h"
#include "idlimit.h"
#include "log.h"
#include "util.h"

/* Event loop threads at most ("workers"). */
#define GW_MAX_WORKERS 64

enum gw_datapath {
	GW_DATAPATH_AUTO,
	GW_DATAPATH_SPLICE,
	GW_DATAPATH_USERSPACE,
};

enum gw_audit_failure {
	GW_AUDIT_CONTINUE,		/* count, log, keep accepting */
	GW_AUDIT_REFUSE,		/* refuse new connections while it fails */
};

enum gw_s1_attach {
	GW_S1_ATTACH_AUTO,		/* XDP native, XDP generic, then tc */
	GW_S1_ATTACH_XDP,
	GW_S1_ATTACH_XDP_GENERIC,
	GW_S1_ATTACH_TC,
};

struct gw_config {
	char *path;			/* absolute path of the file loaded */
	enum gw_log_level log_level;	/* default info */
	char *audit;			/* path, or "-" for stderr (default) */
	enum gw_audit_failure audit_failure;	/* default continue */
	char *metrics_listen;		/* NULL = no metrics endpoint */
	/*
	 * metrics.tls: the endpoint's TLS and client-certificate rules, as a
	 * listener named "metrics" that is not one of listeners[]; NULL =
	 * plain HTTP.
	 */
	struct gw_cfg_listener *metrics_tls;
	char *control_socket;		/* default /run/mtlsgw/control.sock */
	char *user;			/* NULL = do not change user */
	unsigned int workers;		/* event loop threads; 0 = auto (one per CPU) */
	enum gw_datapath datapath;	/* default auto */
	uint64_t drain_timeout_ms;	/* default 30000 */
	bool reload_on_change;		/* watch the files (inotify), default true */
	bool takeover;			/* restartable with --takeover (steering + pins) */
	char *bpf_pin_dir;		/* default /sys/fs/bpf/mtlsgw */
	enum gw_s1_attach stage1_attach;	/* default auto */
	uint64_t stage1_summary_ms;	/* stage1_drops period, default 60000 */
	struct gw_cfg_listener *listeners;
	unsigned int n_listeners;
};

struct gw_config *gw_cfg_load(const char *path, struct gw_diag *diag);
/*
 * The same for text[0..len) already in memory (a test, the fuzzer): path
 * is the absolute name messages give and relative paths resolve against;
 * it is not opened and need not exist.
 */
struct gw_config *gw_cfg_load_text(const char *path, const char *text, size_t len,
				   struct gw_diag *diag);
void gw_cfg_free(struct gw_config *cfg);
/*
 * The "user" of the file at path, read without validating anything else
 * (the files it names may be readable by that user only); NULL if none
 * or unreadable. malloc'd.
 */
char *gw_cfg_user(const char *path);

const char *gw_mode_str(enum gw_mode m);
const char *gw_datapath_str(enum gw_datapath d);

/* Free what an authorization rule holds (not the rule itself); NULL fields are fine. */
void gw_cfg_rule_free(struct gw_authz_rule *r);

#endif
