// SPDX-License-Identifier: GPL-2.0-only
/*
 * Prometheus metrics (metrics.h): counters, gauges and histograms keyed by
 * family and label text, rendered in the text exposition format; one lock.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "util.h"

enum family_type {
	COUNTER,
	GAUGE,
	HISTOGRAM,
};

struct series {
	char *labels;
	double value;			/* counter/gauge; histogram: sum */
	uint64_t count;			/* histogram */
	uint64_t *buckets;		/* histogram, cumulative at render */
	struct series *next;
};

struct family {
	const char *name;
	enum family_type type;
	const char *help;
	struct series *series;
};

/* Handshake durations: 100 us .. 5 s. */
static const double hs_buckets[] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5,
};

static struct family families[] = {
	{ "mtlsgw_handshakes_total", COUNTER,
	  "TLS handshakes by listener, result (ok, fail) and reason token" },
	{ "mtlsgw_verify_cache_total", COUNTER,
	  "Client chain verifications by listener and path: cached (leaf checks under an issuer path verified before) or full" },
	{ "mtlsgw_client_certs_parsed_total", COUNTER,
	  "Client certificates read in handshakes, by result: reused (the same certificate parsed before by this worker) or parsed" },
	{ "mtlsgw_tls_groups_total", COUNTER,
	  "Accepted client handshakes by listener and key exchange group (OpenSSL's name: x25519, secp256r1, X25519MLKEM768)" },
	{ "mtlsgw_upstream_handshakes_total", COUNTER,
	  "TLS handshakes with the backend (upstream.tls) by listener, result (ok, fail), reason token and session (full, resumed)" },
	{ "mtlsgw_handshake_duration_seconds", HISTOGRAM,
	  "Time from accept to the end of the handshake" },
	{ "mtlsgw_connections_active", GAUGE,
	  "Connections past the handshake, by listener and datapath" },
	{ "mtlsgw_bytes_total", COUNTER,
	  "Payload bytes forwarded, direction in (client to backend) or out" },
	{ "mtlsgw_stage1_packets_total", COUNTER,
	  "Packets seen by the Stage 1 eBPF program, by listener and verdict" },
	{ "mtlsgw_authz_decisions_total", COUNTER,
	  "Stage 2 authorization decisions by listener, rule and decision" },
	{ "mtlsgw_cert_not_after_timestamp_seconds", GAUGE,
	  "Expiry of the server certificate and the earliest trust anchor (kind server, ca), and with upstream.tls of the gateway's client certificate and the backend's earliest trust anchor (kind upstream, upstream_ca)" },
	{ "mtlsgw_crl_next_update_timestamp_seconds", GAUGE,
	  "nextUpdate of each loaded CRL file (earliest CRL in the file)" },
	{ "mtlsgw_reloads_total", COUNTER,
	  "Configuration reloads by result (ok, error)" },
	{ "mtlsgw_revoked_connections_closed_total", COUNTER,
	  "Live connections closed because a reload revoked or no longer authorized them" },
	{ "mtlsgw_connections_closed_total", COUNTER,
	  "Connections past the handshake that ended, by listener and reason token (as on conn_close)" },
	{ "mtlsgw_metrics_tls_handshakes_total", COUNTER,
	  "TLS handshakes on the metrics endpoint (metrics.tls) by result (ok, fail) and reason token" },
	{ "mtlsgw_identity_limited_total", COUNTER,
	  "Connections over listeners[].limits.per_identity, by listener and limit (connections, rate); refused in enforce mode" },
	{ "mtlsgw_identities_tracked", GAUGE,
	  "Client identities in a listener's per-identity limit table (live ones and up to 65536 idle)" },
	{ "mtlsgw_audit_write_errors_total", COUNTER,
	  "Audit log lines that could not be written (disk full, I/O error)" },
};

/* The workers' threads update the series; one lock, held briefly. */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;

static struct family *family_get(const char *name)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(families); i++)
		if (!strcmp(families[i].name, name))
			return &families[i];
	return NULL;
}

static struct series *series_get(struct family *f, const char *labels)
{
	struct series *s;

	for (s = f->series; s; s = s->next)
		if (!strcmp(s->labels, labels))
			return s;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->labels = strdup(labels);
	if (f->type == HISTOGRAM)
		s->buckets = calloc(ARRAY_SIZE(hs_buckets), sizeof(*s->buckets));
	if (!s->labels || (f->type == HISTOGRAM && !s->buckets)) {
		free(s->labels);
		free(s->buckets);
		free(s);
		return NULL;
	}
	s->next = f->series;
	f->series = s;
	return s;
}

int gw_metric_labels(char *buf, size_t len, ...)
{
	const char *k, *v;
	size_t o = 0;
	va_list ap;
	int err = 0;

	if (!len)
		return -ENOSPC;
	buf[0] = '\0';
	va_start(ap, len);
	while ((k = va_arg(ap, const char *))) {
		v = va_arg(ap, const char *);
		if (*k == '?' && !v)
			continue;
		if (*k == '?')
			k++;
		if (!v)
			v = "";
		if (o + strlen(k) + 4 >= len) {
			err = -ENOSPC;
			break;
		}
		o += sprintf(buf + o, "%s%s=\"", o ? "," : "", k);
		for (; *v; v++) {
			const char *esc = *v == '\\' ? "\\\\" : *v == '"' ? "\\\"" :
					  *v == '\n' ? "\\n" : NULL;
			size_t n = esc ? 2 : 1;

			if (o + n + 2 >= len) {
				err = -ENOSPC;
				goto out;
			}
			if (esc)
				memcpy(buf + o, esc, 2);
			else
				buf[o] = *v;
			o += n;
		}
		buf[o++] = '"';
		buf[o] = '\0';
	}
out:
	va_end(ap);
	return err;
}

void gw_metric_add(const char *family, const char *labels, double v)
{
	struct family *f = family_get(family);
	struct series *s;

	pthread_mutex_lock(&registry_lock);
	s = f ? series_get(f, labels) : NULL;
	if (s)
		s->value += v;
	pthread_mutex_unlock(&registry_lock);
}

void gw_metric_set(const char *family, const char *labels, double v)
{
	struct family *f = family_get(family);
	struct series *s;

	pthread_mutex_lock(&registry_lock);
	s = f ? series_get(f, labels) : NULL;
	if (s)
		s->value = v;
	pthread_mutex_unlock(&registry_lock);
}

void gw_metric_observe(const char *family, const char *labels, double v)
{
	struct family *f = family_get(family);
	struct series *s;
	unsigned int i;

	pthread_mutex_lock(&registry_lock);
	s = f && f->type == HISTOGRAM ? series_get(f, labels) : NULL;
	if (s) {
		s->value += v;
		s->count++;
		for (i = 0; i < ARRAY_SIZE(hs_buckets); i++)
			if (v <= hs_buckets[i]) {
				s->buckets[i]++;
				break;
			}
	}
	pthread_mutex_unlock(&registry_lock);
}

static void series_free(struct series *s)
{
	while (s) {
		struct series *n = s->next;

		free(s->labels);
		free(s->buckets);
		free(s);
		s = n;
	}
}

void gw_metric_reset(const char *family)
{
	struct family *f = family_get(family);

	if (!f)
		return;
	pthread_mutex_lock(&registry_lock);
	series_free(f->series);
	f->series = NULL;
	pthread_mutex_unlock(&registry_lock);
}

struct out {
	char *p;
	size_t len, cap;
	bool failed;
};

static void __attribute__((format(printf, 2, 3))) put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->failed = true;
			return;
		}
		if ((size_t)n < o->cap - o->len) {
			o->len += n;
			return;
		}
		o->cap = 2 * o->cap + n;
		o->p = realloc(o->p, o->cap);
		if (!o->p) {
			o->failed = true;
			return;
		}
	}
}

/* "name{labels}" or "name" when there are no labels, plus extra label. */
static void put_series(struct out *o, const char *name, const char *suffix,
		       const char *labels, const char *extra)
{
	bool any = labels[0] || extra;

	put(o, "%s%s%s%s%s%s%s", name, suffix, any ? "{" : "", labels,
	    labels[0] && extra ? "," : "", extra ? extra : "", any ? "}" : "");
}

char *gw_metrics_render(size_t *len)
{
	struct out o = { .cap = 8192 };
	unsigned int i, b;

	o.p = malloc(o.cap);
	if (!o.p)
		return NULL;
	o.p[0] = '\0';
	pthread_mutex_lock(&registry_lock);
	for (i = 0; i < ARRAY_SIZE(families); i++) {
		const struct family *f = &families[i];
		const struct series *s;

		put(&o, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
		    f->type == COUNTER ? "counter" : f->type == GAUGE ? "gauge" : "histogram");
		for (s = f->series; s; s = s->next) {
			uint64_t cum = 0;
			char le[48];

			if (f->type != HISTOGRAM) {
				put_series(&o, f->name, "", s->labels, NULL);
				put(&o, " %.17g\n", s->value);
				continue;
			}
			for (b = 0; b < ARRAY_SIZE(hs_buckets); b++) {
				cum += s->buckets[b];
				snprintf(le, sizeof(le), "le=\"%g\"", hs_buckets[b]);
				put_series(&o, f->name, "_bucket", s->labels, le);
				put(&o, " %llu\n", (unsigned long long)cum);
			}
			put_series(&o, f->name, "_bucket", s->labels, "le=\"+Inf\"");
			put(&o, " %llu\n", (unsigned long long)s->count);
			put_series(&o, f->name, "_sum", s->labels, NULL);
			put(&o, " %.17g\n", s->value);
			put_series(&o, f->name, "_count", s->labels, NULL);
			put(&o, " %llu\n", (unsigned long long)s->count);
		}
	}
	pthread_mutex_unlock(&registry_lock);
	if (o.failed) {
		free(o.p);
		return NULL;
	}
	*len = o.len;
	return o.p;
}

void gw_metrics_free(void)
{
	unsigned int i;

	pthread_mutex_lock(&registry_lock);
	for (i = 0; i < ARRAY_SIZE(families); i++) {
		series_free(families[i].series);
		families[i].series = NULL;
	}
	pthread_mutex_unlock(&registry_lock);
}
