// SPDX-License-Identifier: GPL-2.0-only
/*
 * Fuzz target: Stage 2 authorization (authz.c), with both the rules and
 * the identity taken from the input, checked against a plain model of
 * what authz.h promises.
 *
 * The input is text, one item per line (the seeds read as rule files):
 *   s PATTERN     rule: spiffe_id pattern      -    the next rule starts
 *   d PATTERN     rule: san_dns pattern        =    the identity follows
 *   n KEY=VALUE   rule: subject (CN O OU C ST L)
 *   f HEX         rule: fingerprint_sha256 (up to 64 hex digits)
 * and after "=":
 *   i ID          the SPIFFE ID (also a URI SAN)
 *   u URI         a URI SAN                    d NAME   a DNS SAN
 *   a KEY=VALUE   a subject attribute          f HEX    the fingerprint
 * Other lines are ignored.
 *
 * The model: '*' matches one or more characters within one segment; the
 * segment counts must be equal; empty pattern or ID never matches; DNS
 * is ASCII case-insensitive, SPIFFE exact. A rule matches when it has a
 * criterion and every criterion it has holds (any entry of a list; every
 * subject key present with that exact value); the decision is the first
 * matching rule, or GW_AUTHZ_NO_MATCH. The glob model is a dynamic
 * program, apart from authz.c's backtracking matcher, so both must agree
 * on every pattern and name.
 */
#include "fuzz.h"
#include "authz.h"
#include "config.h"

#define MAX_RULES 16
#define MAX_ITEMS 8
#define MAX_TEXT 1024		/* bounds the model's quadratic work */

FZ_NO_COVERAGE static bool ascii_eq(char a, char b, bool icase)
{
	if (icase) {
		if (a >= 'A' && a <= 'Z')
			a = (char)(a - 'A' + 'a');
		if (b >= 'A' && b <= 'Z')
			b = (char)(b - 'A' + 'a');
	}
	return a == b;
}

/* m[j]: p[0..i) matches s[0..j); row by row over the pattern. */
FZ_NO_COVERAGE static bool model_glob(const char *p, size_t plen, const char *s, size_t slen, bool icase)
{
	bool m[MAX_TEXT + 1], diag, prev;
	size_t i, j;

	m[0] = true;
	for (j = 1; j <= slen; j++)
		m[j] = false;
	for (i = 1; i <= plen; i++) {
		diag = m[0];
		m[0] = false;
		for (j = 1; j <= slen; j++) {
			prev = m[j];
			if (p[i - 1] == '*')	/* take s[j-1] first, or once more */
				m[j] = diag || m[j - 1];
			else
				m[j] = diag && ascii_eq(p[i - 1], s[j - 1], icase);
			diag = prev;
		}
	}
	return m[slen];
}

FZ_NO_COVERAGE static bool model_match(const char *pat, const char *id, char sep, bool icase)
{
	const char *pe, *ie;

	if (!*pat || !*id)
		return false;
	for (;;) {
		pe = strchrnul(pat, sep);
		ie = strchrnul(id, sep);
		if (!model_glob(pat, (size_t)(pe - pat), id, (size_t)(ie - id), icase))
			return false;
		if (!*pe || !*ie)
			return !*pe && !*ie;
		pat = pe + 1;
		id = ie + 1;
	}
}

FZ_NO_COVERAGE static bool model_has_attr(const struct gw_identity *id, const char *key, const char *val)
{
	unsigned int i;

	for (i = 0; i < id->n_subject_attrs; i++)
		if (!strcmp(id->subject_attrs[i].key, key) && !strcmp(id->subject_attrs[i].value, val))
			return true;
	return false;
}

FZ_NO_COVERAGE static bool model_rule(const struct gw_authz_rule *r, const struct gw_identity *id)
{
	const struct gw_subject_match *m = &r->subject;
	const char *keys[] = { "CN", "O", "OU", "C", "ST", "L" };
	const char *want[] = { m->CN, m->O, m->OU, m->C, m->ST, m->L };
	bool any = false, ok;
	unsigned int i, j;

	if (r->n_spiffe_id) {
		any = true;
		for (ok = false, i = 0; id->spiffe_id && i < r->n_spiffe_id; i++)
			ok = ok || model_match(r->spiffe_id[i], id->spiffe_id, '/', false);
		if (!ok)
			return false;
	}
	if (r->n_san_dns) {
		any = true;
		for (ok = false, i = 0; i < r->n_san_dns; i++)
			for (j = 0; j < id->n_san_dns; j++)
				ok = ok || model_match(r->san_dns[i], id->san_dns[j], '.', true);
		if (!ok)
			return false;
	}
	for (i = 0; i < 6; i++) {
		if (!want[i])
			continue;
		any = true;
		if (!model_has_attr(id, keys[i], want[i]))
			return false;
	}
	if (r->n_fingerprint_sha256) {
		any = true;
		for (ok = false, i = 0; i < r->n_fingerprint_sha256; i++)
			ok = ok || !memcmp(r->fingerprint_sha256[i], id->sha256, 32);
		if (!ok)
			return false;
	}
	return any;
}

static void hex32(const char *s, unsigned char out[32])
{
	unsigned int i, v;

	memset(out, 0, 32);
	for (i = 0; i < 64 && s[i]; i++) {
		char c = s[i];

		v = c >= '0' && c <= '9' ? (unsigned int)(c - '0') :
		    c >= 'a' && c <= 'f' ? (unsigned int)(c - 'a' + 10) :
		    c >= 'A' && c <= 'F' ? (unsigned int)(c - 'A' + 10) : 0;
		out[i / 2] |= (unsigned char)(v << (i % 2 ? 0 : 4));
	}
}

static void push(char ***v, unsigned int *n, const char *s)
{
	if (*n == MAX_ITEMS)
		return;
	*v = realloc(*v, (*n + 1) * sizeof(**v));
	if (!*v || !((*v)[*n] = strdup(s)))
		abort();
	(*n)++;
}

/* "KEY=VALUE" under rule subject m: the first value for a key counts. */
static void set_subject(struct gw_subject_match *m, const char *kv)
{
	const char *eq = strchr(kv, '=');
	char **slot = NULL;
	size_t k;

	if (!eq)
		return;
	k = (size_t)(eq - kv);
	if (k == 2 && !strncmp(kv, "CN", 2))
		slot = &m->CN;
	else if (k == 1 && kv[0] == 'O')
		slot = &m->O;
	else if (k == 2 && !strncmp(kv, "OU", 2))
		slot = &m->OU;
	else if (k == 1 && kv[0] == 'C')
		slot = &m->C;
	else if (k == 2 && !strncmp(kv, "ST", 2))
		slot = &m->ST;
	else if (k == 1 && kv[0] == 'L')
		slot = &m->L;
	if (slot && !*slot && !(*slot = strdup(eq + 1)))
		abort();
}

static void add_attr(struct gw_identity *id, const char *kv)
{
	const char *eq = strchr(kv, '=');
	struct gw_name_attr *a;

	if (!eq || id->n_subject_attrs == MAX_ITEMS)
		return;
	id->subject_attrs = realloc(id->subject_attrs,
				    (id->n_subject_attrs + 1) * sizeof(*id->subject_attrs));
	if (!id->subject_attrs)
		abort();
	a = &id->subject_attrs[id->n_subject_attrs++];
	a->key = strndup(kv, (size_t)(eq - kv));
	a->value = strdup(eq + 1);
	if (!a->key || !a->value)
		abort();
}

/* Every pattern of the rules against every name of the identity, both ways. */
FZ_NO_COVERAGE static void check_globs(const struct gw_authz_rule *rules, unsigned int n,
			const struct gw_identity *id)
{
	unsigned int i, j, k;

	for (i = 0; i < n; i++) {
		for (j = 0; j < rules[i].n_spiffe_id + rules[i].n_san_dns; j++) {
			const char *p = j < rules[i].n_spiffe_id ? rules[i].spiffe_id[j] :
					rules[i].san_dns[j - rules[i].n_spiffe_id];

			for (k = 0; k < id->n_san_uri + id->n_san_dns; k++) {
				const char *s = k < id->n_san_uri ? id->san_uri[k] :
						id->san_dns[k - id->n_san_uri];

				FZ_CHECK(gw_authz_spiffe_match(p, s) == model_match(p, s, '/', false));
				FZ_CHECK(gw_authz_dns_match(p, s) == model_match(p, s, '.', true));
			}
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gw_authz_rule rules[MAX_RULES] = { 0 };
	struct gw_identity id = { 0 };
	struct fz f = { data, size };
	unsigned int n = 1, i;
	bool ident = false;
	int want, got;
	char *line;

	if (size > MAX_TEXT)
		return -1;	/* not added to the corpus */
	while ((line = fz_line(&f))) {
		struct gw_authz_rule *r = &rules[n - 1];
		const char *v = line[0] && line[1] == ' ' ? line + 2 : NULL;

		if (!strcmp(line, "-") && !ident && n < MAX_RULES)
			n++;
		else if (!strcmp(line, "="))
			ident = true;
		else if (!v)
			;
		else if (!ident && line[0] == 's')
			push(&r->spiffe_id, &r->n_spiffe_id, v);
		else if (!ident && line[0] == 'd')
			push(&r->san_dns, &r->n_san_dns, v);
		else if (!ident && line[0] == 'n')
			set_subject(&r->subject, v);
		else if (!ident && line[0] == 'f' && r->n_fingerprint_sha256 < MAX_ITEMS) {
			r->fingerprint_sha256 = realloc(r->fingerprint_sha256,
							(r->n_fingerprint_sha256 + 1) * 32);
			if (!r->fingerprint_sha256)
				abort();
			hex32(v, r->fingerprint_sha256[r->n_fingerprint_sha256++]);
		} else if (ident && line[0] == 'i' && !id.spiffe_id && id.n_san_uri < MAX_ITEMS) {
			push(&id.san_uri, &id.n_san_uri, v);
			id.spiffe_id = id.san_uri[id.n_san_uri - 1];
		} else if (ident && line[0] == 'u')
			push(&id.san_uri, &id.n_san_uri, v);
		else if (ident && line[0] == 'd')
			push(&id.san_dns, &id.n_san_dns, v);
		else if (ident && line[0] == 'a')
			add_attr(&id, v);
		else if (ident && line[0] == 'f')
			hex32(v, id.sha256);
		free(line);
	}

	check_globs(rules, n, &id);
	want = GW_AUTHZ_NO_MATCH;
	for (i = 0; i < n; i++) {
		bool m = model_rule(&rules[i], &id);

		FZ_CHECK(gw_authz_rule_matches(&rules[i], &id) == m);
		if (m && want == GW_AUTHZ_NO_MATCH)
			want = (int)i;
	}
	got = gw_authz_decide(rules, n, &id);
	FZ_CHECK(got == want);
	FZ_CHECK(gw_authz_decide(rules, 0, &id) == GW_AUTHZ_NO_MATCH);
	FZ_CHECK(gw_authz_decide(NULL, n, &id) == GW_AUTHZ_NO_MATCH);
	FZ_CHECK(gw_authz_decide(rules, n, NULL) == GW_AUTHZ_NO_MATCH);

	for (i = 0; i < n; i++)
		gw_cfg_rule_free(&rules[i]);
	for (i = 0; i < id.n_subject_attrs; i++) {
		free(id.subject_attrs[i].key);
		free(id.subject_attrs[i].value);
	}
	free(id.subject_attrs);
	for (i = 0; i < id.n_san_uri; i++)
		free(id.san_uri[i]);
	free(id.san_uri);
	for (i = 0; i < id.n_san_dns; i++)
		free(id.san_dns[i]);
	free(id.san_dns);
	return 0;
}
