// SPDX-License-Identifier: GPL-2.0-only
/*
 * gen.c and tls.c at scale: building a generation (gw_gen_build, what
 * --check, start and reload run) for many listeners that share their
 * certificate, key, CA bundle and a large CRL reads and parses those
 * files once, not once per listener: a listener more costs a small part
 * of one parse of the files, in CPU time and in memory, with one worker
 * (--check) and with two (each its own OpenSSL library context). The
 * first worker's warnings are reported once, and never refuse a build;
 * each listener reports a bad shared file against its own key and line;
 * a file rewritten between two builds is read again.
 *
 * The PKI is made here (EC P-256, a CRL of CRL_ENTRIES serials), written
 * to a fresh directory. Times (CPU time) are only compared with each
 * other, never with a fixed bound; each is the fastest of a few.
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
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "harness.h"
#include "lib/pkigen.h"
#include "gen.h"
#include "tls.h"
#include "util.h"

/* Revoked serials in the CRL: about 0.8 MB of PEM, some milliseconds to parse. */
#define CRL_ENTRIES 20000
/* Listeners of the small configuration; the large one has ten times as many. */
#define N_SMALL 10
/*
 * A listener more must cost less than this part of one parse of its
 * files (the CRL above all): before, it cost a whole parse, and more.
 */
#define MAX_PART 4
/* Live bytes per listener and worker: an SSL_CTX and its store, by reference. */
#define MAX_BYTES_PER_LISTENER (48 * 1024)

FIXTURE(ts) {
	char dir[PATH_MAX];		/* real path of the test directory */
	char path[PATH_MAX + 16];	/* dir/mtlsgw.yaml */
	struct gw_gen *gen;
	struct gw_diag diag, warn;
};

FIXTURE_VARIANT(ts) {
	unsigned int workers;
};

/* What --check builds with. */
FIXTURE_VARIANT_ADD(ts, one_worker) {
	.workers = 1,
};

/* A daemon's start or reload with two workers: two library contexts. */
FIXTURE_VARIANT_ADD(ts, two_workers) {
	.workers = 2,
};

/* dir/name */
static void in_dir(HARNESS_CTX, FIXTURE_DATA(ts) *self, const char *name, char *out, size_t len)
{
	ASSERT_EQ(0, gw_snprintf(out, len, "%s/%s", self->dir, name));
}

static void write_pem(HARNESS_CTX, FIXTURE_DATA(ts) *self, const char *name, mode_t mode,
		      X509 *const *certs, unsigned int n_certs, EVP_PKEY *key, X509_CRL *crl)
{
	char p[PATH_MAX + 64];
	unsigned int i;
	FILE *f;

	in_dir(_ctx, self, name, p, sizeof(p));
	f = fopen(p, "w");
	ASSERT_NOT_NULL(f);
	for (i = 0; i < n_certs; i++)
		ASSERT_EQ(1, PEM_write_X509(f, certs[i]));
	if (key)
		ASSERT_EQ(1, PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL));
	if (crl)
		ASSERT_EQ(1, PEM_write_X509_CRL(f, crl));
	ASSERT_EQ(0, fclose(f));
	ASSERT_EQ(0, chmod(p, mode));
}

/* A CRL of ca with n revoked serials, next update in next_s seconds (< 0: past). */
static X509_CRL *make_crl(X509 *ca, EVP_PKEY *ca_key, unsigned int n, long next_s)
{
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *t = ASN1_TIME_new();
	unsigned int i;
	bool ok = crl && t;

	if (ok) {
		X509_CRL_set_version(crl, 1);
		X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca));
		X509_gmtime_adj(t, -3600);
		X509_CRL_set1_lastUpdate(crl, t);
		X509_gmtime_adj(t, next_s);
		X509_CRL_set1_nextUpdate(crl, t);
		X509_gmtime_adj(t, -1800);
	}
	for (i = 0; ok && i < n; i++) {
		X509_REVOKED *rev = X509_REVOKED_new();
		ASN1_INTEGER *serial = ASN1_INTEGER_new();

		ok = rev && serial && ASN1_INTEGER_set(serial, 100000 + (long)i) &&
		     X509_REVOKED_set_serialNumber(rev, serial) &&
		     X509_REVOKED_set_revocationDate(rev, t) && X509_CRL_add0_revoked(crl, rev);
		ASN1_INTEGER_free(serial);
		if (!ok)
			X509_REVOKED_free(rev);
	}
	ok = ok && X509_CRL_sort(crl) && X509_CRL_sign(crl, ca_key, EVP_sha256()) > 0;
	ASN1_TIME_free(t);
	if (!ok) {
		X509_CRL_free(crl);
		return NULL;
	}
	return crl;
}

/*
 * Server cert (serial) and key as server.pem and server.key, signed by
 * the CA in ca.pem; crl.pem and stale.pem (past its nextUpdate), its
 * CRLs of CRL_ENTRIES and 1 serial.
 */
static void write_pki(HARNESS_CTX, FIXTURE_DATA(ts) *self, long serial, bool crls)
{
	EVP_PKEY *ca_key = gwt_ec_key(), *key = gwt_ec_key();
	X509 *ca, *leaf, *chain[2];
	X509_CRL *crl;

	ASSERT_NOT_NULL(ca_key);
	ASSERT_NOT_NULL(key);
	ca = gwt_make_cert("scale CA", ca_key, NULL, ca_key, true, -3600, 86400, 1);
	ASSERT_NOT_NULL(ca);
	leaf = gwt_make_cert("scale server", key, ca, ca_key, false, -3600, 86400, serial);
	ASSERT_NOT_NULL(leaf);
	chain[0] = leaf;
	chain[1] = ca;
	write_pem(_ctx, self, "server.pem", 0644, chain, 2, NULL, NULL);
	write_pem(_ctx, self, "server.key", 0600, NULL, 0, key, NULL);
	write_pem(_ctx, self, "ca.pem", 0644, &ca, 1, NULL, NULL);
	if (crls) {
		crl = make_crl(ca, ca_key, CRL_ENTRIES, 86400);
		ASSERT_NOT_NULL(crl);
		write_pem(_ctx, self, "crl.pem", 0644, NULL, 0, NULL, crl);
		X509_CRL_free(crl);
		crl = make_crl(ca, ca_key, 1, -60);
		ASSERT_NOT_NULL(crl);
		write_pem(_ctx, self, "stale.pem", 0644, NULL, 0, NULL, crl);
		X509_CRL_free(crl);
	}
	X509_free(leaf);
	X509_free(ca);
	EVP_PKEY_free(key);
	EVP_PKEY_free(ca_key);
}

FIXTURE_SETUP(ts)
{
	char tmpl[] = "/tmp/mtlsgw-test-tls-scale.XXXXXX";

	ASSERT_NOT_NULL(mkdtemp(tmpl));
	ASSERT_NOT_NULL(realpath(tmpl, self->dir));
	ASSERT_EQ(0, gw_snprintf(self->path, sizeof(self->path), "%s/mtlsgw.yaml", self->dir));
	ASSERT_EQ(0, gw_tls_init(NULL));
	write_pki(_ctx, self, 2, true);
}

static int rm_entry(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(p);
}

FIXTURE_TEARDOWN(ts)
{
	gw_gen_put(self->gen);
	gw_diag_free(&self->diag);
	gw_diag_free(&self->warn);
	if (self->dir[0])
		nftw(self->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/*
 * n listeners at path, all with server.pem, server.key, ca.pem and crl
 * (file names next to it), workers set; key replaces server.key if not
 * NULL.
 */
static void write_config(HARNESS_CTX, const char *path, unsigned int n, unsigned int workers,
			 const char *crl, const char *key)
{
	FILE *f = fopen(path, "w");
	unsigned int i;

	ASSERT_NOT_NULL(f);
	fprintf(f, "workers: %u\nlisteners:\n", workers);
	for (i = 0; i < n; i++)
		fprintf(f,
			"  - name: l%u\n"
			"    listen: \"127.0.0.1:%u\"\n"
			"    upstream:\n"
			"      address: \"127.0.0.1:9000\"\n"
			"    tls:\n"
			"      cert: server.pem\n"
			"      key: %s\n"
			"      client_ca: ca.pem\n"
			"      crl: %s\n"
			"    authorize:\n"
			"      - name: r\n"
			"        spiffe_id: [\"spiffe://corp.test/svc\"]\n",
			i, 10000 + i, key ? key : "server.key", crl);
	ASSERT_EQ(0, fclose(f));
}

static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Bytes malloc holds now: the heap's and the blocks mapped on their own. */
static size_t live_bytes(void)
{
	struct mallinfo2 m = mallinfo2();

	return m.uordblks + m.hblkhd;
}

/* A sanitizer's allocator keeps no statistics (all zero). */
static bool malloc_counted(void)
{
	struct mallinfo2 m = mallinfo2();

	return m.arena || m.hblkhd;
}

/* Build path with the variant's workers; it must build cleanly. CPU seconds, live bytes. */
static void build(HARNESS_CTX, FIXTURE_DATA(ts) *self, const char *path, unsigned int workers,
		  double *secs, size_t *bytes)
{
	size_t before = live_bytes();
	unsigned int i;
	double t0;

	t0 = cpu_s();
	self->gen = gw_gen_build(path, workers, &self->diag, &self->warn);
	*secs = cpu_s() - t0;
	*bytes = live_bytes() - before;
	for (i = 0; i < self->diag.n; i++)
		TH_LOG("unexpected diag: %s", self->diag.msgs[i]);
	ASSERT_EQ(0, gw_diag_count(&self->diag));
	ASSERT_NOT_NULL(self->gen);
	ASSERT_EQ(workers, self->gen->n_workers);
	gw_gen_put(self->gen);
	self->gen = NULL;
}

/* CPU seconds one parse of the CRL file takes: what a listener may not cost again. */
static double crl_parse_time(HARNESS_CTX, FIXTURE_DATA(ts) *self)
{
	char p[PATH_MAX + 64];
	X509_CRL *crl;
	double t0, t;
	FILE *f;

	in_dir(_ctx, self, "crl.pem", p, sizeof(p));
	t0 = cpu_s();
	f = fopen(p, "r");
	ASSERT_NOT_NULL(f);
	crl = PEM_read_X509_CRL(f, NULL, NULL, NULL);
	t = cpu_s() - t0;
	fclose(f);
	ASSERT_NOT_NULL(crl);
	ASSERT_EQ(CRL_ENTRIES, sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)));
	X509_CRL_free(crl);
	return t;
}

/*
 * N_SMALL and 10 N_SMALL listeners: the extra listeners' CPU time, per
 * listener, must be under 1 / MAX_PART of one parse of the CRL they
 * share, and their memory under MAX_BYTES_PER_LISTENER each per worker.
 * The measurements are taken in turn, the fastest of three each, with
 * freed memory kept in the process (page faults are the kernel's time).
 */
TEST_F_TIMEOUT(ts, a_listener_more_costs_no_parse, 300)
{
	char small[PATH_MAX + 32], large[PATH_MAX + 32];
	double t_small = 1e9, t_large = 1e9, parse = 1e9, t, per;
	size_t b_small = 0, b_large = 0, b, per_bytes;
	unsigned int i, w = variant->workers;

	(void)mallopt(M_MMAP_THRESHOLD, 64 << 20);
	(void)mallopt(M_TRIM_THRESHOLD, 512 << 20);
	ASSERT_EQ(0, gw_snprintf(small, sizeof(small), "%s/small.yaml", self->dir));
	ASSERT_EQ(0, gw_snprintf(large, sizeof(large), "%s/large.yaml", self->dir));
	write_config(_ctx, small, N_SMALL, w, "crl.pem", NULL);
	write_config(_ctx, large, 10 * N_SMALL, w, "crl.pem", NULL);
	for (i = 0; i < 3; i++) {
		t = crl_parse_time(_ctx, self);
		if (t < parse)
			parse = t;
		build(_ctx, self, small, w, &t, &b);
		if (t < t_small)
			t_small = t;
		if (!i || b < b_small)
			b_small = b;
		build(_ctx, self, large, w, &t, &b);
		if (t < t_large)
			t_large = t;
		if (!i || b < b_large)
			b_large = b;
	}
	per = (t_large - t_small) / (9 * N_SMALL);
	per_bytes = b_large > b_small ? (b_large - b_small) / (9 * N_SMALL * w) : 0;
	TH_LOG("%u workers: %u listeners %.1f ms, %u listeners %.1f ms: %.3f ms per listener; one CRL parse %.2f ms",
	       w, N_SMALL, t_small * 1e3, 10 * N_SMALL, t_large * 1e3, per * 1e3, parse * 1e3);
	TH_LOG("%zu bytes per listener and worker (%zu KiB for %u listeners, %zu KiB for %u)",
	       per_bytes, b_small >> 10, N_SMALL, b_large >> 10, 10 * N_SMALL);
	/* Linear: ten times the listeners, about ten times the time (quadratic: 100). */
	EXPECT_TRUE(t_large < 30 * t_small);
	EXPECT_TRUE(per * MAX_PART < parse);
	if (malloc_counted())
		EXPECT_LT(per_bytes, MAX_BYTES_PER_LISTENER);
	else
		TH_LOG("memory not measured: no malloc statistics (a sanitizer's allocator)");
}

/*
 * A CRL past its nextUpdate is a warning, once per listener, whatever the
 * workers: the other workers' repeats of it were taken for errors, and
 * two workers refused to start.
 */
TEST_F(ts, warnings_once_and_never_refuse)
{
	double t;
	size_t b;

	write_config(_ctx, self->path, 3, variant->workers, "stale.pem", NULL);
	build(_ctx, self, self->path, variant->workers, &t, &b);
	ASSERT_EQ(3, gw_diag_count(&self->warn));
	EXPECT_NOT_NULL(strstr(self->warn.msgs[0], "listeners[0].tls.crl"));
	EXPECT_NOT_NULL(strstr(self->warn.msgs[2], "listeners[2].tls.crl"));
	EXPECT_NOT_NULL(strstr(self->warn.msgs[2], "past its nextUpdate"));
}

/* A bad file three listeners share: each reports it, with its own line. */
TEST_F(ts, shared_bad_key_reported_per_listener)
{
	char p[PATH_MAX + 64], want[PATH_MAX + 256];
	unsigned int i;
	FILE *f;

	in_dir(_ctx, self, "bad.key", p, sizeof(p));
	f = fopen(p, "w");
	ASSERT_NOT_NULL(f);
	fputs("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", f);
	ASSERT_EQ(0, fclose(f));
	ASSERT_EQ(0, chmod(p, 0600));
	write_config(_ctx, self->path, 3, variant->workers, "crl.pem", "bad.key");
	self->gen = gw_gen_build(self->path, variant->workers, &self->diag, &self->warn);
	ASSERT_NULL(self->gen);
	ASSERT_EQ(3, gw_diag_count(&self->diag));
	for (i = 0; i < 3; i++) {
		/* Each listener is 12 lines from the "workers:" and "listeners:" lines. */
		ASSERT_EQ(0, gw_snprintf(want, sizeof(want),
					 "%s:%u: listeners[%u].tls.key: \"%s\": cannot load private key: ",
					 self->path, 3 + 12 * i + 6, i, p));
		EXPECT_EQ(0, strncmp(self->diag.msgs[i], want, strlen(want)));
	}
}

/* The serial of listener i's server certificate in worker k of gen. */
static long server_serial(struct gw_gen *gen, unsigned int k, unsigned int i)
{
	X509 *x = SSL_CTX_get0_certificate(gw_gen_tls(gen, k, i)->ctx);

	return x ? ASN1_INTEGER_get(X509_get0_serialNumber(x)) : -1;
}

/* Files rewritten between two builds: the second has the new ones, everywhere. */
TEST_F(ts, rewritten_files_read_again)
{
	struct gw_gen *old;
	unsigned int i, k;

	write_config(_ctx, self->path, 3, variant->workers, "crl.pem", NULL);
	old = gw_gen_build(self->path, variant->workers, &self->diag, &self->warn);
	ASSERT_NOT_NULL(old);
	write_pki(_ctx, self, 77, false);
	self->gen = gw_gen_build(self->path, variant->workers, &self->diag, &self->warn);
	/* The CRLs are of the old CA: they still load, they just revoke nothing new. */
	ASSERT_NOT_NULL(self->gen);
	for (k = 0; k < variant->workers; k++)
		for (i = 0; i < 3; i++) {
			EXPECT_EQ(2, server_serial(old, k, i));
			EXPECT_EQ(77, server_serial(self->gen, k, i));
		}
	gw_gen_put(old);
}

TEST_HARNESS_MAIN
