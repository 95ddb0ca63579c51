/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The two TLS sections of a listener, validated (config_tls.c): tls (the
 * server side, its session resumption) and upstream.tls (the client side
 * towards the backend). Their types, and step 3 of config.c for those
 * keys.
 */
#ifndef GW_CONFIG_TLS_H
#define GW_CONFIG_TLS_H

#include <stdbool.h>
#include <stdint.h>

#include "config_schema.h"
#include "config_values.h"

enum gw_crl_check {
	GW_CRL_CHAIN,
	GW_CRL_LEAF,
	GW_CRL_OFF,
};

struct gw_cfg_pos {
	unsigned int line;	/* 1-based; 0 = unknown */
};

/* How long a session resumes: tls.session_tickets.lifetime's default (ms). */
#define GW_CFG_SESSION_LIFETIME_MS 3600000
/*
 * Sessions kept per listener (sesscache.h), about 1 KiB each besides the
 * certificates they share: two per connection, each resumes once.
 * tls.session_tickets.cache_size's default.
 */
#define GW_CFG_SESSION_CACHE 20000

/*
 * Server certificates a listener may hold: OpenSSL keeps one per key type
 * (RSA, RSA-PSS, ECDSA, Ed25519, Ed448), so more could never be served.
 */
#define GW_CFG_MAX_CERTS 5

/* One server certificate: leaf + intermediates (PEM) and its PEM key. */
struct gw_cfg_keypair {
	char *cert;
	char *key;
	struct gw_cfg_pos pos_cert, pos_key;
	char key_cert[24], key_key[24];	/* their keys' names: "cert", "certs[1].key" */
};

struct gw_cfg_tls {
	/*
	 * tls.cert + tls.key (certs[0]) or tls.certs; OpenSSL picks one per
	 * handshake from the client's signature algorithms.
	 */
	struct gw_cfg_keypair *certs;
	unsigned int n_certs;
	char *client_ca;		/* PEM, one or more trust anchors */
	char **crl;			/* PEM or DER CRL files */
	unsigned int n_crl;
	enum gw_crl_check crl_check;	/* default chain */
	unsigned int verify_depth;	/* default 3; 1..16 */
	int min_version;		/* TLS1_2_VERSION (default) or TLS1_3_VERSION */
	uint64_t handshake_timeout_ms;	/* default 5000 */
	char *groups;			/* key exchange groups "a:b", NULL = gw_tls_default_groups */
	/* tls.session_tickets */
	char *ticket_key_file;		/* NULL = sessions in the local cache */
	unsigned int session_cache_size;
	uint64_t session_lifetime_ms;
	struct gw_cfg_pos pos_client_ca, pos_crl, pos_ticket_key;
};

/*
 * Mutual TLS to the backend: the gateway is the client. The backend's
 * chain must verify to ca (and its CRLs) and its leaf match verify_name
 * and/or verify_spiffe_id; there is no way to skip that.
 */
struct gw_cfg_upstream_tls {
	char *cert;			/* the gateway's client chain, PEM */
	char *key;
	char *ca;			/* trust anchors for the backend's chain */
	char **crl;
	unsigned int n_crl;
	enum gw_crl_check crl_check;	/* default chain with crl files, else off */
	int min_version;		/* TLS1_2_VERSION (default) or TLS1_3_VERSION */
	char *server_name;		/* SNI sent, NULL = none */
	char *verify_name;		/* a DNS SAN: exact, or a "*." pattern */
	char *verify_spiffe_id;		/* a pattern, as authorize's spiffe_id */
	bool session_reuse;		/* offer the backend's last session, default true */
	struct gw_cfg_pos pos_cert, pos_key, pos_ca, pos_crl;
};


/*
 * tp: the key path of the listener's "tls" (t NULL: left out). Without
 * need_keys (a listener whose routes bring their own), cert, key and
 * client_ca may be left out.
 */
void gw_cfg_vtls(struct gw_cv_ctx *v, const char *tp, const struct gw_raw_tls *t,
		 bool need_keys, struct gw_cfg_tls *out);
/*
 * A route's tls at tp (t NULL: left out): l's (the listener's) with the
 * keys t sets instead. A crl of its own is checked (crl_check chain)
 * unless t says otherwise; without, the listener's crl and crl_check.
 */
void gw_cfg_vroute_tls(struct gw_cv_ctx *v, const char *tp, const struct gw_raw_route_tls *t,
		       const struct gw_cfg_tls *l, struct gw_cfg_tls *out);
/* utp: the key path of "upstream.tls"; t not NULL. */
void gw_cfg_vupstream_tls(struct gw_cv_ctx *v, const char *utp,
			  const struct gw_raw_upstream_tls *t, struct gw_cfg_upstream_tls *out);

#endif
