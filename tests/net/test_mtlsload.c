// SPDX-License-Identifier: GPL-2.0-only
/*
 * tools/mtls-load against a running gateway, as a benchmark user relies on
 * it: handshakes counted for a good certificate and refused for a bad one,
 * bulk bytes arriving exactly, a corrupting backend caught, rr percentiles
 * in order, idle connections really held by the gateway, usage errors.
 *
 * The binary is $MTLS_LOAD, or mtls-load next to $MTLSGW.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "lib/gwtest.h"

#define MiB (1024 * 1024ULL)
#define MLT_ARGS 48
#define MLT_OUT 65536

/* A child process with its stdout and stderr collected. */
struct mlt_proc {
	pid_t pid;
	int out_fd, err_fd;
	size_t out_len, err_len;
	char out[MLT_OUT], err[MLT_OUT];
};

static void mlt_proc_init(struct mlt_proc *p)
{
	p->pid = -1;
	p->out_fd = p->err_fd = -1;
	p->out_len = p->err_len = 0;
	p->out[0] = p->err[0] = '\0';
}

/* The tools: $MTLS_LOAD and $MTLSGWCTL, else the ones next to $MTLSGW. */
static const char *mlt_tool(const char *env, const char *name)
{
	static char path[2][PATH_MAX];
	char dir[PATH_MAX];
	const char *v = getenv(env);
	char *slot = path[!strcmp(env, "MTLSGWCTL")];

	if (v && *v)
		return v;
	snprintf(dir, sizeof(dir), "%s", gwt_mtlsgw());
	snprintf(slot, PATH_MAX, "%s/%s", dirname(dir), name);
	setenv(env, slot, 1);
	return slot;
}

static const char *mlt_bin(void)
{
	return mlt_tool("MTLS_LOAD", "mtls-load");
}

static int mlt_spawn(struct mlt_proc *p, const char *const *argv)
{
	int out[2], err[2], nul;

	mlt_proc_init(p);
	if (pipe2(out, O_CLOEXEC))
		return -errno;
	if (pipe2(err, O_CLOEXEC)) {
		close(out[0]);
		close(out[1]);
		return -errno;
	}
	fflush(NULL);
	p->pid = fork();
	if (p->pid == 0) {
		nul = open("/dev/null", O_RDONLY);
		dup2(nul, STDIN_FILENO);
		dup2(out[1], STDOUT_FILENO);
		dup2(err[1], STDERR_FILENO);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	p->out_fd = out[0];
	p->err_fd = err[0];
	fcntl(p->out_fd, F_SETFL, O_NONBLOCK);
	fcntl(p->err_fd, F_SETFL, O_NONBLOCK);
	return p->pid < 0 ? -1 : 0;
}

static void mlt_drain(int *fd, char *buf, size_t *len)
{
	ssize_t n;

	while (*fd >= 0 && *len + 1 < MLT_OUT) {
		n = read(*fd, buf + *len, MLT_OUT - 1 - *len);
		if (n > 0) {
			*len += n;
			buf[*len] = '\0';
			continue;
		}
		if (n < 0 && errno == EAGAIN)
			return;
		close(*fd);
		*fd = -1;
	}
}

/* Collect output, waiting up to ms for some. */
static void mlt_pump(struct mlt_proc *p, int ms)
{
	struct pollfd pf[2] = {
		{ .fd = p->out_fd, .events = POLLIN },
		{ .fd = p->err_fd, .events = POLLIN },
	};

	if (p->out_fd < 0 && p->err_fd < 0) {
		poll(NULL, 0, ms);
		return;
	}
	if (poll(pf, 2, ms) <= 0)
		return;
	mlt_drain(&p->out_fd, p->out, &p->out_len);
	mlt_drain(&p->err_fd, p->err, &p->err_len);
}

/* Wait for needle on the process's stderr. */
static bool mlt_wait_err(struct mlt_proc *p, const char *needle, int ms)
{
	uint64_t end = gwt_now_ms() + ms;

	while (!strstr(p->err, needle)) {
		if (gwt_now_ms() > end || p->err_fd < 0)
			return false;
		mlt_pump(p, 20);
	}
	return true;
}

/* Its exit status; -1 if it did not exit within ms (it is killed then). */
static int mlt_wait(struct mlt_proc *p, int ms)
{
	uint64_t end = gwt_now_ms() + ms;
	int status;

	if (p->pid <= 0)
		return -1;
	for (;;) {
		mlt_pump(p, 20);
		if (waitpid(p->pid, &status, WNOHANG) == p->pid)
			break;
		if (gwt_now_ms() > end) {
			printf("# %s did not exit within %d ms: killed\n", mlt_bin(), ms);
			kill(p->pid, SIGKILL);
			waitpid(p->pid, &status, 0);
			p->pid = -1;
			return -1;
		}
	}
	p->pid = -1;
	/* What it wrote last is in the pipes now. */
	mlt_drain(&p->out_fd, p->out, &p->out_len);
	mlt_drain(&p->err_fd, p->err, &p->err_len);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void mlt_kill(struct mlt_proc *p)
{
	if (p->pid > 0) {
		kill(p->pid, SIGKILL);
		waitpid(p->pid, NULL, 0);
	}
	if (p->out_fd >= 0)
		close(p->out_fd);
	if (p->err_fd >= 0)
		close(p->err_fd);
	mlt_proc_init(p);
}

static void mlt_show_text(const char *what, const char *text)
{
	char *copy = strdup(text), *line, *save = NULL;

	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		printf("# %s: %s\n", what, line);
	free(copy);
}

/* Everything the process wrote, as "# " diagnostics. */
static void mlt_show(const char *what, const struct mlt_proc *p)
{
	mlt_show_text(what, p->out);
	mlt_show_text(what, p->err);
}

/* A number from a JSON object, by key; -1 when absent. */
static double mlt_json(const char *json, const char *key)
{
	char needle[64];
	const char *p;

	snprintf(needle, sizeof(needle), "\"%s\":", key);
	p = strstr(json, needle);
	return p ? strtod(p + strlen(needle), NULL) : -1;
}

FIXTURE(mlt) {
	struct gwt_gw gw;
	struct mlt_proc be, cl;
	char connect[64];
};

FIXTURE_SETUP(mlt)
{
	memset(&self->gw, 0, sizeof(self->gw));
	self->gw.pid = -1;
	self->gw.notify_fd = -1;
	mlt_proc_init(&self->be);
	mlt_proc_init(&self->cl);
	if (access(mlt_bin(), X_OK)) {
		TH_LOG("%s: %s: run \"make\" first", mlt_bin(), strerror(errno));
		ASSERT_TRUE(false);
	}
}

FIXTURE_TEARDOWN(mlt)
{
	mlt_kill(&self->cl);
	mlt_kill(&self->be);
	EXPECT_EQ(0, gwt_gw_cleanup(&self->gw));
}

/*
 * The mtls-load backend with more options (up to 6, NULL-ended) behind a
 * gateway with these upstream lines (NULL: plain TCP).
 */
static int mlt_start_be(FIXTURE_DATA(mlt) *self, const char *const *more, const char *upstream)
{
	const char *argv[12] = { mlt_bin(), "backend", "--listen", "127.0.0.1:0", "--json" };
	const char *ready = "mtls-load backend: listening on 127.0.0.1:";
	struct gwt_gw_opts go = { .upstream_extra = upstream };
	unsigned int i;

	for (i = 0; more && more[i] && i < 6; i++)
		argv[5 + i] = more[i];
	if (mlt_spawn(&self->be, argv))
		return -1;
	if (!mlt_wait_err(&self->be, ready, 5000) || !strchr(strstr(self->be.err, ready), '\n')) {
		mlt_show("backend", &self->be);
		return -1;
	}
	go.upstream_port = atoi(strstr(self->be.err, ready) + strlen(ready));
	if (gwt_gw_config(&self->gw, &go) || gwt_gw_start(&self->gw))
		return -1;
	snprintf(self->connect, sizeof(self->connect), "127.0.0.1:%d", self->gw.port);
	return 0;
}

/* The mtls-load backend (with one more option, or NULL) behind a gateway. */
static int mlt_start(FIXTURE_DATA(mlt) *self, const char *opt, const char *val)
{
	const char *more[] = { opt, val, NULL };

	return mlt_start_be(self, more, NULL);
}

/*
 * backend --cert: the backend in TLS (backend.corp.test), demanding a
 * client certificate under client_ca (a PKI file), behind a gateway in
 * upstream.tls to it.
 */
static int mlt_start_tls_be(FIXTURE_DATA(mlt) *self, const char *client_ca)
{
	char chain[PATH_MAX], key[PATH_MAX], ca[PATH_MAX], up[2048];
	const char *more[] = { "--cert", chain, "--key", key, "--ca", ca, NULL };

	snprintf(chain, sizeof(chain), "%s", gwt_pki_path("backend-chain.pem"));
	snprintf(key, sizeof(key), "%s", gwt_pki_path("backend.key"));
	snprintf(ca, sizeof(ca), "%s", gwt_pki_path(client_ca));
	return mlt_start_be(self, more, gwt_upstream_tls(up, sizeof(up), NULL));
}

/* Start a client: MODE, certificate base name, then more options, NULL-ended. */
static int mlt_client(FIXTURE_DATA(mlt) *self, const char *mode, const char *cert, ...)
{
	const char *argv[MLT_ARGS];
	char certp[PATH_MAX], keyp[PATH_MAX];
	unsigned int n = 0;
	va_list ap;

	snprintf(certp, sizeof(certp), "%s/%s-chain.pem", gwt_pki(), cert);
	snprintf(keyp, sizeof(keyp), "%s/%s.key", gwt_pki(), cert);
	argv[n++] = mlt_bin();
	argv[n++] = mode;
	argv[n++] = "--connect";
	argv[n++] = self->connect;
	argv[n++] = "--cert";
	argv[n++] = certp;
	argv[n++] = "--key";
	argv[n++] = keyp;
	argv[n++] = "--ca";
	argv[n++] = gwt_pki_path("ca-bundle.pem");
	argv[n++] = "--json";
	va_start(ap, cert);
	while (n < MLT_ARGS - 1 && (argv[n] = va_arg(ap, const char *)))
		n++;
	va_end(ap);
	argv[n] = NULL;
	return mlt_spawn(&self->cl, argv);
}

/* Run a client to its end; its exit status. Output is shown when it fails. */
static int mlt_run(FIXTURE_DATA(mlt) *self, int ms)
{
	int status = mlt_wait(&self->cl, ms);

	if (status)
		mlt_show("mtls-load", &self->cl);
	return status;
}

static int mlt_count(const char *text, const char *needle)
{
	int n = 0;

	while ((text = strstr(text, needle))) {
		n++;
		text++;
	}
	return n;
}

/*
 * Connections the gateway lists now, -1 on error: the rows of "mtlsgwctl
 * conns" under its header line (its --json form answers nothing at all
 * when there are none).
 */
static int mlt_gw_conns(FIXTURE_DATA(mlt) *self)
{
	char *out = NULL;
	int n = -1;

	mlt_tool("MTLSGWCTL", "mtlsgwctl");
	if (!gwt_ctl(&self->gw, &out, "conns") && !strncmp(out, "ID ", 3))
		n = mlt_count(out, "\n") - 1;
	free(out);
	return n;
}

/* Wait until the gateway lists want connections; the last count seen. */
static int mlt_gw_wait_conns(FIXTURE_DATA(mlt) *self, int want, int ms)
{
	uint64_t end = gwt_now_ms() + ms;
	int n;

	while ((n = mlt_gw_conns(self)) != want && gwt_now_ms() < end)
		poll(NULL, 0, 10);
	return n;
}

/*
 * SIGTERM the backend: it prints its JSON summary; its exit status. The
 * gateway drops a connection once both ends closed, so when it lists none
 * the backend has seen every end of data.
 */
static int mlt_backend_stop(FIXTURE_DATA(mlt) *self)
{
	int n = mlt_gw_wait_conns(self, 0, 5000), status;

	if (n)
		printf("# the gateway still lists %d connections\n", n);
	kill(self->be.pid, SIGTERM);
	status = mlt_wait(&self->be, 5000);
	if (status)
		mlt_show("backend", &self->be);
	return status;
}

TEST_F(mlt, handshake_good_cert_every_op_succeeds)
{
	ASSERT_EQ(0, mlt_start(self, NULL, NULL));
	ASSERT_EQ(0, mlt_client(self, "handshake", "client-ecdsa", "-c", "4", "-j", "2",
				"-n", "40", NULL));
	ASSERT_EQ(0, mlt_run(self, 20000));
	EXPECT_EQ(40, (int)mlt_json(self->cl.out, "ops"));
	EXPECT_EQ(0, (int)mlt_json(self->cl.out, "failed"));
	EXPECT_NOT_NULL(strstr(self->cl.out, "\"failures\":{}"));
	EXPECT_EQ(0, (int)mlt_json(self->cl.out, "mismatches"));
	/* Each op's tiny request reached the backend and was answered. */
	EXPECT_EQ(40 * 64, (int)mlt_json(self->cl.out, "bytes_down"));
	ASSERT_EQ(0, mlt_backend_stop(self));
	EXPECT_EQ(40, (int)mlt_json(self->be.out, "handshake"));
	EXPECT_EQ(40, (int)mlt_json(self->be.out, "completed"));
	EXPECT_EQ(40 * 64, (int)mlt_json(self->be.out, "bytes_verified"));
}

TEST_F(mlt, handshake_refused_cert_counts_failures)
{
	ASSERT_EQ(0, mlt_start(self, NULL, NULL));
	/* Issued by another root: the gateway must refuse every handshake. */
	ASSERT_EQ(0, mlt_client(self, "handshake", "client-wrongca", "-c", "2", "-n", "10",
				NULL));
	ASSERT_EQ(1, mlt_wait(&self->cl, 20000));
	EXPECT_EQ(0, (int)mlt_json(self->cl.out, "ops"));
	EXPECT_EQ(10, (int)mlt_json(self->cl.out, "failed"));
	/* Counted by the alert the client received. */
	EXPECT_EQ(10, (int)mlt_json(self->cl.out, "alert_unknown_ca"));
	ASSERT_EQ(0, mlt_backend_stop(self));
	EXPECT_EQ(0, (int)mlt_json(self->be.out, "connections"));
}

TEST_F(mlt, bulk_bytes_arrive_exactly)
{
	ASSERT_EQ(0, mlt_start(self, NULL, NULL));
	ASSERT_EQ(0, mlt_client(self, "bulk", "client-ecdsa", "-c", "2", "--up", "8M",
				"--down", "8M", NULL));
	ASSERT_EQ(0, mlt_run(self, 60000));
	EXPECT_EQ(2, (int)mlt_json(self->cl.out, "ops"));
	EXPECT_EQ(16 * MiB, (uint64_t)mlt_json(self->cl.out, "bytes_up"));
	EXPECT_EQ(16 * MiB, (uint64_t)mlt_json(self->cl.out, "bytes_down"));
	EXPECT_EQ(0, (int)mlt_json(self->cl.out, "mismatches"));
	EXPECT_LT(0, mlt_json(self->cl.out, "up_Bps"));
	/* The backend checked every byte it received and sent the rest. */
	ASSERT_EQ(0, mlt_backend_stop(self));
	EXPECT_EQ(16 * MiB, (uint64_t)mlt_json(self->be.out, "bytes_verified"));
	EXPECT_EQ(16 * MiB, (uint64_t)mlt_json(self->be.out, "bytes_sent"));
	EXPECT_EQ(2, (int)mlt_json(self->be.out, "completed"));
	EXPECT_EQ(0, (int)mlt_json(self->be.out, "mismatches"));
}

/*
 * backend --cert: a TLS server demanding the gateway's certificate
 * (upstream.tls), the same protocol inside; every byte checked at the far
 * end, the second connection of each client slot resumed by the backend.
 */
TEST_F(mlt, bulk_through_a_tls_backend)
{
	ASSERT_EQ(0, mlt_start_tls_be(self, "root-ca.crt"));
	ASSERT_EQ(0, mlt_client(self, "bulk", "client-ecdsa", "-c", "2", "-n", "4", "--up", "4M",
				"--down", "4M", NULL));
	ASSERT_EQ(0, mlt_run(self, 60000));
	EXPECT_EQ(4, (int)mlt_json(self->cl.out, "ops"));
	EXPECT_EQ(16 * MiB, (uint64_t)mlt_json(self->cl.out, "bytes_down"));
	EXPECT_EQ(0, (int)mlt_json(self->cl.out, "mismatches"));
	ASSERT_EQ(0, mlt_backend_stop(self));
	EXPECT_EQ(16 * MiB, (uint64_t)mlt_json(self->be.out, "bytes_verified"));
	EXPECT_EQ(4, (int)mlt_json(self->be.out, "completed"));
	EXPECT_EQ(0, (int)mlt_json(self->be.out, "tls_failed"));
	EXPECT_LE(1, (int)mlt_json(self->be.out, "tls_resumed"));
}

/* backend --cert refuses a gateway without a certificate under --ca: nothing arrives. */
TEST_F(mlt, tls_backend_refuses_a_gateway_under_another_ca)
{
	ASSERT_EQ(0, mlt_start_tls_be(self, "other-root-ca.crt"));
	ASSERT_EQ(0, mlt_client(self, "bulk", "client-ecdsa", "-c", "1", "-n", "2", "--up", "64K",
				"--down", "64K", NULL));
	ASSERT_EQ(1, mlt_wait(&self->cl, 30000));
	EXPECT_EQ(0, (int)mlt_json(self->cl.out, "ops"));
	ASSERT_EQ(0, mlt_backend_stop(self));
	EXPECT_EQ(0, (int)mlt_json(self->be.out, "bytes_verified"));
	EXPECT_LE(1, (int)mlt_json(self->be.out, "tls_failed"));
}

TEST_F(mlt, bulk_corruption_is_caught)
{
	/* The backend flips one bit in every 1000003rd byte it sends. */
	ASSERT_EQ(0, mlt_start(self, "--corrupt-every", "1000003"));
	ASSERT_EQ(0, mlt_client(self, "bulk", "client-ecdsa", "-c", "2", "--up", "1M",
				"--down", "4M", NULL));
	ASSERT_EQ(1, mlt_wait(&self->cl, 30000));
	EXPECT_EQ(0, (int)mlt_json(self->cl.out, "ops"));
	EXPECT_EQ(2, (int)mlt_json(self->cl.out, "mismatches"));
	EXPECT_EQ(2, (int)mlt_json(self->cl.out, "mismatch"));
	/* Loudly: the first bad byte, with its offset. */
	EXPECT_NOT_NULL(strstr(self->cl.err, "MISMATCH: worker 0 bulk: down byte 1000002 "));
}

TEST_F(mlt, rr_percentiles_are_ordered)
{
	double p50, p99, p999, max;

	ASSERT_EQ(0, mlt_start(self, NULL, NULL));
	ASSERT_EQ(0, mlt_client(self, "rr", "client-ecdsa", "-c", "4", "-d", "1", NULL));
	ASSERT_EQ(0, mlt_run(self, 20000));
	EXPECT_LT(10, (int)mlt_json(self->cl.out, "ops"));
	p50 = mlt_json(self->cl.out, "p50");
	p99 = mlt_json(self->cl.out, "p99");
	p999 = mlt_json(self->cl.out, "p999");
	max = mlt_json(self->cl.out, "max");
	TH_LOG("rr latency us: p50 %.1f p99 %.1f p99.9 %.1f max %.1f", p50, p99, p999, max);
	EXPECT_TRUE(p50 > 0);
	EXPECT_TRUE(p50 <= p99);
	EXPECT_TRUE(p99 <= p999);
	EXPECT_TRUE(p999 <= max);
	/* Every request and answer was checked: 64 bytes each way per op. */
	EXPECT_EQ(64 * mlt_json(self->cl.out, "ops"), mlt_json(self->cl.out, "bytes_down"));
}

TEST_F_TIMEOUT(mlt, idle_holds_connections_in_the_gateway, 60)
{
	ASSERT_EQ(0, mlt_start(self, NULL, NULL));
	ASSERT_EQ(0, mlt_client(self, "idle", "client-ecdsa", "-c", "200", "-j", "2",
				"--hold", "30", NULL));
	ASSERT_TRUE(mlt_wait_err(&self->cl, "200 of 200 connections established", 20000));
	/* Each one was answered through the gateway: it lists all 200. */
	EXPECT_EQ(200, mlt_gw_wait_conns(self, 200, 5000));
	/* SIGTERM ends the hold early and cleanly. */
	kill(self->cl.pid, SIGTERM);
	ASSERT_EQ(0, mlt_run(self, 10000));
	EXPECT_EQ(200, (int)mlt_json(self->cl.out, "ops"));
	EXPECT_EQ(0, (int)mlt_json(self->cl.out, "failed"));
	ASSERT_EQ(0, mlt_backend_stop(self));
	EXPECT_EQ(200, (int)mlt_json(self->be.out, "idle"));
	EXPECT_EQ(200, (int)mlt_json(self->be.out, "max_active"));
}

/* Usage errors: exit 2 and a message that names the option. */
static void mlt_usage(HARNESS_CTX, const char *needle, ...)
{
	const char *argv[MLT_ARGS];
	struct mlt_proc *p = calloc(1, sizeof(*p));
	unsigned int n = 0;
	va_list ap;

	ASSERT_NOT_NULL(p);
	argv[n++] = mlt_bin();
	va_start(ap, needle);
	while (n < MLT_ARGS - 1 && (argv[n] = va_arg(ap, const char *)))
		n++;
	va_end(ap);
	argv[n] = NULL;
	ASSERT_EQ(0, mlt_spawn(p, argv));
	EXPECT_EQ(2, mlt_wait(p, 5000));
	if (!strstr(p->err, needle))
		mlt_show("mtls-load", p);
	EXPECT_NOT_NULL(strstr(p->err, needle));
	mlt_kill(p);
	free(p);
}

TEST(usage_errors_name_the_option)
{
	const char *ca = gwt_pki_path("ca-bundle.pem");

	mlt_usage(_ctx, "--up: \"12x\" is not a byte count", "bulk", "--connect",
		  "127.0.0.1:9", "--ca", ca, "--up", "12x", NULL);
	mlt_usage(_ctx, "handshake needs --connect", "handshake", "--ca", ca, NULL);
	mlt_usage(_ctx, "--up does not apply to mode \"rr\"", "rr", "--up", "1M", NULL);
	mlt_usage(_ctx, "--ca \"/nonexistent\"", "rr", "--connect", "127.0.0.1:9",
		  "--ca", "/nonexistent", NULL);
	mlt_usage(_ctx, "unknown mode \"flood\"", "flood", NULL);
}

TEST_HARNESS_MAIN
