/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The configuration's libcyaml schema tables: which keys each mapping of
 * the YAML has, which are required, and where each lands in the raw
 * structs of config_schema.h; and the allocator libcyaml fills them with.
 */
#include <malloc.h>
#include <stdlib.h>

#include "config_schema.h"

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
	STR_OPT("CN", struct gw_raw_subject, CN),
	STR_OPT("O", struct gw_raw_subject, O),
	STR_OPT("OU", struct gw_raw_subject, OU),
	STR_OPT("C", struct gw_raw_subject, C),
	STR_OPT("ST", struct gw_raw_subject, ST),
	STR_OPT("L", struct gw_raw_subject, L),
	CYAML_FIELD_END
};

static const cyaml_schema_field_t rule_fields[] = {
	STR_REQ("name", struct gw_raw_rule, name),
	STR_LIST("spiffe_id", struct gw_raw_rule, spiffe_id),
	STR_LIST("san_dns", struct gw_raw_rule, san_dns),
	MAP_OPT("subject", struct gw_raw_rule, subject, subject_fields),
	STR_LIST("fingerprint_sha256", struct gw_raw_rule, fingerprint_sha256),
	CYAML_FIELD_END
};

static const cyaml_schema_value_t rule_value = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct gw_raw_rule, rule_fields),
};

static const cyaml_schema_field_t session_tickets_fields[] = {
	STR_OPT("key_file", struct gw_raw_session_tickets, key_file),
	STR_OPT("cache_size", struct gw_raw_session_tickets, cache_size),
	STR_OPT("lifetime", struct gw_raw_session_tickets, lifetime),
	CYAML_FIELD_END
};

static const cyaml_schema_field_t keypair_fields[] = {
	STR_REQ("cert", struct gw_raw_keypair, cert),
	STR_REQ("key", struct gw_raw_keypair, key),
	CYAML_FIELD_END
};

static const cyaml_schema_value_t keypair_value = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct gw_raw_keypair, keypair_fields),
};

/*
 * The server side's TLS keys, in tls (type struct gw_raw_tls) and in
 * metrics.tls (struct gw_raw_metrics_tls): cert + key, or certs
 * (config_tls.c says which is missing).
 */
#define SERVER_TLS_FIELDS(type)							\
	STR_OPT("cert", type, cert),						\
	STR_OPT("key", type, key),						\
	CYAML_FIELD_SEQUENCE("certs", CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL,	\
			     type, certs, &keypair_value, 0, CYAML_UNLIMITED),	\
	STR_OPT("client_ca", type, client_ca),					\
	CYAML_FIELD_IGNORE("crl", CYAML_FLAG_OPTIONAL),				\
	STR_OPT("crl_check", type, crl_check),					\
	STR_OPT("verify_depth", type, verify_depth),				\
	STR_OPT("min_version", type, min_version),				\
	STR_OPT("handshake_timeout", type, handshake_timeout)

static const cyaml_schema_field_t tls_fields[] = {
	SERVER_TLS_FIELDS(struct gw_raw_tls),
	STR_LIST("groups", struct gw_raw_tls, groups),
	MAP_OPT("session_tickets", struct gw_raw_tls, session_tickets, session_tickets_fields),
	CYAML_FIELD_END
};

static const cyaml_schema_field_t upstream_tls_fields[] = {
	STR_REQ("cert", struct gw_raw_upstream_tls, cert),
	STR_REQ("key", struct gw_raw_upstream_tls, key),
	STR_REQ("ca", struct gw_raw_upstream_tls, ca),
	CYAML_FIELD_IGNORE("crl", CYAML_FLAG_OPTIONAL),
	STR_OPT("crl_check", struct gw_raw_upstream_tls, crl_check),
	STR_OPT("min_version", struct gw_raw_upstream_tls, min_version),
	STR_OPT("server_name", struct gw_raw_upstream_tls, server_name),
	STR_OPT("verify_name", struct gw_raw_upstream_tls, verify_name),
	STR_OPT("verify_spiffe_id", struct gw_raw_upstream_tls, verify_spiffe_id),
	STR_OPT("session_reuse", struct gw_raw_upstream_tls, session_reuse),
	CYAML_FIELD_END
};

static const cyaml_schema_field_t upstream_fields[] = {
	STR_REQ("address", struct gw_raw_upstream, address),
	STR_OPT("proxy_protocol", struct gw_raw_upstream, proxy_protocol),
	STR_OPT("connect_timeout", struct gw_raw_upstream, connect_timeout),
	MAP_OPT("tls", struct gw_raw_upstream, tls, upstream_tls_fields),
	CYAML_FIELD_END
};

static const cyaml_schema_field_t per_identity_fields[] = {
	STR_OPT("connections", struct gw_raw_per_identity, connections),
	STR_OPT("rate", struct gw_raw_per_identity, rate),
	STR_OPT("burst", struct gw_raw_per_identity, burst),
	CYAML_FIELD_END
};

static const cyaml_schema_field_t limits_fields[] = {
	MAP_OPT("per_identity", struct gw_raw_limits, per_identity, per_identity_fields),
	CYAML_FIELD_END
};

/* routes[].tls: a route's own certificates and trust; the rest is the listener's. */
static const cyaml_schema_field_t route_tls_fields[] = {
	STR_OPT("cert", struct gw_raw_route_tls, cert),
	STR_OPT("key", struct gw_raw_route_tls, key),
	CYAML_FIELD_SEQUENCE("certs", CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL,
			     struct gw_raw_route_tls, certs, &keypair_value, 0, CYAML_UNLIMITED),
	STR_OPT("client_ca", struct gw_raw_route_tls, client_ca),
	CYAML_FIELD_IGNORE("crl", CYAML_FLAG_OPTIONAL),
	STR_OPT("crl_check", struct gw_raw_route_tls, crl_check),
	CYAML_FIELD_END
};

static const cyaml_schema_field_t route_fields[] = {
	STR_REQ("name", struct gw_raw_route, name),
	CYAML_FIELD_SEQUENCE("server_names", CYAML_FLAG_POINTER, struct gw_raw_route,
			     server_names, &string_value, 0, CYAML_UNLIMITED),
	MAP_OPT("tls", struct gw_raw_route, tls, route_tls_fields),
	CYAML_FIELD_SEQUENCE("authorize", CYAML_FLAG_POINTER, struct gw_raw_route,
			     authorize, &rule_value, 0, CYAML_UNLIMITED),
	CYAML_FIELD_MAPPING_PTR("upstream", CYAML_FLAG_POINTER, struct gw_raw_route,
				upstream, upstream_fields),
	STR_OPT("mode", struct gw_raw_route, mode),
	MAP_OPT("limits", struct gw_raw_route, limits, limits_fields),
	CYAML_FIELD_END
};

static const cyaml_schema_value_t route_value = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct gw_raw_route, route_fields),
};

static const cyaml_schema_field_t proxy_accept_fields[] = {
	STR_REQ("accept", struct gw_raw_proxy_accept, accept),
	STR_LIST("from", struct gw_raw_proxy_accept, from),
	CYAML_FIELD_END
};

static const cyaml_schema_field_t listener_fields[] = {
	STR_REQ("name", struct gw_raw_listener, name),
	STR_REQ("listen", struct gw_raw_listener, listen),
	STR_LIST("interfaces", struct gw_raw_listener, interfaces),
	STR_OPT("mode", struct gw_raw_listener, mode),
	STR_LIST("allow_sources", struct gw_raw_listener, allow_sources),
	MAP_OPT("proxy_protocol", struct gw_raw_listener, proxy_protocol, proxy_accept_fields),
	/* Required without routes (config.c); with them, the default route's. */
	MAP_OPT("tls", struct gw_raw_listener, tls, tls_fields),
	CYAML_FIELD_SEQUENCE("authorize", CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL,
			     struct gw_raw_listener, authorize, &rule_value, 0, CYAML_UNLIMITED),
	MAP_OPT("upstream", struct gw_raw_listener, upstream, upstream_fields),
	STR_OPT("max_connections", struct gw_raw_listener, max_connections),
	STR_OPT("max_handshakes", struct gw_raw_listener, max_handshakes),
	STR_OPT("max_connection_lifetime", struct gw_raw_listener, max_connection_lifetime),
	STR_OPT("idle_timeout", struct gw_raw_listener, idle_timeout),
	STR_OPT("close_on_expiry", struct gw_raw_listener, close_on_expiry),
	STR_LIST("steer", struct gw_raw_listener, steer),
	MAP_OPT("limits", struct gw_raw_listener, limits, limits_fields),
	CYAML_FIELD_SEQUENCE("routes", CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL,
			     struct gw_raw_listener, routes, &route_value, 0, CYAML_UNLIMITED),
	CYAML_FIELD_END
};

static const cyaml_schema_value_t listener_value = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct gw_raw_listener, listener_fields),
};

static const cyaml_schema_field_t log_fields[] = {
	STR_OPT("level", struct gw_raw_log, level),
	STR_OPT("audit", struct gw_raw_log, audit),
	STR_OPT("audit_failure", struct gw_raw_log, audit_failure),
	CYAML_FIELD_END
};

/* metrics.tls: tls without what only a listener has, and authorize. */
static const cyaml_schema_field_t metrics_tls_fields[] = {
	SERVER_TLS_FIELDS(struct gw_raw_metrics_tls),
	CYAML_FIELD_SEQUENCE("authorize", CYAML_FLAG_POINTER, struct gw_raw_metrics_tls,
			     authorize, &rule_value, 0, CYAML_UNLIMITED),
	CYAML_FIELD_END
};

static const cyaml_schema_field_t metrics_fields[] = {
	STR_OPT("listen", struct gw_raw_metrics, listen),
	MAP_OPT("tls", struct gw_raw_metrics, tls, metrics_tls_fields),
	CYAML_FIELD_END
};

static const cyaml_schema_field_t control_fields[] = {
	STR_OPT("socket", struct gw_raw_control, socket),
	CYAML_FIELD_END
};

static const cyaml_schema_field_t stage1_fields[] = {
	STR_OPT("attach", struct gw_raw_stage1, attach),
	STR_OPT("summary_interval", struct gw_raw_stage1, summary_interval),
	CYAML_FIELD_END
};

/* "listeners" may be empty here so that validation can say so in its words. */
static const cyaml_schema_field_t config_fields[] = {
	MAP_OPT("stage1", struct gw_raw_config, stage1, stage1_fields),
	MAP_OPT("log", struct gw_raw_config, log, log_fields),
	MAP_OPT("metrics", struct gw_raw_config, metrics, metrics_fields),
	MAP_OPT("control", struct gw_raw_config, control, control_fields),
	STR_OPT("user", struct gw_raw_config, user),
	STR_OPT("workers", struct gw_raw_config, workers),
	STR_OPT("datapath", struct gw_raw_config, datapath),
	STR_OPT("drain_timeout", struct gw_raw_config, drain_timeout),
	STR_OPT("reload_on_change", struct gw_raw_config, reload_on_change),
	STR_OPT("takeover", struct gw_raw_config, takeover),
	STR_OPT("bpf_pin_dir", struct gw_raw_config, bpf_pin_dir),
	CYAML_FIELD_SEQUENCE("listeners", CYAML_FLAG_POINTER, struct gw_raw_config,
			     listeners, &listener_value, 0, CYAML_UNLIMITED),
	CYAML_FIELD_END
};

const cyaml_schema_value_t gw_cfg_raw_schema = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_POINTER, struct gw_raw_config, config_fields),
};

/*
 * libcyaml's allocator. libcyaml grows a list by one entry at a time, a
 * realloc each, which copies the whole list every time the allocator
 * cannot extend the block in place: quadratic in the number of rules or
 * listeners. A block that must grow gets room to double instead.
 */
void *gw_cy_mem(void *ctx, void *ptr, size_t size)
{
	size_t have;

	(void)ctx;
	if (!size) {
		free(ptr);
		return NULL;
	}
	if (!ptr)
		return malloc(size);
	have = malloc_usable_size(ptr);
	if (size <= have)
		return ptr;
	return realloc(ptr, size / 2 < have ? 2 * have : size);
}
