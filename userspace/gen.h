/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Configuration generations: one loaded configuration and the TLS
 * contexts built from it, reference counted. Each worker holds the
 * current one, each connection the one it was accepted under, so a
 * reload never changes the policy objects under a live connection.
 */
#ifndef GW_GEN_H
#define GW_GEN_H

#include <stdint.h>
#include <sys/socket.h>

#include "config.h"
#include "identity.h"
#include "tls.h"
#include "util.h"

struct gw_gen {
	uint64_t id;			/* set when it goes into service */
	struct gw_config *cfg;
	/*
	 * One TLS context per worker and listener, tls[worker * n_listeners
	 * + listener]: a worker's handshakes take no lock another worker
	 * holds (SSL_CTX, X509_STORE, the verification cache). The contexts
	 * of one listener share their session cache, so a session resumes on
	 * any worker.
	 */
	struct gw_tls_server **tls;
	struct gw_tls_server *metrics_tls;	/* metrics.tls, NULL = plain HTTP */
	unsigned int n_workers;
	unsigned int refs;		/* atomic: workers share generations */
};

/*
 * Load the configuration at path and build every listener's TLS state for
 * n_workers workers (0: as many as the configuration's "workers" says, or
 * one per usable CPU). NULL when anything is invalid, with the problems in
 * diag; warnings go to warn either way.
 */
struct gw_gen *gw_gen_build(const char *path, unsigned int n_workers,
			    struct gw_diag *diag, struct gw_diag *warn);
struct gw_gen *gw_gen_get(struct gw_gen *gen);
void gw_gen_put(struct gw_gen *gen);

static inline const struct gw_config *gw_gen_config(const struct gw_gen *gen)
{
	return gen->cfg;
}

static inline struct gw_tls_server *gw_gen_tls(const struct gw_gen *gen,
					       unsigned int worker, unsigned int i)
{
	return gen->tls[worker * gen->cfg->n_listeners + i];
}

/* The index of the listener named name in gen, or -1. */
int gw_gen_listener(const struct gw_gen *gen, const char *name);

/*
 * A reload keeps the local session cache of each listener of gen whose
 * namesake in old has the same trust settings (client_ca, verify_depth,
 * min_version) and cache settings, neither with a ticket key file: its
 * clients keep resuming. Each resumed client is checked again under gen's
 * CRLs and rules (tls.c), so nothing old is trusted blindly. Before gen
 * goes into service.
 */
void gw_gen_keep_sessions(struct gw_gen *gen, const struct gw_gen *old);

/* Warn once at 72 h and once at 24 h before a server certificate expires. */
void gw_gen_check_expiry(struct gw_gen *gen);

/*
 * Would listener lc (NULL: the listener is gone) still let a live
 * connection through? revoked is gw_tls_revoked()'s answer for its chain
 * (-1: not revoked, 0: the leaf, > 0: an issuer). Returns the audit
 * reason to close it, or NULL. A revoked certificate closes it in any
 * mode; source and rule changes only in enforce mode; a connection of a
 * removed listener finishes under its old policy.
 */
const char *gw_gen_recheck(const struct gw_cfg_listener *lc, int revoked,
			   const struct sockaddr *src, const struct gw_identity *id);

#endif
