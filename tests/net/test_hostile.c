// SPDX-License-Identifier: GPL-2.0-only
/*
 * Hostile clients and exhausted resources, from the attacker's side:
 * descriptor exhaustion, clients that hold the admin endpoints, and
 * certificate fields crafted to forge what the operator reads. Each test
 * asserts what the attack must not achieve: a spinning or log-flooding
 * daemon, a stalled data plane, a forged line.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <openssl/ssl.h>

#include "harness.h"
#include "lib/gwtest.h"

FIXTURE(hostile) {
	struct gwt_backend be;
	struct gwt_gw gw;
	struct gwt_gw_opts go;
	int raw[256];
	unsigned int n_raw;
};

FIXTURE_SETUP(hostile)
{
	self->go.top_extra = "workers: 1\n";
	/* Silent clients stay until the test lets them go. */
	self->go.handshake_timeout = "60s";
	ASSERT_EQ(0, gwt_env_start(&self->be, &self->gw, &self->go, true));
}

FIXTURE_TEARDOWN(hostile)
{
	unsigned int i;

	for (i = 0; i < self->n_raw; i++)
		close(self->raw[i]);
	EXPECT_EQ(0, gwt_env_stop(&self->be, &self->gw));
}

/* Lines of the daemon's own log that contain needle. */
static int log_lines(struct gwt_gw *g, const char *needle)
{
	char *text = gwt_read_file(g->log), *p;
	int n = 0;

	for (p = text; p && (p = strstr(p, needle)); p++)
		n++;
	free(text);
	return n;
}

/* A good client's round trip succeeds within timeout_ms (tried every 100 ms). */
static bool echo_ok_within(int port, int timeout_ms)
{
	uint64_t end = gwt_now_ms() + (uint64_t)timeout_ms;

	do {
		if (gwt_echo_ok(port, "client-ecdsa", "hostile"))
			return true;
		usleep(100 * 1000);
	} while (gwt_now_ms() < end);
	return false;
}

/*
 * 200 silent clients against a daemon allowed 24 more descriptors: the
 * listener runs out of them. The daemon must not spin on the connection
 * left in its queue, nor write a line per attempt; once the silent
 * clients are gone, a good client is served again.
 */
TEST_F_TIMEOUT(hostile, fd_exhaustion_no_spin_no_flood, 90)
{
	int base = gwt_proc_fds(self->gw.pid), lines;
	struct rlimit rl;
	long cpu[2];
	unsigned int i;

	ASSERT_LT(0, base);
	rl.rlim_cur = rl.rlim_max = (rlim_t)base + 24;
	ASSERT_EQ(0, prlimit(self->gw.pid, RLIMIT_NOFILE, &rl, NULL));
	for (i = 0; i < 200; i++) {
		self->raw[i] = gwt_raw_connect(self->gw.port);
		ASSERT_LE(0, self->raw[i]);
		self->n_raw++;
	}
	/* The daemon took all it can, and says so. */
	for (i = 0; i < 200 && !log_lines(&self->gw, "accept: Too many open files"); i++)
		usleep(50 * 1000);
	ASSERT_LE(1, log_lines(&self->gw, "accept: Too many open files"));

	cpu[0] = gwt_proc_cpu_ms(self->gw.pid);
	usleep(2000 * 1000);
	cpu[1] = gwt_proc_cpu_ms(self->gw.pid);
	lines = log_lines(&self->gw, "accept: Too many open files");
	printf("# at the descriptor limit: %ld ms of CPU in 2 s, %d accept warnings\n",
	       cpu[1] - cpu[0], lines);
	/* A spin burns 2000 ms here and writes a line per attempt. */
	ASSERT_LT(cpu[1] - cpu[0], 200);
	ASSERT_LE(1, lines);
	ASSERT_GE(2, lines);

	for (i = 0; i < self->n_raw; i++)
		close(self->raw[i]);
	self->n_raw = 0;
	ASSERT_TRUE(echo_ok_within(self->gw.port, 20000));
	/* Nothing leaked: the silent clients' descriptors are all closed. */
	for (i = 0; i < 100 && gwt_proc_fds(self->gw.pid) > base; i++)
		usleep(50 * 1000);
	ASSERT_GE(base, gwt_proc_fds(self->gw.pid));
}

TEST_HARNESS_MAIN
