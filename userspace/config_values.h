/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Configuration values (internal to config*.c; prefix gw_cv_): check and
 * convert one value of the configuration (a choice, a whole number, a
 * duration, an address, a file, a fingerprint, a name) and report what is
 * wrong with it as "FILE:LINE: key.path: message", the line taken from the
 * line map (config_lines.h): the key's own, or its nearest enclosing key's
 * when the key was left out and its default applies.
 *
 * Which key gets which check, and the rules across keys, are config.c's.
 * Layered on config_lines.h and addr.h; knows nothing of struct gw_config.
 */
#ifndef GW_CONFIG_VALUES_H
#define GW_CONFIG_VALUES_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config_lines.h"
#include "idlimit.h"
#include "util.h"

/* One validation run: where its messages go and point. */
struct gw_cv_ctx {
	const char *file;		/* the configuration file, absolute */
	char dir[PATH_MAX];		/* its directory: relative paths resolve here */
	const struct gw_line_map *lm;
	struct gw_diag *diag;
	bool oom;			/* an allocation failed: the result is incomplete */
};

/* Add "FILE:LINE: path: message" to v->diag. */
void gw_cv_err(struct gw_cv_ctx *v, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* strdup (NULL stays NULL) and calloc (of at least one element); set v->oom on failure. */
char *gw_cv_strdup(struct gw_cv_ctx *v, const char *s);
void *gw_cv_calloc(struct gw_cv_ctx *v, size_t n, size_t size);
/* A key path built on the stack: gw_kp(prefix, key).s lives for the statement. */
struct gw_kpath {
	char s[GW_LM_PATH];
};

struct gw_kpath gw_kp(const char *prefix, const char *key);
struct gw_kpath gw_kpi(const char *prefix, const char *key, unsigned int i);

/* A copy of the n strings of src; NULL or NULL entries (v->oom set) when out of memory. */
char **gw_cv_strlist(struct gw_cv_ctx *v, char **src, unsigned int n);

/*
 * The checks. val NULL means the key was left out: *out (or the return
 * value) is the default and nothing is reported. A bad value is reported at
 * path and leaves the default.
 */

/* One of names[]: its index; dflt when val is NULL; -1 after reporting. */
int gw_cv_choice(struct gw_cv_ctx *v, const char *path, const char *val,
		 const char *const *names, unsigned int n, int dflt);
/* A duration ("30s"), in ms; nonzero: 0 is refused. 0 or -errno after reporting. */
int gw_cv_duration(struct gw_cv_ctx *v, const char *path, const char *val,
		   uint64_t dflt, bool nonzero, uint64_t *out);
/* A whole number from min to max. 0 or -EINVAL after reporting. */
/* limits.per_identity at path: connections, rate (per second, decimal), burst. */
void gw_cv_per_identity(struct gw_cv_ctx *v, const char *path, const char *connections,
			const char *rate, const char *burst, struct gw_idl_limits *out);

int gw_cv_uint(struct gw_cv_ctx *v, const char *path, const char *val, unsigned int dflt,
	       unsigned int min, unsigned int max, unsigned int *out);

struct gw_cidr;

/* A list of n CIDR prefixes at path into *out (NULL and 0 when n is 0); each bad one reported. */
void gw_cv_cidrs(struct gw_cv_ctx *v, const char *path, char **raw, unsigned int n,
		 struct gw_cidr **out, unsigned int *n_out);

/*
 * "IPv4:port" or "[IPv6]:port" (val not NULL), numeric, port 1..65535.
 * 0, or -EINVAL after saying which part is wrong (*len is then 0).
 */
int gw_cv_sockaddr(struct gw_cv_ctx *v, const char *path, const char *val,
		   struct sockaddr_storage *ss, socklen_t *len);

/* val (not NULL) made absolute against v->dir; NULL on OOM. */
char *gw_cv_abspath(struct gw_cv_ctx *v, const char *val);
/*
 * An input file (val not NULL): resolved against v->dir, it must be a
 * readable regular file; private_key: not readable by group or other.
 * Returns the absolute path, or NULL after reporting.
 */
char *gw_cv_file(struct gw_cv_ctx *v, const char *keypath, const char *val, bool private_key);

/*
 * Existing files at path: one path, or a list of paths (the schema skips
 * such a key; its shape and values come from the line map). *files gets
 * n entries (NULL and 0 when the key is absent), *line the key's line.
 */
void gw_cv_files(struct gw_cv_ctx *v, const char *path, char ***files, unsigned int *n,
		 unsigned int *line);

/*
 * TLS key exchange groups, each a name the linked OpenSSL knows
 * ("X25519MLKEM768" only from OpenSSL 3.5 on): "a:b:c" for
 * SSL_CTX_set1_groups_list, or NULL when the key is absent (n 0) or after
 * reporting the first unknown name.
 */
char *gw_cv_tls_groups(struct gw_cv_ctx *v, const char *path, char **names, unsigned int n);

/* A DNS name; with pattern, also "*." and one. false after reporting what. */
bool gw_cv_dns_name(const char *s, bool pattern);

/*
 * A SHA-256 fingerprint: 64 hex digits, either run together or as 32
 * colon-separated pairs ("AB:CD:..."), any case. 0 or -EINVAL; reports nothing.
 */
int gw_cv_fingerprint(const char *s, unsigned char out[32]);

/* A listener or rule name: 1 to 64 of A-Z a-z 0-9 _ . - */
bool gw_cv_valid_name(const char *s);
/* What the kernel accepts as an interface name. */
bool gw_cv_valid_ifname(const char *s);

#endif
