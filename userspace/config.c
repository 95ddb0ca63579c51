// SPDX-License-Identifier: GPL-2.0-only
/*
 * Configuration: YAML -> validated struct gw_config.
 *
 * Three steps over the file:
 *  1. a libyaml event walk builds a table "key.path[i].key" -> line, kind
 *     (value, list, mapping) and scalar text, so every message can name the
 *     exact line of the key it is about. The walk also refuses what the
 *     schema cannot see: syntax errors, duplicate keys, aliases, keys with
 *     no value, more than one document;
 *  2. libcyaml loads the document into "raw" structs that mirror the YAML
 *     (unknown keys, required keys, scalar vs list vs mapping). Scalars are
 *     loaded as strings so that step 3 can say exactly what is wrong with a
 *     value. Its log output is turned into "FILE:LINE: key.path: message";
 *     libcyaml errors stop the load. tls.crl, which may be a single path or a
 *     list of paths, is skipped by the schema and read from the table;
 *  3. validation turns raw into struct gw_config, collecting every problem
 *     rather than stopping at the first.
 *
 * Reentrant: no static state; every call works on its own buffers.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <cyaml/cyaml.h>
#include <openssl/ssl.h>
#include <yaml.h>

#include "config.h"

#define LM_DEPTH 32
#define LM_PATH 1024
#define LM_KEY 256

/* ---- step 1: key path -> line, kind, value ---- */

enum lm_kind {
	LM_SCALAR,
	LM_SEQ,
	LM_MAP,
};

struct lm_node {
	char *path;		/* "listeners[0].tls.cert"; "" is the document */
	char *value;		/* scalar text; NULL for lists and mappings */
	unsigned int line;	/* of the key, or of the entry in a list */
	enum lm_kind kind;
};

struct line_map {
	struct lm_node *e;
	unsigned int n, cap;
};

/* Index of the new node, or -ENOMEM. */
static int lm_add(struct line_map *lm, const char *path, unsigned int line)
{
	struct lm_node *e;

	if (lm->n == lm->cap) {
		unsigned int cap = lm->cap ? 2 * lm->cap : 64;

		e = realloc(lm->e, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		lm->e = e;
		lm->cap = cap;
	}
	e = &lm->e[lm->n];
	memset(e, 0, sizeof(*e));
	e->path = strdup(path);
	if (!e->path)
		return -ENOMEM;
	e->line = line;
	return (int)lm->n++;
}

static const struct lm_node *lm_find(const struct line_map *lm, const char *path)
{
	unsigned int i;

	for (i = 0; i < lm->n; i++)
		if (!strcmp(lm->e[i].path, path))
			return &lm->e[i];
	return NULL;
}

static unsigned int lm_line(const struct line_map *lm, const char *path)
{
	const struct lm_node *e = lm_find(lm, path);

	return e ? e->line : 0;
}

/*
 * The line of path, or of the nearest enclosing key that is in the file
 * (a defaulted key has no line of its own; its mapping has).
 */
static unsigned int lm_line_near(const struct line_map *lm, const char *path)
{
	char p[LM_PATH], *dot, *bracket;
	unsigned int line;

	if (gw_snprintf(p, sizeof(p), "%s", path))
		return 0;
	for (;;) {
		line = lm_line(lm, p);
		if (line || !p[0])
			return line;
		/* Drop the last ".key" or "[i]". */
		dot = strrchr(p, '.');
		bracket = strrchr(p, '[');
		if (dot && (!bracket || dot > bracket))
			*dot = '\0';
		else if (bracket)
			*bracket = '\0';
		else
			p[0] = '\0';
	}
}

static void lm_free(struct line_map *lm)
{
	unsigned int i;

	for (i = 0; i < lm->n; i++) {
		free(lm->e[i].path);
		free(lm->e[i].value);
	}
	free(lm->e);
	lm->e = NULL;
	lm->n = lm->cap = 0;
}

struct lm_frame {
	bool is_map;
	bool expect_key;
	bool dup;		/* inside a duplicate key: already reported, not recorded */
	int key_node;		/* node of the key whose value comes next, or -1 */
	unsigned int idx;	/* next entry of a list */
	char path[LM_PATH];
	char key[LM_KEY];
};

/* The path of the value about to start under frame f (NULL: the root). */
static int lm_child_path(const struct lm_frame *f, char *out, size_t len)
{
	if (!f) {
		out[0] = '\0';
		return 0;
	}
	if (f->is_map)
		return gw_snprintf(out, len, "%s%s%s", f->path, f->path[0] ? "." : "", f->key);
	return gw_snprintf(out, len, "%s[%u]", f->path, f->idx);
}

static void lm_value_done(struct lm_frame *f)
{
	if (!f)
		return;
	if (f->is_map)
		f->expect_key = true;
	else
		f->idx++;
}

/* YAML's null: a plain scalar that is empty, "~" or "null". */
static bool yaml_is_null(const yaml_event_t *ev)
{
	const char *s = (const char *)ev->data.scalar.value;

	if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	return !s[0] || !strcmp(s, "~") || !strcmp(s, "null") ||
	       !strcmp(s, "Null") || !strcmp(s, "NULL");
}

struct lm_walk {
	const char *file;
	struct line_map *lm;
	struct gw_diag *diag;
	struct lm_frame stack[LM_DEPTH];
	int depth;
	int err;
};

static void __attribute__((format(printf, 3, 4)))
lm_err(struct lm_walk *w, unsigned int line, const char *fmt, ...)
{
	char msg[LM_PATH + 256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	gw_diag_add(w->diag, "%s:%u: %s", w->file, line, msg);
	if (!w->err)
		w->err = -EINVAL;
}

/*
 * A value (scalar, list or mapping) starts at line under the current frame:
 * record its kind (and text) on the node of its key or list entry, and
 * enter it when it is a collection. 0, or -errno to stop the walk.
 */
static int lm_value(struct lm_walk *w, const yaml_event_t *ev, unsigned int line)
{
	struct lm_frame *top = w->depth ? &w->stack[w->depth - 1] : NULL;
	enum lm_kind kind = ev->type == YAML_MAPPING_START_EVENT ? LM_MAP :
			    ev->type == YAML_SEQUENCE_START_EVENT ? LM_SEQ : LM_SCALAR;
	char path[LM_PATH];
	int node = -1;

	if (lm_child_path(top, path, sizeof(path))) {
		lm_err(w, line, "%s: key path is too long", top->path);
		return -EINVAL;
	}
	if (top && (top->is_map || top->dup)) {
		node = top->key_node;
	} else if (!top && lm_find(w->lm, "")) {
		lm_err(w, line, "a second YAML document; put everything in one");
		return -EINVAL;
	} else {
		node = lm_add(w->lm, path, line);
		if (node < 0)
			return node;
	}
	if (node >= 0) {
		w->lm->e[node].kind = kind;
		if (kind == LM_SCALAR) {
			w->lm->e[node].value = strdup((const char *)ev->data.scalar.value);
			if (!w->lm->e[node].value)
				return -ENOMEM;
		}
	}
	if (kind == LM_SCALAR) {
		if (top && yaml_is_null(ev))
			lm_err(w, line, "%s: has no value; give one or remove the key", path);
		lm_value_done(top);
		return 0;
	}
	if (w->depth == LM_DEPTH) {
		lm_err(w, line, "%s: nested too deeply", path);
		return -EINVAL;
	}
	top = &w->stack[w->depth++];
	memset(top, 0, sizeof(*top));
	top->is_map = kind == LM_MAP;
	top->expect_key = true;
	top->key_node = -1;
	top->dup = w->depth > 1 && (w->stack[w->depth - 2].dup ||
				    (w->stack[w->depth - 2].is_map &&
				     w->stack[w->depth - 2].key_node < 0));
	(void)gw_snprintf(top->path, sizeof(top->path), "%s", path);
	return 0;
}

/* A key scalar under a mapping: record its line, refuse a duplicate. */
static int lm_key(struct lm_walk *w, const yaml_event_t *ev, unsigned int line)
{
	struct lm_frame *top = &w->stack[w->depth - 1];
	const struct lm_node *dup;
	char path[LM_PATH];
	int node;

	top->expect_key = false;
	top->key_node = -1;
	if (top->dup)
		return 0;
	if (gw_snprintf(top->key, sizeof(top->key), "%s",
			(const char *)ev->data.scalar.value) ||
	    lm_child_path(top, path, sizeof(path))) {
		lm_err(w, line, "%s: key \"%.40s...\" is too long", top->path[0] ? top->path :
		       "(top level)", top->key);
		return -EINVAL;
	}
	dup = lm_find(w->lm, path);
	if (dup) {
		lm_err(w, line, "%s: duplicate key (first at line %u)", path, dup->line);
		return 0;
	}
	node = lm_add(w->lm, path, line);
	if (node < 0)
		return node;
	top->key_node = node;
	return 0;
}

/*
 * Walk the file with libyaml and fill lm. Returns 0; -EINVAL when the file
 * is not a usable document, with every problem in diag; or -errno (which
 * the caller reports when diag did not get a message).
 */
static int lm_build(const char *file, struct line_map *lm, struct gw_diag *diag)
{
	struct lm_walk *w;
	yaml_parser_t parser;
	yaml_event_t ev;
	bool done = false;
	int ret = 0;
	FILE *f;

	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->file = file;
	w->lm = lm;
	w->diag = diag;
	f = fopen(file, "re");
	if (!f) {
		ret = -errno;
		gw_diag_add(diag, "%s: %s", file, strerror(-ret));
		goto out_free;
	}
	if (!yaml_parser_initialize(&parser)) {
		ret = -ENOMEM;
		goto out_close;
	}
	yaml_parser_set_input_file(&parser, f);
	while (!done && !ret) {
		struct lm_frame *top = w->depth ? &w->stack[w->depth - 1] : NULL;
		unsigned int line;

		if (!yaml_parser_parse(&parser, &ev)) {
			if (parser.context && parser.context_mark.line != parser.problem_mark.line)
				lm_err(w, (unsigned int)parser.problem_mark.line + 1,
				       "YAML syntax error: %s (%s at line %u)",
				       parser.problem ? parser.problem : "malformed",
				       parser.context, (unsigned int)parser.context_mark.line + 1);
			else
				lm_err(w, (unsigned int)parser.problem_mark.line + 1,
				       "YAML syntax error: %s%s%s",
				       parser.problem ? parser.problem : "malformed",
				       parser.context ? " " : "",
				       parser.context ? parser.context : "");
			break;
		}
		line = (unsigned int)ev.start_mark.line + 1;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_MAPPING_START_EVENT:
		case YAML_SEQUENCE_START_EVENT:
			if (top && top->is_map && top->expect_key) {
				lm_err(w, line, "%s: a key must be a single value, not a %s",
				       top->path[0] ? top->path : "(top level)",
				       ev.type == YAML_MAPPING_START_EVENT ? "mapping" : "list");
				done = true;
				break;
			}
			ret = lm_value(w, &ev, line);
			break;
		case YAML_MAPPING_END_EVENT:
		case YAML_SEQUENCE_END_EVENT:
			w->depth--;
			lm_value_done(w->depth ? &w->stack[w->depth - 1] : NULL);
			break;
		case YAML_SCALAR_EVENT:
			if (top && top->is_map && top->expect_key)
				ret = lm_key(w, &ev, line);
			else
				ret = lm_value(w, &ev, line);
			break;
		case YAML_ALIAS_EVENT:
			lm_err(w, line, "YAML aliases (*%s) are not supported; write the value out",
			       (const char *)ev.data.alias.anchor);
			done = true;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	if (!ret)
		ret = w->err;
	yaml_parser_delete(&parser);
out_close:
	fclose(f);
out_free:
	free(w);
	return ret;
}

/* ---- step 2: raw structs loaded by libcyaml ---- */

struct raw_subject {
	char *CN, *O, *OU, *C, *ST, *L;
};

struct raw_rule {
	char *name;
	char **spiffe_id;
	unsigned int spiffe_id_count;
	char **san_dns;
	unsigned int san_dns_count;
	struct raw_subject *subject;
	char **fingerprint_sha256;
	unsigned int fingerprint_sha256_count;
};

/* tls.crl is not here: the schema skips it, validation reads the walk. */
struct raw_tls {
	char *cert, *key, *client_ca;
	char *crl_check, *verify_depth, *min_version, *handshake_timeout;
};

struct raw_upstream_tls {
	char *cert, *key, *ca, *server_name;
};

struct raw_upstream {
	char *address, *proxy_protocol, *connect_timeout;
	struct raw_upstream_tls *tls;
};

struct raw_listener {
	char *name, *listen;
	char **interfaces;
	unsigned int interfaces_count;
	char *mode;
	char **allow_sources;
	unsigned int allow_sources_count;
	struct raw_tls *tls;
	struct raw_rule *authorize;
	unsigned int authorize_count;
	struct raw_upstream *upstream;
	char *max_connections, *max_handshakes;
	char *max_connection_lifetime, *close_on_expiry;
	char **steer;
	unsigned int steer_count;
};

struct raw_log {
	char *level, *audit;
};

struct raw_metrics {
	char *listen;
};

struct raw_control {
	char *socket;
};

struct raw_stage1 {
	char *attach, *summary_interval;
};

struct raw_config {
	struct raw_stage1 *stage1;
	struct raw_log *log;
	struct raw_metrics *metrics;
	struct raw_control *control;
	char *user, *workers, *datapath, *drain_timeout, *reload_on_change, *takeover, *bpf_pin_dir;
	struct raw_listener *listeners;
	unsigned int listeners_count;
};

#define STR_OPT(key, type, field) \
	CYAML_FIELD_STRING_PTR(key, CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL, \
			       type, field, 0, CYAML_UNLIMITED)
#define STR_REQ(key, type, field) \
	CYAML_FIELD_STRING_PTR(key, CYAML_FLAG_POINTER, type, field, 0, CYAML_UNLIMITED)
#define STR_LIST(key, type, field) \
	CYAML_FIELD_SEQUENCE(key, CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL, \
			     type, field, &string_value, 0, CYAML_UNLIMITED)
#define MAP_OPT(key, type, field, fields) \
	CYAML_FIELD_MAPPING_PTR(key, CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL, \
				type, field, fields)

static const cyaml_schema_value_t string_value = {
	CYAML_VALUE_STRING(CYAML_FLAG_POINTER, char, 0, CYAML_UNLIMITED),
};

static const cyaml_schema_field_t subject_fields[] = {
	STR_OPT("CN", struct raw_subject, CN),
	STR_OPT("O", struct raw_subject, O),
	STR_OPT("OU", struct raw_subject, OU),
	STR_OPT("C", struct raw_subject, C),
	STR_OPT("ST", struct raw_subject, ST),
	STR_OPT("L", struct raw_subject, L),
	CYAML_FIELD_END
};

static const cyaml_schema_field_t rule_fields[] = {
	STR_REQ("name", struct raw_rule, name),
	STR_LIST("spiffe_id", struct raw_rule, spiffe_id),
	STR_LIST("san_dns", struct raw_rule, san_dns),
	MAP_OPT("subject", struct raw_rule, subject, subject_fields),
	STR_LIST("fingerprint_sha256", struct raw_rule, fingerprint_sha256),
	CYAML_FIELD_END
};

static const cyaml_schema_value_t rule_value = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct raw_rule, rule_fields),
};

static const cyaml_schema_field_t tls_fields[] = {
	STR_REQ("cert", struct raw_tls, cert),
	STR_REQ("key", struct raw_tls, key),
	STR_REQ("client_ca", struct raw_tls, client_ca),
	CYAML_FIELD_IGNORE("crl", CYAML_FLAG_OPTIONAL),
	STR_OPT("crl_check", struct raw_tls, crl_check),
	STR_OPT("verify_depth", struct raw_tls, verify_depth),
	STR_OPT("min_version", struct raw_tls, min_version),
	STR_OPT("handshake_timeout", struct raw_tls, handshake_timeout),
	CYAML_FIELD_END
};

static const cyaml_schema_field_t upstream_tls_fields[] = {
	STR_REQ("cert", struct raw_upstream_tls, cert),
	STR_REQ("key", struct raw_upstream_tls, key),
	STR_REQ("ca", struct raw_upstream_tls, ca),
	STR_OPT("server_name", struct raw_upstream_tls, server_name),
	CYAML_FIELD_END
};

static const cyaml_schema_field_t upstream_fields[] = {
	STR_REQ("address", struct raw_upstream, address),
	STR_OPT("proxy_protocol", struct raw_upstream, proxy_protocol),
	STR_OPT("connect_timeout", struct raw_upstream, connect_timeout),
	MAP_OPT("tls", struct raw_upstream, tls, upstream_tls_fields),
	CYAML_FIELD_END
};

static const cyaml_schema_field_t listener_fields[] = {
	STR_REQ("name", struct raw_listener, name),
	STR_REQ("listen", struct raw_listener, listen),
	STR_LIST("interfaces", struct raw_listener, interfaces),
	STR_OPT("mode", struct raw_listener, mode),
	STR_LIST("allow_sources", struct raw_listener, allow_sources),
	CYAML_FIELD_MAPPING_PTR("tls", CYAML_FLAG_POINTER, struct raw_listener, tls, tls_fields),
	CYAML_FIELD_SEQUENCE("authorize", CYAML_FLAG_POINTER, struct raw_listener,
			     authorize, &rule_value, 0, CYAML_UNLIMITED),
	CYAML_FIELD_MAPPING_PTR("upstream", CYAML_FLAG_POINTER, struct raw_listener,
				upstream, upstream_fields),
	STR_OPT("max_connections", struct raw_listener, max_connections),
	STR_OPT("max_handshakes", struct raw_listener, max_handshakes),
	STR_OPT("max_connection_lifetime", struct raw_listener, max_connection_lifetime),
	STR_OPT("close_on_expiry", struct raw_listener, close_on_expiry),
	STR_LIST("steer", struct raw_listener, steer),
	CYAML_FIELD_END
};

static const cyaml_schema_value_t listener_value = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct raw_listener, listener_fields),
};

static const cyaml_schema_field_t log_fields[] = {
	STR_OPT("level", struct raw_log, level),
	STR_OPT("audit", struct raw_log, audit),
	CYAML_FIELD_END
};

static const cyaml_schema_field_t metrics_fields[] = {
	STR_OPT("listen", struct raw_metrics, listen),
	CYAML_FIELD_END
};

static const cyaml_schema_field_t control_fields[] = {
	STR_OPT("socket", struct raw_control, socket),
	CYAML_FIELD_END
};

static const cyaml_schema_field_t stage1_fields[] = {
	STR_OPT("attach", struct raw_stage1, attach),
	STR_OPT("summary_interval", struct raw_stage1, summary_interval),
	CYAML_FIELD_END
};

/* "listeners" may be empty here so that validation can say so in its words. */
static const cyaml_schema_field_t config_fields[] = {
	MAP_OPT("stage1", struct raw_config, stage1, stage1_fields),
	MAP_OPT("log", struct raw_config, log, log_fields),
	MAP_OPT("metrics", struct raw_config, metrics, metrics_fields),
	MAP_OPT("control", struct raw_config, control, control_fields),
	STR_OPT("user", struct raw_config, user),
	STR_OPT("workers", struct raw_config, workers),
	STR_OPT("datapath", struct raw_config, datapath),
	STR_OPT("drain_timeout", struct raw_config, drain_timeout),
	STR_OPT("reload_on_change", struct raw_config, reload_on_change),
	STR_OPT("takeover", struct raw_config, takeover),
	STR_OPT("bpf_pin_dir", struct raw_config, bpf_pin_dir),
	CYAML_FIELD_SEQUENCE("listeners", CYAML_FLAG_POINTER, struct raw_config,
			     listeners, &listener_value, 0, CYAML_UNLIMITED),
	CYAML_FIELD_END
};

static const cyaml_schema_value_t config_value = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_POINTER, struct raw_config, config_fields),
};

/*
 * libcyaml reports one error as a message line, then "Backtrace:" and one
 * line per level, innermost first:
 *   "  in mapping (line: 7, column: 5)"              (no name: skipped)
 *   "  in mapping field 'tls' (line: 7, column: 5)"
 *   "  in sequence entry '1' (line: 5, column: 5)"   (1-based entry)
 * Collect them here; cy_report() turns them into one message.
 */
struct cy_log {
	char msg[512];
	char levels[LM_DEPTH][LM_KEY + 64];
	unsigned int n_levels;
	bool in_backtrace;
};

static void cy_log_fn(cyaml_log_t level, void *ctx, const char *fmt, va_list args)
{
	struct cy_log *cl = ctx;
	char line[LM_KEY + 64];
	size_t n;

	if (level < CYAML_LOG_ERROR)
		return;
	vsnprintf(line, sizeof(line), fmt, args);
	n = strlen(line);
	while (n && line[n - 1] == '\n')
		line[--n] = '\0';
	if (!strncmp(line, "Load: ", 6))
		memmove(line, line + 6, strlen(line + 6) + 1);
	if (!strcmp(line, "Backtrace:")) {
		cl->in_backtrace = true;
		return;
	}
	if (cl->in_backtrace) {
		if (cl->n_levels < LM_DEPTH)
			(void)gw_snprintf(cl->levels[cl->n_levels++], sizeof(cl->levels[0]),
					  "%s", line);
		return;
	}
	if (!cl->msg[0])
		(void)gw_snprintf(cl->msg, sizeof(cl->msg), "%s", line);
}

/*
 * Key path of backtrace levels [from, n) (the outermost level is the last),
 * and the line the innermost of them names.
 */
static void cy_path(const struct cy_log *cl, unsigned int from, char *path, size_t len,
		    unsigned int *line)
{
	int i;

	path[0] = '\0';
	*line = 0;
	for (i = (int)cl->n_levels - 1; i >= (int)from; i--) {
		const char *l = cl->levels[i], *q;
		char name[LM_KEY];
		size_t k, o = strlen(path);
		unsigned int ln;

		q = strchr(l, '\'');
		if (q) {
			for (k = 0, q++; *q && *q != '\'' && k < sizeof(name) - 1; q++)
				name[k++] = *q;
			name[k] = '\0';
			if (strstr(l, "mapping field"))
				(void)gw_snprintf(path + o, len - o, "%s%s", o ? "." : "", name);
			else if (strstr(l, "sequence entry"))
				(void)gw_snprintf(path + o, len - o, "[%ld]",
						  strtol(name, NULL, 10) - 1);
		}
		q = strstr(l, "line: ");
		if (q && sscanf(q, "line: %u", &ln) == 1)
			*line = ln;
	}
}

static const char *kind_name(enum lm_kind k)
{
	switch (k) {
	case LM_SEQ:
		return "a list";
	case LM_MAP:
		return "a mapping";
	default:
		return "a single value";
	}
}

/*
 * The mapping a key-related libcyaml error is about. For a missing required
 * key libcyaml has finished the mapping, and its innermost level names a
 * field of that mapping (the last one read, or the first of the schema), not
 * a level of its own: drop it. For an unknown key the innermost level is the
 * mapping itself; should it name a field, the walk tells which path holds
 * the key.
 */
static void cy_key_path(const struct cy_log *cl, const struct line_map *lm,
			const char *key, bool unknown, char *path, size_t len,
			unsigned int *line)
{
	bool stale = cl->n_levels && strstr(cl->levels[0], "mapping field");
	char full[LM_PATH + LM_KEY];

	if (!unknown || !stale) {
		cy_path(cl, stale ? 1 : 0, path, len, line);
		return;
	}
	cy_path(cl, 0, path, len, line);
	(void)gw_snprintf(full, sizeof(full), "%s%s%s", path, path[0] ? "." : "", key);
	if (!lm_find(lm, full))
		cy_path(cl, 1, path, len, line);
}

/* One libcyaml error as "FILE:LINE: key.path: message". */
static void cy_report(const struct cy_log *cl, const struct line_map *lm,
		      const char *file, cyaml_err_t err, struct gw_diag *diag)
{
	char path[LM_PATH], full[LM_PATH + LM_KEY];
	const struct lm_node *node;
	const char *shown, *key = NULL;
	unsigned int line;

	if (!strncmp(cl->msg, "Unexpected key: ", 16))
		key = cl->msg + 16;
	else if (!strncmp(cl->msg, "Missing required mapping field: ", 32))
		key = cl->msg + 32;
	if (key) {
		bool unknown = cl->msg[0] == 'U';

		cy_key_path(cl, lm, key, unknown, path, sizeof(path), &line);
		(void)gw_snprintf(full, sizeof(full), "%s%s%s", path, path[0] ? "." : "", key);
		if (unknown)
			gw_diag_add(diag, "%s:%u: %s: unknown key", file,
				    lm_line(lm, full) ?: line ?: 1, full);
		else
			gw_diag_add(diag, "%s:%u: %s: required key is missing", file,
				    lm_line(lm, path) ?: line ?: 1, full);
		return;
	}
	cy_path(cl, 0, path, sizeof(path), &line);
	shown = path[0] ? path : "(top level)";
	line = lm_line(lm, path) ?: line ?: 1;
	if (!strncmp(cl->msg, "Expecting ", 10)) {
		const char *want = !strncmp(cl->msg + 10, "SEQUENCE", 8) ? "a list" :
				   !strncmp(cl->msg + 10, "MAPPING", 7) ? "a mapping" :
				   "a single value";

		node = lm_find(lm, path);
		if (node)
			gw_diag_add(diag, "%s:%u: %s: expected %s, not %s", file, line, shown,
				    want, kind_name(node->kind));
		else
			gw_diag_add(diag, "%s:%u: %s: expected %s", file, line, shown, want);
		return;
	}
	gw_diag_add(diag, "%s:%u: %s: %s", file, line, shown,
		    cl->msg[0] ? cl->msg : cyaml_strerror(err));
}

/* ---- step 3: validation ---- */

struct vctx {
	const char *file;
	char dir[PATH_MAX];
	const struct line_map *lm;
	struct gw_diag *diag;
	bool oom;
};

/* A key path built on the stack: kp(prefix, key).s lives for the statement. */
struct kpath {
	char s[LM_PATH];
};

static struct kpath kp(const char *prefix, const char *key)
{
	struct kpath p;

	(void)gw_snprintf(p.s, sizeof(p.s), "%s%s%s", prefix, prefix[0] ? "." : "", key);
	return p;
}

static struct kpath kpi(const char *prefix, const char *key, unsigned int i)
{
	struct kpath p;

	(void)gw_snprintf(p.s, sizeof(p.s), "%s%s%s[%u]", prefix, prefix[0] ? "." : "", key, i);
	return p;
}

static void __attribute__((format(printf, 3, 4)))
verr(struct vctx *v, const char *path, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	gw_diag_add(v->diag, "%s:%u: %s: %s", v->file, lm_line_near(v->lm, path), path, msg);
}

static char *vstrdup(struct vctx *v, const char *s)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		v->oom = true;
	return d;
}

/* calloc of at least one element, so that "no entries" is not an error. */
static void *vcalloc(struct vctx *v, size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (!p)
		v->oom = true;
	return p;
}

/* One of names[]; returns its index, dflt when val is NULL, -1 after reporting. */
static int vchoice(struct vctx *v, const char *path, const char *val,
		   const char *const *names, unsigned int n, int dflt)
{
	char list[256] = "";
	unsigned int i;

	if (!val)
		return dflt;
	for (i = 0; i < n; i++)
		if (!strcmp(val, names[i]))
			return (int)i;
	for (i = 0; i < n; i++) {
		size_t o = strlen(list);

		(void)gw_snprintf(list + o, sizeof(list) - o, "%s\"%s\"", i ? ", " : "", names[i]);
	}
	verr(v, path, "\"%s\" is not one of %s", val, list);
	return -1;
}

static int vduration(struct vctx *v, const char *path, const char *val,
		     uint64_t dflt, bool nonzero, uint64_t *out)
{
	int err;

	*out = dflt;
	if (!val)
		return 0;
	err = gw_parse_duration_ms(val, out);
	if (err == -ERANGE) {
		verr(v, path, "\"%s\" is too long a duration", val);
		*out = dflt;
		return err;
	}
	if (err) {
		verr(v, path, "\"%s\" is not a duration (a whole number with ms, s, m or h, like \"30s\")",
		     val);
		*out = dflt;
		return err;
	}
	if (nonzero && !*out) {
		verr(v, path, "must be greater than 0");
		*out = dflt;
		return -EINVAL;
	}
	return 0;
}

static int vuint(struct vctx *v, const char *path, const char *val, unsigned int dflt,
		 unsigned int min, unsigned int max, unsigned int *out)
{
	unsigned long x;
	char *end;

	*out = dflt;
	if (!val)
		return 0;
	errno = 0;
	x = strtoul(val, &end, 10);
	if (!isdigit((unsigned char)val[0]) || *end || errno || x < min || x > max) {
		verr(v, path, "\"%s\" is not a whole number from %u to %u", val, min, max);
		return -EINVAL;
	}
	*out = (unsigned int)x;
	return 0;
}

/*
 * "IPv4:port" or "[IPv6]:port", numeric, port 1..65535. On error, say which
 * part is wrong.
 */
static int vsockaddr(struct vctx *v, const char *path, const char *val,
		     struct sockaddr_storage *ss, socklen_t *len)
{
	const char *host = val, *end, *port;
	char h[INET6_ADDRSTRLEN + 1];
	unsigned char buf[16];
	unsigned long p = 0;
	bool v6 = val[0] == '[';
	char *pend = NULL;

	*len = sizeof(*ss);
	if (!gw_sockaddr_parse(val, ss, len)) {
		if (ss->ss_family == AF_INET ?
		    ((struct sockaddr_in *)ss)->sin_port :
		    ((struct sockaddr_in6 *)ss)->sin6_port)
			return 0;
		memset(ss, 0, sizeof(*ss));
		*len = 0;
		verr(v, path, "\"%s\": port 0 is not allowed; use a port from 1 to 65535", val);
		return -EINVAL;
	}
	memset(ss, 0, sizeof(*ss));
	*len = 0;
	if (v6) {
		host++;
		end = strchr(host, ']');
		port = end && end[1] == ':' ? end + 2 : NULL;
	} else {
		end = strchr(host, ':');
		port = end ? end + 1 : NULL;
	}
	if (!end || !port || (size_t)(end - host) >= sizeof(h)) {
		verr(v, path, "\"%s\" is not \"IPv4:port\" or \"[IPv6]:port\"", val);
		return -EINVAL;
	}
	memcpy(h, host, (size_t)(end - host));
	h[end - host] = '\0';
	if (inet_pton(v6 ? AF_INET6 : AF_INET, h, buf) != 1) {
		if (v6)
			verr(v, path, "\"%s\": \"%s\" is not a numeric IPv6 address", val, h);
		else
			verr(v, path, "\"%s\": \"%s\" is not a numeric IPv4 address (write IPv6 as \"[addr]:port\")",
			     val, h);
		return -EINVAL;
	}
	errno = 0;
	if (isdigit((unsigned char)port[0]))
		p = strtoul(port, &pend, 10);
	if (!isdigit((unsigned char)port[0]) || *pend || errno || !p || p > 65535)
		verr(v, path, "\"%s\": port \"%s\" is not a number from 1 to 65535", val, port);
	else
		verr(v, path, "\"%s\" is not \"IPv4:port\" or \"[IPv6]:port\"", val);
	return -EINVAL;
}

/* val made absolute against the config file's directory; NULL on OOM. */
static char *vabspath(struct vctx *v, const char *val)
{
	char *abs;

	if (val[0] == '/')
		return vstrdup(v, val);
	if (asprintf(&abs, "%s/%s", v->dir, val) < 0) {
		v->oom = true;
		return NULL;
	}
	return abs;
}

/*
 * An input file: resolved against the config directory, it must be a
 * readable regular file. private_key: refuse any group/other permission.
 * Returns the absolute path, or NULL after reporting.
 */
static char *vfile(struct vctx *v, const char *keypath, const char *val, bool private_key)
{
	struct stat st;
	char *abs;
	int fd;

	if (!val[0]) {
		verr(v, keypath, "empty path");
		return NULL;
	}
	abs = vabspath(v, val);
	if (!abs)
		return NULL;
	/* O_NONBLOCK: a FIFO in the wrong place must not hang the load. */
	fd = open(abs, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		verr(v, keypath, "\"%s\": %s", abs, strerror(errno));
		goto out_free;
	}
	if (fstat(fd, &st)) {
		verr(v, keypath, "\"%s\": %s", abs, strerror(errno));
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		verr(v, keypath, "\"%s\" is not a regular file", abs);
		goto out_close;
	}
	if (private_key && (st.st_mode & 077)) {
		verr(v, keypath, "\"%s\" is readable by group or other (mode %04o); chmod 600 it",
		     abs, (unsigned int)(st.st_mode & 07777));
		goto out_close;
	}
	close(fd);
	return abs;
out_close:
	close(fd);
out_free:
	free(abs);
	return NULL;
}

static char **vstrlist(struct vctx *v, char **src, unsigned int n)
{
	char **dst = vcalloc(v, n, sizeof(*dst));
	unsigned int i;

	if (!dst)
		return NULL;
	for (i = 0; i < n; i++)
		dst[i] = vstrdup(v, src[i]);
	return dst;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * A SHA-256 fingerprint: 64 hex digits, either run together or as 32
 * colon-separated pairs ("AB:CD:..."), any case. 0 or -EINVAL.
 */
static int parse_fingerprint(const char *s, unsigned char out[32])
{
	size_t len = strlen(s), step;
	unsigned int i;

	if (len == 64)
		step = 2;
	else if (len == 32 * 3 - 1)
		step = 3;
	else
		return -EINVAL;
	for (i = 0; i < 32; i++) {
		const char *p = s + i * step;
		int hi = hexval((unsigned char)p[0]), lo = hexval((unsigned char)p[1]);

		if (hi < 0 || lo < 0 || (step == 3 && i < 31 && p[2] != ':'))
			return -EINVAL;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

static void vrule(struct vctx *v, const char *p, const struct raw_rule *r,
		  struct gw_authz_rule *out)
{
	const struct raw_subject *s = r->subject;
	unsigned int i;

	out->name = vstrdup(v, r->name);
	if (!r->name[0])
		verr(v, kp(p, "name").s, "empty rule name");
	out->spiffe_id = vstrlist(v, r->spiffe_id, r->spiffe_id_count);
	out->n_spiffe_id = out->spiffe_id ? r->spiffe_id_count : 0;
	out->san_dns = vstrlist(v, r->san_dns, r->san_dns_count);
	out->n_san_dns = out->san_dns ? r->san_dns_count : 0;
	for (i = 0; i < r->spiffe_id_count; i++)
		if (strncmp(r->spiffe_id[i], "spiffe://", 9))
			verr(v, kpi(p, "spiffe_id", i).s,
			     "\"%s\" does not start with \"spiffe://\"", r->spiffe_id[i]);
	for (i = 0; i < r->san_dns_count; i++)
		if (!r->san_dns[i][0])
			verr(v, kpi(p, "san_dns", i).s, "empty DNS name pattern");
	if (s) {
		out->subject.CN = vstrdup(v, s->CN);
		out->subject.O = vstrdup(v, s->O);
		out->subject.OU = vstrdup(v, s->OU);
		out->subject.C = vstrdup(v, s->C);
		out->subject.ST = vstrdup(v, s->ST);
		out->subject.L = vstrdup(v, s->L);
	}
	if (r->fingerprint_sha256_count) {
		out->fingerprint_sha256 = vcalloc(v, r->fingerprint_sha256_count,
						  sizeof(*out->fingerprint_sha256));
		out->n_fingerprint_sha256 = out->fingerprint_sha256 ?
					    r->fingerprint_sha256_count : 0;
	}
	for (i = 0; i < out->n_fingerprint_sha256; i++)
		if (parse_fingerprint(r->fingerprint_sha256[i], out->fingerprint_sha256[i]))
			verr(v, kpi(p, "fingerprint_sha256", i).s,
			     "\"%s\" is not a SHA-256 fingerprint (64 hex digits, optionally as 32 pairs separated by colons)",
			     r->fingerprint_sha256[i]);
	if (!r->spiffe_id_count && !r->san_dns_count && !r->fingerprint_sha256_count &&
	    !(s && (s->CN || s->O || s->OU || s->C || s->ST || s->L)))
		verr(v, p, "rule \"%s\" has no criterion (spiffe_id, san_dns, subject or fingerprint_sha256); it would match every certificate",
		     r->name);
}

static bool valid_name(const char *s)
{
	size_t n = strlen(s), i;

	if (!n || n > 64)
		return false;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("_.-", s[i]))
			return false;
	return true;
}

static bool valid_ifname(const char *s)
{
	size_t n = strlen(s), i;

	if (!n || n >= IFNAMSIZ || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (i = 0; i < n; i++)
		if (s[i] == '/' || s[i] == ':' || isspace((unsigned char)s[i]))
			return false;
	return true;
}

/*
 * tls.crl: one path, or a list of paths. The schema skips the key; its
 * shape and values come from the walk.
 */
static void vcrl(struct vctx *v, const char *tp, struct gw_cfg_tls *t)
{
	struct kpath cp = kp(tp, "crl");
	const struct lm_node *node = lm_find(v->lm, cp.s), *ent;
	unsigned int i, n = 0;

	t->pos_crl.line = node ? node->line : 0;
	if (!node)
		return;
	if (node->kind == LM_MAP) {
		verr(v, cp.s, "expected a path or a list of paths, not a mapping");
		return;
	}
	if (node->kind == LM_SCALAR)
		n = 1;
	else
		while (lm_find(v->lm, kpi(tp, "crl", n).s))
			n++;
	t->crl = vcalloc(v, n, sizeof(*t->crl));
	if (!t->crl)
		return;
	t->n_crl = n;
	if (node->kind == LM_SCALAR) {
		t->crl[0] = vfile(v, cp.s, node->value, false);
		return;
	}
	for (i = 0; i < n; i++) {
		struct kpath ep = kpi(tp, "crl", i);

		ent = lm_find(v->lm, ep.s);
		if (ent->kind != LM_SCALAR)
			verr(v, ep.s, "expected a path, not %s", kind_name(ent->kind));
		else
			t->crl[i] = vfile(v, ep.s, ent->value, false);
	}
}

static void vtls(struct vctx *v, const char *tp, const struct raw_tls *t,
		 struct gw_cfg_tls *out)
{
	static const char *const crl_checks[] = { "chain", "leaf", "off" };
	static const char *const versions[] = { "1.2", "1.3" };
	int x;

	out->cert = vfile(v, kp(tp, "cert").s, t->cert, false);
	out->key = vfile(v, kp(tp, "key").s, t->key, true);
	out->client_ca = vfile(v, kp(tp, "client_ca").s, t->client_ca, false);
	out->pos_cert.line = lm_line(v->lm, kp(tp, "cert").s);
	out->pos_key.line = lm_line(v->lm, kp(tp, "key").s);
	out->pos_client_ca.line = lm_line(v->lm, kp(tp, "client_ca").s);
	vcrl(v, tp, out);

	x = vchoice(v, kp(tp, "crl_check").s, t->crl_check, crl_checks, 3, GW_CRL_CHAIN);
	out->crl_check = x < 0 ? GW_CRL_CHAIN : (enum gw_crl_check)x;
	if (x >= 0 && out->crl_check != GW_CRL_OFF && !out->n_crl)
		verr(v, t->crl_check ? kp(tp, "crl_check").s : tp,
		     "crl_check: %s needs at least one crl file; set crl_check: off to run without revocation checks",
		     t->crl_check ? t->crl_check : "chain (the default)");
	vuint(v, kp(tp, "verify_depth").s, t->verify_depth, 3, 1, 16, &out->verify_depth);
	/* A plain 1.2 in YAML arrives here as the string "1.2" as well. */
	x = vchoice(v, kp(tp, "min_version").s, t->min_version, versions, 2, 0);
	out->min_version = x == 1 ? TLS1_3_VERSION : TLS1_2_VERSION;
	vduration(v, kp(tp, "handshake_timeout").s, t->handshake_timeout, 5000, true,
		  &out->handshake_timeout_ms);
}

static void vupstream(struct vctx *v, const char *up, const struct raw_upstream *u,
		      struct gw_cfg_upstream *out)
{
	static const char *const proxies[] = { "off", "v2" };
	const struct raw_upstream_tls *t = u->tls;
	struct kpath utp = kp(up, "tls");
	int x;

	out->address_str = vstrdup(v, u->address);
	vsockaddr(v, kp(up, "address").s, u->address, &out->addr, &out->addr_len);
	x = vchoice(v, kp(up, "proxy_protocol").s, u->proxy_protocol, proxies, 2, GW_PROXY_OFF);
	out->proxy_protocol = x < 0 ? GW_PROXY_OFF : (enum gw_proxy_protocol)x;
	vduration(v, kp(up, "connect_timeout").s, u->connect_timeout, 5000, true,
		  &out->connect_timeout_ms);
	if (!t)
		return;
	out->tls = calloc(1, sizeof(*out->tls));
	if (!out->tls) {
		v->oom = true;
		return;
	}
	out->tls->cert = vfile(v, kp(utp.s, "cert").s, t->cert, false);
	out->tls->key = vfile(v, kp(utp.s, "key").s, t->key, true);
	out->tls->ca = vfile(v, kp(utp.s, "ca").s, t->ca, false);
	out->tls->server_name = vstrdup(v, t->server_name);
	if (t->server_name && !t->server_name[0])
		verr(v, kp(utp.s, "server_name").s, "empty name; omit the key to send none");
}

static void vlistener(struct vctx *v, unsigned int idx, const struct raw_listener *r,
		      struct gw_cfg_listener *l)
{
	static const char *const modes[] = { "enforce", "audit" };
	static const char *const bools[] = { "false", "true" };
	struct kpath p = kpi("", "listeners", idx);
	unsigned int i;
	int x;

	l->name = vstrdup(v, r->name);
	if (!valid_name(r->name))
		verr(v, kp(p.s, "name").s, "\"%s\": use 1 to 64 of A-Z a-z 0-9 _ . -", r->name);
	l->listen_str = vstrdup(v, r->listen);
	vsockaddr(v, kp(p.s, "listen").s, r->listen, &l->listen, &l->listen_len);
	l->interfaces = vstrlist(v, r->interfaces, r->interfaces_count);
	l->n_interfaces = l->interfaces ? r->interfaces_count : 0;
	for (i = 0; i < r->interfaces_count; i++)
		if (!valid_ifname(r->interfaces[i]))
			verr(v, kpi(p.s, "interfaces", i).s,
			     "\"%s\" is not an interface name (1 to %d characters, no \"/\", \":\" or spaces)",
			     r->interfaces[i], IFNAMSIZ - 1);
	x = vchoice(v, kp(p.s, "mode").s, r->mode, modes, 2, GW_MODE_ENFORCE);
	l->mode = x < 0 ? GW_MODE_ENFORCE : (enum gw_mode)x;

	/* Omitted: any source. Present but empty: an error, never "deny all". */
	l->allow_any = !lm_find(v->lm, kp(p.s, "allow_sources").s);
	if (!l->allow_any && !r->allow_sources_count)
		verr(v, kp(p.s, "allow_sources").s,
		     "empty list would deny every source; omit the key to allow any");
	l->allow_sources = vcalloc(v, r->allow_sources_count, sizeof(*l->allow_sources));
	l->n_allow_sources = l->allow_sources ? r->allow_sources_count : 0;
	for (i = 0; i < l->n_allow_sources; i++)
		if (gw_cidr_parse(r->allow_sources[i], &l->allow_sources[i]))
			verr(v, kpi(p.s, "allow_sources", i).s,
			     "\"%s\" is not a CIDR prefix (like 10.0.0.0/8 or 2001:db8::/32, host bits zero)",
			     r->allow_sources[i]);

	l->steer = vcalloc(v, r->steer_count, sizeof(*l->steer));
	l->n_steer = l->steer ? r->steer_count : 0;
	for (i = 0; i < l->n_steer; i++)
		if (gw_steer_parse(r->steer[i], &l->steer[i]))
			verr(v, kpi(p.s, "steer", i).s,
			     "\"%s\" is not ADDR/PREFIX:PORT or ADDR/PREFIX:PORT-PORT (IPv6 as [ADDR]/PREFIX:PORT)",
			     r->steer[i]);

	vtls(v, kp(p.s, "tls").s, r->tls, &l->tls);

	l->rules = vcalloc(v, r->authorize_count, sizeof(*l->rules));
	l->n_rules = l->rules ? r->authorize_count : 0;
	if (!r->authorize_count)
		verr(v, kp(p.s, "authorize").s, "needs at least one rule (no rule denies everyone)");
	for (i = 0; i < l->n_rules; i++) {
		struct kpath rp = kpi(p.s, "authorize", i);
		unsigned int j;

		vrule(v, rp.s, &r->authorize[i], &l->rules[i]);
		for (j = 0; j < i; j++)
			if (!strcmp(r->authorize[i].name, r->authorize[j].name))
				verr(v, kp(rp.s, "name").s,
				     "rule name \"%s\" is already used by authorize[%u]",
				     r->authorize[i].name, j);
	}

	vupstream(v, kp(p.s, "upstream").s, r->upstream, &l->upstream);
	vuint(v, kp(p.s, "max_connections").s, r->max_connections, 10000, 1, 1000000,
	      &l->max_connections);
	vuint(v, kp(p.s, "max_handshakes").s, r->max_handshakes, 1000, 1, 100000,
	      &l->max_handshakes);
	vduration(v, kp(p.s, "max_connection_lifetime").s, r->max_connection_lifetime, 0, false,
		  &l->max_connection_lifetime_ms);
	x = vchoice(v, kp(p.s, "close_on_expiry").s, r->close_on_expiry, bools, 2, 1);
	l->close_on_expiry = x != 0;
}

/* Steered destinations of listener i must not overlap any earlier ones. */
static void vsteer_overlaps(struct vctx *v, const struct gw_config *cfg, unsigned int i)
{
	const struct gw_cfg_listener *b = &cfg->listeners[i];
	unsigned int j, x, y;

	for (x = 0; x < b->n_steer; x++) {
		struct kpath sp = kpi(kpi("", "listeners", i).s, "steer", x);

		for (j = 0; j <= i; j++) {
			const struct gw_cfg_listener *a = &cfg->listeners[j];

			for (y = 0; y < (j == i ? x : a->n_steer); y++)
				if (gw_steer_overlap(&a->steer[y], &b->steer[x]))
					verr(v, sp.s, "overlaps listeners[%u].steer[%u] of listener \"%s\" (listener \"%s\")",
					     j, y, a->name, b->name);
		}
	}
}

/* Listener i against the earlier ones: names and addresses are unique. */
static void vlistener_unique(struct vctx *v, const struct gw_config *cfg, unsigned int i)
{
	const struct gw_cfg_listener *b = &cfg->listeners[i];
	struct kpath p = kpi("", "listeners", i);
	unsigned int j;

	for (j = 0; j < i; j++) {
		const struct gw_cfg_listener *a = &cfg->listeners[j];

		if (a->name && b->name && !strcmp(a->name, b->name))
			verr(v, kp(p.s, "name").s,
			     "listener name \"%s\" is already used by listeners[%u]", b->name, j);
		if (a->listen_len && a->listen_len == b->listen_len &&
		    !memcmp(&a->listen, &b->listen, a->listen_len))
			verr(v, kp(p.s, "listen").s,
			     "\"%s\" is the address of both listener \"%s\" (listeners[%u]) and listener \"%s\"",
			     b->listen_str, a->name, j, b->name);
	}
}

/* log.audit: "-" (stderr), or a file whose directory exists. */
static void vaudit(struct vctx *v, const char *val, struct gw_config *cfg)
{
	struct stat st;
	char *tmp, *dir;

	if (!val || !strcmp(val, "-")) {
		cfg->audit = vstrdup(v, "-");
		return;
	}
	if (!val[0]) {
		verr(v, "log.audit", "empty path; use \"-\" for stderr");
		return;
	}
	cfg->audit = vabspath(v, val);
	if (!cfg->audit)
		return;
	if (!stat(cfg->audit, &st) && S_ISDIR(st.st_mode)) {
		verr(v, "log.audit", "\"%s\" is a directory", cfg->audit);
		return;
	}
	tmp = vstrdup(v, cfg->audit);
	if (!tmp)
		return;
	dir = dirname(tmp);
	if (stat(dir, &st))
		verr(v, "log.audit", "directory \"%s\": %s", dir, strerror(errno));
	else if (!S_ISDIR(st.st_mode))
		verr(v, "log.audit", "\"%s\" is not a directory", dir);
	free(tmp);
}

static void vcontrol(struct vctx *v, const char *val, struct gw_config *cfg)
{
	const size_t max = sizeof(((struct sockaddr_un *)0)->sun_path) - 1;

	if (!val) {
		cfg->control_socket = vstrdup(v, "/run/mtlsgw/control.sock");
		return;
	}
	if (!val[0]) {
		verr(v, "control.socket", "empty path");
		return;
	}
	cfg->control_socket = vabspath(v, val);
	if (cfg->control_socket && strlen(cfg->control_socket) > max)
		verr(v, "control.socket", "\"%s\" is longer than %zu bytes, the limit of a unix socket path",
		     cfg->control_socket, max);
}

static struct gw_config *validate(struct vctx *v, struct raw_config *r)
{
	static const char *const levels[] = { "error", "warn", "info", "debug" };
	static const char *const datapaths[] = { "auto", "splice", "userspace" };
	static const char *const attaches[] = { "auto", "xdp", "xdp-generic", "tc" };
	static const char *const bools[] = { "false", "true" };
	struct gw_config *cfg;
	unsigned int i;
	int x;

	cfg = calloc(1, sizeof(*cfg));
	if (!cfg) {
		v->oom = true;
		return NULL;
	}
	cfg->path = vstrdup(v, v->file);
	x = vchoice(v, "log.level", r->log ? r->log->level : NULL, levels, 4, GW_LOG_INFO);
	cfg->log_level = x < 0 ? GW_LOG_INFO : (enum gw_log_level)x;
	vaudit(v, r->log ? r->log->audit : NULL, cfg);
	cfg->metrics_listen = vstrdup(v, r->metrics ? r->metrics->listen : NULL);
	if (cfg->metrics_listen) {
		struct sockaddr_storage ss;
		socklen_t len;

		vsockaddr(v, "metrics.listen", cfg->metrics_listen, &ss, &len);
	}
	vcontrol(v, r->control ? r->control->socket : NULL, cfg);
	cfg->user = vstrdup(v, r->user);
	if (r->user && !r->user[0])
		verr(v, "user", "empty user name; omit the key to keep running as the starting user");
	/* "auto": one worker per CPU this process may run on (at start). */
	if (r->workers && strcmp(r->workers, "auto")) {
		char *end;

		errno = 0;
		cfg->workers = (unsigned int)strtoul(r->workers, &end, 10);
		if (!isdigit((unsigned char)r->workers[0]) || *end || errno ||
		    !cfg->workers || cfg->workers > GW_MAX_WORKERS) {
			verr(v, "workers", "\"%s\" is neither \"auto\" nor a whole number from 1 to %u",
			     r->workers, GW_MAX_WORKERS);
			cfg->workers = 0;
		}
	}
	x = vchoice(v, "datapath", r->datapath, datapaths, 3, GW_DATAPATH_AUTO);
	cfg->datapath = x < 0 ? GW_DATAPATH_AUTO : (enum gw_datapath)x;
	vduration(v, "drain_timeout", r->drain_timeout, 30000, false, &cfg->drain_timeout_ms);
	x = vchoice(v, "reload_on_change", r->reload_on_change, bools, 2, 1);
	cfg->reload_on_change = x != 0;
	x = vchoice(v, "takeover", r->takeover, bools, 2, 0);
	cfg->takeover = x == 1;
	if (r->bpf_pin_dir && !r->bpf_pin_dir[0])
		verr(v, "bpf_pin_dir", "empty path");
	cfg->bpf_pin_dir = r->bpf_pin_dir && r->bpf_pin_dir[0] ? vabspath(v, r->bpf_pin_dir) :
			   vstrdup(v, "/sys/fs/bpf/mtlsgw");
	x = vchoice(v, "stage1.attach", r->stage1 ? r->stage1->attach : NULL, attaches, 4,
		    GW_S1_ATTACH_AUTO);
	cfg->stage1_attach = x < 0 ? GW_S1_ATTACH_AUTO : (enum gw_s1_attach)x;
	vduration(v, "stage1.summary_interval", r->stage1 ? r->stage1->summary_interval : NULL,
		  60000, true, &cfg->stage1_summary_ms);

	if (!r->listeners_count)
		verr(v, "listeners", "needs at least one listener");
	cfg->listeners = vcalloc(v, r->listeners_count, sizeof(*cfg->listeners));
	if (!cfg->listeners)
		return cfg;
	cfg->n_listeners = r->listeners_count;
	for (i = 0; i < cfg->n_listeners; i++) {
		vlistener(v, i, &r->listeners[i], &cfg->listeners[i]);
		vlistener_unique(v, cfg, i);
		vsteer_overlaps(v, cfg, i);
	}
	return cfg;
}

/*
 * Load and validate path. Returns a complete configuration, or NULL with
 * every problem found added to diag.
 */
struct gw_config *gw_cfg_load(const char *path, struct gw_diag *diag)
{
	cyaml_config_t cy = {
		.log_fn = cy_log_fn,
		.mem_fn = cyaml_mem,
		.log_level = CYAML_LOG_ERROR,
		.flags = CYAML_CFG_NO_ALIAS,
	};
	unsigned int before = gw_diag_count(diag);
	struct vctx *v;
	struct line_map lm = { 0 };
	struct raw_config *raw = NULL;
	struct gw_config *cfg = NULL;
	struct cy_log *cl = NULL;
	const struct lm_node *root;
	char abs[PATH_MAX], *tmp;
	struct stat st;
	cyaml_err_t ce;

	if (!realpath(path, abs)) {
		gw_diag_add(diag, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (stat(abs, &st)) {
		gw_diag_add(diag, "%s: %s", abs, strerror(errno));
		return NULL;
	}
	if (!S_ISREG(st.st_mode)) {
		gw_diag_add(diag, "%s: not a regular file", abs);
		return NULL;
	}
	v = calloc(1, sizeof(*v));
	cl = calloc(1, sizeof(*cl));
	tmp = strdup(abs);
	if (!v || !cl || !tmp) {
		gw_diag_add(diag, "%s: out of memory", abs);
		goto out_free;
	}
	v->file = abs;
	v->lm = &lm;
	v->diag = diag;
	(void)gw_snprintf(v->dir, sizeof(v->dir), "%s", dirname(tmp));

	if (lm_build(abs, &lm, diag)) {
		if (gw_diag_count(diag) == before)
			gw_diag_add(diag, "%s: out of memory", abs);
		goto out_free;
	}
	root = lm_find(&lm, "");
	if (!root || (root->kind == LM_SCALAR && !root->value[0])) {
		gw_diag_add(diag, "%s:1: listeners: required key is missing (the file is empty)", abs);
		goto out_free;
	}
	cy.log_ctx = cl;
	ce = cyaml_load_file(abs, &cy, &config_value, (cyaml_data_t **)&raw, NULL);
	if (ce != CYAML_OK) {
		cy_report(cl, &lm, abs, ce, diag);
		goto out_free;
	}
	cfg = validate(v, raw);
	if (v->oom)
		gw_diag_add(diag, "%s: out of memory", abs);
	if (gw_diag_count(diag) != before) {
		gw_cfg_free(cfg);
		cfg = NULL;
	}
out_free:
	if (raw)
		cyaml_free(&cy, &config_value, raw, 0);
	lm_free(&lm);
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

static void free_rule(struct gw_authz_rule *r)
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

	free(l->name);
	free(l->listen_str);
	free_strlist(l->interfaces, l->n_interfaces);
	free(l->allow_sources);
	free(l->steer);
	free(l->tls.cert);
	free(l->tls.key);
	free(l->tls.client_ca);
	free_strlist(l->tls.crl, l->tls.n_crl);
	for (i = 0; l->rules && i < l->n_rules; i++)
		free_rule(&l->rules[i]);
	free(l->rules);
	free(l->upstream.address_str);
	if (l->upstream.tls) {
		free(l->upstream.tls->cert);
		free(l->upstream.tls->key);
		free(l->upstream.tls->ca);
		free(l->upstream.tls->server_name);
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
