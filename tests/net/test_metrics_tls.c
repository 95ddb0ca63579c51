// SPDX-License-Identifier: GPL-2.0-only
/*
 * The metrics endpoint over mutual TLS (metrics.tls): Prometheus itself
 * scrapes it with a client certificate, and promtool accepts what it
 * gets; a client without a certificate, with one the rules do not name,
 * a revoked one or one from another CA gets no metrics, and the refusal
 * is logged; plain HTTP on that port gets nothing; an idle client does
 * not hold up a scrape; a reload changes who may scrape.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "lib/gwtest.h"

FIXTURE(mt) {
	struct gwt_backend be;
	struct gwt_gw gw;
	struct gwt_gw_opts go;
	char metrics_yaml[1024];
	char dir[64];			/* Prometheus' config and data */
	pid_t prom;
};

/* metrics.tls with the test PKI, scrapers named by spiffe (a pattern). */
static void metrics_tls_yaml(FIXTURE_DATA(mt) *self, const char *spiffe)
{
	snprintf(self->metrics_yaml, sizeof(self->metrics_yaml),
		 "  tls:\n"
		 "    cert: %s\n"
		 "    key: %s\n"
		 "    client_ca: %s\n"
		 "    crl: [%s]\n"
		 "    authorize:\n"
		 "      - name: prometheus\n"
		 "        spiffe_id: [\"%s\"]\n",
		 gwt_pki_path("server-chain.pem"), gwt_pki_path("server.key"),
		 gwt_pki_path("ca-bundle.pem"), gwt_pki_path("crls-all.pem"), spiffe);
	self->go.metrics_extra = self->metrics_yaml;
}

FIXTURE_SETUP(mt)
{
	self->gw.pid = -1;
	self->gw.notify_fd = -1;
	self->be.pid = -1;
	self->prom = -1;
	metrics_tls_yaml(self, "spiffe://corp.test/prod/payments");
	ASSERT_EQ(0, gwt_env_start(&self->be, &self->gw, &self->go, true));
}

FIXTURE_TEARDOWN(mt)
{
	int status;

	if (self->prom > 0) {
		kill(self->prom, SIGTERM);
		waitpid(self->prom, &status, 0);
	}
	EXPECT_EQ(0, gwt_env_stop(&self->be, &self->gw));
	if (self->dir[0])
		gwt_rmtree(self->dir);
}

/*
 * GET /metrics over TLS with cert (NULL: none). The HTTP status (200),
 * or -1 when no answer came (a refused handshake: *alert, if one came);
 * the body in *body (malloc'd) when asked.
 */
static int scrape(int port, const char *cert, char **body, int *alert)
{
	static const char req[] = "GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n";
	struct gwt_client_opts co = { .cert = cert };
	size_t len = 0, cap = 1 << 20;
	char *buf = malloc(cap), *p;
	struct gwt_client c;
	int n, status = -1;

	*alert = -1;
	if (!buf)
		return -1;
	if (gwt_client_connect(&c, port, &co)) {
		*alert = c.alert;
		gwt_client_close(&c);
		free(buf);
		return -1;
	}
	if (SSL_write(c.ssl, req, sizeof(req) - 1) == (int)sizeof(req) - 1)
		while (len + 1 < cap && (n = SSL_read(c.ssl, buf + len, (int)(cap - len - 1))) > 0)
			len += (size_t)n;
	buf[len] = '\0';
	/* A refusal after a TLS 1.3 handshake arrives as an alert on the first read. */
	*alert = c.alert;
	gwt_client_close(&c);
	if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
		status = -1;
	p = strstr(buf, "\r\n\r\n");
	if (body && p && status == 200) {
		memmove(buf, p + 4, strlen(p + 4) + 1);
		*body = buf;
		return status;
	}
	free(buf);
	return status;
}

/* The gateway's log has a refusal naming reason (the first: they are rate-limited). */
static bool refusal_logged(struct gwt_gw *g, const char *reason)
{
	char want[96];
	int i;

	snprintf(want, sizeof(want), "refused: %s", reason);
	for (i = 0; i < 100; i++) {
		char *log = gwt_read_file(g->log);
		bool seen = log && strstr(log, "metrics: client 127.0.0.1:") && strstr(log, want);

		free(log);
		if (seen)
			return true;
		usleep(20000);
	}
	return false;
}

/* A series' value in a body scraped over TLS; -1 when absent. */
static double value_in(const char *body, const char *series)
{
	const char *p = body;
	size_t n = strlen(series);

	while ((p = strstr(p, series))) {
		if ((p == body || p[-1] == '\n') && p[n] == ' ')
			return strtod(p + n + 1, NULL);
		p += n;
	}
	return -1;
}

TEST_F(mt, good_certificate_scrapes_and_promtool_accepts_it)
{
	char *body = NULL, path[128], cmd[256];
	int alert;

	ASSERT_EQ(200, scrape(self->gw.metrics_port, "client-ecdsa", &body, &alert));
	ASSERT_NOT_NULL(strstr(body, "mtlsgw_connections_active"));
	if (system("command -v promtool >/dev/null 2>&1")) {
		free(body);
		SKIP("promtool is not installed (make deps installs prometheus)");
	}
	ASSERT_EQ(0, gwt_mkdtemp(self->dir, sizeof(self->dir)));
	snprintf(path, sizeof(path), "%s/metrics.txt", self->dir);
	ASSERT_EQ(0, gwt_write_file(path, body));
	free(body);
	snprintf(cmd, sizeof(cmd), "promtool check metrics < %s", path);
	ASSERT_EQ(0, gwt_sh_capture(&body, "%s", cmd));
	free(body);
}

TEST_F(mt, refused_without_certificate_or_rule)
{
	static const struct {
		const char *cert, *reason;
	} cases[] = {
		{ NULL, "no_cert" },
		{ "client-dev", "not_authorized" },
		{ "client-rsa", "not_authorized" },
		{ "client-revoked", "revoked" },
		{ "client-wrongca", "unknown_ca" },
	};
	unsigned int i;
	int alert;

	char *body = NULL, series[160];

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TH_LOG("%s", cases[i].cert ? cases[i].cert : "no certificate");
		ASSERT_EQ(-1, scrape(self->gw.metrics_port, cases[i].cert, NULL, &alert));
		ASSERT_LT(0, alert);
	}
	ASSERT_TRUE(refusal_logged(&self->gw, cases[0].reason));
	/* The good one still gets in, and sees each refusal counted. */
	ASSERT_EQ(200, scrape(self->gw.metrics_port, "client-ecdsa", &body, &alert));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(series, sizeof(series),
			 "mtlsgw_metrics_tls_handshakes_total{result=\"fail\",reason=\"%s\"}",
			 cases[i].reason);
		EXPECT_EQ(i == 1 || i == 2 ? 2 : 1, value_in(body, series));
	}
	EXPECT_EQ(1, value_in(body, "mtlsgw_metrics_tls_handshakes_total{result=\"ok\",reason=\"none\"}"));
	free(body);
}

TEST_F(mt, plain_http_on_the_tls_port_gets_nothing)
{
	char buf[256];
	ssize_t n;
	int fd = gwt_raw_connect(self->gw.metrics_port);

	ASSERT_LE(0, fd);
	ASSERT_LT(0, send(fd, "GET /metrics HTTP/1.0\r\n\r\n", 25, MSG_NOSIGNAL));
	n = recv(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	/* Closed, at most with a TLS alert: no HTTP, no metric. */
	if (n > 0) {
		buf[n] = '\0';
		ASSERT_NE(0, strncmp(buf, "HTTP/", 5));
		ASSERT_NULL(strstr(buf, "mtlsgw_"));
	}
}

TEST_F(mt, idle_client_does_not_hold_up_a_scrape)
{
	int idle[4], i, alert;

	for (i = 0; i < 4; i++)
		idle[i] = gwt_raw_connect(self->gw.metrics_port);
	ASSERT_EQ(200, scrape(self->gw.metrics_port, "client-ecdsa", NULL, &alert));
	for (i = 0; i < 4; i++) {
		ASSERT_LE(0, idle[i]);
		close(idle[i]);
	}
}

TEST_F(mt, reload_changes_who_may_scrape)
{
	char *line;
	int alert;

	ASSERT_EQ(-1, scrape(self->gw.metrics_port, "client-dev", NULL, &alert));
	metrics_tls_yaml(self, "spiffe://corp.test/dev/*");
	ASSERT_EQ(0, gwt_gw_rewrite(&self->gw, &self->go));
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"reload\"", "\"decision\":\"ok\"", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
	ASSERT_EQ(200, scrape(self->gw.metrics_port, "client-dev", NULL, &alert));
	ASSERT_EQ(-1, scrape(self->gw.metrics_port, "client-ecdsa", NULL, &alert));
}

TEST_F(mt, bad_certificate_on_reload_keeps_running_set)
{
	char path[128], *out = NULL, *line;
	int alert;

	ASSERT_EQ(0, gwt_mkdtemp(self->dir, sizeof(self->dir)));
	snprintf(path, sizeof(path), "%s/cut.pem", self->dir);
	ASSERT_EQ(0, gwt_write_file(path, "-----BEGIN CERTIFICATE-----\nMIIB\n"));
	snprintf(self->metrics_yaml, sizeof(self->metrics_yaml),
		 "  tls:\n    cert: %s\n    key: %s\n    client_ca: %s\n    crl_check: \"off\"\n"
		 "    authorize: [{name: p, spiffe_id: [\"spiffe://corp.test/*\"]}]\n",
		 path, gwt_pki_path("server.key"), gwt_pki_path("ca-bundle.pem"));
	ASSERT_EQ(0, gwt_gw_rewrite(&self->gw, &self->go));
	ASSERT_NE(0, gwt_gw_check(self->gw.cfg, &out));
	EXPECT_NOT_NULL(strstr(out, "metrics.tls.cert: \""));
	EXPECT_NOT_NULL(strstr(out, "cannot load certificate chain"));
	free(out);
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"reload\"", "\"decision\":\"error\"",
			      NULL);
	ASSERT_NOT_NULL(line);
	free(line);
	/* The old metrics.tls serves on, rules and all. */
	ASSERT_EQ(200, scrape(self->gw.metrics_port, "client-ecdsa", NULL, &alert));
	ASSERT_EQ(-1, scrape(self->gw.metrics_port, "client-dev", NULL, &alert));
}

/* A client that starts a handshake and stalls is closed; it held nothing up. */
TEST_F(mt, stalled_handshake_is_closed)
{
	/* The first bytes of a ClientHello record, then nothing. */
	static const unsigned char hello[] = { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01 };
	int fd = gwt_raw_connect(self->gw.metrics_port), alert;
	ssize_t n;
	char c;

	ASSERT_LE(0, fd);
	ASSERT_EQ((ssize_t)sizeof(hello), send(fd, hello, sizeof(hello), MSG_NOSIGNAL));
	ASSERT_EQ(200, scrape(self->gw.metrics_port, "client-ecdsa", NULL, &alert));
	/* Closed within GW_REQSRV_TLS_READ_MS (5 s): recv's 10 s timeout not reached. */
	n = recv(fd, &c, 1, 0);
	EXPECT_TRUE(n == 0 || (n < 0 && errno == ECONNRESET));
	close(fd);
}

/* Prometheus' answer to an instant query, polled until it holds want. */
static bool prom_query_has(int port, const char *query, const char *want, int timeout_ms)
{
	char target[256];
	int waited;

	snprintf(target, sizeof(target), "/api/v1/query?query=%s", query);
	for (waited = 0; waited < timeout_ms; waited += 200) {
		char *body = gwt_http_get(port, target);
		bool ok = body && strstr(body, want);

		free(body);
		if (ok)
			return true;
		usleep(200000);
	}
	return false;
}

/*
 * Prometheus scrapes the endpoint with a client certificate (job mtls)
 * and, in a second job, without one (job nocert): the first is up, the
 * second down.
 */
TEST_F_TIMEOUT(mt, prometheus_scrapes_over_mtls, 60)
{
	char cfg[192], data[160], text[2048], flag_cfg[224], flag_data[192], flag_web[64];
	int port = gwt_free_port();

	if (system("command -v prometheus >/dev/null 2>&1"))
		SKIP("prometheus is not installed (make deps installs it)");
	ASSERT_EQ(0, gwt_mkdtemp(self->dir, sizeof(self->dir)));
	snprintf(cfg, sizeof(cfg), "%s/prometheus.yml", self->dir);
	snprintf(data, sizeof(data), "%s/data", self->dir);
	snprintf(text, sizeof(text),
		 "global: { scrape_interval: 1s, scrape_timeout: 1s }\n"
		 "scrape_configs:\n"
		 "  - job_name: mtls\n"
		 "    scheme: https\n"
		 "    tls_config:\n"
		 "      ca_file: %1$s\n"
		 "      cert_file: %2$s\n"
		 "      key_file: %3$s\n"
		 "      server_name: localhost\n"
		 "    static_configs: [{ targets: [\"127.0.0.1:%4$d\"] }]\n"
		 "  - job_name: nocert\n"
		 "    scheme: https\n"
		 "    tls_config: { ca_file: %1$s, server_name: localhost }\n"
		 "    static_configs: [{ targets: [\"127.0.0.1:%4$d\"] }]\n",
		 gwt_pki_path("ca-bundle.pem"), gwt_pki_path("client-ecdsa-chain.pem"),
		 gwt_pki_path("client-ecdsa.key"), self->gw.metrics_port);
	ASSERT_EQ(0, gwt_write_file(cfg, text));
	snprintf(flag_cfg, sizeof(flag_cfg), "--config.file=%s", cfg);
	snprintf(flag_data, sizeof(flag_data), "--storage.tsdb.path=%s", data);
	snprintf(flag_web, sizeof(flag_web), "--web.listen-address=127.0.0.1:%d", port);
	self->prom = fork();
	ASSERT_LE(0, self->prom);
	if (!self->prom) {
		int devnull = open("/dev/null", O_WRONLY);

		dup2(devnull, STDOUT_FILENO);
		dup2(devnull, STDERR_FILENO);
		execlp("prometheus", "prometheus", flag_cfg, flag_data, flag_web,
		       "--log.level=error", (char *)NULL);
		_exit(127);
	}
	ASSERT_TRUE(prom_query_has(port, "up%7Bjob%3D%22mtls%22%7D", "\"value\":[", 30000));
	if (!prom_query_has(port, "up%7Bjob%3D%22mtls%22%7D", ",\"1\"]", 10000)) {
		char *t = gwt_http_get(port, "/api/v1/targets");

		TH_LOG("Prometheus' targets: %s", t ? t : "(no answer)");
		free(t);
		ASSERT_TRUE(false);
	}
	ASSERT_TRUE(prom_query_has(port, "up%7Bjob%3D%22nocert%22%7D", ",\"0\"]", 10000));
	/* A series of ours came in through the scrape. */
	ASSERT_TRUE(prom_query_has(port, "mtlsgw_cert_not_after_timestamp_seconds", "\"job\":\"mtls\"", 10000));
}

TEST_HARNESS_MAIN
