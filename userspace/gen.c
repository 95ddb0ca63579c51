// SPDX-License-Identifier: GPL-2.0-only
/*
 * Configuration generations (gen.h): build one from the config file with
 * every worker's TLS contexts, count references, warn before server
 * certificates expire, and decide whether a live connection still passes
 * under a new generation. Only the main thread builds generations; any
 * worker may drop a reference.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/provider.h>

#include "addr.h"
#include "authz.h"
#include "gen.h"
#include "log.h"
#include "tls_files.h"

static void gen_free(struct gw_gen *gen)
{
	unsigned int i;

	if (!gen)
		return;
	for (i = 0; gen->tls && i < gen->n_workers * gen->cfg->n_listeners; i++)
		gw_tls_server_free(gen->tls[i]);
	free(gen->tls);
	gw_tls_server_free(gen->metrics_tls);
	gw_cfg_free(gen->cfg);
	free(gen);
}

struct gw_gen *gw_gen_get(struct gw_gen *gen)
{
	__atomic_fetch_add(&gen->refs, 1, __ATOMIC_RELAXED);
	return gen;
}

void gw_gen_put(struct gw_gen *gen)
{
	if (gen && !__atomic_sub_fetch(&gen->refs, 1, __ATOMIC_ACQ_REL))
		gen_free(gen);
}

/* CPUs this process may run on: "workers: auto". */
static unsigned int cpus_usable(void)
{
	cpu_set_t set;
	int n;

	if (sched_getaffinity(0, sizeof(set), &set))
		return 1;
	n = CPU_COUNT(&set);
	return n < 1 ? 1 : n > GW_MAX_WORKERS ? GW_MAX_WORKERS : (unsigned int)n;
}

/*
 * The OpenSSL library context of worker k's TLS contexts, for the life of
 * the process; NULL (the default one) while there is one worker. Threads
 * that share a library context contend for its locks on every handshake
 * (the name map read by the decoder set-up for each certificate's key
 * above all): measured with tests/bench/hs-scale.c in its cleanest
 * rounds, 2 threads on one context did 1.6 times the handshakes of one,
 * on their own contexts 1.95 times, as many as 2 processes.
 */
static OSSL_LIB_CTX *worker_libctx(unsigned int n_workers, unsigned int k)
{
	static OSSL_LIB_CTX *libctx[GW_MAX_WORKERS];

	if (n_workers == 1 || k >= GW_MAX_WORKERS)
		return NULL;
	/* Only the main thread builds generations. */
	if (!libctx[k]) {
		libctx[k] = OSSL_LIB_CTX_new();
		if (libctx[k] && !OSSL_PROVIDER_load(libctx[k], "default")) {
			OSSL_LIB_CTX_free(libctx[k]);
			libctx[k] = NULL;
		}
	}
	return libctx[k];
}

/*
 * Every worker's TLS contexts for listener i, with one session cache and
 * one verification cache, made of the files parsed once per build and
 * library context (files). Every worker's contexts are made of the same
 * bytes, so the first worker's warnings are the ones reported (the
 * others' would repeat them); any worker's errors are.
 */
static int gen_build_tls(struct gw_gen *gen, unsigned int i, struct gw_tls_files *files,
			 struct gw_diag *diag, struct gw_diag *warn)
{
	const struct gw_cfg_listener *lc = &gen->cfg->listeners[i];
	unsigned int n = gen->cfg->n_listeners, before = gw_diag_count(diag), k;
	struct gw_diag again = { 0 };
	int err = 0;

	for (k = 0; k < gen->n_workers && !err; k++) {
		OSSL_LIB_CTX *libctx = worker_libctx(gen->n_workers, k);
		struct gw_tls_server *ts;

		if (gen->n_workers > 1 && !libctx) {
			gw_diag_add(diag, "%s: worker %u: no OpenSSL library context", gen->cfg->path, k);
			err = -ENOMEM;
			break;
		}
		ts = gw_tls_server_new(gen->cfg, lc, libctx, files, diag, k ? &again : warn);
		gen->tls[k * n + i] = ts;
		if (!ts)
			err = -EINVAL;
		else if (k)
			gw_tls_server_share_caches(ts, gen->tls[i]);
	}
	gw_diag_free(&again);
	if (err && gw_diag_count(diag) == before)
		gw_diag_add(diag, "%s: listeners[%u]: cannot set up TLS context", gen->cfg->path, i);
	return err;
}

struct gw_gen *gw_gen_build(const char *path, unsigned int n_workers,
			    struct gw_diag *diag, struct gw_diag *warn)
{
	unsigned int before = gw_diag_count(diag), i;
	struct gw_tls_files *files = NULL;
	struct gw_gen *gen;

	gen = calloc(1, sizeof(*gen));
	if (!gen)
		return NULL;
	gen->refs = 1;
	gen->cfg = gw_cfg_load(path, diag);
	if (!gen->cfg)
		goto out_free;
	gen->n_workers = n_workers ?: gen->cfg->workers ?: cpus_usable();
	gen->tls = calloc((size_t)gen->n_workers * gen->cfg->n_listeners, sizeof(*gen->tls));
	/* Each file parsed once for this build; the next one reads them again. */
	files = gw_tls_files_new();
	if (!gen->tls || !files)
		goto out_free;
	for (i = 0; i < gen->cfg->n_listeners; i++)
		gen_build_tls(gen, i, files, diag, warn);
	/* The metrics endpoint runs in the primary worker (admin.h). */
	if (gen->cfg->metrics_tls) {
		gen->metrics_tls = gw_tls_server_new(gen->cfg, gen->cfg->metrics_tls,
						     worker_libctx(gen->n_workers, 0), files,
						     diag, warn);
		if (!gen->metrics_tls && gw_diag_count(diag) == before)
			gw_diag_add(diag, "%s: metrics.tls: cannot set up TLS context", path);
		else if (gen->metrics_tls)	/* no kTLS handoff there: no secrets kept */
			SSL_CTX_set_keylog_callback(gen->metrics_tls->ctx, NULL);
	}
	gw_tls_files_free(files);
	files = NULL;
	if (gw_diag_count(diag) != before)
		goto out_free;
	return gen;
out_free:
	gw_tls_files_free(files);
	if (gw_diag_count(diag) == before)
		gw_diag_add(diag, "%s: out of memory", path);
	gen_free(gen);
	return NULL;
}

int gw_gen_listener(const struct gw_gen *gen, const char *name)
{
	unsigned int i;

	for (i = 0; i < gen->cfg->n_listeners; i++)
		if (!strcmp(gen->cfg->listeners[i].name, name))
			return (int)i;
	return -1;
}

static bool same_str(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

static bool same_sessions(const struct gw_cfg_tls *a, const struct gw_cfg_tls *b)
{
	return !a->ticket_key_file && !b->ticket_key_file &&
	       same_str(a->client_ca, b->client_ca) && a->verify_depth == b->verify_depth &&
	       a->min_version == b->min_version &&
	       a->session_cache_size == b->session_cache_size &&
	       a->session_lifetime_ms == b->session_lifetime_ms;
}

/* ts keeps the sessions of its namesake in old (the listener's context) if they still apply. */
static void keep_sessions(struct gw_tls_server *ts, struct gw_tls_server *old)
{
	struct gw_tls_server *o = old ? gw_tls_server_route(old, ts->lc->route) : NULL;

	if (o && same_sessions(&ts->lc->tls, &o->lc->tls))
		gw_tls_server_adopt_sessions(ts, o);
}

void gw_gen_keep_sessions(struct gw_gen *gen, const struct gw_gen *old)
{
	unsigned int n = gen->cfg->n_listeners, n_old = old->cfg->n_listeners, i, k, r;

	if (gen->n_workers != old->n_workers)
		return;
	for (i = 0; i < n; i++) {
		int j = gw_gen_listener(old, gen->cfg->listeners[i].name);

		if (j < 0)
			continue;
		for (k = 0; k < gen->n_workers; k++) {
			struct gw_tls_server *ts = gen->tls[k * n + i];
			struct gw_tls_server *ots = old->tls[k * n_old + (unsigned int)j];

			keep_sessions(ts, ots);
			for (r = 0; r < ts->n_routes; r++)
				keep_sessions(ts->routes[r], ots);
		}
	}
}

static void check_expiry(struct gw_tls_server *ts, time_t now)
{
	const struct gw_cfg_listener *lc = ts->lc;
	time_t na = ts->server_not_after;
	long hours = (long)((na - now) / 3600);
	const char *cert;
	char route[96] = "";

	if (!na || !lc->tls.n_certs)
		return;
	cert = lc->tls.certs[ts->server_soonest].cert;
	if (lc->route)
		gw_snprintf(route, sizeof(route), " route \"%s\"", lc->route);
	if (na - now <= 24 * 3600 && !(ts->expiry_warned & 2)) {
		ts->expiry_warned |= 3;
		pr_warn("listener \"%s\"%s: server certificate \"%s\" expires in %ld h%s",
			lc->name, route, cert, hours, na <= now ? " (already expired)" : "; rotate it now");
	} else if (na - now <= 72 * 3600 && !(ts->expiry_warned & 1)) {
		ts->expiry_warned |= 1;
		pr_warn("listener \"%s\"%s: server certificate \"%s\" expires in %ld h",
			lc->name, route, cert, hours);
	}
}

void gw_gen_check_expiry(struct gw_gen *gen)
{
	time_t now = time(NULL);
	unsigned int i, r;

	for (i = 0; i < gen->cfg->n_listeners; i++) {
		struct gw_tls_server *ts = gw_gen_tls(gen, 0, i);

		check_expiry(ts, now);
		for (r = 0; r < ts->n_routes; r++)
			check_expiry(ts->routes[r], now);
	}
}

const char *gw_gen_recheck(const struct gw_cfg_listener *lc, int revoked,
			   const struct sockaddr *src, const struct gw_identity *id)
{
	if (!lc)
		return NULL;
	if (revoked >= 0)
		return revoked == 0 ? "revoked" : "issuer_revoked";
	if (lc->mode != GW_MODE_ENFORCE)
		return NULL;
	if (!lc->allow_any && !gw_cidr_match_any(lc->allow_sources, lc->n_allow_sources, src))
		return "source_denied";
	if (id && gw_authz_decide(lc->rules, lc->n_rules, id) == GW_AUTHZ_NO_MATCH)
		return "not_authorized";
	return NULL;
}
