// SPDX-License-Identifier: GPL-2.0-only
/*
 * The daemon's lifecycle: SIGTERM drains, drain_timeout ends stragglers,
 * max_connection_lifetime, privileges after start, audit log reopen, and
 * certificate rotation under a steady stream of handshakes.
 */
#include <errno.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <openssl/ssl.h>

#include "harness.h"
#include "lib/gwtest.h"

FIXTURE(lc) {
	struct gwt_backend be;
	struct gwt_gw gw;
	struct gwt_gw_opts go;
};

FIXTURE_SETUP(lc)
{
	ASSERT_EQ(0, gwt_env_start(&self->be, &self->gw, &self->go, false));
}

FIXTURE_TEARDOWN(lc)
{
	EXPECT_EQ(0, gwt_env_stop(&self->be, &self->gw));
}



static bool echo_ok(int port, const char *cert)
{
	return gwt_echo_ok(port, cert, "life");
}

TEST_F(lc, sigterm_drains_then_exits_zero)
{
	struct gwt_client_opts co = { .cert = "client-ecdsa" };
	struct gwt_client c;
	int status;

	ASSERT_EQ(0, gwt_gw_start(&self->gw));
	ASSERT_EQ(0, gwt_client_connect(&c, self->gw.port, &co));
	ASSERT_TRUE(gwt_roundtrip(&c, "one"));
	ASSERT_EQ(0, gwt_gw_signal(&self->gw, SIGTERM));
	/* Not accepting any more, but the live connection keeps working. */
	ASSERT_TRUE(gwt_gw_wait_stopped_accepting(&self->gw, "SIGTERM", 10000));
	{
		struct gwt_client n;
		int r = gwt_client_connect(&n, self->gw.port, &co);

		gwt_client_close(&n);
		ASSERT_NE(0, r);
	}
	ASSERT_TRUE(gwt_roundtrip(&c, "two"));
	SSL_shutdown(c.ssl);
	gwt_client_close(&c);
	status = gwt_gw_stop(&self->gw);
	ASSERT_EQ(0, status);
}

/* The soft RLIMIT_NOFILE of process pid, or -1. */
static long soft_nofile(pid_t pid)
{
	char path[64], line[256];
	long soft = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/limits", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "Max open files", 14))
			soft = strtol(line + 14, NULL, 10);
	fclose(f);
	return soft;
}

/*
 * Started with the soft descriptor limit at 256 (a shell's 1024 would cap
 * a splice gateway at 160 connections): the daemon raises it to what its
 * max_connections needs (10000 x 2 + 64 here), or to the hard limit with
 * a warning that names both. With soft = hard it can only warn.
 */
TEST_F(lc, descriptor_limit_raised_or_warned)
{
	const long need = 10000 * 2 + 64;
	struct rlimit keep, low;
	long soft;
	int r;

	/* Each test runs in a process of its own: the limits go with it. */
	ASSERT_EQ(0, getrlimit(RLIMIT_NOFILE, &keep));
	low.rlim_cur = 256;
	low.rlim_max = keep.rlim_max;
	ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &low));
	r = gwt_gw_start(&self->gw);
	ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &keep));
	ASSERT_EQ(0, r);
	soft = soft_nofile(self->gw.pid);
	if (keep.rlim_max == RLIM_INFINITY || (long)keep.rlim_max >= need) {
		ASSERT_EQ(need, soft);
		ASSERT_EQ(0, gwt_log_count(&self->gw, "RLIMIT_NOFILE"));
	} else {
		ASSERT_EQ((long)keep.rlim_max, soft);
		ASSERT_EQ(1, gwt_log_count(&self->gw, "max_connections needs 20064 descriptors"));
	}
	ASSERT_TRUE(echo_ok(self->gw.port, "client-ecdsa"));
	ASSERT_EQ(0, gwt_gw_stop(&self->gw));

	low.rlim_cur = low.rlim_max = 512;	/* raising it back would take CAP_SYS_RESOURCE */
	ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &low));
	ASSERT_EQ(0, gwt_gw_start(&self->gw));
	ASSERT_EQ(512, soft_nofile(self->gw.pid));
	ASSERT_EQ(1, gwt_log_count(&self->gw,
				   "RLIMIT_NOFILE 512: max_connections needs 20064 descriptors"));
	ASSERT_TRUE(echo_ok(self->gw.port, "client-ecdsa"));
}

TEST_F(lc, drain_timeout_closes_stragglers)
{
	struct gwt_client_opts co = { .cert = "client-ecdsa" };
	struct gwt_client c;
	uint64_t t0;
	char buf[8], *line;

	ASSERT_EQ(0, gwt_gw_start(&self->gw));
	ASSERT_EQ(0, gwt_client_connect(&c, self->gw.port, &co));
	ASSERT_TRUE(gwt_roundtrip(&c, "one"));
	t0 = gwt_now_ms();
	ASSERT_EQ(0, gwt_gw_signal(&self->gw, SIGTERM));
	/* drain_timeout is 2 s in the test configuration. */
	ASSERT_GE(0, SSL_read(c.ssl, buf, sizeof(buf)));
	TH_LOG("straggler closed %llu ms after SIGTERM", (unsigned long long)(gwt_now_ms() - t0));
	ASSERT_GE(gwt_now_ms() - t0, 1500);
	ASSERT_LT(gwt_now_ms() - t0, 5000);
	gwt_client_close(&c);
	ASSERT_EQ(0, gwt_gw_stop(&self->gw));
	line = gwt_audit_wait(&self->gw, 100, "\"reason\":\"shutdown\"", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
}

TEST_F(lc, max_connection_lifetime)
{
	struct gwt_client_opts co = { .cert = "client-ecdsa" };
	struct gwt_client c;
	uint64_t t0;
	char buf[8], *line;

	self->go.listener_extra = "    max_connection_lifetime: 500ms\n";
	ASSERT_EQ(0, gwt_gw_rewrite(&self->gw, &self->go));
	ASSERT_EQ(0, gwt_gw_start(&self->gw));
	t0 = gwt_now_ms();
	ASSERT_EQ(0, gwt_client_connect(&c, self->gw.port, &co));
	ASSERT_TRUE(gwt_roundtrip(&c, "one"));
	ASSERT_GE(0, SSL_read(c.ssl, buf, sizeof(buf)));
	ASSERT_TRUE(c.got_close_notify);
	ASSERT_GE(gwt_now_ms() - t0, 400);
	gwt_client_close(&c);
	line = gwt_audit_wait(&self->gw, 2000, "\"event\":\"conn_close\"",
			      "\"reason\":\"max_lifetime\"", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
}

static char *proc_status_field(pid_t pid, const char *field)
{
	char path[64], *all, *p, *end;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	all = gwt_read_file(path);
	p = all ? strstr(all, field) : NULL;
	if (!p) {
		free(all);
		return NULL;
	}
	end = strchr(p, '\n');
	p = strndup(p, end ? (size_t)(end - p) : strlen(p));
	free(all);
	return p;
}

/*
 * What an operator does for "user:": the listener's files in a directory
 * the user owns (the key 0600), the config readable by it. The names of
 * the copies go into self->go. 0 or -1.
 */
static int give_files_to(FIXTURE_DATA(lc) *self, const char *user, char *dir, size_t len,
			 char *certs, size_t certs_len, char *crl, size_t crl_len)
{
	static const char *const files[] = { "server-chain.pem", "server.key", "ca-bundle.pem",
					     "crls-all.pem" };
	static char ca[128];
	struct passwd *pw = getpwnam(user);
	char to[160];
	unsigned int i;

	if (!pw || gwt_mkdtemp(dir, len) || chown(dir, pw->pw_uid, pw->pw_gid) || chmod(dir, 0755))
		return -1;
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(to, sizeof(to), "%s/%s", dir, files[i]);
		if (gwt_replace_file(gwt_pki_path(files[i]), to) ||
		    chown(to, pw->pw_uid, pw->pw_gid) || chmod(to, i == 1 ? 0600 : 0644))
			return -1;
	}
	snprintf(certs, certs_len, "        - { cert: %1$s/server-chain.pem, key: %1$s/server.key }\n",
		 dir);
	snprintf(crl, crl_len, "[%s/crls-all.pem]", dir);
	snprintf(ca, sizeof(ca), "%s/ca-bundle.pem", dir);
	self->go.server_certs = certs;
	self->go.crl = crl;
	self->go.client_ca = ca;
	/* Reloads read the config as the user too. */
	return chmod(self->gw.dir, 0755);
}

TEST_F(lc, drops_privileges_to_user)
{
	char dir[64] = "", certs[256], crl[128], *uid, *caps, *line;

	self->go.top_extra = "user: nobody\n";
	ASSERT_EQ(0, give_files_to(self, "nobody", dir, sizeof(dir), certs, sizeof(certs),
				   crl, sizeof(crl)));
	ASSERT_EQ(0, gwt_gw_rewrite(&self->gw, &self->go));
	ASSERT_EQ(0, gwt_gw_start(&self->gw));
	uid = proc_status_field(self->gw.pid, "Uid:");
	caps = proc_status_field(self->gw.pid, "CapEff:");
	ASSERT_NOT_NULL(uid);
	ASSERT_NOT_NULL(caps);
	EXPECT_STREQ("Uid:\t65534\t65534\t65534\t65534", uid);
	/* NET_BIND_SERVICE (10), NET_ADMIN (12), PERFMON (38), BPF (39) */
	EXPECT_STREQ("CapEff:\t000000c000001400", caps);
	free(uid);
	free(caps);
	ASSERT_TRUE(echo_ok(self->gw.port, "client-ecdsa"));
	/* A reload as that user reads the same files: it works. */
	ASSERT_EQ(0, gwt_gw_signal(&self->gw, SIGHUP));
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"reload\"", "\"decision\":\"ok\"",
			      NULL);
	ASSERT_NOT_NULL(line);
	free(line);
	ASSERT_TRUE(echo_ok(self->gw.port, "client-ecdsa"));
	gwt_rmtree(dir);
}

/*
 * A key only root can read, with "user:": refused at start (exit 2), not
 * at the first reload, and the message says how to fix it.
 */
TEST_F(lc, key_the_user_cannot_read_refused_at_start)
{
	char dir[64] = "", certs[256], crl[128], key[128], *out = NULL;

	self->go.top_extra = "user: nobody\n";
	ASSERT_EQ(0, give_files_to(self, "nobody", dir, sizeof(dir), certs, sizeof(certs),
				   crl, sizeof(crl)));
	snprintf(key, sizeof(key), "%s/server.key", dir);
	ASSERT_EQ(0, chown(key, 0, 0));
	ASSERT_EQ(0, gwt_gw_rewrite(&self->gw, &self->go));
	ASSERT_EQ(2, gwt_gw_check(self->gw.cfg, &out));
	EXPECT_NOT_NULL(strstr(out, "server.key"));
	EXPECT_NOT_NULL(strstr(out, "the files were read as \"nobody\", as every reload will"));
	if (!strstr(out, "as every reload will"))
		TH_LOG("mtlsgw --check said: %s", out);
	free(out);
	gwt_rmtree(dir);
}

TEST_F(lc, sigusr1_reopens_audit_log)
{
	char rotated[128], *line;

	ASSERT_EQ(0, gwt_gw_start(&self->gw));
	ASSERT_TRUE(echo_ok(self->gw.port, "client-ecdsa"));
	line = gwt_audit_wait(&self->gw, 2000, "\"event\":\"conn_close\"", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
	snprintf(rotated, sizeof(rotated), "%s.1", self->gw.audit);
	ASSERT_EQ(0, rename(self->gw.audit, rotated));
	ASSERT_EQ(0, gwt_gw_signal(&self->gw, SIGUSR1));
	/* Wait for the reopen: the file reappears. */
	{
		uint64_t end = gwt_now_ms() + 2000;

		while (access(self->gw.audit, F_OK) && gwt_now_ms() < end)
			usleep(5000);
		ASSERT_EQ(0, access(self->gw.audit, F_OK));
	}
	ASSERT_TRUE(echo_ok(self->gw.port, "client-rsa"));
	line = gwt_audit_wait(&self->gw, 2000, "\"event\":\"conn_open\"", "rsa-client", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
	ASSERT_EQ(0, gwt_audit_count(&self->gw, "spiffe://corp.test/prod/payments"));
}

/* A child hammering handshakes while the parent rotates certificates. */
struct hammer {
	volatile int stop;
	unsigned long ok, failed;
};

/* Wait until h->ok reaches want (timeout_ms at most); the last count seen. */
static unsigned long hammer_wait_ok(struct hammer *h, unsigned long want, int timeout_ms)
{
	uint64_t end = gwt_now_ms() + (uint64_t)timeout_ms;
	unsigned long ok;

	while ((ok = __atomic_load_n(&h->ok, __ATOMIC_SEQ_CST)) < want && gwt_now_ms() < end)
		poll(NULL, 0, 5);
	return ok;
}

TEST_F_TIMEOUT(lc, rotation_under_steady_stream, 60)
{
	struct gwt_client_opts co = { .cert = "client-ecdsa" };
	struct hammer *h = mmap(NULL, sizeof(*h), PROT_READ | PROT_WRITE,
				MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct gwt_client lived;
	char gen[64], bundle[128], *line, *a, *b, *both;
	pid_t pid;
	int i;

	ASSERT_NE(MAP_FAILED, (void *)h);
	/* A second client CA bundle: the same root plus an unrelated one. */
	snprintf(bundle, sizeof(bundle), "%s/two-roots.pem", self->gw.dir);
	a = gwt_read_file(gwt_pki_path("root-ca.crt"));
	b = gwt_read_file(gwt_pki_path("other-root-ca.crt"));
	ASSERT_LT(0, asprintf(&both, "%s%s", b, a));
	ASSERT_EQ(0, gwt_write_file(bundle, both));
	free(a);
	free(b);
	free(both);
	/* SIGHUP is the only reload: generation i + 1 is the i-th rotation. */
	self->go.top_extra = "reload_on_change: false\n";
	ASSERT_EQ(0, gwt_gw_rewrite(&self->gw, &self->go));
	ASSERT_EQ(0, gwt_gw_start(&self->gw));
	ASSERT_EQ(0, gwt_client_connect(&lived, self->gw.port, &co));
	fflush(NULL);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		while (!h->stop) {
			if (echo_ok(self->gw.port, "client-ecdsa"))
				__atomic_add_fetch(&h->ok, 1, __ATOMIC_SEQ_CST);
			else
				__atomic_add_fetch(&h->failed, 1, __ATOMIC_SEQ_CST);
		}
		_exit(0);
	}
	for (i = 1; i <= 6; i++) {
		unsigned long before;

		/* Alternate server certificates, client CA bundles and CRL checks. */
		self->go.server_cert = i % 2 ? "server-rsa" : "server";
		self->go.client_ca = i % 2 ? bundle : NULL;
		self->go.crl_check = i % 3 ? NULL : "leaf";
		ASSERT_EQ(0, gwt_gw_rewrite(&self->gw, &self->go));
		ASSERT_EQ(0, gwt_gw_signal(&self->gw, SIGHUP));
		snprintf(gen, sizeof(gen), "\"detail\":\"generation %d\"", i + 1);
		line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"reload\"",
				      "\"decision\":\"ok\"", gen, NULL);
		ASSERT_NOT_NULL(line);
		free(line);
		ASSERT_TRUE(gwt_roundtrip(&lived, "still here"));
		/*
		 * Handshakes under this generation: the first to complete may
		 * have begun under the last one, the second began under this.
		 */
		before = __atomic_load_n(&h->ok, __ATOMIC_SEQ_CST);
		ASSERT_LE(before + 2, hammer_wait_ok(h, before + 2, 10000));
	}
	h->stop = 1;
	waitpid(pid, NULL, 0);
	TH_LOG("%lu handshakes during 6 rotations, %lu failed", h->ok, h->failed);
	ASSERT_GT(h->ok, 10);
	ASSERT_EQ(0, h->failed);
	ASSERT_EQ(0, gwt_audit_count(&self->gw, "\"decision\":\"error\""));
	gwt_client_close(&lived);
	munmap(h, sizeof(*h));
}

TEST_HARNESS_MAIN
