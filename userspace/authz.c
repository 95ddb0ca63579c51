// SPDX-License-Identifier: GPL-2.0-only
/*
 * Stage 2 authorization: pure functions from (rules, identity) to the index
 * of the first matching rule. Every helper answers "no" when in doubt: NULL
 * or empty inputs, a rule without criteria, a pattern that does not cover
 * the whole ID segment by segment.
 *
 * Matching is iterative and bounded by O(len(pattern) * len(id)) per call,
 * whatever a client puts in its certificate.
 */
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "authz.h"
#include "util.h"

static inline unsigned char ascii_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static inline bool char_eq(char a, char b, bool icase)
{
	if (icase)
		return ascii_lower((unsigned char)a) == ascii_lower((unsigned char)b);
	return a == b;
}

/*
 * Glob match of one segment (no separators in either side): '*' matches one
 * or more characters, everything else is literal. The classic two-pointer
 * algorithm with backtracking to the last star only; a star first takes one
 * character, then grows one character per backtrack.
 */
static bool segment_match(const char *p, size_t plen, const char *s, size_t slen,
			  bool icase)
{
	size_t pi = 0, si = 0, star_p = SIZE_MAX, star_s = 0;

	while (si < slen) {
		if (pi < plen && p[pi] == '*') {
			star_p = ++pi;
			star_s = ++si;
		} else if (pi < plen && char_eq(p[pi], s[si], icase)) {
			pi++;
			si++;
		} else if (star_p != SIZE_MAX) {
			pi = star_p;
			si = ++star_s;
		} else {
			return false;
		}
	}
	/* A star left over in the pattern would need at least one more char. */
	return pi == plen;
}

/*
 * Split both strings at sep and match segment i of the pattern against
 * segment i of the ID: the segment counts must be equal, so a pattern never
 * matches a longer or shorter ID, and empty segments must match literally.
 */
static bool segmented_match(const char *pattern, const char *id, char sep,
			    bool icase)
{
	const char *pe, *ie;

	if (!pattern || !id || !*pattern || !*id)
		return false;
	for (;;) {
		pe = strchrnul(pattern, sep);
		ie = strchrnul(id, sep);
		if (!segment_match(pattern, (size_t)(pe - pattern),
				   id, (size_t)(ie - id), icase))
			return false;
		if (!*pe || !*ie)
			return !*pe && !*ie;
		pattern = pe + 1;
		id = ie + 1;
	}
}

bool gw_authz_spiffe_match(const char *pattern, const char *id)
{
	return segmented_match(pattern, id, '/', false);
}

bool gw_authz_dns_match(const char *pattern, const char *name)
{
	return segmented_match(pattern, name, '.', true);
}

/* Does the identity carry a subject attribute key=want (exact compare)? */
static bool has_attr(const struct gw_identity *id, const char *key,
		     const char *want)
{
	unsigned int i;

	for (i = 0; i < id->n_subject_attrs; i++) {
		const struct gw_name_attr *a = &id->subject_attrs[i];

		if (a->key && a->value && !strcmp(a->key, key) &&
		    !strcmp(a->value, want))
			return true;
	}
	return false;
}

static bool subject_is_set(const struct gw_subject_match *m)
{
	return m->CN || m->O || m->OU || m->C || m->ST || m->L;
}

/* Every constrained field must be present with that value (multi-valued OK). */
static bool subject_matches(const struct gw_subject_match *m,
			    const struct gw_identity *id)
{
	const struct {
		const char *key;
		const char *want;
	} f[] = {
		{ "CN", m->CN }, { "O", m->O }, { "OU", m->OU },
		{ "C", m->C }, { "ST", m->ST }, { "L", m->L },
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(f); i++) {
		if (f[i].want && !has_attr(id, f[i].key, f[i].want))
			return false;
	}
	return true;
}

static bool spiffe_matches(const struct gw_authz_rule *rule,
			   const struct gw_identity *id)
{
	unsigned int i;

	if (!id->spiffe_id)
		return false;
	for (i = 0; i < rule->n_spiffe_id; i++) {
		if (gw_authz_spiffe_match(rule->spiffe_id[i], id->spiffe_id))
			return true;
	}
	return false;
}

static bool dns_matches(const struct gw_authz_rule *rule,
			const struct gw_identity *id)
{
	unsigned int i, j;

	for (i = 0; i < id->n_san_dns; i++) {
		for (j = 0; j < rule->n_san_dns; j++) {
			if (gw_authz_dns_match(rule->san_dns[j], id->san_dns[i]))
				return true;
		}
	}
	return false;
}

static bool fingerprint_matches(const struct gw_authz_rule *rule,
				const struct gw_identity *id)
{
	unsigned int i;

	for (i = 0; i < rule->n_fingerprint_sha256; i++) {
		if (!memcmp(rule->fingerprint_sha256[i], id->sha256,
			    sizeof(id->sha256)))
			return true;
	}
	return false;
}

/*
 * All criteria that are set must hold; a rule with none set matches
 * nothing (the config loader rejects it, this is the second line).
 */
bool gw_authz_rule_matches(const struct gw_authz_rule *rule,
			   const struct gw_identity *id)
{
	bool constrained = false;

	if (!rule || !id)
		return false;
	if (rule->n_spiffe_id) {
		constrained = true;
		if (!rule->spiffe_id || !spiffe_matches(rule, id))
			return false;
	}
	if (rule->n_san_dns) {
		constrained = true;
		if (!rule->san_dns || !dns_matches(rule, id))
			return false;
	}
	if (subject_is_set(&rule->subject)) {
		constrained = true;
		if (!subject_matches(&rule->subject, id))
			return false;
	}
	if (rule->n_fingerprint_sha256) {
		constrained = true;
		if (!rule->fingerprint_sha256 || !fingerprint_matches(rule, id))
			return false;
	}
	return constrained;
}

int gw_authz_decide(const struct gw_authz_rule *rules, unsigned int n,
		    const struct gw_identity *id)
{
	unsigned int i;

	if (!rules || !id)
		return GW_AUTHZ_NO_MATCH;
	for (i = 0; i < n && i <= INT_MAX; i++) {
		if (gw_authz_rule_matches(&rules[i], id))
			return (int)i;
	}
	return GW_AUTHZ_NO_MATCH;
}
