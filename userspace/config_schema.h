/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The configuration's libcyaml schema (internal to config*.c): the "raw"
 * structs that mirror the YAML and the schema that loads a file into them.
 *
 * The schema checks only the shape: unknown keys, required keys, and a
 * single value vs a list vs a mapping. Every single value is loaded as a
 * string so that validation (config_validate.c) can say exactly what is
 * wrong with it. tls.crl, which may be a single path or a list of paths, is
 * skipped by the schema; validation reads it from the line map.
 *
 * Depends on libcyaml only.
 */
#ifndef GW_CONFIG_SCHEMA_H
#define GW_CONFIG_SCHEMA_H

#include <cyaml/cyaml.h>

struct gw_raw_subject {
	char *CN, *O, *OU, *C, *ST, *L;
};

struct gw_raw_rule {
	char *name;
	char **spiffe_id;
	unsigned int spiffe_id_count;
	char **san_dns;
	unsigned int san_dns_count;
	struct gw_raw_subject *subject;
	char **fingerprint_sha256;
	unsigned int fingerprint_sha256_count;
};

struct gw_raw_session_tickets {
	char *key_file, *cache_size, *lifetime;
};

/* One of tls.certs: a chain and its key. */
struct gw_raw_keypair {
	char *cert, *key;
};

/* tls.crl is not here: the schema skips it, validation reads the walk. */
struct gw_raw_tls {
	char *cert, *key, *client_ca;
	struct gw_raw_keypair *certs;
	unsigned int certs_count;
	char *crl_check, *verify_depth, *min_version, *handshake_timeout;
	char **groups;
	unsigned int groups_count;
	struct gw_raw_session_tickets *session_tickets;
};

/* upstream.tls.crl is not here either. */
struct gw_raw_upstream_tls {
	char *cert, *key, *ca, *server_name;
	char *crl_check, *min_version, *verify_name, *verify_spiffe_id, *session_reuse;
};

struct gw_raw_upstream {
	char *address, *proxy_protocol, *connect_timeout;
	struct gw_raw_upstream_tls *tls;
};

struct gw_raw_per_identity {
	char *connections, *rate, *burst;
};

struct gw_raw_limits {
	struct gw_raw_per_identity *per_identity;
};

struct gw_raw_proxy_accept {
	char *accept;
	char **from;
	unsigned int from_count;
};

/* routes[].tls: what a route sets for itself (tls.crl again from the line map). */
struct gw_raw_route_tls {
	char *cert, *key, *client_ca, *crl_check;
	struct gw_raw_keypair *certs;
	unsigned int certs_count;
};

struct gw_raw_route {
	char *name, *mode;
	char **server_names;
	unsigned int server_names_count;
	struct gw_raw_route_tls *tls;
	struct gw_raw_rule *authorize;
	unsigned int authorize_count;
	struct gw_raw_upstream *upstream;
	struct gw_raw_limits *limits;
};

struct gw_raw_listener {
	char *name, *listen;
	char **interfaces;
	unsigned int interfaces_count;
	char *mode;
	char **allow_sources;
	unsigned int allow_sources_count;
	struct gw_raw_proxy_accept *proxy_protocol;
	struct gw_raw_tls *tls;
	struct gw_raw_rule *authorize;
	unsigned int authorize_count;
	struct gw_raw_upstream *upstream;
	char *max_connections, *max_handshakes;
	char *max_connection_lifetime, *close_on_expiry, *idle_timeout;
	char **steer;
	unsigned int steer_count;
	struct gw_raw_limits *limits;
	struct gw_raw_route *routes;
	unsigned int routes_count;
};

struct gw_raw_log {
	char *level, *audit, *audit_failure;
};

/* metrics.tls: a listener's tls keys that apply, and its rules. */
struct gw_raw_metrics_tls {
	char *cert, *key, *client_ca;
	struct gw_raw_keypair *certs;
	unsigned int certs_count;
	char *crl_check, *verify_depth, *min_version, *handshake_timeout;
	struct gw_raw_rule *authorize;
	unsigned int authorize_count;
};

struct gw_raw_metrics {
	char *listen;
	struct gw_raw_metrics_tls *tls;
};

struct gw_raw_control {
	char *socket;
};

struct gw_raw_stage1 {
	char *attach, *summary_interval;
};

struct gw_raw_config {
	struct gw_raw_stage1 *stage1;
	struct gw_raw_log *log;
	struct gw_raw_metrics *metrics;
	struct gw_raw_control *control;
	char *user, *workers, *datapath, *drain_timeout, *reload_on_change, *takeover, *bpf_pin_dir;
	struct gw_raw_listener *listeners;
	unsigned int listeners_count;
};

/* Loads a struct gw_raw_config (the top level: a mapping, by pointer). */
extern const cyaml_schema_value_t gw_cfg_raw_schema;

/* libcyaml's allocator (cyaml_config_t.mem_fn): lists grow by doubling. */
void *gw_cy_mem(void *ctx, void *ptr, size_t size);

#endif
