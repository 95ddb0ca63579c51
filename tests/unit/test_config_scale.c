// SPDX-License-Identifier: GPL-2.0-only
/*
 * config.c at scale: loading takes time in proportion to the file (ten
 * times the authorize rules, listeners or steered destinations take about
 * ten times as long, not a hundred), and a mistake in the last of thousands
 * of entries is still reported with its own key path and line.
 *
 * Times (CPU time) are only compared with each other, never with a fixed
 * bound, and each is the fastest of a few loads, so that a busy machine
 * does not fail the test.
 */
#include <ftw.h>
#include <limits.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "util.h"
#include "config.h"

/* A linear loader gives about 10, a quadratic one about 100. */
#define MAX_RATIO 30.0

FIXTURE(scale) {
	char dir[PATH_MAX];		/* real path of the test directory */
	char path[PATH_MAX + 16];	/* dir/mtlsgw.yaml */
	struct gw_config *cfg;
	struct gw_diag diag;
};

FIXTURE_SETUP(scale)
{
	static const struct {
		const char *name;
		mode_t mode;
	} files[] = {
		{ "cert.pem", 0644 },
		{ "key.pem", 0600 },
		{ "ca.pem", 0644 },
	};
	char tmpl[] = "/tmp/mtlsgw-test-config-scale.XXXXXX";
	unsigned int i;

	ASSERT_NOT_NULL(mkdtemp(tmpl));
	ASSERT_NOT_NULL(realpath(tmpl, self->dir));
	ASSERT_EQ(0, gw_snprintf(self->path, sizeof(self->path), "%s/mtlsgw.yaml", self->dir));
	for (i = 0; i < ARRAY_SIZE(files); i++) {
		char p[PATH_MAX + 64];
		FILE *f;

		ASSERT_EQ(0, gw_snprintf(p, sizeof(p), "%s/%s", self->dir, files[i].name));
		f = fopen(p, "w");
		ASSERT_NOT_NULL(f);
		fputs("dummy\n", f);
		fclose(f);
		ASSERT_EQ(0, chmod(p, files[i].mode));
	}
}

static int rm_entry(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(p);
}

FIXTURE_TEARDOWN(scale)
{
	gw_cfg_free(self->cfg);
	gw_diag_free(&self->diag);
	if (self->dir[0])
		nftw(self->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- generated configurations ---- */

/* A file written one line at a time, counting lines. */
struct gen {
	FILE *f;
	unsigned int line;		/* of the last line written */
};

/* Write one line (fmt without its "\n"); returns its line number. */
static unsigned int __attribute__((format(printf, 2, 3)))
emit(struct gen *g, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(g->f, fmt, ap);
	va_end(ap);
	fputc('\n', g->f);
	return ++g->line;
}

static void listener_head(struct gen *g, unsigned int i, bool tls_crl_check_off)
{
	emit(g, "  - name: l%u", i);
	emit(g, "    listen: \"127.0.0.1:%u\"", 10000 + i);
	emit(g, "    upstream:");
	emit(g, "      address: \"127.0.0.1:9000\"");
	emit(g, "    tls:");
	emit(g, "      cert: cert.pem");
	emit(g, "      key: key.pem");
	emit(g, "      client_ca: ca.pem");
	if (tls_crl_check_off)
		emit(g, "      crl_check: \"off\"");
}

/* What the last entry of a generated file gets wrong. */
enum mistake {
	FINE,
	VALUES,			/* values that validation refuses */
	DUP_KEY,		/* a key twice (the line map's walk refuses it) */
	UNKNOWN_KEY,		/* a key the schema lacks (libcyaml refuses it) */
};

/* Lines of the keys the mistakes are at. */
struct at {
	unsigned int a, b, c, d, e;
};

/* One listener with n authorize rules. */
static void write_rules(HARNESS_CTX, FIXTURE_DATA(scale) *self, unsigned int n,
			enum mistake m, struct at *at)
{
	struct gen g = { .f = fopen(self->path, "w") };
	unsigned int i;

	ASSERT_NOT_NULL(g.f);
	emit(&g, "listeners:");
	listener_head(&g, 0, true);
	emit(&g, "    authorize:");
	for (i = 0; i + 1 < n || (i + 1 == n && m == FINE); i++) {
		emit(&g, "      - name: r%u", i);
		emit(&g, "        spiffe_id: [\"spiffe://corp.test/svc/%u\"]", i);
	}
	switch (m) {
	case FINE:
		break;
	case VALUES:
		at->a = emit(&g, "      - name: r1");
		emit(&g, "        spiffe_id:");
		emit(&g, "          - \"spiffe://corp.test/ok\"");
		at->b = emit(&g, "          - \"corp.test/svc\"");
		break;
	case DUP_KEY:
		at->a = emit(&g, "      - name: last");
		emit(&g, "        spiffe_id: [\"spiffe://corp.test/last\"]");
		at->b = emit(&g, "        name: again");
		break;
	case UNKNOWN_KEY:
		emit(&g, "      - name: last");
		emit(&g, "        spiffe_id: [\"spiffe://corp.test/last\"]");
		at->a = emit(&g, "        issuer: CA");
		break;
	}
	ASSERT_EQ(0, fclose(g.f));
}

/* n listeners with one rule each. */
static void write_listeners(HARNESS_CTX, FIXTURE_DATA(scale) *self, unsigned int n,
			    enum mistake m, struct at *at)
{
	struct gen g = { .f = fopen(self->path, "w") };
	unsigned int i;

	ASSERT_NOT_NULL(g.f);
	emit(&g, "listeners:");
	for (i = 0; i + 1 < n || (i + 1 == n && m == FINE); i++) {
		listener_head(&g, i, true);
		emit(&g, "    authorize:");
		emit(&g, "      - name: r");
		emit(&g, "        spiffe_id: [\"spiffe://corp.test/svc\"]");
	}
	if (m == FINE)
		goto out;
	/*
	 * The last listener: the name of listeners[1], the address of
	 * listeners[0] (reported in that order: by the earlier listener), no
	 * crl_check (so the default needs a crl), a count out of range.
	 */
	at->a = emit(&g, "  - name: l1");
	at->b = emit(&g, "    listen: \"127.0.0.1:10000\"");
	emit(&g, "    upstream:");
	emit(&g, "      address: \"127.0.0.1:9000\"");
	at->c = emit(&g, "    tls:");
	emit(&g, "      cert: cert.pem");
	emit(&g, "      key: key.pem");
	emit(&g, "      client_ca: ca.pem");
	if (m == UNKNOWN_KEY)
		at->e = emit(&g, "      crl_checks: \"off\"");
	emit(&g, "    authorize:");
	emit(&g, "      - name: r");
	emit(&g, "        spiffe_id: [\"spiffe://corp.test/svc\"]");
	at->d = emit(&g, "    max_connections: 0");
out:
	ASSERT_EQ(0, fclose(g.f));
}

/* Destination x of listener i: 10.i.x/32, and an ancestor for the tests. */
static void steer_line(struct gen *g, unsigned int i, unsigned int x)
{
	if (!i && !x)
		emit(g, "      - 192.168.0.0/16:8000-8999");
	else
		emit(g, "      - 10.%u.%u.%u/32:443", i, x >> 8, x & 255);
}

/* n_listeners listeners with n steered destinations each. */
static void write_steer(HARNESS_CTX, FIXTURE_DATA(scale) *self, unsigned int n_listeners,
			unsigned int n, enum mistake m, struct at *at)
{
	struct gen g = { .f = fopen(self->path, "w") };
	unsigned int i, x;

	ASSERT_NOT_NULL(g.f);
	emit(&g, "listeners:");
	for (i = 0; i < n_listeners; i++) {
		bool last = i + 1 == n_listeners && m != FINE;

		listener_head(&g, i, true);
		emit(&g, "    authorize:");
		emit(&g, "      - name: r");
		emit(&g, "        spiffe_id: [\"spiffe://corp.test/svc\"]");
		emit(&g, "    steer:");
		for (x = 0; x < (last ? n - 4 : n); x++)
			steer_line(&g, i, x);
	}
	if (m == FINE)
		goto out;
	/*
	 * The last four of the last listener overlap, in turn: its own
	 * steer[0]; listeners[0].steer[0], a /16 holding it; listeners[1].steer[0]
	 * (a port range around 443); listeners[0].steer[2] and steer[3], which
	 * the /31 holds.
	 */
	at->a = emit(&g, "      - 10.%u.0.0/32:443-444", n_listeners - 1);
	at->b = emit(&g, "      - 192.168.7.7/32:8500");
	at->c = emit(&g, "      - 10.1.0.0/32:400-450");
	at->d = emit(&g, "      - 10.0.0.2/31:443");
out:
	ASSERT_EQ(0, fclose(g.f));
}

/* ---- timing ---- */

/*
 * CPU time of this process: the load runs on this thread alone, and other
 * work on a busy machine does not count against it as wall time would.
 */
static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Seconds (CPU) one load of path takes; it must load cleanly. */
static double load_time(HARNESS_CTX, FIXTURE_DATA(scale) *self, const char *path)
{
	unsigned int i;
	double t0, t;

	t0 = now_s();
	self->cfg = gw_cfg_load(path, &self->diag);
	t = now_s() - t0;
	for (i = 0; i < self->diag.n; i++)
		TH_LOG("unexpected diag: %s", self->diag.msgs[i]);
	ASSERT_EQ(0, gw_diag_count(&self->diag));
	ASSERT_NOT_NULL(self->cfg);
	gw_cfg_free(self->cfg);
	self->cfg = NULL;
	return t;
}

typedef void (*write_fn)(HARNESS_CTX, FIXTURE_DATA(scale) *self, unsigned int n,
			 enum mistake m, struct at *at);

/*
 * Load a file of n entries and one of 10 n: the larger must take less than
 * MAX_RATIO times as long. The small file is timed ten loads at a time, so
 * that both measurements span about as long; they are taken in turn, so
 * that both see the same (busy) machine; each is the fastest of four.
 */
static void expect_linear(HARNESS_CTX, FIXTURE_DATA(scale) *self, write_fn write,
			  unsigned int n, const char *what)
{
	char small_path[PATH_MAX + 32], large_path[PATH_MAX + 32];
	double small = 1e9, large = 1e9, t;
	unsigned int i, k;

	/*
	 * Keep freed memory in the process: a repeat then measures the loader,
	 * not the kernel zeroing fresh pages (slow in a VM) for the large file
	 * only, as the small one's pages are reused from the start. (The
	 * sanitizers' allocator ignores this.)
	 */
	(void)mallopt(M_MMAP_THRESHOLD, 64 << 20);
	(void)mallopt(M_TRIM_THRESHOLD, 512 << 20);
	ASSERT_EQ(0, gw_snprintf(small_path, sizeof(small_path), "%s/small.yaml", self->dir));
	ASSERT_EQ(0, gw_snprintf(large_path, sizeof(large_path), "%s/large.yaml", self->dir));
	write(_ctx, self, n, FINE, NULL);
	ASSERT_EQ(0, rename(self->path, small_path));
	write(_ctx, self, 10 * n, FINE, NULL);
	ASSERT_EQ(0, rename(self->path, large_path));
	for (i = 0; i < 4; i++) {
		for (t = 0, k = 0; k < 10; k++)
			t += load_time(_ctx, self, small_path) / 10;
		if (t < small)
			small = t;
		t = load_time(_ctx, self, large_path);
		if (t < large)
			large = t;
	}
	TH_LOG("%u %s: %.1f ms, %u %s: %.1f ms, ratio %.1f (linear ~10, quadratic ~100)",
	       n, what, small * 1e3, 10 * n, what, large * 1e3, large / small);
	ASSERT_TRUE(large < MAX_RATIO * small);
}

static void write_rules_fn(HARNESS_CTX, FIXTURE_DATA(scale) *self, unsigned int n,
			   enum mistake m, struct at *at)
{
	write_rules(_ctx, self, n, m, at);
}

static void write_listeners_fn(HARNESS_CTX, FIXTURE_DATA(scale) *self, unsigned int n,
			       enum mistake m, struct at *at)
{
	write_listeners(_ctx, self, n, m, at);
}

/* Ten listeners, n / 10 steered destinations each. */
static void write_steer_fn(HARNESS_CTX, FIXTURE_DATA(scale) *self, unsigned int n,
			   enum mistake m, struct at *at)
{
	write_steer(_ctx, self, 10, n / 10, m, at);
}

TEST_F_TIMEOUT(scale, rules_load_in_linear_time, 120)
{
	expect_linear(_ctx, self, write_rules_fn, 1000, "rules");
}

TEST_F_TIMEOUT(scale, listeners_load_in_linear_time, 120)
{
	expect_linear(_ctx, self, write_listeners_fn, 200, "listeners");
}

TEST_F_TIMEOUT(scale, steer_loads_in_linear_time, 120)
{
	expect_linear(_ctx, self, write_steer_fn, 2000, "steered destinations");
}

/* ---- mistakes in the last entry ---- */

/* The load failed with exactly the n messages "PATH:LINE: text", in order. */
static void expect_errors(HARNESS_CTX, FIXTURE_DATA(scale) *self, unsigned int n,
			  const unsigned int *lines, const char *const *texts)
{
	char want[2048];
	unsigned int i;

	self->cfg = gw_cfg_load(self->path, &self->diag);
	EXPECT_NULL(self->cfg);
	if (gw_diag_count(&self->diag) != n)
		for (i = 0; i < self->diag.n; i++)
			TH_LOG("diag: %s", self->diag.msgs[i]);
	ASSERT_EQ(n, gw_diag_count(&self->diag));
	for (i = 0; i < n; i++) {
		ASSERT_EQ(0, gw_snprintf(want, sizeof(want), "%s:%u: %s", self->path, lines[i],
					 texts[i]));
		EXPECT_STREQ(want, self->diag.msgs[i]);
	}
}

#define N_RULES 10000
#define N_LISTENERS 2000

TEST_F_TIMEOUT(scale, last_rule_values, 60)
{
	struct at at;
	char t0[256], t1[256];

	write_rules(_ctx, self, N_RULES, VALUES, &at);
	(void)gw_snprintf(t0, sizeof(t0),
			  "listeners[0].authorize[%u].spiffe_id[1]: \"corp.test/svc\" does not start with \"spiffe://\"",
			  N_RULES - 1);
	(void)gw_snprintf(t1, sizeof(t1),
			  "listeners[0].authorize[%u].name: rule name \"r1\" is already used by authorize[1]",
			  N_RULES - 1);
	expect_errors(_ctx, self, 2, (const unsigned int[]){ at.b, at.a },
		      (const char *const[]){ t0, t1 });
}

TEST_F_TIMEOUT(scale, last_rule_duplicate_key, 60)
{
	struct at at;
	char t0[256];

	write_rules(_ctx, self, N_RULES, DUP_KEY, &at);
	(void)gw_snprintf(t0, sizeof(t0),
			  "listeners[0].authorize[%u].name: duplicate key (first at line %u)",
			  N_RULES - 1, at.a);
	expect_errors(_ctx, self, 1, (const unsigned int[]){ at.b }, (const char *const[]){ t0 });
}

TEST_F_TIMEOUT(scale, last_rule_unknown_key, 60)
{
	struct at at;
	char t0[256];

	write_rules(_ctx, self, N_RULES, UNKNOWN_KEY, &at);
	(void)gw_snprintf(t0, sizeof(t0), "listeners[0].authorize[%u].issuer: unknown key",
			  N_RULES - 1);
	expect_errors(_ctx, self, 1, (const unsigned int[]){ at.a }, (const char *const[]){ t0 });
}

TEST_F_TIMEOUT(scale, last_listener_values_and_duplicates, 60)
{
	const unsigned int last = N_LISTENERS - 1;
	char t0[256], t1[256], t2[256], t3[256];
	struct at at;

	write_listeners(_ctx, self, N_LISTENERS, VALUES, &at);
	(void)gw_snprintf(t0, sizeof(t0),
			  "listeners[%u].tls: crl_check: chain (the default) needs at least one crl file; set crl_check: off to run without revocation checks",
			  last);
	(void)gw_snprintf(t1, sizeof(t1),
			  "listeners[%u].max_connections: \"0\" is not a whole number from 1 to 1000000",
			  last);
	(void)gw_snprintf(t2, sizeof(t2),
			  "listeners[%u].listen: \"127.0.0.1:10000\" is the address of both listener \"l0\" (listeners[0]) and listener \"l1\"",
			  last);
	(void)gw_snprintf(t3, sizeof(t3),
			  "listeners[%u].name: listener name \"l1\" is already used by listeners[1]",
			  last);
	expect_errors(_ctx, self, 4, (const unsigned int[]){ at.c, at.d, at.b, at.a },
		      (const char *const[]){ t0, t1, t2, t3 });
}

TEST_F_TIMEOUT(scale, last_listener_unknown_key, 60)
{
	struct at at;
	char t0[256];

	write_listeners(_ctx, self, N_LISTENERS, UNKNOWN_KEY, &at);
	(void)gw_snprintf(t0, sizeof(t0), "listeners[%u].tls.crl_checks: unknown key",
			  N_LISTENERS - 1);
	expect_errors(_ctx, self, 1, (const unsigned int[]){ at.e }, (const char *const[]){ t0 });
}

TEST_F_TIMEOUT(scale, last_steer_overlaps, 60)
{
	const unsigned int nl = 10, n = 1000, last = nl - 1;
	char t[5][256];
	struct at at;

	write_steer(_ctx, self, nl, n, VALUES, &at);
	(void)gw_snprintf(t[0], sizeof(t[0]),
			  "listeners[%u].steer[%u]: overlaps listeners[%u].steer[0] of listener \"l%u\" (listener \"l%u\")",
			  last, n - 4, last, last, last);
	(void)gw_snprintf(t[1], sizeof(t[1]),
			  "listeners[%u].steer[%u]: overlaps listeners[0].steer[0] of listener \"l0\" (listener \"l%u\")",
			  last, n - 3, last);
	(void)gw_snprintf(t[2], sizeof(t[2]),
			  "listeners[%u].steer[%u]: overlaps listeners[1].steer[0] of listener \"l1\" (listener \"l%u\")",
			  last, n - 2, last);
	(void)gw_snprintf(t[3], sizeof(t[3]),
			  "listeners[%u].steer[%u]: overlaps listeners[0].steer[2] of listener \"l0\" (listener \"l%u\")",
			  last, n - 1, last);
	(void)gw_snprintf(t[4], sizeof(t[4]),
			  "listeners[%u].steer[%u]: overlaps listeners[0].steer[3] of listener \"l0\" (listener \"l%u\")",
			  last, n - 1, last);
	expect_errors(_ctx, self, 5, (const unsigned int[]){ at.a, at.b, at.c, at.d, at.d },
		      (const char *const[]){ t[0], t[1], t[2], t[3], t[4] });
}

TEST_HARNESS_MAIN
