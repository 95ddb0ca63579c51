// SPDX-License-Identifier: GPL-2.0-only
/*
 * The backend leg in mutual TLS (upstream.tls), on loopback: the backends
 * are servers nobody here wrote that demand a client certificate (socat's
 * OPENSSL-LISTEN with verify=1 echoing through cat, openssl s_server with
 * -Verify 1 -verify_return_error), the client is the harness's. What a
 * user checks: the bytes that come back, the backend's identity in the
 * audit log and in "mtlsgwctl conns", the reason when the backend is not
 * who it must be, and that no byte of the client reaches a backend that
 * failed verification.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "harness.h"
#include "lib/gwtest.h"

#define MiB (1024 * 1024)

/* A backend process: its pid and where its output goes. */
struct ext_backend {
	pid_t pid;
	int port;
	char log[96];
	int stdin_fd;			/* its standard input, when not /dev/null (> 0) */
};

/* Start argv (stdout and stderr to b->log); wait until b->port accepts. 0 or -1. */
static int ext_start(struct ext_backend *b, const char *dir, char *const argv[])
{
	uint64_t end = gwt_now_ms() + 10000;
	int fd;

	snprintf(b->log, sizeof(b->log), "%s/backend.log", dir);
	fflush(NULL);
	b->pid = fork();
	if (b->pid < 0)
		return -1;
	if (b->pid == 0) {
		fd = open(b->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		fd = b->stdin_fd > 0 ? b->stdin_fd : open("/dev/null", O_RDONLY);
		if (fd >= 0)
			dup2(fd, STDIN_FILENO);
		execvp(argv[0], argv);
		_exit(127);
	}
	while (gwt_now_ms() < end) {
		fd = gwt_raw_connect(b->port);
		if (fd >= 0) {
			close(fd);
			return 0;
		}
		if (waitpid(b->pid, NULL, WNOHANG) == b->pid) {
			b->pid = -1;
			return -1;
		}
		usleep(20 * 1000);
	}
	return -1;
}

static void ext_stop(struct ext_backend *b)
{
	if (b->pid <= 0)
		return;
	kill(b->pid, SIGTERM);
	waitpid(b->pid, NULL, 0);
	b->pid = -1;
}

/*
 * socat, echoing through cat, demanding a client certificate under
 * client_ca, serving cert (a base name in the PKI).
 */
static int socat_start(struct ext_backend *b, const char *dir, const char *cert,
		       const char *client_ca)
{
	char listen[1024], chain[256], key[256];
	char *argv[] = { "socat", "-T", "30", listen, "EXEC:cat", NULL };

	snprintf(chain, sizeof(chain), "%s-chain.pem", cert);
	snprintf(key, sizeof(key), "%s.key", cert);
	b->port = gwt_free_port();
	snprintf(listen, sizeof(listen),
		 "OPENSSL-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork,cert=%s,key=%s,cafile=%s,verify=1",
		 b->port, gwt_pki_path(chain), gwt_pki_path(key), gwt_pki_path(client_ca));
	return ext_start(b, dir, argv);
}

/*
 * openssl s_server, one connection after another, demanding a client
 * certificate. www: answering an HTTP GET with its status page; else it
 * prints what it receives and sends its standard input, where a line "k"
 * or "K" sends a TLS 1.3 KeyUpdate (K: and asks for one back).
 */
static int s_server_mode(struct ext_backend *b, const char *dir, bool www)
{
	char port[16], cert[256], key[256], chain[256], ca[256];
	/* Its output line by line (stdbuf), for the test to wait on. */
	char *argv[] = { "stdbuf", "-oL", "openssl", "s_server", "-accept", port, "-cert", cert,
			 "-key", key, "-cert_chain", chain, "-CAfile", ca, "-Verify", "1",
			 "-verify_return_error", www ? "-www" : "-ign_eof", NULL };

	b->port = gwt_free_port();
	snprintf(port, sizeof(port), "127.0.0.1:%d", b->port);
	snprintf(cert, sizeof(cert), "%s", gwt_pki_path("backend.crt"));
	snprintf(key, sizeof(key), "%s", gwt_pki_path("backend.key"));
	snprintf(chain, sizeof(chain), "%s", gwt_pki_path("backend-chain.pem"));
	snprintf(ca, sizeof(ca), "%s", gwt_pki_path("root-ca.crt"));
	return ext_start(b, dir, argv);
}

static int s_server_start(struct ext_backend *b, const char *dir)
{
	return s_server_mode(b, dir, true);
}

/*
 * tests/net/tls_echo.py: Python's ssl, one process, so sessions resume;
 * with proxy, it wants a PROXY v2 header first and prints its source.
 */
static int py_start(struct ext_backend *b, const char *dir, bool proxy)
{
	const char *src = getenv("GWT_SRCDIR") ? getenv("GWT_SRCDIR") : ".";
	char port[16], script[512], chain[256], key[256], ca[256];
	char *argv[] = { "python3", script, port, chain, key, ca,
			 proxy ? "--proxy-v2" : NULL, NULL };

	b->port = gwt_free_port();
	snprintf(port, sizeof(port), "%d", b->port);
	snprintf(script, sizeof(script), "%s/tests/net/tls_echo.py", src);
	snprintf(chain, sizeof(chain), "%s", gwt_pki_path("backend-chain.pem"));
	snprintf(key, sizeof(key), "%s", gwt_pki_path("backend.key"));
	snprintf(ca, sizeof(ca), "%s", gwt_pki_path("root-ca.crt"));
	return ext_start(b, dir, argv);
}

/* A backend that accepts TCP and never says a word. */
static int silent_listener(int *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 16) ||
	    getsockname(fd, (struct sockaddr *)&a, &len)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*port = ntohs(a.sin_port);
	return fd;
}

FIXTURE(up) {
	char dir[64];			/* the backend's log */
	const char *gw_cert;		/* the gateway's client certificate, NULL = "gateway" */
	const char *upstream_pre;	/* upstream lines before its tls block */
	struct ext_backend be;
	struct gwt_gw gw;
	char tls[2048];
	struct gwt_gw_opts go;
	int silent_fd;
};

FIXTURE_SETUP(up)
{
	memset(self, 0, sizeof(*self));
	self->be.pid = -1;
	self->gw.pid = -1;
	self->gw.notify_fd = -1;
	self->silent_fd = -1;
	ASSERT_EQ(0, gwt_mkdtemp(self->dir, sizeof(self->dir)));
}

FIXTURE_TEARDOWN(up)
{
	ext_stop(&self->be);
	if (self->silent_fd >= 0)
		close(self->silent_fd);
	EXPECT_EQ(0, gwt_gw_cleanup(&self->gw));
	gwt_rmtree(self->dir);
}

/* The config of the gateway in front of port, with upstream.tls: verify lines, then extra. */
static void gw_opts(FIXTURE_DATA(up) *self, int port, const char *verify, const char *extra)
{
	const char *cert = self->gw_cert ? self->gw_cert : "gateway";
	char chain[128], key[128];

	snprintf(chain, sizeof(chain), "%s-chain.pem", cert);
	snprintf(key, sizeof(key), "%s.key", cert);
	snprintf(self->tls, sizeof(self->tls),
		 "%s"
		 "      connect_timeout: 2s\n"
		 "      tls:\n"
		 "        cert: %s\n"
		 "        key: %s\n"
		 "        ca: %s\n"
		 "        server_name: backend.corp.test\n"
		 "%s%s",
		 self->upstream_pre ? self->upstream_pre : "",
		 gwt_pki_path(chain), gwt_pki_path(key), gwt_pki_path("ca-bundle.pem"),
		 verify ? verify : "        verify_name: backend.corp.test\n", extra ? extra : "");
	self->go.upstream_port = port;
	self->go.upstream_extra = self->tls;
	if (!self->go.top_extra)
		self->go.top_extra = "workers: 1\n";
}

static int gw_start(FIXTURE_DATA(up) *self, int port, const char *verify, const char *extra)
{
	gw_opts(self, port, verify, extra);
	if (gwt_gw_config(&self->gw, &self->go))
		return -1;
	return gwt_gw_start(&self->gw);
}

static int start_socat(FIXTURE_DATA(up) *self, const char *cert, const char *client_ca)
{
	return socat_start(&self->be, self->dir, cert, client_ca);
}

/* Bytes both ways through both legs: 4 MiB sent, the same 4 MiB back. */
TEST_F(up, bulk_byte_exact_and_backend_identity_audited)
{
	struct gwt_client_opts co = { .cert = "client-ecdsa" };
	unsigned char got[32], want[32];
	struct gwt_client cl;
	uint64_t rx = 0;
	char *line, *out = NULL;

	ASSERT_EQ(0, start_socat(self, "backend", "root-ca.crt"));
	ASSERT_EQ(0, gw_start(self, self->be.port,
			      "        verify_name: \"*.corp.test\"\n"
			      "        verify_spiffe_id: spiffe://corp.test/prod/*\n", NULL));
	ASSERT_EQ(0, gwt_client_connect(&cl, self->gw.port, &co));
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"upstream_open\"",
			      "\"spiffe_id\":\"spiffe://corp.test/prod/backend\"", NULL);
	ASSERT_NOT_NULL(line);
	EXPECT_NOT_NULL(strstr(line, "\"subject\":\"CN=backend,OU=prod,O=Corp\""));
	EXPECT_NOT_NULL(strstr(line, "\"resumed\":false"));
	free(line);
	ASSERT_EQ(0, gwt_ctl(&self->gw, &out, "conns --json"));
	EXPECT_NOT_NULL(strstr(out, "\"upstream\":{\"identity\":\"spiffe://corp.test/prod/backend\""));
	free(out);
	ASSERT_EQ(0, gwt_ctl(&self->gw, &out, "conns"));
	EXPECT_NOT_NULL(strstr(out, " upstream spiffe://corp.test/prod/backend\n"));
	free(out);

	ASSERT_EQ(0, gwt_client_bulk(&cl, 4 * MiB, 7, &rx, got, 60000));
	gwt_client_close(&cl);
	EXPECT_EQ(4 * MiB, rx);
	gwt_pattern_sha256(7, 4 * MiB, want);
	EXPECT_MEMEQ(want, got, 32);
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"conn_close\"", "\"reason\":\"closed\"",
			      "\"upstream\":{", "\"datapath\":\"userspace\"", NULL);
	ASSERT_NOT_NULL(line);
	EXPECT_NOT_NULL(strstr(line, "\"bytes_in\":4194304"));
	free(line);
	EXPECT_EQ(1, gwt_metric_value(&self->gw, "mtlsgw_upstream_handshakes_total{listener=\"test\",result=\"ok\",reason=\"none\",session=\"full\"}"));
}

/* The backend sent no byte back before its chain failed; the client's never got there. */
static void expect_refused_opened(HARNESS_CTX, FIXTURE_DATA(up) *self, const char *reason,
				  const char *detail, bool opened)
{
	struct gwt_client_opts co = { .cert = "client-ecdsa" };
	struct gwt_outcome out;
	char *line;

	gwt_client_try(self->gw.port, &co, "must never reach the backend", 1, &out);
	EXPECT_TRUE(out.handshake_ok);
	EXPECT_EQ(0, out.rx);
	EXPECT_TRUE(out.closed);
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"conn_close\"", reason, detail, NULL);
	if (!line) {
		char *all = gwt_read_file(self->gw.audit);

		TH_LOG("audit log: %s", all ? all : "(none)");
		free(all);
	}
	ASSERT_NOT_NULL(line);
	if (!opened) {
		EXPECT_NULL(strstr(line, "\"upstream\":{"));
		EXPECT_EQ(0, gwt_audit_count(&self->gw, "\"event\":\"upstream_open\""));
	}
	free(line);
}

static void expect_refused(HARNESS_CTX, FIXTURE_DATA(up) *self, const char *reason,
			   const char *detail)
{
	expect_refused_opened(_ctx, self, reason, detail, false);
}

TEST_F(up, backend_under_another_ca)
{
	ASSERT_EQ(0, start_socat(self, "backend-wrongca", "root-ca.crt"));
	ASSERT_EQ(0, gw_start(self, self->be.port, NULL, NULL));
	expect_refused(_ctx, self, "\"reason\":\"upstream_cert_invalid\"",
		       "\"detail\":\"unable to get local issuer certificate (depth 0)\"");
}

TEST_F(up, backend_name_mismatch)
{
	ASSERT_EQ(0, start_socat(self, "backend-other", "root-ca.crt"));
	ASSERT_EQ(0, gw_start(self, self->be.port, NULL, NULL));
	expect_refused(_ctx, self, "\"reason\":\"upstream_name_mismatch\"",
		       "\"detail\":\"the certificate does not match verify_name backend.corp.test\"");
}

TEST_F(up, backend_spiffe_id_mismatch)
{
	ASSERT_EQ(0, start_socat(self, "backend", "root-ca.crt"));
	ASSERT_EQ(0, gw_start(self, self->be.port,
			      "        verify_name: \"*.corp.test\"\n"
			      "        verify_spiffe_id: spiffe://corp.test/prod/ledger\n", NULL));
	expect_refused(_ctx, self, "\"reason\":\"upstream_name_mismatch\"",
		       "\"detail\":\"the certificate does not match verify_spiffe_id spiffe://corp.test/prod/ledger\"");
}

TEST_F(up, revoked_backend_certificate)
{
	char extra[512];

	snprintf(extra, sizeof(extra), "        crl: %s\n", gwt_pki_path("crls-all.pem"));
	ASSERT_EQ(0, start_socat(self, "backend-revoked", "root-ca.crt"));
	ASSERT_EQ(0, gw_start(self, self->be.port, NULL, extra));
	expect_refused(_ctx, self, "\"reason\":\"upstream_cert_invalid\"",
		       "\"detail\":\"certificate revoked (depth 0)\"");
}

/*
 * A reload whose upstream.tls.crl lists the live backend's certificate
 * closes the connection (close_notify to the client, revoked_close and
 * conn_close with upstream_revoked), as a client CRL closes clients.
 */
TEST_F(up, reload_revoking_the_backend_closes_live_connections)
{
	struct gwt_client_opts co = { .cert = "client-ecdsa" };
	struct gwt_client cl;
	char extra[1024], *line;

	snprintf(extra, sizeof(extra), "        crl: [%s, %s, %s]\n", gwt_pki_path("root-ca.crl"),
		 gwt_pki_path("intermediate-ca.crl"), gwt_pki_path("issuing-ca-norevoke.crl"));
	ASSERT_EQ(0, start_socat(self, "backend-revoked", "root-ca.crt"));
	ASSERT_EQ(0, gw_start(self, self->be.port, NULL, extra));
	ASSERT_EQ(0, gwt_client_connect(&cl, self->gw.port, &co));
	EXPECT_TRUE(gwt_roundtrip(&cl, "before the reload"));
	snprintf(extra, sizeof(extra), "        crl: %s\n", gwt_pki_path("crls-all.pem"));
	gw_opts(self, self->be.port, NULL, extra);
	ASSERT_EQ(0, gwt_gw_rewrite(&self->gw, &self->go));
	ASSERT_EQ(0, gwt_gw_signal(&self->gw, SIGHUP));
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"revoked_close\"",
			      "\"reason\":\"upstream_revoked\"", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
	EXPECT_LE(0, gwt_wait_closed(&cl, 5000));
	EXPECT_TRUE(cl.got_close_notify);
	gwt_client_close(&cl);
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"conn_close\"",
			      "\"reason\":\"upstream_revoked\"", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
	/* New connections are refused at the backend's handshake. */
	expect_refused_opened(_ctx, self, "\"reason\":\"upstream_cert_invalid\"",
			      "\"detail\":\"certificate revoked (depth 0)\"", true);
}

/*
 * The backend trusts another CA than the gateway's client certificate's.
 * In TLS 1.3 the client's handshake ends with its own Finished, before
 * the backend has judged its certificate: the refusal is the first thing
 * read from the backend (after upstream_open), and still upstream_tls_error.
 */
TEST_F(up, backend_refuses_the_gateway_certificate)
{
	ASSERT_EQ(0, start_socat(self, "backend", "other-root-ca.crt"));
	ASSERT_EQ(0, gw_start(self, self->be.port, NULL, NULL));
	expect_refused_opened(_ctx, self, "\"reason\":\"upstream_tls_error\"", "alert", true);
}

TEST_F(up, silent_backend_times_out)
{
	int port = 0;

	self->silent_fd = silent_listener(&port);
	ASSERT_GE(self->silent_fd, 0);
	ASSERT_EQ(0, gw_start(self, port, NULL, NULL));
	expect_refused(_ctx, self, "\"reason\":\"upstream_timeout\"",
		       "\"detail\":\"no TLS handshake within connect_timeout\"");
	EXPECT_EQ(1, gwt_metric_value(&self->gw, "mtlsgw_upstream_handshakes_total{listener=\"test\",result=\"fail\",reason=\"upstream_timeout\",session=\"none\"}"));
}

/* The second connection resumes the session the backend gave the first. */
TEST_F(up, backend_session_reused)
{
	struct gwt_client_opts co = { .cert = "client-ecdsa" };
	struct gwt_outcome out;
	char *line;
	int i;

	ASSERT_EQ(0, s_server_start(&self->be, self->dir));
	ASSERT_EQ(0, gw_start(self, self->be.port, NULL, NULL));
	for (i = 0; i < 2; i++) {
		gwt_client_try(self->gw.port, &co, "GET / HTTP/1.0\r\n\r\n", 200, &out);
		ASSERT_TRUE(out.handshake_ok);
		ASSERT_EQ(0, strncmp(out.data, "HTTP/1.0 200 ok", 15));
		/* s_server serves one connection at a time: wait for this one's end. */
		ASSERT_EQ(i + 1, gwt_metric_wait(&self->gw, "mtlsgw_connections_closed_total{listener=\"test\",reason=\"closed\"}", i + 1, 5000));
	}
	EXPECT_EQ(1, gwt_metric_value(&self->gw, "mtlsgw_upstream_handshakes_total{listener=\"test\",result=\"ok\",reason=\"none\",session=\"resumed\"}"));
	line = gwt_audit_wait(&self->gw, 1000, "\"event\":\"upstream_open\"", "\"resumed\":true", NULL);
	EXPECT_NOT_NULL(line);
	free(line);
}

/*
 * Workers share the backend's session: four clients held open together
 * spread over two workers, and only the first pays a full handshake with
 * the backend.
 */
TEST_F(up, backend_session_reused_across_workers)
{
	struct gwt_client_opts co = { .cert = "client-ecdsa" };
	struct gwt_client cl[4];
	char *out = NULL, *p;
	int i, n = 0, w1 = 0;

	ASSERT_EQ(0, py_start(&self->be, self->dir, false));
	self->go.top_extra = "workers: 2\n";
	ASSERT_EQ(0, gw_start(self, self->be.port, NULL, NULL));
	for (i = 0; i < 4; i++) {
		ASSERT_EQ(0, gwt_client_connect(&cl[i], self->gw.port, &co));
		n++;
		if (!gwt_roundtrip(&cl[i], "hello")) {
			char *all = gwt_read_file(self->gw.audit), *log = gwt_read_file(self->gw.log);

			TH_LOG("client %d: no echo; audit log: %s\ndaemon log: %s", i, all, log);
			free(all);
			free(log);
			ASSERT_TRUE(false);
		}
	}
	ASSERT_EQ(0, gwt_ctl(&self->gw, &out, "conns --json"));
	for (p = out; (p = strstr(p, "\"worker\":1,")); p++)
		w1++;
	free(out);
	TH_LOG("connections on worker 1: %d of 4", w1);
	EXPECT_GE(w1, 1);
	EXPECT_LE(w1, 3);
	EXPECT_EQ(1, gwt_metric_value(&self->gw, "mtlsgw_upstream_handshakes_total{listener=\"test\",result=\"ok\",reason=\"none\",session=\"full\"}"));
	EXPECT_EQ(3, gwt_metric_value(&self->gw, "mtlsgw_upstream_handshakes_total{listener=\"test\",result=\"ok\",reason=\"none\",session=\"resumed\"}"));
	for (i = 0; i < n; i++)
		gwt_client_close(&cl[i]);
}

#define UP_OK(session) "mtlsgw_upstream_handshakes_total{listener=\"test\",result=\"ok\",reason=\"none\",session=\"" session "\"}"

/* Each connection: a client's echo through the backend, or none. */
static bool echo_once(FIXTURE_DATA(up) *self)
{
	struct gwt_client_opts co = { .cert = "client-ecdsa" };
	struct gwt_outcome out;

	gwt_client_try(self->gw.port, &co, "ping", 4, &out);
	return out.handshake_ok && out.rx == 4 && !memcmp(out.data, "ping", 4);
}

/*
 * socat's server resumes nothing: each child has its own context without
 * a session ID context, and answers a ticket with internal_error (as
 * nginx's proxy_ssl_session_reuse meets such backends). The failed
 * connection's session is offered no more, so the next one works; with
 * session_reuse: false none fails.
 */
TEST_F(up, backend_that_cannot_resume)
{
	ASSERT_EQ(0, start_socat(self, "backend", "root-ca.crt"));
	ASSERT_EQ(0, gw_start(self, self->be.port, NULL, NULL));
	EXPECT_TRUE(echo_once(self));
	EXPECT_FALSE(echo_once(self));
	EXPECT_TRUE(echo_once(self));
	EXPECT_EQ(2, gwt_metric_value(&self->gw, UP_OK("full")));
	EXPECT_EQ(1, gwt_audit_count(&self->gw, "\"reason\":\"upstream_tls_error\""));
	ASSERT_EQ(0, gwt_gw_cleanup(&self->gw));

	ASSERT_EQ(0, gw_start(self, self->be.port, NULL, "        session_reuse: false\n"));
	EXPECT_TRUE(echo_once(self));
	EXPECT_TRUE(echo_once(self));
	EXPECT_TRUE(echo_once(self));
	EXPECT_EQ(3, gwt_metric_value(&self->gw, UP_OK("full")));
	EXPECT_EQ(-1, gwt_metric_value(&self->gw, UP_OK("resumed")));
}

/* s_server -www's status page through the gateway: NUL-terminated, or NULL. */
static char *status_page(FIXTURE_DATA(up) *self)
{
	static const char req[] = "GET / HTTP/1.0\r\n\r\n";
	struct gwt_client_opts co = { .cert = "client-ecdsa" };
	size_t len = 0, size = 64 * 1024;
	struct gwt_client cl;
	char *buf = malloc(size);
	int n;

	if (!buf || gwt_client_connect(&cl, self->gw.port, &co)) {
		free(buf);
		return NULL;
	}
	if (SSL_write(cl.ssl, req, sizeof(req) - 1) == (int)sizeof(req) - 1)
		while (len < size - 1 && (n = SSL_read(cl.ssl, buf + len, (int)(size - 1 - len))) > 0)
			len += (size_t)n;
	gwt_client_close(&cl);
	buf[len] = '\0';
	return buf;
}

/*
 * The gateway's client certificate rotated by a reload: the next
 * connection shows the backend the new one, and does not resume a
 * session made with the old one (it would carry the old certificate).
 */
TEST_F(up, client_certificate_rotated_by_reload)
{
	char *page;

	ASSERT_EQ(0, s_server_start(&self->be, self->dir));
	self->go.top_extra = "workers: 1\nreload_on_change: false\n";
	ASSERT_EQ(0, gw_start(self, self->be.port, NULL, NULL));
	page = status_page(self);
	ASSERT_NOT_NULL(page);
	EXPECT_NOT_NULL(strstr(page, "Subject: O=Corp, OU=prod, CN=gateway\n"));
	free(page);
	ASSERT_EQ(1, gwt_metric_wait(&self->gw, UP_OK("full"), 1, 5000));

	self->gw_cert = "gateway2";
	gw_opts(self, self->be.port, NULL, NULL);
	ASSERT_EQ(0, gwt_gw_rewrite(&self->gw, &self->go));
	ASSERT_EQ(0, gwt_gw_signal(&self->gw, SIGHUP));
	page = gwt_audit_wait(&self->gw, 5000, "\"event\":\"reload\"", "\"decision\":\"ok\"", NULL);
	ASSERT_NOT_NULL(page);
	free(page);
	page = status_page(self);
	ASSERT_NOT_NULL(page);
	EXPECT_NOT_NULL(strstr(page, "Subject: O=Corp, OU=prod, CN=gateway2\n"));
	free(page);
	EXPECT_EQ(-1, gwt_metric_value(&self->gw, UP_OK("resumed")));
}

/*
 * upstream.proxy_protocol: v2 with upstream.tls: the header goes first on
 * the TCP connection, before the ClientHello (HAProxy's order), and
 * carries the client's address.
 */
TEST_F(up, proxy_header_before_the_client_hello)
{
	struct gwt_client_opts co = { .cert = "client-ecdsa" };
	struct sockaddr_in me;
	socklen_t len = sizeof(me);
	struct gwt_client cl;
	char want[64], *log;
	uint64_t end;

	ASSERT_EQ(0, py_start(&self->be, self->dir, true));
	self->upstream_pre = "      proxy_protocol: v2\n";
	ASSERT_EQ(0, gw_start(self, self->be.port, NULL, NULL));
	ASSERT_EQ(0, gwt_client_connect(&cl, self->gw.port, &co));
	ASSERT_TRUE(gwt_roundtrip(&cl, "through a PROXY header"));
	ASSERT_EQ(0, getsockname(cl.fd, (struct sockaddr *)&me, &len));
	gwt_client_close(&cl);
	snprintf(want, sizeof(want), "proxy src 127.0.0.1:%d\n", ntohs(me.sin_port));
	for (end = gwt_now_ms() + 5000;; usleep(20 * 1000)) {
		log = gwt_read_file(self->be.log);
		if ((log && strstr(log, want)) || gwt_now_ms() > end)
			break;
		free(log);
	}
	ASSERT_NOT_NULL(log);
	EXPECT_NOT_NULL(strstr(log, want));
	free(log);
}

/* Read exactly len bytes from the client within 5 s into buf. */
static bool client_read(struct gwt_client *cl, char *buf, int len)
{
	uint64_t end = gwt_now_ms() + 5000;
	int got = 0, n;

	while (got < len && gwt_now_ms() < end) {
		n = SSL_read(cl->ssl, buf + got, len - got);
		if (n <= 0)
			return false;
		got += n;
	}
	return got == len;
}

/* Wait until the backend's output holds needle. */
static bool backend_said(struct ext_backend *b, const char *needle)
{
	uint64_t end = gwt_now_ms() + 5000;
	bool found = false;
	char *log;

	while (!found && gwt_now_ms() < end) {
		log = gwt_read_file(b->log);
		found = log && strstr(log, needle);
		free(log);
		if (!found)
			usleep(20 * 1000);
	}
	return found;
}

/*
 * The backend rekeys (TLS 1.3 KeyUpdate), once without and once with a
 * request for ours: the gateway reads on under the backend's new key
 * and, asked to, writes under its own new one.
 */
TEST_F(up, backend_key_update_followed)
{
	struct gwt_client_opts co = { .cert = "client-ecdsa" };
	struct gwt_client cl;
	char buf[16];
	int in[2];

	ASSERT_EQ(0, pipe(in));
	self->be.stdin_fd = in[0];
	ASSERT_EQ(0, s_server_mode(&self->be, self->dir, false));
	close(in[0]);
	self->be.stdin_fd = 0;
	ASSERT_EQ(0, gw_start(self, self->be.port, NULL, NULL));
	ASSERT_EQ(0, gwt_client_connect(&cl, self->gw.port, &co));
	ASSERT_EQ(6, SSL_write(cl.ssl, "first\n", 6));
	ASSERT_TRUE(backend_said(&self->be, "first\n"));

	/*
	 * s_server takes a line read alone as a command, and says
	 * "SSL_do_handshake -> 1" once it sent the KeyUpdate.
	 */
	ASSERT_EQ(2, write(in[1], "k\n", 2));
	ASSERT_TRUE(backend_said(&self->be, "first\nSSL_do_handshake -> 1\n"));
	ASSERT_EQ(6, write(in[1], "after\n", 6));
	if (!client_read(&cl, buf, 6)) {
		char *log = gwt_read_file(self->be.log), *d = gwt_read_file(self->gw.audit);

		TH_LOG("backend: %s\naudit: %s", log && strstr(log, "first") ? strstr(log, "first") : log, d);
		free(log);
		free(d);
		ASSERT_TRUE(false);
	}
	EXPECT_EQ(0, memcmp(buf, "after\n", 6));
	ASSERT_EQ(2, write(in[1], "K\n", 2));
	ASSERT_TRUE(backend_said(&self->be, "SSL_do_handshake -> 1\nSSL_do_handshake -> 1\n"));
	ASSERT_EQ(6, write(in[1], "again\n", 6));
	ASSERT_TRUE(client_read(&cl, buf, 6));
	EXPECT_EQ(0, memcmp(buf, "again\n", 6));
	/* Our answer went out before this; the backend decrypts it under our new key. */
	ASSERT_EQ(5, SSL_write(cl.ssl, "ping\n", 5));
	EXPECT_TRUE(backend_said(&self->be, "ping\n"));
	gwt_client_close(&cl);
	close(in[1]);
}

/*
 * A backend that resets its connection: the client's is reset too (no
 * close_notify), with backend_reset; one that ends with close_notify
 * gives the client close_notify (the echo test and s_server's page).
 */
TEST_F(up, backend_reset_resets_the_client)
{
	struct gwt_client_opts co = { .cert = "client-ecdsa" };
	struct gwt_client cl;
	char buf[16], *line;
	int n;

	ASSERT_EQ(0, py_start(&self->be, self->dir, false));
	ASSERT_EQ(0, gw_start(self, self->be.port, NULL, NULL));
	ASSERT_EQ(0, gwt_client_connect(&cl, self->gw.port, &co));
	ASSERT_TRUE(gwt_roundtrip(&cl, "hello"));
	ASSERT_EQ(8, SSL_write(cl.ssl, "RESET-ME", 8));
	n = SSL_read(cl.ssl, buf, sizeof(buf));
	EXPECT_LE(n, 0);
	EXPECT_EQ(SSL_ERROR_SYSCALL, SSL_get_error(cl.ssl, n));
	EXPECT_FALSE(cl.got_close_notify);
	gwt_client_close(&cl);
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"conn_close\"",
			      "\"reason\":\"backend_reset\"", NULL);
	EXPECT_NOT_NULL(line);
	free(line);
}

TEST_HARNESS_MAIN
