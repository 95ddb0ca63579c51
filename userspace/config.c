// SPDX-License-Identifier: GPL-2.0-only
/*
 * Configuration: YAML -> validated struct gw_config.
 *
 * Two passes over the file:
 *  1. libyaml events build a map "key.path[i].key" -> line, so every
 *     message can name the line of the key it is about;
 *  2. libcyaml loads the document into "raw" structs that mirror the YAML
 *     (structure, unknown keys, required keys, scalar vs list vs map); all
 *     scalars are loaded as strings so that step 3 can say exactly what is
 *     wrong with a value.
 *  3. validation turns raw into struct gw_config, collecting every problem
 *     rather than stopping at the first.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cyaml/cyaml.h>
#include <openssl/ssl.h>
#include <yaml.h>

#include "config.h"

/* ---- pass 1: key path -> line ---- */

struct line_ent {
	char *path;
	unsigned int line;
};

struct line_map {
	struct line_ent *e;
	unsigned int n, cap;
};

static void lm_add(struct line_map *lm, const char *path, unsigned int line)
{
	struct line_ent *e;
	char *p;

	if (lm->n == lm->cap) {
		unsigned int cap = lm->cap ? 2 * lm->cap : 64;

		e = realloc(lm->e, cap * sizeof(*e));
		if (!e)
			return;
		lm->e = e;
		lm->cap = cap;
	}
	p = strdup(path);
	if (!p)
		return;
	lm->e[lm->n].path = p;
	lm->e[lm->n].line = line;
	lm->n++;
}

static unsigned int lm_line(const struct line_map *lm, const char *path)
{
	unsigned int i;

	for (i = 0; i < lm->n; i++)
		if (!strcmp(lm->e[i].path, path))
			return lm->e[i].line;
	return 0;
}

static void lm_free(struct line_map *lm)
{
	unsigned int i;

	for (i = 0; i < lm->n; i++)
		free(lm->e[i].path);
	free(lm->e);
}

#define LM_DEPTH 32
#define LM_PATH 512

struct lm_frame {
	bool is_map;
	bool expect_key;
	unsigned int idx;
	char path[LM_PATH];
	char key[128];
};

/* The path of the value about to start under frame f. */
static void lm_child_path(const struct lm_frame *f, char *out, size_t len)
{
	if (!f) {
		out[0] = '\0';
		return;
	}
	if (f->is_map)
		(void)gw_snprintf(out, len, "%s%s%s", f->path, f->path[0] ? "." : "", f->key);
	else
		(void)gw_snprintf(out, len, "%s[%u]", f->path, f->idx);
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

/* 0, or -EINVAL with a syntax message (line included) in err. */
static int lm_build(const char *file, struct line_map *lm, char *err, size_t errlen)
{
	struct lm_frame stack[LM_DEPTH];
	yaml_parser_t parser;
	yaml_event_t ev;
	int depth = 0, ret = 0;
	bool done = false;
	FILE *f;

	f = fopen(file, "r");
	if (!f) {
		(void)gw_snprintf(err, errlen, "%s", strerror(errno));
		return -errno;
	}
	if (!yaml_parser_initialize(&parser)) {
		fclose(f);
		(void)gw_snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	yaml_parser_set_input_file(&parser, f);
	while (!done) {
		struct lm_frame *top = depth ? &stack[depth - 1] : NULL;
		unsigned int line;
		char path[LM_PATH];

		if (!yaml_parser_parse(&parser, &ev)) {
			(void)gw_snprintf(err, errlen, "%u: YAML syntax error: %s%s%s",
				 (unsigned int)parser.problem_mark.line + 1,
				 parser.problem ? parser.problem : "malformed",
				 parser.context ? " " : "", parser.context ? parser.context : "");
			ret = -EINVAL;
			break;
		}
		line = ev.start_mark.line + 1;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_MAPPING_START_EVENT:
		case YAML_SEQUENCE_START_EVENT:
			lm_child_path(top, path, sizeof(path));
			if (top && !top->is_map)
				lm_add(lm, path, line);
			if (depth == LM_DEPTH) {
				(void)gw_snprintf(err, errlen, "%u: nested too deeply", line);
				ret = -EINVAL;
				done = true;
				break;
			}
			top = &stack[depth++];
			memset(top, 0, sizeof(*top));
			top->is_map = ev.type == YAML_MAPPING_START_EVENT;
			top->expect_key = true;
			(void)gw_snprintf(top->path, sizeof(top->path), "%s", path);
			break;
		case YAML_MAPPING_END_EVENT:
		case YAML_SEQUENCE_END_EVENT:
			depth--;
			lm_value_done(depth ? &stack[depth - 1] : NULL);
			break;
		case YAML_SCALAR_EVENT:
		case YAML_ALIAS_EVENT:
			if (top && top->is_map && top->expect_key) {
				(void)gw_snprintf(top->key, sizeof(top->key), "%s",
					 ev.type == YAML_SCALAR_EVENT ?
					 (const char *)ev.data.scalar.value : "*");
				lm_child_path(top, path, sizeof(path));
				lm_add(lm, path, line);
				top->expect_key = false;
			} else {
				if (top && !top->is_map) {
					lm_child_path(top, path, sizeof(path));
					lm_add(lm, path, line);
				}
				lm_value_done(top);
			}
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	fclose(f);
	return ret;
}

/* ---- pass 2: raw structs loaded by libcyaml ---- */

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

struct raw_tls {
	char *cert, *key, *client_ca;
	char **crl;
	unsigned int crl_count;
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
	bool allow_sources_set;		/* derived from the line map */
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
	char *user, *datapath, *drain_timeout, *reload_on_change, *takeover, *bpf_pin_dir;
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
	STR_LIST("crl", struct raw_tls, crl),
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

static const cyaml_schema_field_t config_fields[] = {
	MAP_OPT("stage1", struct raw_config, stage1, stage1_fields),
	MAP_OPT("log", struct raw_config, log, log_fields),
	MAP_OPT("metrics", struct raw_config, metrics, metrics_fields),
	MAP_OPT("control", struct raw_config, control, control_fields),
	STR_OPT("user", struct raw_config, user),
	STR_OPT("datapath", struct raw_config, datapath),
	STR_OPT("drain_timeout", struct raw_config, drain_timeout),
	STR_OPT("reload_on_change", struct raw_config, reload_on_change),
	STR_OPT("takeover", struct raw_config, takeover),
	STR_OPT("bpf_pin_dir", struct raw_config, bpf_pin_dir),
	CYAML_FIELD_SEQUENCE("listeners", CYAML_FLAG_POINTER, struct raw_config,
			     listeners, &listener_value, 1, CYAML_UNLIMITED),
	CYAML_FIELD_END
};

static const cyaml_schema_value_t config_value = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_POINTER, struct raw_config, config_fields),
};

/*
 * libcyaml reports one error as a message line, then "Backtrace:" and one
 * line per level, innermost first:
 *   "  in mapping field 'tls' (line: 7, column: 5)"
 *   "  in sequence entry '1' (line: 5, column: 5)"   (1-based entry)
 * Collect them and turn them into "FILE:LINE: path: message".
 */
struct cy_log {
	char msg[512];
	char levels[LM_DEPTH][160];
	unsigned int n_levels;
	bool in_backtrace;
};

static void cy_log_fn(cyaml_log_t level, void *ctx, const char *fmt, va_list args)
{
	struct cy_log *cl = ctx;
	char line[512];
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
			(void)gw_snprintf(cl->levels[cl->n_levels++], sizeof(cl->levels[0]), "%s", line);
		return;
	}
	if (!cl->msg[0])
		(void)gw_snprintf(cl->msg, sizeof(cl->msg), "%s", line);
}

/*
 * Path from backtrace levels [from, n) (outermost last), and the line the
 * innermost of them names.
 */
static void cy_path(const struct cy_log *cl, unsigned int from, char *path,
		    size_t len, unsigned int *line)
{
	int i;

	path[0] = '\0';
	*line = 0;
	for (i = (int)cl->n_levels - 1; i >= (int)from; i--) {
		const char *l = cl->levels[i], *q;
		char name[128];
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
				(void)gw_snprintf(path + o, len - o, "[%ld]", strtol(name, NULL, 10) - 1);
		}
		q = strstr(l, "line: ");
		if (q && sscanf(q, "line: %u", &ln) == 1)
			*line = ln;
	}
}

static void cy_report(const struct cy_log *cl, const struct line_map *lm,
		      const char *file, cyaml_err_t err, struct gw_diag *diag)
{
	char path[LM_PATH], full[LM_PATH + 130];
	const char *key;
	unsigned int line, from = 0;

	if (!cl->msg[0]) {
		gw_diag_add(diag, "%s: %s", file, cyaml_strerror(err));
		return;
	}
	key = NULL;
	if (!strncmp(cl->msg, "Unexpected key: ", 16))
		key = cl->msg + 16;
	else if (!strncmp(cl->msg, "Missing required mapping field: ", 32))
		key = cl->msg + 32;
	if (key) {
		/* The innermost level is the last field read, not the key. */
		if (cl->n_levels && strstr(cl->levels[0], "mapping field"))
			from = 1;
		cy_path(cl, from, path, sizeof(path), &line);
		(void)gw_snprintf(full, sizeof(full), "%s%s%s", path, path[0] ? "." : "", key);
		if (cl->msg[0] == 'U') {
			gw_diag_add(diag, "%s:%u: %s: unknown key", file,
				    lm_line(lm, full) ?: line, full);
		} else {
			gw_diag_add(diag, "%s:%u: %s: required key is missing", file,
				    lm_line(lm, path) ?: line, full);
		}
		return;
	}
	cy_path(cl, 0, path, sizeof(path), &line);
	if (!strncmp(cl->msg, "Expecting ", 10)) {
		const char *want = strstr(cl->msg, "SEQUENCE") == cl->msg + 10 ? "a list" :
				   strstr(cl->msg, "MAPPING") == cl->msg + 10 ? "a mapping" :
				   "a single value";
		gw_diag_add(diag, "%s:%u: %s: expected %s", file, lm_line(lm, path) ?: line,
			    path[0] ? path : "(top level)", want);
		return;
	}
	gw_diag_add(diag, "%s:%u: %s%s%s", file, lm_line(lm, path) ?: line, path,
		    path[0] ? ": " : "", cl->msg);
}

/* ---- pass 3: validation ---- */

struct vctx {
	const char *file;
	char dir[PATH_MAX];
	const struct line_map *lm;
	struct gw_diag *diag;
};

static void __attribute__((format(printf, 3, 4)))
verr(struct vctx *v, const char *path, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	gw_diag_add(v->diag, "%s:%u: %s: %s", v->file, lm_line(v->lm, path), path, msg);
}

/* Build "prefix.key" into buf (static rotating storage for brevity). */
static const char *kp(const char *prefix, const char *key)
{
	static char bufs[8][LM_PATH];
	static unsigned int next;
	char *b = bufs[next++ % 8];

	(void)gw_snprintf(b, LM_PATH, "%s%s%s", prefix, prefix[0] ? "." : "", key);
	return b;
}

static char *xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* One of names[]; returns its index, or -1 after reporting. */
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
	if (err) {
		verr(v, path, "\"%s\" is not a duration (a whole number with ms, s, m or h, e.g. \"5s\")", val);
		return err;
	}
	if (nonzero && !*out) {
		verr(v, path, "must be greater than 0");
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
 * Resolve path against the config directory; the file must be a readable
 * regular file. private_key: refuse group/other permission bits.
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
	if (val[0] == '/')
		abs = strdup(val);
	else if (asprintf(&abs, "%s/%s", v->dir, val) < 0)
		abs = NULL;
	if (!abs) {
		verr(v, keypath, "out of memory");
		return NULL;
	}
	fd = open(abs, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		verr(v, keypath, "\"%s\": %s", abs, strerror(errno));
		goto out_free;
	}
	close(fd);
	fd = -1;
	if (!S_ISREG(st.st_mode)) {
		verr(v, keypath, "\"%s\" is not a regular file", abs);
		goto out_free;
	}
	if (private_key && (st.st_mode & 077)) {
		verr(v, keypath, "\"%s\" is readable by group or other (mode %04o); chmod 600 it",
		     abs, (unsigned int)(st.st_mode & 07777));
		goto out_free;
	}
	return abs;
out_free:
	if (fd >= 0)
		close(fd);
	free(abs);
	return NULL;
}

static char **vstrlist(char **src, unsigned int n)
{
	char **dst = calloc(n ? n : 1, sizeof(*dst));
	unsigned int i;

	if (!dst)
		return NULL;
	for (i = 0; i < n; i++)
		dst[i] = xstrdup(src[i]);
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

/* 64 hex digits, optionally separated by colons. */
static int parse_fingerprint(const char *s, unsigned char out[32])
{
	unsigned int n = 0;

	while (*s) {
		int hi, lo;

		if (*s == ':') {
			s++;
			continue;
		}
		hi = hexval((unsigned char)s[0]);
		lo = s[1] ? hexval((unsigned char)s[1]) : -1;
		if (hi < 0 || lo < 0 || n == 32)
			return -EINVAL;
		out[n++] = (unsigned char)(hi << 4 | lo);
		s += 2;
	}
	return n == 32 ? 0 : -EINVAL;
}

static void vrule(struct vctx *v, const char *p, const struct raw_rule *r,
		  struct gw_authz_rule *out)
{
	const struct raw_subject *s = r->subject;
	unsigned int i;

	out->name = xstrdup(r->name);
	out->spiffe_id = vstrlist(r->spiffe_id, r->spiffe_id_count);
	out->n_spiffe_id = r->spiffe_id_count;
	out->san_dns = vstrlist(r->san_dns, r->san_dns_count);
	out->n_san_dns = r->san_dns_count;
	for (i = 0; i < r->spiffe_id_count; i++)
		if (strncmp(r->spiffe_id[i], "spiffe://", 9))
			verr(v, kp(p, "spiffe_id"), "\"%s\" does not start with \"spiffe://\"",
			     r->spiffe_id[i]);
	if (s) {
		out->subject.CN = xstrdup(s->CN);
		out->subject.O = xstrdup(s->O);
		out->subject.OU = xstrdup(s->OU);
		out->subject.C = xstrdup(s->C);
		out->subject.ST = xstrdup(s->ST);
		out->subject.L = xstrdup(s->L);
	}
	if (r->fingerprint_sha256_count) {
		out->fingerprint_sha256 = calloc(r->fingerprint_sha256_count,
						 sizeof(*out->fingerprint_sha256));
		out->n_fingerprint_sha256 = r->fingerprint_sha256_count;
		for (i = 0; out->fingerprint_sha256 && i < r->fingerprint_sha256_count; i++)
			if (parse_fingerprint(r->fingerprint_sha256[i], out->fingerprint_sha256[i]))
				verr(v, kp(p, "fingerprint_sha256"),
				     "\"%s\" is not a SHA-256 fingerprint (64 hex digits, colons allowed)",
				     r->fingerprint_sha256[i]);
	}
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

static void vlistener(struct vctx *v, unsigned int idx, const struct raw_listener *r,
		      struct gw_cfg_listener *l)
{
	static const char *const modes[] = { "enforce", "audit" };
	static const char *const crl_checks[] = { "chain", "leaf", "off" };
	static const char *const versions[] = { "1.2", "1.3" };
	static const char *const proxies[] = { "off", "v2" };
	static const char *const bools[] = { "false", "true" };
	const struct raw_tls *t = r->tls;
	const struct raw_upstream *u = r->upstream;
	char p[64], tp[80], up[80];
	unsigned int i;
	int x;

	(void)gw_snprintf(p, sizeof(p), "listeners[%u]", idx);
	(void)gw_snprintf(tp, sizeof(tp), "%s.tls", p);
	(void)gw_snprintf(up, sizeof(up), "%s.upstream", p);

	l->name = xstrdup(r->name);
	if (!valid_name(r->name))
		verr(v, kp(p, "name"), "\"%s\": use 1 to 64 of A-Z a-z 0-9 _ . -", r->name);
	l->listen_str = xstrdup(r->listen);
	l->listen_len = sizeof(l->listen);
	if (gw_sockaddr_parse(r->listen, &l->listen, &l->listen_len))
		verr(v, kp(p, "listen"), "\"%s\" is not \"IPv4:port\" or \"[IPv6]:port\"", r->listen);
	l->interfaces = vstrlist(r->interfaces, r->interfaces_count);
	l->n_interfaces = r->interfaces_count;
	x = vchoice(v, kp(p, "mode"), r->mode, modes, 2, GW_MODE_ENFORCE);
	l->mode = x < 0 ? GW_MODE_ENFORCE : (enum gw_mode)x;

	l->allow_any = !r->allow_sources_set;
	if (r->allow_sources_set && !r->allow_sources_count)
		verr(v, kp(p, "allow_sources"), "empty list would deny every source; omit the key to allow any");
	l->allow_sources = calloc(r->allow_sources_count ? r->allow_sources_count : 1,
				  sizeof(*l->allow_sources));
	l->n_allow_sources = r->allow_sources_count;
	for (i = 0; l->allow_sources && i < r->allow_sources_count; i++) {
		char ip[LM_PATH];

		(void)gw_snprintf(ip, sizeof(ip), "%s.allow_sources[%u]", p, i);
		if (gw_cidr_parse(r->allow_sources[i], &l->allow_sources[i]))
			verr(v, ip, "\"%s\" is not a CIDR prefix (like 10.0.0.0/8 or 2001:db8::/32, host bits zero)",
			     r->allow_sources[i]);
	}

	l->steer = calloc(r->steer_count ? r->steer_count : 1, sizeof(*l->steer));
	l->n_steer = l->steer ? r->steer_count : 0;
	for (i = 0; i < l->n_steer; i++) {
		char sp[LM_PATH];

		(void)gw_snprintf(sp, sizeof(sp), "%s.steer[%u]", p, i);
		if (gw_steer_parse(r->steer[i], &l->steer[i]))
			verr(v, sp, "\"%s\" is not ADDR/PREFIX:PORT or ADDR/PREFIX:PORT-PORT (IPv6 as [ADDR]/PREFIX:PORT)",
			     r->steer[i]);
	}

	l->tls.cert = vfile(v, kp(tp, "cert"), t->cert, false);
	l->tls.key = vfile(v, kp(tp, "key"), t->key, true);
	l->tls.client_ca = vfile(v, kp(tp, "client_ca"), t->client_ca, false);
	l->tls.pos_cert.line = lm_line(v->lm, kp(tp, "cert"));
	l->tls.pos_key.line = lm_line(v->lm, kp(tp, "key"));
	l->tls.pos_client_ca.line = lm_line(v->lm, kp(tp, "client_ca"));
	l->tls.pos_crl.line = lm_line(v->lm, kp(tp, "crl"));
	l->tls.crl = calloc(t->crl_count ? t->crl_count : 1, sizeof(*l->tls.crl));
	l->tls.n_crl = t->crl_count;
	for (i = 0; l->tls.crl && i < t->crl_count; i++) {
		char cp[LM_PATH];

		(void)gw_snprintf(cp, sizeof(cp), "%s.crl[%u]", tp, i);
		l->tls.crl[i] = vfile(v, cp, t->crl[i], false);
	}
	x = vchoice(v, kp(tp, "crl_check"), t->crl_check, crl_checks, 3, GW_CRL_CHAIN);
	l->tls.crl_check = x < 0 ? GW_CRL_CHAIN : (enum gw_crl_check)x;
	if (x >= 0 && l->tls.crl_check != GW_CRL_OFF && !t->crl_count)
		verr(v, t->crl_check ? kp(tp, "crl_check") : tp,
		     "crl_check: %s needs at least one crl file; set crl_check: off to run without revocation checks",
		     t->crl_check ? t->crl_check : "chain (the default)");
	vuint(v, kp(tp, "verify_depth"), t->verify_depth, 3, 1, 16, &l->tls.verify_depth);
	x = vchoice(v, kp(tp, "min_version"), t->min_version, versions, 2, 0);
	l->tls.min_version = x == 1 ? TLS1_3_VERSION : TLS1_2_VERSION;
	vduration(v, kp(tp, "handshake_timeout"), t->handshake_timeout, 5000, true,
		  &l->tls.handshake_timeout_ms);

	l->rules = calloc(r->authorize_count ? r->authorize_count : 1, sizeof(*l->rules));
	l->n_rules = l->rules ? r->authorize_count : 0;
	if (!r->authorize_count)
		verr(v, kp(p, "authorize"), "needs at least one rule (no rule denies everyone)");
	for (i = 0; i < l->n_rules; i++) {
		char rp[LM_PATH];
		unsigned int j;

		(void)gw_snprintf(rp, sizeof(rp), "%s.authorize[%u]", p, i);
		vrule(v, rp, &r->authorize[i], &l->rules[i]);
		for (j = 0; j < i; j++)
			if (!strcmp(r->authorize[i].name, r->authorize[j].name))
				verr(v, kp(rp, "name"), "rule name \"%s\" is used twice",
				     r->authorize[i].name);
	}

	l->upstream.address_str = xstrdup(u->address);
	l->upstream.addr_len = sizeof(l->upstream.addr);
	if (gw_sockaddr_parse(u->address, &l->upstream.addr, &l->upstream.addr_len))
		verr(v, kp(up, "address"), "\"%s\" is not \"IPv4:port\" or \"[IPv6]:port\"", u->address);
	x = vchoice(v, kp(up, "proxy_protocol"), u->proxy_protocol, proxies, 2, GW_PROXY_OFF);
	l->upstream.proxy_protocol = x < 0 ? GW_PROXY_OFF : (enum gw_proxy_protocol)x;
	vduration(v, kp(up, "connect_timeout"), u->connect_timeout, 5000, true,
		  &l->upstream.connect_timeout_ms);
	if (u->tls) {
		char utp[LM_PATH];

		(void)gw_snprintf(utp, sizeof(utp), "%s.tls", up);
		l->upstream.tls = calloc(1, sizeof(*l->upstream.tls));
		if (l->upstream.tls) {
			l->upstream.tls->cert = vfile(v, kp(utp, "cert"), u->tls->cert, false);
			l->upstream.tls->key = vfile(v, kp(utp, "key"), u->tls->key, true);
			l->upstream.tls->ca = vfile(v, kp(utp, "ca"), u->tls->ca, false);
			l->upstream.tls->server_name = xstrdup(u->tls->server_name);
		}
	}
	vuint(v, kp(p, "max_connections"), r->max_connections, 10000, 1, 1000000,
	      &l->max_connections);
	vuint(v, kp(p, "max_handshakes"), r->max_handshakes, 1000, 1, 100000,
	      &l->max_handshakes);
	vduration(v, kp(p, "max_connection_lifetime"), r->max_connection_lifetime, 0, false,
		  &l->max_connection_lifetime_ms);
	x = vchoice(v, kp(p, "close_on_expiry"), r->close_on_expiry, bools, 2, 1);
	l->close_on_expiry = x != 0;
}

/* Steered destinations of listener i must not overlap any earlier ones. */
static void vsteer_overlaps(struct vctx *v, const struct gw_config *cfg, unsigned int i)
{
	const struct gw_cfg_listener *b = &cfg->listeners[i];
	unsigned int j, x, y;

	for (x = 0; x < b->n_steer; x++) {
		char sp[LM_PATH];

		(void)gw_snprintf(sp, sizeof(sp), "listeners[%u].steer[%u]", i, x);
		for (j = 0; j <= i; j++) {
			const struct gw_cfg_listener *a = &cfg->listeners[j];

			for (y = 0; y < (j == i ? x : a->n_steer); y++)
				if (gw_steer_overlap(&a->steer[y], &b->steer[x]))
					verr(v, sp, "overlaps listeners[%u].steer[%u] of listener \"%s\" (listener \"%s\")",
					     j, y, a->name, b->name);
		}
	}
}

static struct gw_config *validate(struct vctx *v, struct raw_config *r)
{
	static const char *const levels[] = { "error", "warn", "info", "debug" };
	static const char *const datapaths[] = { "auto", "splice", "userspace" };
	static const char *const attaches[] = { "auto", "xdp", "xdp-generic", "tc" };
	static const char *const bools[] = { "false", "true" };
	struct gw_config *cfg;
	unsigned int i, j;
	int x;

	cfg = calloc(1, sizeof(*cfg));
	if (!cfg)
		return NULL;
	cfg->path = strdup(v->file);
	x = vchoice(v, "log.level", r->log ? r->log->level : NULL, levels, 4, GW_LOG_INFO);
	cfg->log_level = x < 0 ? GW_LOG_INFO : (enum gw_log_level)x;
	cfg->audit = strdup("-");
	if (r->log && r->log->audit && strcmp(r->log->audit, "-")) {
		char *dir, *tmp;

		free(cfg->audit);
		if (r->log->audit[0] == '/')
			cfg->audit = strdup(r->log->audit);
		else if (asprintf(&cfg->audit, "%s/%s", v->dir, r->log->audit) < 0)
			cfg->audit = NULL;
		tmp = cfg->audit ? strdup(cfg->audit) : NULL;
		dir = tmp ? dirname(tmp) : NULL;
		if (dir && access(dir, W_OK))
			verr(v, "log.audit", "directory \"%s\": %s", dir, strerror(errno));
		free(tmp);
	}
	cfg->metrics_listen = xstrdup(r->metrics ? r->metrics->listen : NULL);
	if (cfg->metrics_listen) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);

		if (gw_sockaddr_parse(cfg->metrics_listen, &ss, &len))
			verr(v, "metrics.listen", "\"%s\" is not \"IPv4:port\" or \"[IPv6]:port\"",
			     cfg->metrics_listen);
	}
	cfg->control_socket = strdup(r->control && r->control->socket ? r->control->socket :
				     "/run/mtlsgw/control.sock");
	cfg->user = xstrdup(r->user);
	x = vchoice(v, "datapath", r->datapath, datapaths, 3, GW_DATAPATH_AUTO);
	cfg->datapath = x < 0 ? GW_DATAPATH_AUTO : (enum gw_datapath)x;
	vduration(v, "drain_timeout", r->drain_timeout, 30000, false, &cfg->drain_timeout_ms);
	x = vchoice(v, "reload_on_change", r->reload_on_change, bools, 2, 1);
	cfg->reload_on_change = x != 0;
	x = vchoice(v, "takeover", r->takeover, bools, 2, 0);
	cfg->takeover = x == 1;
	cfg->bpf_pin_dir = strdup(r->bpf_pin_dir ? r->bpf_pin_dir : "/sys/fs/bpf/mtlsgw");
	x = vchoice(v, "stage1.attach", r->stage1 ? r->stage1->attach : NULL, attaches, 4,
		    GW_S1_ATTACH_AUTO);
	cfg->stage1_attach = x < 0 ? GW_S1_ATTACH_AUTO : (enum gw_s1_attach)x;
	vduration(v, "stage1.summary_interval", r->stage1 ? r->stage1->summary_interval : NULL,
		  60000, true, &cfg->stage1_summary_ms);

	cfg->listeners = calloc(r->listeners_count, sizeof(*cfg->listeners));
	if (!cfg->listeners) {
		gw_cfg_free(cfg);
		return NULL;
	}
	cfg->n_listeners = r->listeners_count;
	for (i = 0; i < r->listeners_count; i++) {
		char p[64];

		(void)gw_snprintf(p, sizeof(p), "listeners[%u]", i);
		r->listeners[i].allow_sources_set = lm_line(v->lm, kp(p, "allow_sources")) != 0;
		vlistener(v, i, &r->listeners[i], &cfg->listeners[i]);
		for (j = 0; j < i; j++) {
			const struct gw_cfg_listener *a = &cfg->listeners[j], *b = &cfg->listeners[i];

			if (!strcmp(a->name, b->name))
				verr(v, kp(p, "name"), "listener name \"%s\" is already used by listeners[%u]",
				     b->name, j);
			if (a->listen_len == b->listen_len &&
			    !memcmp(&a->listen, &b->listen, a->listen_len))
				verr(v, kp(p, "listen"), "\"%s\" is also the address of listener \"%s\"",
				     b->listen_str, a->name);
		}
		vsteer_overlaps(v, cfg, i);
	}
	return cfg;
}

struct gw_config *gw_cfg_load(const char *path, struct gw_diag *diag)
{
	cyaml_config_t cy = {
		.log_fn = cy_log_fn,
		.mem_fn = cyaml_mem,
		.log_level = CYAML_LOG_ERROR,
		.flags = CYAML_CFG_NO_ALIAS,
	};
	struct line_map lm = { 0 };
	struct raw_config *raw = NULL;
	struct cy_log cl = { 0 };
	struct gw_config *cfg = NULL;
	char abs[PATH_MAX], err[512], *tmp;
	unsigned int before = gw_diag_count(diag);
	struct vctx v = { .lm = &lm, .diag = diag };
	cyaml_err_t ce;

	if (!realpath(path, abs)) {
		gw_diag_add(diag, "%s: %s", path, strerror(errno));
		return NULL;
	}
	v.file = abs;
	tmp = strdup(abs);
	if (!tmp)
		return NULL;
	(void)gw_snprintf(v.dir, sizeof(v.dir), "%s", dirname(tmp));
	free(tmp);

	if (lm_build(abs, &lm, err, sizeof(err))) {
		gw_diag_add(diag, "%s:%s", abs, err);
		goto out;
	}
	cy.log_ctx = &cl;
	ce = cyaml_load_file(abs, &cy, &config_value, (cyaml_data_t **)&raw, NULL);
	if (ce != CYAML_OK) {
		cy_report(&cl, &lm, abs, ce, diag);
		goto out;
	}
	cfg = validate(&v, raw);
	if (!cfg)
		gw_diag_add(diag, "%s: out of memory", abs);
	if (cfg && gw_diag_count(diag) != before) {
		gw_cfg_free(cfg);
		cfg = NULL;
	}
out:
	if (raw)
		cyaml_free(&cy, &config_value, raw, 0);
	lm_free(&lm);
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
