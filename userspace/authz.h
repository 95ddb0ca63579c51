/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Stage 2 authorization: an ordered list of rules per listener, first match
 * wins, no match denies. Pure functions over struct gw_identity.
 *
 * Within one rule every criterion that is set must match (AND); within a
 * list criterion (spiffe_id, san_dns, fingerprint_sha256) any entry may
 * match (OR). A rule with no criterion at all is rejected by the config
 * loader, so a rule never matches everything by accident.
 */
#ifndef GW_AUTHZ_H
#define GW_AUTHZ_H

#include <stdbool.h>
#include "identity.h"

/* Subject attributes a rule can require; NULL = not constrained. */
struct gw_subject_match {
	char *CN;
	char *O;
	char *OU;
	char *C;
	char *ST;
	char *L;
};

struct gw_authz_rule {
	char *name;
	char **spiffe_id;		/* patterns, see gw_authz_spiffe_match */
	unsigned int n_spiffe_id;
	char **san_dns;			/* patterns */
	unsigned int n_san_dns;
	struct gw_subject_match subject;
	unsigned char (*fingerprint_sha256)[32];
	unsigned int n_fingerprint_sha256;
};

/* The verdict when no rule matches. The one place the default lives. */
#define GW_AUTHZ_NO_MATCH (-1)

/*
 * Index of the first rule that matches id, or GW_AUTHZ_NO_MATCH.
 */
int gw_authz_decide(const struct gw_authz_rule *rules, unsigned int n,
		    const struct gw_identity *id);

bool gw_authz_rule_matches(const struct gw_authz_rule *rule,
			   const struct gw_identity *id);

/*
 * Glob match where '*' matches one or more characters inside one segment
 * (segments are split by '/' for SPIFFE IDs and '.' for DNS names), never
 * a separator. A trailing "/ *" (slash star) in a SPIFFE pattern therefore
 * matches one path segment, not a subtree. Everything else is literal;
 * DNS comparison is case-insensitive, SPIFFE IDs are compared exactly.
 */
bool gw_authz_spiffe_match(const char *pattern, const char *id);
bool gw_authz_dns_match(const char *pattern, const char *name);

#endif
