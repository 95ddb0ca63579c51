// SPDX-License-Identifier: GPL-2.0-only
/*
 * The soak (make soak, not in CI): SOAK_SECONDS (default 1800) of good,
 * bad and slow clients at once against one daemon, with a reload every
 * 10 s that alternates between SIGHUP and a changed CRL file (one that
 * revokes client-revoked, one that does not; reload_on_change picks it
 * up). What must hold at the end:
 *   - no good client ever failed, no bad client ever got through;
 *   - descriptors, resident memory and CPU per interval stay flat after a
 *     warm-up (the first fifth of the run);
 *   - every line of the audit log is valid UTF-8 JSON.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <openssl/ssl.h>

#include "harness.h"
#include "lib/gwtest.h"
#include "util.h"

#define SAMPLE_S 10
#define MAX_SAMPLES 1024

struct soak_counts {
	uint64_t good_ok, good_fail;
	uint64_t bad_refused, bad_through;
	uint64_t slow;
	char first_failure[256];
};

struct sample {
	int fds;
	uint64_t rss_kib;
	long cpu_ms;
};

FIXTURE(soak) {
	struct gwt_backend be;
	struct gwt_gw gw;
	struct gwt_gw_opts go;
	struct soak_counts *n;		/* shared with the client processes */
	pid_t kids[3];
	char crl_yaml[256];
	char crl_path[128];
	char *crl_revoking, *crl_lenient;
};

static unsigned int soak_seconds(void)
{
	const char *s = getenv("SOAK_SECONDS");

	return s && atoi(s) > 0 ? (unsigned int)atoi(s) : 1800;
}

/* The CRL bundle with issuing-ca.crl swapped for the one that revokes nothing. */
static char *lenient_crls(const char *all)
{
	char *issuing = gwt_read_file(gwt_pki_path("issuing-ca.crl"));
	char *norevoke = gwt_read_file(gwt_pki_path("issuing-ca-norevoke.crl"));
	char *at = issuing ? strstr(all, issuing) : NULL, *out = NULL;

	if (at && norevoke &&
	    asprintf(&out, "%.*s%s%s", (int)(at - all), all, norevoke, at + strlen(issuing)) < 0)
		out = NULL;
	free(issuing);
	free(norevoke);
	return out;
}

FIXTURE_SETUP(soak)
{
	self->n = mmap(NULL, sizeof(*self->n), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->n);
	memset(self->n, 0, sizeof(*self->n));
	self->crl_revoking = gwt_read_file(gwt_pki_path("crls-all.pem"));
	ASSERT_NOT_NULL(self->crl_revoking);
	self->crl_lenient = lenient_crls(self->crl_revoking);
	ASSERT_NOT_NULL(self->crl_lenient);
	/* The gateway's directory is made by gwt_env_start: write the CRL after. */
	ASSERT_EQ(0, gwt_env_start(&self->be, &self->gw, &self->go, false));
	snprintf(self->crl_path, sizeof(self->crl_path), "%s/soak-crls.pem", self->gw.dir);
	ASSERT_EQ(0, gwt_write_file(self->crl_path, self->crl_revoking));
	snprintf(self->crl_yaml, sizeof(self->crl_yaml), "[%s]", self->crl_path);
	self->go.crl = self->crl_yaml;
	self->go.handshake_timeout = "2s";
	ASSERT_EQ(0, gwt_gw_rewrite(&self->gw, &self->go));
	ASSERT_EQ(0, gwt_gw_start(&self->gw));
}

FIXTURE_TEARDOWN(soak)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(self->kids); i++) {
		if (self->kids[i] > 0) {
			kill(self->kids[i], SIGKILL);
			waitpid(self->kids[i], NULL, 0);
		}
	}
	EXPECT_EQ(0, gwt_env_stop(&self->be, &self->gw));
	free(self->crl_revoking);
	free(self->crl_lenient);
}

static void note_failure(struct soak_counts *n, const char *what)
{
	if (!n->first_failure[0])
		snprintf(n->first_failure, sizeof(n->first_failure), "%s", what);
}

/* Good clients, one after another, two identities: every one must pass. */
static void good_clients(int port, struct soak_counts *n)
{
	static const char *const certs[] = { "client-ecdsa", "client-rsa" };
	unsigned int i;

	for (i = 0;; i++) {
		if (gwt_echo_ok(port, certs[i % 2], "soak")) {
			__atomic_add_fetch(&n->good_ok, 1, __ATOMIC_RELAXED);
		} else {
			__atomic_add_fetch(&n->good_fail, 1, __ATOMIC_RELAXED);
			note_failure(n, certs[i % 2]);
		}
	}
}

/* Bad clients: none may get a byte through. */
static void bad_clients(int port, struct soak_counts *n)
{
	static const char *const certs[] = { NULL, "client-wrongca", "client-selfsigned",
					     "client-expired", "client-serverauth" };
	unsigned int i;

	for (i = 0;; i++) {
		const char *cert = certs[i % ARRAY_SIZE(certs)];

		if (gwt_echo_ok(port, cert, "soak")) {
			__atomic_add_fetch(&n->bad_through, 1, __ATOMIC_RELAXED);
			note_failure(n, cert ? cert : "no certificate");
		} else {
			__atomic_add_fetch(&n->bad_refused, 1, __ATOMIC_RELAXED);
		}
	}
}

/* Slow clients: 20 at a time send a few bytes of a ClientHello and stall. */
static void slow_clients(int port, struct soak_counts *n)
{
	static const unsigned char hello[] = { 0x16, 0x03, 0x01, 0x02, 0x00 };
	int fds[20];
	unsigned int i;

	for (;;) {
		for (i = 0; i < ARRAY_SIZE(fds); i++) {
			fds[i] = gwt_raw_connect(port);
			if (fds[i] >= 0 && send(fds[i], hello, sizeof(hello), MSG_NOSIGNAL) < 0) {
				close(fds[i]);
				fds[i] = -1;
			}
		}
		/* Longer than handshake_timeout: the gateway ends them. */
		sleep(3);
		for (i = 0; i < ARRAY_SIZE(fds); i++)
			if (fds[i] >= 0)
				close(fds[i]);
		__atomic_add_fetch(&n->slow, ARRAY_SIZE(fds), __ATOMIC_RELAXED);
	}
}

static pid_t spawn(void (*fn)(int, struct soak_counts *), int port, struct soak_counts *n)
{
	pid_t pid = fork();

	if (!pid) {
		fn(port, n);
		_exit(0);
	}
	return pid;
}

/* Every audit line parses as JSON from strict UTF-8; the count checked, or -1. */
static long audit_lines_valid(const char *path, char **why)
{
	long lines = -1;
	char *out = NULL;

	if (gwt_sh_capture(&out, "python3 -c '\n"
			   "import json, sys\n"
			   "n = 0\n"
			   "for raw in open(sys.argv[1], \"rb\"):\n"
			   "    json.loads(raw.decode(\"utf-8\", \"strict\"))\n"
			   "    n += 1\n"
			   "print(n)' %s", path) == 0 && out)
		lines = strtol(out, NULL, 10);
	*why = out;
	return lines;
}

TEST_F_TIMEOUT(soak, mixed_clients_reloads_crl_changes, 7200)
{
	static struct sample s[MAX_SAMPLES];
	unsigned int secs = soak_seconds(), n_s = 0, i, warm;
	uint64_t end = gwt_now_ms() + (uint64_t)secs * 1000;
	long cpu_warm, cpu_last, lines;
	char *why;

	self->kids[0] = spawn(good_clients, self->gw.port, self->n);
	self->kids[1] = spawn(bad_clients, self->gw.port, self->n);
	self->kids[2] = spawn(slow_clients, self->gw.port, self->n);
	for (i = 0; i < 3; i++)
		ASSERT_LT(0, self->kids[i]);
	while (gwt_now_ms() < end && n_s < MAX_SAMPLES) {
		sleep(SAMPLE_S);
		/* A reload every 10 s: SIGHUP, then a CRL change, in turn. */
		if (n_s % 2)
			ASSERT_EQ(0, gwt_gw_signal(&self->gw, SIGHUP));
		else
			ASSERT_EQ(0, gwt_write_file(self->crl_path, n_s % 4 ? self->crl_revoking :
						    self->crl_lenient));
		s[n_s].fds = gwt_proc_fds(self->gw.pid);
		s[n_s].rss_kib = gwt_proc_status_kib(self->gw.pid, "VmRSS:");
		s[n_s].cpu_ms = gwt_proc_cpu_ms(self->gw.pid);
		ASSERT_LE(0, s[n_s].fds);
		n_s++;
	}
	for (i = 0; i < 3; i++) {
		kill(self->kids[i], SIGKILL);
		waitpid(self->kids[i], NULL, 0);
		self->kids[i] = 0;
	}
	/* At least 50 s: a warm-up sample and some after it. */
	ASSERT_LE(5, n_s);
	warm = n_s / 5 ? n_s / 5 : 1;
	/* CPU of the interval before the warm-up sample and of the last one. */
	cpu_warm = s[warm].cpu_ms - s[warm - 1].cpu_ms;
	cpu_last = s[n_s - 1].cpu_ms - s[n_s - 2].cpu_ms;
	printf("# %u s: good %llu ok / %llu failed, bad %llu refused / %llu through, slow %llu\n",
	       secs, (unsigned long long)self->n->good_ok, (unsigned long long)self->n->good_fail,
	       (unsigned long long)self->n->bad_refused, (unsigned long long)self->n->bad_through,
	       (unsigned long long)self->n->slow);
	printf("# after warm-up (%u s) -> end: fds %d -> %d, RSS %llu -> %llu KiB, CPU per %d s %ld -> %ld ms\n",
	       (warm + 1) * SAMPLE_S, s[warm].fds, s[n_s - 1].fds,
	       (unsigned long long)s[warm].rss_kib, (unsigned long long)s[n_s - 1].rss_kib,
	       SAMPLE_S, cpu_warm, cpu_last);
	if (self->n->first_failure[0])
		printf("# first unexpected outcome: %s\n", self->n->first_failure);
	EXPECT_EQ(0, self->n->good_fail);
	EXPECT_EQ(0, self->n->bad_through);
	EXPECT_LT(0, self->n->good_ok);
	EXPECT_LT(0, self->n->bad_refused);
	/* Flat: the slow clients' 20 descriptors come and go. */
	EXPECT_LE(s[n_s - 1].fds, s[warm].fds + 25);
	EXPECT_LE(s[n_s - 1].rss_kib, s[warm].rss_kib + s[warm].rss_kib / 5 + 4096);
	EXPECT_LE(cpu_last, cpu_warm * 3 / 2 + 500);
	lines = audit_lines_valid(self->gw.audit, &why);
	if (lines < 0)
		printf("# audit log: %s\n", why ? why : "cannot run python3");
	else
		printf("# audit log: %ld lines, all valid UTF-8 JSON\n", lines);
	free(why);
	EXPECT_LT(0, lines);
}

TEST_HARNESS_MAIN
