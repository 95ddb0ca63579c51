// SPDX-License-Identifier: GPL-2.0-only
/*
 * Configuration: YAML -> validated struct gw_config. This file runs the
 * three steps over the file, decides which check each key gets (and the
 * rules across keys), and owns the result; the steps' machinery lives in
 * the config_*.c files below it.
 *
 * Three steps over the file:
 *  1. a libyaml event walk (config_lines.c) builds a table
 *     "key.path[i].key" -> line, kind (value, list, mapping) and scalar
 *     text, so every message can name the exact line of the key it is
 *     about. The walk also refuses what the schema cannot see: syntax
 *     errors, duplicate keys, aliases, keys with no value, more than one
 *     document;
 *  2. libcyaml loads the document into "raw" structs that mirror the YAML
 *     (config_schema.c: unknown keys, required keys, scalar vs list vs
 *     mapping). Scalars are loaded as strings so that step 3 can say exactly
 *     what is wrong with a value. Its log output is turned into
 *     "FILE:LINE: key.path: message" (config_report.c); libcyaml errors stop
 *     the load. tls.crl, which may be a single path or a list of paths, is
 *     skipped by the schema and read from the table;
 *  3. validation turns raw into struct gw_config, each value checked by
 *     config_values.c, collecting every problem rather than stopping at the
 *     first. The checks across entries (rule and listener names, listen
 *     addresses, overlapping steered destinations) look earlier entries up
 *     in config_index.c's indexes instead of comparing each pair, so that
 *     thousands of rules or listeners load in time proportional to the file.
 *
 * Reentrant: no static state; every call works on its own buffers.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <cyaml/cyaml.h>
#include <openssl/ssl.h>

#include "config.h"
#include "config_index.h"
#include "config_lines.h"
#include "config_report.h"
#include "config_routes.h"
#include "config_schema.h"
#include "config_tls.h"
#include "config_values.h"

/* ---- step 3: validation ---- */

static const char *const bools[] = { "false", "true" };

static void vproxy_accept(struct gw_cv_ctx *v, const char *pp, const struct gw_raw_proxy_accept *r,
			  struct gw_cfg_listener *l)
{
	static const char *const accepts[] = { "v2" };

	if (!r)
		return;
	l->proxy_accept = true;
	if (gw_cv_choice(v, gw_kp(pp, "accept").s, r->accept, accepts, 1, 0) < 0)
		return;
	/* The header is trusted from the balancers only: never from anyone. */
	if (!r->from_count)
		gw_cv_err(v, gw_kp(pp, "from").s,
			  "list the load balancers' addresses (CIDR prefixes): a PROXY header is trusted from them only");
	gw_cv_cidrs(v, gw_kp(pp, "from").s, r->from, r->from_count, &l->proxy_from, &l->n_proxy_from);
}

static void vlistener(struct gw_cv_ctx *v, unsigned int idx, const struct gw_raw_listener *r,
		      struct gw_cfg_listener *l)
{
	static const char *const modes[] = { "enforce", "audit" };
	struct gw_kpath p = gw_kpi("", "listeners", idx);
	unsigned int i;
	int x;

	l->name = gw_cv_strdup(v, r->name);
	l->idx = (int)idx;
	l->kp = gw_cv_strdup(v, "");
	l->qname = gw_cv_strdup(v, r->name);
	if (!gw_cv_valid_name(r->name))
		gw_cv_err(v, gw_kp(p.s, "name").s, "\"%s\": use 1 to 64 of A-Z a-z 0-9 _ . -", r->name);
	l->listen_str = gw_cv_strdup(v, r->listen);
	gw_cv_sockaddr(v, gw_kp(p.s, "listen").s, r->listen, &l->listen, &l->listen_len);
	l->interfaces = gw_cv_strlist(v, r->interfaces, r->interfaces_count);
	l->n_interfaces = l->interfaces ? r->interfaces_count : 0;
	for (i = 0; i < r->interfaces_count; i++)
		if (!gw_cv_valid_ifname(r->interfaces[i]))
			gw_cv_err(v, gw_kpi(p.s, "interfaces", i).s,
				  "\"%s\" is not an interface name (1 to %d characters, no \"/\", \":\" or spaces)",
				  r->interfaces[i], IFNAMSIZ - 1);
	x = gw_cv_choice(v, gw_kp(p.s, "mode").s, r->mode, modes, 2, GW_MODE_ENFORCE);
	l->mode = x < 0 ? GW_MODE_ENFORCE : (enum gw_mode)x;

	/* Omitted: any source. Present but empty: an error, never "deny all". */
	l->allow_any = !gw_lm_find(v->lm, gw_kp(p.s, "allow_sources").s);
	if (!l->allow_any && !r->allow_sources_count)
		gw_cv_err(v, gw_kp(p.s, "allow_sources").s,
			  "empty list would deny every source; omit the key to allow any");
	gw_cv_cidrs(v, gw_kp(p.s, "allow_sources").s, r->allow_sources, r->allow_sources_count,
		    &l->allow_sources, &l->n_allow_sources);
	vproxy_accept(v, gw_kp(p.s, "proxy_protocol").s, r->proxy_protocol, l);

	l->steer = gw_cv_calloc(v, r->steer_count, sizeof(*l->steer));
	l->n_steer = l->steer ? r->steer_count : 0;
	for (i = 0; i < l->n_steer; i++)
		if (gw_steer_parse(r->steer[i], &l->steer[i]))
			gw_cv_err(v, gw_kpi(p.s, "steer", i).s,
				  "\"%s\" is not ADDR/PREFIX:PORT or ADDR/PREFIX:PORT-PORT (IPv6 as [ADDR]/PREFIX:PORT)",
				  r->steer[i]);

	/*
	 * With routes, the listener's own keys are a default route only if
	 * it has an upstream; its tls keys are what the routes inherit.
	 */
	l->has_default = !r->routes_count || r->upstream;
	if (!r->routes_count) {
		if (!r->tls)
			gw_cv_err(v, gw_kp(p.s, "tls").s, "required key is missing");
		if (!r->authorize)
			gw_cv_err(v, gw_kp(p.s, "authorize").s, "required key is missing");
		if (!r->upstream)
			gw_cv_err(v, gw_kp(p.s, "upstream").s, "required key is missing");
	} else if (!r->upstream && r->authorize) {
		gw_cv_err(v, gw_kp(p.s, "authorize").s,
			  "rules without an upstream: a listener with routes is a default route only with upstream, and routes do not take its rules (give each route its own authorize)");
	}
	l->route = r->routes_count && l->has_default ? gw_cv_strdup(v, "default") : NULL;
	/* No tls at all: that one message, not one per key in it. */
	gw_cfg_vtls(v, gw_kp(p.s, "tls").s, r->tls, l->has_default && (r->tls || r->routes_count),
		    &l->tls);
	if (l->has_default) {
		if (r->authorize || !r->routes_count)
			gw_cfg_vrules(v, p.s, r->authorize, r->authorize_count, l);
		if (r->upstream)
			gw_cfg_vupstream(v, gw_kp(p.s, "upstream").s, r->upstream, &l->upstream);
	}
	if (r->limits && r->limits->per_identity) {
		const struct gw_raw_per_identity *pi = r->limits->per_identity;

		gw_cv_per_identity(v, gw_kp(p.s, "limits.per_identity").s, pi->connections, pi->rate,
				   pi->burst, &l->per_identity);
		l->limit_identities = true;
	}
	gw_cv_uint(v, gw_kp(p.s, "max_connections").s, r->max_connections, 10000, 1, 1000000,
		   &l->max_connections);
	gw_cv_uint(v, gw_kp(p.s, "max_handshakes").s, r->max_handshakes, 1000, 1, 100000,
		   &l->max_handshakes);
	gw_cv_duration(v, gw_kp(p.s, "max_connection_lifetime").s, r->max_connection_lifetime, 0, false,
		       &l->max_connection_lifetime_ms);
	/* nginx stream's proxy_timeout default: what an operator expects. */
	gw_cv_duration(v, gw_kp(p.s, "idle_timeout").s, r->idle_timeout, 600000, false,
		       &l->idle_timeout_ms);
	x = gw_cv_choice(v, gw_kp(p.s, "close_on_expiry").s, r->close_on_expiry, bools, 2, 1);
	l->close_on_expiry = x != 0;
	gw_cfg_vroutes(v, p.s, r->routes, r->routes_count, l);
}

/*
 * Every listener's steered destinations, in file order, and the pairs of
 * them that overlap. They are all parsed (as vlistener() will parse them
 * again, reporting mistakes) and paired up front, then each pair is
 * reported with the listener of its later destination.
 */
struct vsteers {
	unsigned int *first;		/* per listener: its steer[0] in the order; [n] = all */
	unsigned int n;			/* listeners */
	struct gw_ci_pair *pairs;	/* by later, then earlier destination */
	size_t n_pairs, next;		/* next: the first pair not reported yet */
};

static void vsteer_index(struct gw_cv_ctx *v, const struct gw_raw_config *r, struct vsteers *vs)
{
	struct gw_steer *all;
	unsigned int i, x, n = 0;

	vs->n = r->listeners_count;
	vs->first = gw_cv_calloc(v, vs->n + 1, sizeof(*vs->first));
	if (!vs->first)
		return;
	for (i = 0; i < vs->n; i++) {
		vs->first[i] = n;
		n += r->listeners[i].steer_count;
	}
	vs->first[vs->n] = n;
	all = gw_cv_calloc(v, n, sizeof(*all));
	if (!all)
		return;
	/* One that does not parse is reported by vlistener(), not paired (AF_UNSPEC). */
	for (i = 0; i < vs->n; i++)
		for (x = 0; x < r->listeners[i].steer_count; x++)
			if (gw_steer_parse(r->listeners[i].steer[x], &all[vs->first[i] + x]))
				memset(&all[vs->first[i] + x], 0, sizeof(*all));
	if (gw_ci_steer_overlaps(all, n, &vs->pairs, &vs->n_pairs))
		v->oom = true;
	free(all);
}

/* The listener whose steer list holds destination g of the order. */
static unsigned int vsteer_listener(const struct vsteers *vs, unsigned int g)
{
	unsigned int lo = 0, hi = vs->n;

	/* The last listener that starts at or before g (empty ones start where the next does). */
	while (hi - lo > 1) {
		unsigned int mid = lo + (hi - lo) / 2;

		if (vs->first[mid] <= g)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

/* Steered destinations of listener i must not overlap any earlier ones. */
static void vsteer_overlaps(struct gw_cv_ctx *v, const struct gw_config *cfg, unsigned int i,
			    struct vsteers *vs)
{
	const struct gw_cfg_listener *b = &cfg->listeners[i];

	for (; vs->next < vs->n_pairs && vs->pairs[vs->next].later < vs->first[i + 1]; vs->next++) {
		const struct gw_ci_pair *pr = &vs->pairs[vs->next];
		unsigned int j = vsteer_listener(vs, pr->earlier);
		struct gw_kpath sp = gw_kpi(gw_kpi("", "listeners", i).s, "steer", pr->later - vs->first[i]);

		gw_cv_err(v, sp.s, "overlaps listeners[%u].steer[%u] of listener \"%s\" (listener \"%s\")",
			  j, pr->earlier - vs->first[j], cfg->listeners[j].name, b->name);
	}
}

/*
 * Listener i against the earlier ones: names and addresses are unique.
 * names and addrs index the listeners before i.
 */
/*
 * metrics.tls makes the endpoint demand a client certificate: checked with
 * a listener's code (tls.c) against its tls keys and authorize rules, so
 * it is kept as a listener named "metrics" that is not in listeners[].
 */
static void vmetrics(struct gw_cv_ctx *v, const struct gw_raw_metrics *m, struct gw_config *cfg)
{
	const struct gw_raw_metrics_tls *mt = m ? m->tls : NULL;
	struct gw_raw_tls t = { 0 };
	struct gw_cfg_listener *l;

	cfg->metrics_listen = gw_cv_strdup(v, m ? m->listen : NULL);
	if (cfg->metrics_listen) {
		struct sockaddr_storage ss;
		socklen_t len;

		gw_cv_sockaddr(v, "metrics.listen", cfg->metrics_listen, &ss, &len);
	}
	if (!mt)
		return;
	if (!m->listen)
		gw_cv_err(v, "metrics.tls", "needs metrics.listen (the endpoint it secures)");
	l = cfg->metrics_tls = gw_cv_calloc(v, 1, sizeof(*l));
	if (!l)
		return;
	l->name = gw_cv_strdup(v, "metrics");
	l->idx = -1;
	l->kp = gw_cv_strdup(v, "");
	l->qname = gw_cv_strdup(v, "metrics");
	l->has_default = true;
	l->listen_str = gw_cv_strdup(v, m->listen);
	l->allow_any = true;
	t.cert = mt->cert;
	t.key = mt->key;
	t.certs = mt->certs;
	t.certs_count = mt->certs_count;
	t.client_ca = mt->client_ca;
	t.crl_check = mt->crl_check;
	t.verify_depth = mt->verify_depth;
	t.min_version = mt->min_version;
	t.handshake_timeout = mt->handshake_timeout;
	gw_cfg_vtls(v, "metrics.tls", &t, true, &l->tls);
	gw_cfg_vrules(v, "metrics.tls", mt->authorize, mt->authorize_count, l);
}

static void vlistener_unique(struct gw_cv_ctx *v, const struct gw_config *cfg, unsigned int i,
			     struct gw_ci_keys *names, struct gw_ci_keys *addrs)
{
	const struct gw_cfg_listener *b = &cfg->listeners[i];
	struct gw_kpath p = gw_kpi("", "listeners", i);
	unsigned int jn = i, ja = i;

	if (!names->slot || !addrs->slot)
		return;
	if (b->name)
		jn = gw_ci_keys_add(names, i, b->name, strlen(b->name));
	if (b->listen_len)
		ja = gw_ci_keys_add(addrs, i, &b->listen, b->listen_len);
	/* Both lists ascend to i: merged, they come in the order of the earlier listeners. */
	while (jn != i || ja != i) {
		unsigned int j = jn < ja ? jn : ja;
		const struct gw_cfg_listener *a = &cfg->listeners[j];

		if (jn == j) {
			gw_cv_err(v, gw_kp(p.s, "name").s,
				  "listener name \"%s\" is already used by listeners[%u]", b->name, j);
			jn = gw_ci_keys_next(names, jn);
		}
		if (ja == j) {
			gw_cv_err(v, gw_kp(p.s, "listen").s,
				  "\"%s\" is the address of both listener \"%s\" (listeners[%u]) and listener \"%s\"",
				  b->listen_str, a->name, j, b->name);
			ja = gw_ci_keys_next(addrs, ja);
		}
	}
}

/* log.audit: "-" (stderr), or a file whose directory exists. */
static void vaudit(struct gw_cv_ctx *v, const char *val, struct gw_config *cfg)
{
	struct stat st;
	char *tmp, *dir;

	if (!val || !strcmp(val, "-")) {
		cfg->audit = gw_cv_strdup(v, "-");
		return;
	}
	if (!val[0]) {
		gw_cv_err(v, "log.audit", "empty path; use \"-\" for stderr");
		return;
	}
	cfg->audit = gw_cv_abspath(v, val);
	if (!cfg->audit)
		return;
	if (!stat(cfg->audit, &st) && S_ISDIR(st.st_mode)) {
		gw_cv_err(v, "log.audit", "\"%s\" is a directory", cfg->audit);
		return;
	}
	tmp = gw_cv_strdup(v, cfg->audit);
	if (!tmp)
		return;
	dir = dirname(tmp);
	if (stat(dir, &st))
		gw_cv_err(v, "log.audit", "directory \"%s\": %s", dir, strerror(errno));
	else if (!S_ISDIR(st.st_mode))
		gw_cv_err(v, "log.audit", "\"%s\" is not a directory", dir);
	free(tmp);
}

static void vcontrol(struct gw_cv_ctx *v, const char *val, struct gw_config *cfg)
{
	const size_t max = sizeof(((struct sockaddr_un *)0)->sun_path) - 1;

	if (!val) {
		cfg->control_socket = gw_cv_strdup(v, "/run/mtlsgw/control.sock");
		return;
	}
	if (!val[0]) {
		gw_cv_err(v, "control.socket", "empty path");
		return;
	}
	cfg->control_socket = gw_cv_abspath(v, val);
	if (cfg->control_socket && strlen(cfg->control_socket) > max)
		gw_cv_err(v, "control.socket", "\"%s\" is longer than %zu bytes, the limit of a unix socket path",
			  cfg->control_socket, max);
}

static struct gw_config *validate(struct gw_cv_ctx *v, const struct gw_raw_config *r)
{
	static const char *const levels[] = { "error", "warn", "info", "debug" };
	static const char *const audit_failures[] = { "continue", "refuse" };
	static const char *const datapaths[] = { "auto", "splice", "userspace" };
	static const char *const attaches[] = { "auto", "xdp", "xdp-generic", "tc" };
	struct gw_ci_keys names, addrs;
	struct vsteers vs = { 0 };
	struct gw_config *cfg;
	unsigned int i;
	int x;

	cfg = calloc(1, sizeof(*cfg));
	if (!cfg) {
		v->oom = true;
		return NULL;
	}
	cfg->path = gw_cv_strdup(v, v->file);
	x = gw_cv_choice(v, "log.level", r->log ? r->log->level : NULL, levels, 4, GW_LOG_INFO);
	cfg->log_level = x < 0 ? GW_LOG_INFO : (enum gw_log_level)x;
	vaudit(v, r->log ? r->log->audit : NULL, cfg);
	x = gw_cv_choice(v, "log.audit_failure", r->log ? r->log->audit_failure : NULL,
			 audit_failures, 2, GW_AUDIT_CONTINUE);
	cfg->audit_failure = x < 0 ? GW_AUDIT_CONTINUE : (enum gw_audit_failure)x;
	vmetrics(v, r->metrics, cfg);
	vcontrol(v, r->control ? r->control->socket : NULL, cfg);
	cfg->user = gw_cv_strdup(v, r->user);
	if (r->user && !r->user[0])
		gw_cv_err(v, "user", "empty user name; omit the key to keep running as the starting user");
	/* "auto": one worker per CPU this process may run on (at start). */
	if (r->workers && strcmp(r->workers, "auto")) {
		char *end;

		errno = 0;
		cfg->workers = (unsigned int)strtoul(r->workers, &end, 10);
		if (!isdigit((unsigned char)r->workers[0]) || *end || errno ||
		    !cfg->workers || cfg->workers > GW_MAX_WORKERS) {
			gw_cv_err(v, "workers", "\"%s\" is neither \"auto\" nor a whole number from 1 to %u",
				  r->workers, GW_MAX_WORKERS);
			cfg->workers = 0;
		}
	}
	x = gw_cv_choice(v, "datapath", r->datapath, datapaths, 3, GW_DATAPATH_AUTO);
	cfg->datapath = x < 0 ? GW_DATAPATH_AUTO : (enum gw_datapath)x;
	gw_cv_duration(v, "drain_timeout", r->drain_timeout, 30000, false, &cfg->drain_timeout_ms);
	x = gw_cv_choice(v, "reload_on_change", r->reload_on_change, bools, 2, 1);
	cfg->reload_on_change = x != 0;
	x = gw_cv_choice(v, "takeover", r->takeover, bools, 2, 0);
	cfg->takeover = x == 1;
	if (r->bpf_pin_dir && !r->bpf_pin_dir[0])
		gw_cv_err(v, "bpf_pin_dir", "empty path");
	cfg->bpf_pin_dir = r->bpf_pin_dir && r->bpf_pin_dir[0] ? gw_cv_abspath(v, r->bpf_pin_dir) :
			   gw_cv_strdup(v, "/sys/fs/bpf/mtlsgw");
	x = gw_cv_choice(v, "stage1.attach", r->stage1 ? r->stage1->attach : NULL, attaches, 4,
			 GW_S1_ATTACH_AUTO);
	cfg->stage1_attach = x < 0 ? GW_S1_ATTACH_AUTO : (enum gw_s1_attach)x;
	gw_cv_duration(v, "stage1.summary_interval", r->stage1 ? r->stage1->summary_interval : NULL,
		       60000, true, &cfg->stage1_summary_ms);

	if (!r->listeners_count)
		gw_cv_err(v, "listeners", "needs at least one listener");
	cfg->listeners = gw_cv_calloc(v, r->listeners_count, sizeof(*cfg->listeners));
	if (!cfg->listeners)
		return cfg;
	cfg->n_listeners = r->listeners_count;
	if (gw_ci_keys_init(&names, cfg->n_listeners))
		v->oom = true;
	if (gw_ci_keys_init(&addrs, cfg->n_listeners))
		v->oom = true;
	vsteer_index(v, r, &vs);
	for (i = 0; i < cfg->n_listeners; i++) {
		vlistener(v, i, &r->listeners[i], &cfg->listeners[i]);
		vlistener_unique(v, cfg, i, &names, &addrs);
		vsteer_overlaps(v, cfg, i, &vs);
	}
	gw_ci_keys_free(&names);
	gw_ci_keys_free(&addrs);
	free(vs.pairs);
	free(vs.first);
	return cfg;
}

/*
 * The whole of the regular file abs, NUL-terminated, in *text (len bytes
 * before the NUL). 0, or -errno after adding a message to diag.
 */
static int read_text(const char *abs, char **text, size_t *len, struct gw_diag *diag)
{
	size_t n = 0, cap = 4096;
	char *buf = NULL, *nb;
	struct stat st;
	ssize_t r;
	int fd, err;

	/* O_NONBLOCK: a FIFO named as the configuration must not hang the load. */
	fd = open(abs, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st)) {
		err = -errno;
		gw_diag_add(diag, "%s: %s", abs, strerror(-err));
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		err = -EINVAL;
		gw_diag_add(diag, "%s: not a regular file", abs);
		goto out_close;
	}
	/* Read to the end rather than trust st_size: the file may be growing. */
	for (;;) {
		if (n + 1 >= cap || !buf) {
			cap = buf ? 2 * cap : (size_t)st.st_size + 4096;
			nb = realloc(buf, cap);
			if (!nb) {
				err = -ENOMEM;
				gw_diag_add(diag, "%s: out of memory", abs);
				goto out_close;
			}
			buf = nb;
		}
		r = read(fd, buf + n, cap - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = -errno;
			gw_diag_add(diag, "%s: %s", abs, strerror(-err));
			goto out_close;
		}
		if (!r)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	close(fd);
	*text = buf;
	*len = n;
	return 0;
out_close:
	if (fd >= 0)
		close(fd);
	free(buf);
	return err;
}

/*
 * Load and validate path. Returns a complete configuration, or NULL with
 * every problem found added to diag. The file is read once: the line map
 * and libcyaml see the same bytes even while an editor rewrites it.
 */
struct gw_config *gw_cfg_load(const char *path, struct gw_diag *diag)
{
	struct gw_config *cfg;
	char abs[PATH_MAX];
	char *text = NULL;
	size_t len = 0;

	if (!realpath(path, abs)) {
		gw_diag_add(diag, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (read_text(abs, &text, &len, diag))
		return NULL;
	cfg = gw_cfg_load_text(abs, text, len, diag);
	free(text);
	return cfg;
}

char *gw_cfg_user(const char *path)
{
	struct gw_line_map lm = { 0 };
	struct gw_diag quiet = { 0 };
	const struct gw_lm_node *n;
	char *text = NULL, *user = NULL;
	size_t len = 0;

	if (!read_text(path, &text, &len, &quiet) && !gw_lm_build(path, text, len, &lm, &quiet) &&
	    (n = gw_lm_find(&lm, "user")) && n->kind == GW_LM_SCALAR && n->value[0])
		user = strdup(n->value);
	gw_lm_free(&lm);
	free(text);
	gw_diag_free(&quiet);
	return user;
}

struct gw_config *gw_cfg_load_text(const char *path, const char *text, size_t len,
				   struct gw_diag *diag)
{
	cyaml_config_t cy = {
		.log_fn = gw_cy_log_fn,
		.mem_fn = gw_cy_mem,
		.log_level = CYAML_LOG_ERROR,
		.flags = CYAML_CFG_NO_ALIAS,
	};
	unsigned int before = gw_diag_count(diag);
	struct gw_cv_ctx *v;
	struct gw_line_map lm = { 0 };
	struct gw_raw_config *raw = NULL;
	struct gw_config *cfg = NULL;
	struct gw_cy_log *cl = NULL;
	const struct gw_lm_node *root;
	cyaml_err_t ce;
	char *tmp;

	v = calloc(1, sizeof(*v));
	cl = calloc(1, sizeof(*cl));
	tmp = strdup(path);
	if (!v || !cl || !tmp) {
		gw_diag_add(diag, "%s: out of memory", path);
		goto out_free;
	}
	v->file = path;
	v->lm = &lm;
	v->diag = diag;
	(void)gw_snprintf(v->dir, sizeof(v->dir), "%s", dirname(tmp));

	if (gw_lm_build(path, text, len, &lm, diag)) {
		if (gw_diag_count(diag) == before)
			gw_diag_add(diag, "%s: out of memory", path);
		goto out_free;
	}
	root = gw_lm_find(&lm, "");
	if (!root || (root->kind == GW_LM_SCALAR && !root->value[0])) {
		gw_diag_add(diag, "%s:1: listeners: required key is missing (the file is empty)", path);
		goto out_free;
	}
	cy.log_ctx = cl;
	ce = cyaml_load_data((const uint8_t *)text, len, &cy, &gw_cfg_raw_schema,
			     (cyaml_data_t **)&raw, NULL);
	if (ce != CYAML_OK) {
		gw_cy_report(cl, &lm, path, ce, diag);
		goto out_free;
	}
	cfg = validate(v, raw);
	if (v->oom)
		gw_diag_add(diag, "%s: out of memory", path);
	if (gw_diag_count(diag) != before) {
		gw_cfg_free(cfg);
		cfg = NULL;
	}
out_free:
	if (raw)
		cyaml_free(&cy, &gw_cfg_raw_schema, raw, 0);
	gw_lm_free(&lm);
	free(tmp);
	free(cl);
	free(v);
	return cfg;
}

static void free_strlist(char **l, unsigned int n)
{
	unsigned int i;

	if (!l)
		return;
	for (i = 0; i < n; i++)
		free(l[i]);
	free(l);
}

void gw_cfg_rule_free(struct gw_authz_rule *r)
{
	free(r->name);
	free_strlist(r->spiffe_id, r->n_spiffe_id);
	free_strlist(r->san_dns, r->n_san_dns);
	free(r->subject.CN);
	free(r->subject.O);
	free(r->subject.OU);
	free(r->subject.C);
	free(r->subject.ST);
	free(r->subject.L);
	free(r->fingerprint_sha256);
}

static void free_listener(struct gw_cfg_listener *l)
{
	unsigned int i;

	for (i = 0; l->routes && i < l->n_routes; i++)
		free_listener(&l->routes[i]);
	free(l->routes);
	free(l->route);
	free_strlist(l->server_names, l->n_server_names);
	free(l->kp);
	free(l->qname);
	free(l->name);
	free(l->listen_str);
	free_strlist(l->interfaces, l->n_interfaces);
	free(l->allow_sources);
	free(l->proxy_from);
	free(l->steer);
	for (i = 0; l->tls.certs && i < l->tls.n_certs; i++) {
		free(l->tls.certs[i].cert);
		free(l->tls.certs[i].key);
	}
	free(l->tls.certs);
	free(l->tls.client_ca);
	free(l->tls.groups);
	free(l->tls.ticket_key_file);
	free_strlist(l->tls.crl, l->tls.n_crl);
	for (i = 0; l->rules && i < l->n_rules; i++)
		gw_cfg_rule_free(&l->rules[i]);
	free(l->rules);
	free(l->upstream.address_str);
	if (l->upstream.tls) {
		free(l->upstream.tls->cert);
		free(l->upstream.tls->key);
		free(l->upstream.tls->ca);
		free_strlist(l->upstream.tls->crl, l->upstream.tls->n_crl);
		free(l->upstream.tls->server_name);
		free(l->upstream.tls->verify_name);
		free(l->upstream.tls->verify_spiffe_id);
		free(l->upstream.tls);
	}
}

void gw_cfg_free(struct gw_config *cfg)
{
	unsigned int i;

	if (!cfg)
		return;
	for (i = 0; cfg->listeners && i < cfg->n_listeners; i++)
		free_listener(&cfg->listeners[i]);
	free(cfg->listeners);
	free(cfg->path);
	free(cfg->audit);
	free(cfg->metrics_listen);
	if (cfg->metrics_tls)
		free_listener(cfg->metrics_tls);
	free(cfg->metrics_tls);
	free(cfg->control_socket);
	free(cfg->user);
	free(cfg->bpf_pin_dir);
	free(cfg);
}

const char *gw_mode_str(enum gw_mode m)
{
	return m == GW_MODE_AUDIT ? "audit" : "enforce";
}

const char *gw_datapath_str(enum gw_datapath d)
{
	switch (d) {
	case GW_DATAPATH_SPLICE:
		return "splice";
	case GW_DATAPATH_USERSPACE:
		return "userspace";
	default:
		return "auto";
	}
}
