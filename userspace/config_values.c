/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Configuration values: parse and check one value of the configuration at
 * a time and report a bad one at the line of its key, in words that say
 * what a good value looks like. No knowledge of which key takes which value.
 *
 * Reentrant: no static state; everything lives in the caller's context.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <netinet/in.h>

#include "addr.h"
#include "config_values.h"

void gw_cv_err(struct gw_cv_ctx *v, const char *path, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	gw_diag_add(v->diag, "%s:%u: %s: %s", v->file, gw_lm_line_near(v->lm, path), path, msg);
}

char *gw_cv_strdup(struct gw_cv_ctx *v, const char *s)
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
void *gw_cv_calloc(struct gw_cv_ctx *v, size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (!p)
		v->oom = true;
	return p;
}

/* One of names[]; returns its index, dflt when val is NULL, -1 after reporting. */
int gw_cv_choice(struct gw_cv_ctx *v, const char *path, const char *val,
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
	gw_cv_err(v, path, "\"%s\" is not one of %s", val, list);
	return -1;
}

int gw_cv_duration(struct gw_cv_ctx *v, const char *path, const char *val,
		   uint64_t dflt, bool nonzero, uint64_t *out)
{
	int err;

	*out = dflt;
	if (!val)
		return 0;
	err = gw_parse_duration_ms(val, out);
	if (err == -ERANGE) {
		gw_cv_err(v, path, "\"%s\" is too long a duration", val);
		*out = dflt;
		return err;
	}
	if (err) {
		gw_cv_err(v, path, "\"%s\" is not a duration (a whole number with ms, s, m or h, like \"30s\")",
			  val);
		*out = dflt;
		return err;
	}
	if (nonzero && !*out) {
		gw_cv_err(v, path, "must be greater than 0");
		*out = dflt;
		return -EINVAL;
	}
	return 0;
}

int gw_cv_uint(struct gw_cv_ctx *v, const char *path, const char *val, unsigned int dflt,
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
		gw_cv_err(v, path, "\"%s\" is not a whole number from %u to %u", val, min, max);
		return -EINVAL;
	}
	*out = (unsigned int)x;
	return 0;
}

void gw_cv_per_identity(struct gw_cv_ctx *v, const char *path, const char *connections,
			const char *rate, const char *burst, struct gw_idl_limits *out)
{
	char *end;

	memset(out, 0, sizeof(*out));
	if (!connections && !rate) {
		gw_cv_err(v, path, "set connections, rate or both (or leave per_identity out)");
		return;
	}
	if (connections)
		gw_cv_uint(v, gw_kp(path, "connections").s, connections, 0, 1, 1000000,
			   &out->connections);
	if (rate) {
		errno = 0;
		out->rate = strtod(rate, &end);
		if (!isdigit((unsigned char)rate[0]) || *end || errno || !(out->rate > 0) ||
		    out->rate > 1000000) {
			gw_cv_err(v, gw_kp(path, "rate").s,
				  "\"%s\" is not a number of new connections per second from 0 to 1000000 (10, 0.5)",
				  rate);
			out->rate = 0;
		}
	}
	if (burst && !rate)
		gw_cv_err(v, gw_kp(path, "burst").s, "burst goes with rate");
	/* Default: a second's worth, at least one. */
	gw_cv_uint(v, gw_kp(path, "burst").s, burst,
		   out->rate < 1 ? 1 : (unsigned int)(out->rate + 0.999999), 1, 1000000, &out->burst);
}

/*
 * "IPv4:port" or "[IPv6]:port", numeric, port 1..65535. On error, say which
 * part is wrong.
 */
int gw_cv_sockaddr(struct gw_cv_ctx *v, const char *path, const char *val,
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
		gw_cv_err(v, path, "\"%s\": port 0 is not allowed; use a port from 1 to 65535", val);
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
		gw_cv_err(v, path, "\"%s\" is not \"IPv4:port\" or \"[IPv6]:port\"", val);
		return -EINVAL;
	}
	memcpy(h, host, (size_t)(end - host));
	h[end - host] = '\0';
	if (inet_pton(v6 ? AF_INET6 : AF_INET, h, buf) != 1) {
		if (v6)
			gw_cv_err(v, path, "\"%s\": \"%s\" is not a numeric IPv6 address", val, h);
		else
			gw_cv_err(v, path, "\"%s\": \"%s\" is not a numeric IPv4 address (write IPv6 as \"[addr]:port\")",
				  val, h);
		return -EINVAL;
	}
	errno = 0;
	if (isdigit((unsigned char)port[0]))
		p = strtoul(port, &pend, 10);
	if (!isdigit((unsigned char)port[0]) || *pend || errno || !p || p > 65535)
		gw_cv_err(v, path, "\"%s\": port \"%s\" is not a number from 1 to 65535", val, port);
	else
		gw_cv_err(v, path, "\"%s\" is not \"IPv4:port\" or \"[IPv6]:port\"", val);
	return -EINVAL;
}

/* val made absolute against the config file's directory; NULL on OOM. */
char *gw_cv_abspath(struct gw_cv_ctx *v, const char *val)
{
	char *abs;

	if (val[0] == '/')
		return gw_cv_strdup(v, val);
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
char *gw_cv_file(struct gw_cv_ctx *v, const char *keypath, const char *val, bool private_key)
{
	struct stat st;
	char *abs;
	int fd;

	if (!val[0]) {
		gw_cv_err(v, keypath, "empty path");
		return NULL;
	}
	abs = gw_cv_abspath(v, val);
	if (!abs)
		return NULL;
	/* O_NONBLOCK: a FIFO in the wrong place must not hang the load. */
	fd = open(abs, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		gw_cv_err(v, keypath, "\"%s\": %s", abs, strerror(errno));
		goto out_free;
	}
	if (fstat(fd, &st)) {
		gw_cv_err(v, keypath, "\"%s\": %s", abs, strerror(errno));
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		gw_cv_err(v, keypath, "\"%s\" is not a regular file", abs);
		goto out_close;
	}
	if (private_key && (st.st_mode & 077)) {
		gw_cv_err(v, keypath, "\"%s\" is readable by group or other (mode %04o); chmod 600 it",
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

char **gw_cv_strlist(struct gw_cv_ctx *v, char **src, unsigned int n)
{
	char **dst = gw_cv_calloc(v, n, sizeof(*dst));
	unsigned int i;

	if (!dst)
		return NULL;
	for (i = 0; i < n; i++)
		dst[i] = gw_cv_strdup(v, src[i]);
	return dst;
}

/*
 * A SHA-256 fingerprint: 64 hex digits, either run together or as 32
 * colon-separated pairs ("AB:CD:..."), any case. 0 or -EINVAL.
 */
int gw_cv_fingerprint(const char *s, unsigned char out[32])
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
		int hi = gw_hexval((unsigned char)p[0]), lo = gw_hexval((unsigned char)p[1]);

		if (hi < 0 || lo < 0 || (step == 3 && i < 31 && p[2] != ':'))
			return -EINVAL;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

bool gw_cv_valid_name(const char *s)
{
	size_t n = strlen(s), i;

	if (!n || n > 64)
		return false;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("_.-", s[i]))
			return false;
	return true;
}

bool gw_cv_valid_ifname(const char *s)
{
	size_t n = strlen(s), i;

	if (!n || n >= IFNAMSIZ || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (i = 0; i < n; i++)
		if (s[i] == '/' || s[i] == ':' || isspace((unsigned char)s[i]))
			return false;
	return true;
}


struct gw_kpath gw_kp(const char *prefix, const char *key)
{
	struct gw_kpath p;

	(void)gw_snprintf(p.s, sizeof(p.s), "%s%s%s", prefix, prefix[0] ? "." : "", key);
	return p;
}

struct gw_kpath gw_kpi(const char *prefix, const char *key, unsigned int i)
{
	struct gw_kpath p;

	(void)gw_snprintf(p.s, sizeof(p.s), "%s%s%s[%u]", prefix, prefix[0] ? "." : "", key, i);
	return p;
}

void gw_cv_cidrs(struct gw_cv_ctx *v, const char *path, char **raw, unsigned int n,
		 struct gw_cidr **out, unsigned int *n_out)
{
	char ep[GW_LM_PATH];
	unsigned int i;

	*out = gw_cv_calloc(v, n, sizeof(**out));
	*n_out = *out ? n : 0;
	for (i = 0; i < *n_out; i++)
		if (gw_cidr_parse(raw[i], &(*out)[i]))
			gw_cv_err(v, gw_snprintf(ep, sizeof(ep), "%s[%u]", path, i) ? path : ep,
				  "\"%s\" is not a CIDR prefix (like 10.0.0.0/8 or 2001:db8::/32, host bits zero)",
				  raw[i]);
}

void gw_cv_files(struct gw_cv_ctx *v, const char *path, char ***files, unsigned int *n,
		 unsigned int *line)
{
	const struct gw_lm_node *node = gw_lm_find(v->lm, path), *ent;
	char ep[GW_LM_PATH];
	unsigned int i, k = 0;

	*files = NULL;
	*n = 0;
	*line = node ? node->line : 0;
	if (!node)
		return;
	if (node->kind == GW_LM_MAP) {
		gw_cv_err(v, path, "expected a path or a list of paths, not a mapping");
		return;
	}
	if (node->kind == GW_LM_SCALAR) {
		k = 1;
	} else {
		while (!gw_snprintf(ep, sizeof(ep), "%s[%u]", path, k) && gw_lm_find(v->lm, ep))
			k++;
	}
	*files = gw_cv_calloc(v, k, sizeof(**files));
	if (!*files)
		return;
	*n = k;
	if (node->kind == GW_LM_SCALAR) {
		(*files)[0] = gw_cv_file(v, path, node->value, false);
		return;
	}
	for (i = 0; i < k; i++) {
		(void)gw_snprintf(ep, sizeof(ep), "%s[%u]", path, i);
		ent = gw_lm_find(v->lm, ep);
		if (ent->kind != GW_LM_SCALAR)
			gw_cv_err(v, ep, "expected a path, not %s", gw_lm_kind_name(ent->kind));
		else
			(*files)[i] = gw_cv_file(v, ep, ent->value, false);
	}
}

bool gw_cv_dns_name(const char *s, bool pattern)
{
	size_t i, label = 0;

	if (pattern && !strncmp(s, "*.", 2))
		s += 2;
	if (!*s || strlen(s) > 253)
		return false;
	for (i = 0; s[i]; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '.') {
			if (!label || s[i + 1] == '\0')
				return false;
			label = 0;
		} else if (isalnum(ch) || ch == '-' || ch == '_') {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
	return true;
}

char *gw_cv_tls_groups(struct gw_cv_ctx *v, const char *path, char **names, unsigned int n)
{
	char ep[GW_LM_PATH], *out;
	size_t len = 1;
	unsigned int i;
	SSL_CTX *ctx;
	bool ok = true;

	if (!n && !gw_lm_find(v->lm, path))
		return NULL;
	if (!n) {
		gw_cv_err(v, path, "empty list; omit the key for the default groups");
		return NULL;
	}
	ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		v->oom = true;
		return NULL;
	}
	for (i = 0; ok && i < n; i++) {
		(void)gw_snprintf(ep, sizeof(ep), "%s[%u]", path, i);
		ok = names[i][0] && !strchr(names[i], ':') &&
		     SSL_CTX_set1_groups_list(ctx, names[i]) == 1;
		if (!ok)
			gw_cv_err(v, ep, "\"%s\": not a key exchange group this OpenSSL (%s) knows",
				  names[i], OpenSSL_version(OPENSSL_VERSION));
		len += strlen(names[i]) + 1;
	}
	SSL_CTX_free(ctx);
	ERR_clear_error();
	if (!ok)
		return NULL;
	out = gw_cv_calloc(v, len, 1);
	for (i = 0; out && i < n; i++) {
		if (i)
			strcat(out, ":");
		strcat(out, names[i]);
	}
	return out;
}
