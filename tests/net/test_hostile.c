// SPDX-License-Identifier: GPL-2.0-only
/*
 * Hostile clients and exhausted resources, from the attacker's side:
 * descriptor exhaustion, clients that hold the admin endpoints, and
 * certificate fields crafted to forge what the operator reads. Each test
 * asserts what the attack must not achieve: a spinning or log-flooding
 * daemon, a stalled data plane, a forged line.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "harness.h"
#include "lib/gwtest.h"
#include "lib/jsoncheck.h"
#include "lib/pkigen.h"

FIXTURE(hostile) {
	struct gwt_backend be;
	struct gwt_gw gw;
	struct gwt_gw_opts go;
	int raw[4200];
	unsigned int n_raw;
	pid_t poller;
};

FIXTURE_SETUP(hostile)
{
	struct rlimit rl;

	/* Room for thousands of connections here and in the daemon (inherited). */
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < 9000 && rl.rlim_max >= 9000) {
		rl.rlim_cur = 9000;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	self->go.listener_extra = "    max_handshakes: 5000\n";
	self->go.top_extra = "workers: 1\n";
	/* Silent clients stay until the test lets them go. */
	self->go.handshake_timeout = "60s";
	ASSERT_EQ(0, gwt_env_start(&self->be, &self->gw, &self->go, true));
}

FIXTURE_TEARDOWN(hostile)
{
	unsigned int i;

	if (self->poller > 0) {
		kill(self->poller, SIGKILL);
		waitpid(self->poller, NULL, 0);
	}
	for (i = 0; i < self->n_raw; i++)
		close(self->raw[i]);
	EXPECT_EQ(0, gwt_env_stop(&self->be, &self->gw));
}

static unsigned int count_lines(const char *s)
{
	unsigned int n = 0;

	for (; s && *s; s++)
		n += *s == '\n';
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
	for (i = 0; i < 200 && !gwt_log_count(&self->gw, "accept: Too many open files"); i++)
		usleep(50 * 1000);
	ASSERT_LE(1, gwt_log_count(&self->gw, "accept: Too many open files"));

	cpu[0] = gwt_proc_cpu_ms(self->gw.pid);
	usleep(2000 * 1000);
	cpu[1] = gwt_proc_cpu_ms(self->gw.pid);
	lines = gwt_log_count(&self->gw, "accept: Too many open files");
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

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * The 90th percentile of the milliseconds of n (<= 32) good round trips
 * (handshake included), the median in *p50; 0 on a failure.
 */
static uint64_t echo_p90_p50(int port, unsigned int n, uint64_t *p50)
{
	uint64_t ms[32];
	unsigned int i;

	for (i = 0; i < n && i < 32; i++) {
		uint64_t t0 = gwt_now_ms();

		if (!gwt_echo_ok(port, "client-ecdsa", "p50"))
			return 0;
		ms[i] = gwt_now_ms() - t0;
	}
	qsort(ms, i, sizeof(ms[0]), cmp_u64);
	if (p50)
		*p50 = ms[i / 2];
	return ms[i * 9 / 10] ? ms[i * 9 / 10] : 1;
}

static int tcp_connect_nb(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) && errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	return fd;
}

/* A listening TCP socket on a free loopback port (stored in *port); its fd. */
static int tcp_listener_on_free_port(int *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 1) ||
	    getsockname(fd, (struct sockaddr *)&sa, &len)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*port = ntohs(sa.sin_port);
	return fd;
}

static int unix_connect_nb(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof(sun))) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * 100 silent clients on the metrics port and as many on the control
 * socket (as many as its queue takes) hold nothing of the data plane: a
 * good client's round trip stays near what it was, and a scrape still
 * gets through once their deadlines pass.
 */
TEST_F_TIMEOUT(hostile, silent_admin_clients_do_not_stall_handshakes, 90)
{
	uint64_t before, during, p50[2];
	char *m;

	before = echo_p90_p50(self->gw.port, 20, &p50[0]);
	ASSERT_NE(0, before);
	/* All at once: a blocking connect would wait for the queue to move. */
	while (self->n_raw < 100) {
		self->raw[self->n_raw] = tcp_connect_nb(self->gw.metrics_port);
		ASSERT_LE(0, self->raw[self->n_raw]);
		self->n_raw++;
	}
	while (self->n_raw < 200) {
		int fd = unix_connect_nb(self->gw.ctl);

		if (fd < 0)
			break;
		self->raw[self->n_raw++] = fd;
	}
	during = echo_p90_p50(self->gw.port, 20, &p50[1]);
	printf("# good round trip p50/p90: %llu/%llu ms alone, %llu/%llu ms with %u silent admin clients\n",
	       (unsigned long long)p50[0], (unsigned long long)before,
	       (unsigned long long)p50[1], (unsigned long long)during, self->n_raw);
	ASSERT_NE(0, during);
	/* Synchronous admin reads (200 ms each) made it over a second. */
	ASSERT_LT(during, before * 3 + 500);
	m = gwt_metrics(&self->gw);
	ASSERT_NOT_NULL(m);
	ASSERT_NOT_NULL(strstr(m, "mtlsgw_"));
	free(m);
}

/*
 * 4,000 connections (in their handshake) while a script polls "conns":
 * each answer matches every connection with the kernel's view of its
 * socket, and a walk of the connections per socket held the loop 1.5 s.
 * A good client's round trip stays near what it was.
 */
TEST_F_TIMEOUT(hostile, conns_at_4000_connections_does_not_stall, 120)
{
	uint64_t before, during, t0, took;
	struct rlimit rl;
	unsigned int i;
	char *out;
	int base;

	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur < 9000)
		SKIP("RLIMIT_NOFILE %llu: 9000 descriptors needed",
		     (unsigned long long)rl.rlim_cur);
	before = echo_p90_p50(self->gw.port, 20, NULL);
	ASSERT_NE(0, before);
	base = gwt_proc_fds(self->gw.pid);
	while (self->n_raw < 4000) {
		self->raw[self->n_raw] = tcp_connect_nb(self->gw.port);
		ASSERT_LE(0, self->raw[self->n_raw]);
		self->n_raw++;
	}
	/* The daemon has accepted them all. */
	for (i = 0; i < 600 && gwt_proc_fds(self->gw.pid) < base + 4000; i++)
		usleep(50 * 1000);
	t0 = gwt_now_ms();
	ASSERT_EQ(0, gwt_ctl(&self->gw, &out, "conns --json"));
	took = gwt_now_ms() - t0;
	ASSERT_LE(4000, count_lines(out));
	free(out);
	t0 = gwt_now_ms();
	ASSERT_EQ(0, gwt_ctl(&self->gw, &out, "status"));
	printf("# conns --json at 4,000 connections: %llu ms (status: %llu ms)\n",
	       (unsigned long long)took, (unsigned long long)(gwt_now_ms() - t0));
	free(out);
	self->poller = fork();
	ASSERT_LE(0, self->poller);
	if (!self->poller) {
		for (;;) {
			gwt_ctl(&self->gw, &out, "conns --json");
			free(out);
		}
	}
	during = echo_p90_p50(self->gw.port, 20, NULL);
	printf("# good round trip p90: %llu ms alone, %llu ms at 4,000 connections with conns polled\n",
	       (unsigned long long)before, (unsigned long long)during);
	ASSERT_NE(0, during);
	/* Each answer held the loop 1.5 s at 4,000 connections. */
	ASSERT_LT(during, before * 3 + 400);
}

/* A string literal and its length, NULs inside included. */
#define LIT(s) s, sizeof(s) - 1

/* Send req to the metrics port; the first line of the answer (static). */
static const char *metrics_status(struct gwt_gw *g, const char *req, size_t len)
{
	static char buf[512];
	int fd = gwt_raw_connect(g->metrics_port);
	ssize_t n;

	if (fd < 0 || send(fd, req, len, MSG_NOSIGNAL) != (ssize_t)len) {
		if (fd >= 0)
			close(fd);
		return "";
	}
	n = recv(fd, buf, sizeof(buf) - 1, MSG_WAITALL);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	buf[strcspn(buf, "\r")] = '\0';
	return buf;
}

TEST_F(hostile, metrics_methods_and_garbage)
{
	uint64_t t0 = gwt_now_ms();

	EXPECT_STREQ("HTTP/1.0 405 Method Not Allowed",
		     metrics_status(&self->gw, LIT("POST /metrics HTTP/1.1\r\n\r\n")));
	EXPECT_STREQ("HTTP/1.0 404 Not Found",
		     metrics_status(&self->gw, LIT("GET /admin HTTP/1.1\r\n\r\n")));
	/* Answered at once, not at a deadline. */
	EXPECT_STREQ("HTTP/1.0 400 Bad Request",
		     metrics_status(&self->gw, LIT("GET /metrics\0 HTTP/1.1\r\n\r\n")));
	EXPECT_STREQ("HTTP/1.0 400 Bad Request",
		     metrics_status(&self->gw, LIT("\x16\x03\x01\x00\xa5\x01\x00")));
	EXPECT_LT(gwt_now_ms() - t0, 500);
	/* Without its blank line: 408 at the read deadline. */
	EXPECT_STREQ("HTTP/1.0 408 Request Timeout",
		     metrics_status(&self->gw, LIT("GET /metrics HTTP/1.1\r\n")));
}

/* A raw request line on the control socket; the answer (static). */
static const char *ctl_raw(struct gwt_gw *g, const char *line)
{
	static char buf[1024];
	struct pollfd p = { .events = POLLIN };
	size_t n = 0;
	ssize_t r;

	p.fd = unix_connect_nb(g->ctl);
	buf[0] = '\0';
	if (p.fd < 0 || send(p.fd, line, strlen(line), MSG_NOSIGNAL) != (ssize_t)strlen(line))
		goto out;
	while (n + 1 < sizeof(buf) && poll(&p, 1, 10000) == 1 &&
	       (r = recv(p.fd, buf + n, sizeof(buf) - 1 - n, 0)) > 0)
		n += (size_t)r;
	buf[n] = '\0';
out:
	if (p.fd >= 0)
		close(p.fd);
	return buf;
}

/* A daemon that runs with takeover off does not stop for "handover". */
TEST_F(hostile, handover_refused_without_takeover)
{
	EXPECT_STREQ("error: handover refused: takeover is off in this daemon's configuration\n",
		     ctl_raw(&self->gw, "handover\n"));
	ASSERT_TRUE(gwt_echo_ok(self->gw.port, "client-ecdsa", "still here"));
}

/*
 * A reload that moves the metrics endpoint or the control socket applies
 * it (it used to answer "ok" and keep the old ones); one that cannot open
 * the new socket is refused and changes nothing.
 */
TEST_F(hostile, reload_moves_admin_sockets_or_is_refused)
{
	int old_metrics = self->gw.metrics_port, busy;
	char old_ctl[sizeof(self->gw.ctl)], *out, *m;
	struct gwt_gw probe = self->gw;

	/* Reloads come from "reload" only, not from the file's changes. */
	self->go.top_extra = "workers: 1\nreload_on_change: false\n";
	ASSERT_EQ(0, gwt_gw_rewrite(&self->gw, &self->go));
	ASSERT_EQ(0, gwt_ctl(&self->gw, &out, "reload"));
	free(out);

	/* Refused: the new metrics address is taken. */
	busy = tcp_listener_on_free_port(&self->gw.metrics_port);
	ASSERT_LE(0, busy);
	ASSERT_EQ(0, gwt_gw_rewrite(&self->gw, &self->go));
	EXPECT_NE(0, gwt_ctl(&self->gw, &out, "reload"));
	EXPECT_NOT_NULL(strstr(out, "metrics.listen: cannot listen on 127.0.0.1:"));
	free(out);
	close(busy);
	probe.metrics_port = old_metrics;
	m = gwt_metrics(&probe);
	EXPECT_NOT_NULL(m);
	free(m);

	/* Applied: both move. */
	self->gw.metrics_port = gwt_free_port();
	snprintf(old_ctl, sizeof(old_ctl), "%s", self->gw.ctl);
	snprintf(self->gw.ctl, sizeof(self->gw.ctl), "%s/moved.sock", self->gw.dir);
	ASSERT_EQ(0, gwt_gw_rewrite(&self->gw, &self->go));
	snprintf(probe.ctl, sizeof(probe.ctl), "%s", old_ctl);
	ASSERT_EQ(0, gwt_ctl(&probe, &out, "reload"));
	EXPECT_EQ(0, strncmp(out, "ok: generation", 14));
	free(out);
	ASSERT_EQ(0, gwt_ctl(&self->gw, &out, "status"));
	free(out);
	EXPECT_NE(0, access(old_ctl, F_OK));
	m = gwt_metrics(&self->gw);
	EXPECT_NOT_NULL(m);
	free(m);
	EXPECT_NULL(gwt_metrics(&probe));
}

/*
 * A client certificate issued by the trusted CA, with a SPIFFE ID chosen
 * to forge output: written as name-chain.pem and name.key in dir. 0 or -1.
 */
static int write_issued_client(const char *dir, const char *name, const char *uri)
{
	char path[256], *chain = gwt_read_file(gwt_pki_path("ca/issuing-ca/chain.pem"));
	EVP_PKEY *ca_key = NULL, *key = gwt_ec_key();
	X509 *ca = NULL, *x = NULL;
	int ret = -1;
	FILE *f;

	f = fopen(gwt_pki_path("ca/issuing-ca/private/issuing-ca.key"), "r");
	if (f) {
		ca_key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
		fclose(f);
	}
	f = fopen(gwt_pki_path("issuing-ca.crt"), "r");
	if (f) {
		ca = PEM_read_X509(f, NULL, NULL, NULL);
		fclose(f);
	}
	if (!chain || !ca_key || !ca || !key)
		goto out;
	x = gwt_make_cert(name, key, ca, ca_key, false, -60, 3600, 4242);
	if (!x || gwt_cert_set_uri_sans(x, &uri, 1, ca_key))
		goto out;
	snprintf(path, sizeof(path), "%s/%s-chain.pem", dir, name);
	f = fopen(path, "w");
	if (!f || PEM_write_X509(f, x) != 1 || fputs(chain, f) < 0) {
		if (f)
			fclose(f);
		goto out;
	}
	fclose(f);
	snprintf(path, sizeof(path), "%s/%s.key", dir, name);
	f = fopen(path, "w");
	if (!f || PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) != 1) {
		if (f)
			fclose(f);
		goto out;
	}
	fclose(f);
	ret = 0;
out:
	X509_free(x);
	X509_free(ca);
	EVP_PKEY_free(key);
	EVP_PKEY_free(ca_key);
	free(chain);
	return ret;
}

/*
 * SPIFFE IDs crafted to forge "conns": one that closes the identity
 * string and adds "id" and "src" members, one with a newline and a
 * terminal escape. Every JSON line stays one valid object whose id is
 * the real one; the text table gets no control byte.
 */
TEST_F(hostile, conns_output_cannot_be_forged)
{
	static const char forge[] = "spiffe://corp.test/prod/x\",\"id\":1,\"src\":\"10\",\"identity\":\"payments";
	static const char term[] = "spiffe://corp.test/prod/a\n\x1b[2J\x1b]0;pwned\x07\xe2\x80\xae";
	struct gwt_client_opts fo = { .cert = "forge", .cert_dir = self->gw.dir };
	struct gwt_client_opts to = { .cert = "term", .cert_dir = self->gw.dir };
	struct gwt_client cf, ct;
	char *out, *line, *nl, *v, want_id[32];
	unsigned int rows = 0;

	ASSERT_EQ(0, write_issued_client(self->gw.dir, "forge", forge));
	ASSERT_EQ(0, write_issued_client(self->gw.dir, "term", term));
	ASSERT_EQ(0, gwt_client_connect(&cf, self->gw.port, &fo));
	ASSERT_TRUE(gwt_roundtrip(&cf, "f"));
	ASSERT_EQ(0, gwt_client_connect(&ct, self->gw.port, &to));
	ASSERT_TRUE(gwt_roundtrip(&ct, "t"));
	/* The forging connection's real id, from its conn_open line. */
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"conn_open\"", "/prod/x\\\"", NULL);
	ASSERT_NOT_NULL(line);
	v = gwt_json_member(line, "conn");
	ASSERT_NOT_NULL(v);
	snprintf(want_id, sizeof(want_id), "%s", v);
	free(v);
	free(line);

	ASSERT_EQ(0, gwt_ctl(&self->gw, &out, "conns --json"));
	for (line = out; *line; line = nl + 1) {
		nl = strchr(line, '\n');
		ASSERT_NOT_NULL(nl);
		*nl = '\0';
		ASSERT_TRUE(gwt_json_valid(line, strlen(line)));
		rows++;
		v = gwt_json_member(line, "identity");
		ASSERT_NOT_NULL(v);
		if (strstr(v, "/prod/x")) {
			char *id = gwt_json_member(line, "id"), *src = gwt_json_member(line, "src");

			EXPECT_STREQ(want_id, id);
			EXPECT_EQ(0, strncmp(src ? src : "", "\"127.0.0.1:", 11));
			free(id);
			free(src);
		}
		free(v);
	}
	EXPECT_EQ(2, rows);
	free(out);

	ASSERT_EQ(0, gwt_ctl(&self->gw, &out, "conns"));
	/* A header and two rows; no ESC, BEL or bidi override reaches the terminal. */
	EXPECT_EQ(3, count_lines(out));
	EXPECT_NULL(strchr(out, '\x1b'));
	EXPECT_NULL(strchr(out, '\x07'));
	EXPECT_NULL(strstr(out, "\xe2\x80\xae"));
	free(out);
	gwt_client_close(&cf);
	gwt_client_close(&ct);
}

TEST_HARNESS_MAIN
