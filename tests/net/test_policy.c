// SPDX-License-Identifier: GPL-2.0-only
/*
 * Listener policy beyond the default: audit mode, the userspace source
 * allowlist, subject and fingerprint rules, min_version, handshake
 * timeouts, an unreachable backend, IPv6, and "mtlsgw --check".
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "harness.h"
#include "lib/gwtest.h"

FIXTURE(pol) {
	struct gwt_backend be;
	struct gwt_gw gw;
};

FIXTURE_SETUP(pol)
{
	struct gwt_backend_opts bo = { .echo = true };

	self->gw.pid = -1;
	self->gw.notify_fd = -1;
	ASSERT_EQ(0, gwt_backend_start(&self->be, &bo));
}

FIXTURE_TEARDOWN(pol)
{
	gwt_backend_stop(&self->be);
	EXPECT_EQ(0, gwt_gw_cleanup(&self->gw));
}

static int pol_start(FIXTURE_DATA(pol) *self, struct gwt_gw_opts *go)
{
	go->upstream_port = self->be.port;
	if (gwt_gw_config(&self->gw, go))
		return -1;
	return gwt_gw_start(&self->gw);
}

static bool echo_ok(int port, const char *cert)
{
	return gwt_echo_ok(port, cert, "policy");
}

static uint64_t backend_rx(FIXTURE_DATA(pol) *self)
{
	return __atomic_load_n(&self->be.st->rx_total, __ATOMIC_SEQ_CST);
}

TEST_F(pol, audit_mode_lets_unauthorized_through_and_logs)
{
	struct gwt_gw_opts go = { .mode = "audit" };
	char *line;

	ASSERT_EQ(0, pol_start(self, &go));
	ASSERT_TRUE(echo_ok(self->gw.port, "client-dev"));
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"authz_deny\"",
			      "\"decision\":\"would_deny\"", "\"reason\":\"not_authorized\"",
			      "\"spiffe_id\":\"spiffe://corp.test/dev/tool\"", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"conn_open\"",
			      "\"decision\":\"would_deny\"", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
}

TEST_F(pol, audit_mode_still_verifies_certificates)
{
	struct gwt_gw_opts go = { .mode = "audit" };
	struct gwt_client_opts co = { .cert = "client-revoked" };
	struct gwt_outcome out;
	char *line;

	ASSERT_EQ(0, pol_start(self, &go));
	gwt_client_try(self->gw.port, &co, "x", 1, &out);
	ASSERT_EQ(0, out.rx);
	ASSERT_EQ(SSL_AD_CERTIFICATE_REVOKED, out.alert);
	line = gwt_audit_wait(&self->gw, 5000, "\"reason\":\"revoked\"",
			      "\"decision\":\"deny\"", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
	ASSERT_EQ(0, backend_rx(self));
}

TEST_F(pol, source_outside_allowlist_is_closed)
{
	struct gwt_gw_opts go = { .allow_sources = "[10.0.0.0/8, \"2001:db8::/32\"]" };
	struct gwt_client_opts co = { .cert = "client-ecdsa" };
	struct gwt_outcome out;
	char *line;

	ASSERT_EQ(0, pol_start(self, &go));
	gwt_client_try(self->gw.port, &co, "x", 1, &out);
	ASSERT_FALSE(out.handshake_ok);
	ASSERT_EQ(0, out.rx);
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"authz_deny\"",
			      "\"reason\":\"source_denied\"", "\"decision\":\"deny\"",
			      "\"src\":\"127.0.0.1:", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
	ASSERT_EQ(0, __atomic_load_n(&self->be.st->accepted, __ATOMIC_SEQ_CST));
}

TEST_F(pol, source_inside_allowlist_passes)
{
	struct gwt_gw_opts go = { .allow_sources = "[10.0.0.0/8, 127.0.0.0/8]" };

	ASSERT_EQ(0, pol_start(self, &go));
	ASSERT_TRUE(echo_ok(self->gw.port, "client-ecdsa"));
	ASSERT_EQ(0, gwt_audit_count(&self->gw, "source_denied"));
}

TEST_F(pol, source_denied_in_audit_mode_passes)
{
	struct gwt_gw_opts go = { .allow_sources = "[10.0.0.0/8]", .mode = "audit" };
	char *line;

	ASSERT_EQ(0, pol_start(self, &go));
	ASSERT_TRUE(echo_ok(self->gw.port, "client-ecdsa"));
	line = gwt_audit_wait(&self->gw, 5000, "\"reason\":\"source_denied\"",
			      "\"decision\":\"would_deny\"", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
}

TEST_F(pol, subject_rule)
{
	struct gwt_gw_opts go = {
		.authorize = "      - name: dev-team\n"
			     "        subject: { O: Corp, OU: dev }\n",
	};
	struct gwt_client_opts co = { .cert = "client-ecdsa" };
	struct gwt_outcome out;
	char *line;

	ASSERT_EQ(0, pol_start(self, &go));
	ASSERT_TRUE(echo_ok(self->gw.port, "client-dev"));
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"conn_open\"",
			      "\"rule\":\"dev-team\"", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
	/* OU=prod does not match OU: dev. */
	gwt_client_try(self->gw.port, &co, "x", 1, &out);
	ASSERT_EQ(0, out.rx);
	ASSERT_NE(-1, out.alert);
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"authz_deny\"",
			      "\"subject\":\"CN=payments", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
}

TEST_F(pol, fingerprint_rule)
{
	char fp[128], rules[512];
	struct gwt_gw_opts go = { 0 };
	char *line;

	ASSERT_EQ(0, gwt_cert_fingerprint(gwt_pki_path("client-dev.crt"), fp, sizeof(fp)));
	snprintf(rules, sizeof(rules),
		 "      - name: break-glass\n"
		 "        fingerprint_sha256: [\"%s\"]\n", fp);
	go.authorize = rules;
	ASSERT_EQ(0, pol_start(self, &go));
	ASSERT_TRUE(echo_ok(self->gw.port, "client-dev"));
	ASSERT_FALSE(echo_ok(self->gw.port, "client-ecdsa"));
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"conn_open\"",
			      "\"rule\":\"break-glass\"", fp, NULL);
	ASSERT_NOT_NULL(line);
	free(line);
}

TEST_F(pol, min_version_13_refuses_tls12)
{
	struct gwt_gw_opts go = { .min_version = "1.3" };
	struct gwt_client_opts co = { .cert = "client-ecdsa",
				      .max_version = TLS1_2_VERSION };
	struct gwt_outcome out;
	char *line;

	ASSERT_EQ(0, pol_start(self, &go));
	gwt_client_try(self->gw.port, &co, "x", 1, &out);
	ASSERT_FALSE(out.handshake_ok);
	ASSERT_EQ(SSL_AD_PROTOCOL_VERSION, out.alert);
	line = gwt_audit_wait(&self->gw, 5000, "\"reason\":\"protocol_version\"", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
	ASSERT_TRUE(echo_ok(self->gw.port, "client-ecdsa"));
}


TEST_F(pol, stalled_handshakes_time_out)
{
	struct gwt_gw_opts go = { .handshake_timeout = "300ms" };
	const unsigned char partial[] = { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01 };
	char buf[16], *line;
	int silent, slow;

	ASSERT_EQ(0, pol_start(self, &go));
	silent = gwt_raw_connect(self->gw.port);
	slow = gwt_raw_connect(self->gw.port);
	ASSERT_GE(silent, 0);
	ASSERT_GE(slow, 0);
	/* A ClientHello header that promises 512 bytes and delivers one. */
	ASSERT_EQ((ssize_t)sizeof(partial), send(slow, partial, sizeof(partial), 0));
	/* The gateway closes both (recv returns 0 or ECONNRESET, not EAGAIN). */
	ASSERT_GE(0, recv(silent, buf, sizeof(buf), 0));
	ASSERT_GE(0, recv(slow, buf, sizeof(buf), 0));
	close(silent);
	close(slow);
	line = gwt_audit_wait(&self->gw, 5000, "\"reason\":\"handshake_timeout\"", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
	ASSERT_EQ(2, gwt_audit_count(&self->gw, "\"reason\":\"handshake_timeout\""));
	/* Timeouts did not disturb service. */
	ASSERT_TRUE(echo_ok(self->gw.port, "client-ecdsa"));
}

TEST_F(pol, upstream_unreachable)
{
	struct gwt_gw_opts go = { 0 };
	struct gwt_client_opts co = { .cert = "client-ecdsa" };
	struct gwt_outcome out;
	char *line;

	/* Point the gateway at a port where nothing listens. */
	ASSERT_EQ(0, gwt_gw_config(&self->gw, &go));
	go.upstream_port = gwt_free_port();
	gwt_gw_cleanup(&self->gw);
	ASSERT_EQ(0, gwt_gw_config(&self->gw, &go));
	ASSERT_EQ(0, gwt_gw_start(&self->gw));
	gwt_client_try(self->gw.port, &co, "x", 1, &out);
	ASSERT_TRUE(out.handshake_ok);
	ASSERT_EQ(0, out.rx);
	ASSERT_TRUE(out.closed);
	ASSERT_EQ(SSL_AD_CLOSE_NOTIFY, out.alert);
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"conn_close\"",
			      "\"reason\":\"upstream_unreachable\"", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
}

TEST_F(pol, ipv6_listener)
{
	struct gwt_gw_opts go = { .listen_host = "[::1]" };
	struct gwt_client_opts co = { .cert = "client-ecdsa", .family = AF_INET6 };
	struct gwt_outcome out;
	char *line;

	ASSERT_EQ(0, pol_start(self, &go));
	gwt_client_try(self->gw.port, &co, "six!", 4, &out);
	ASSERT_TRUE(out.handshake_ok);
	ASSERT_EQ(4, out.rx);
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"conn_open\"",
			      "\"src\":\"[::1]:", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
}

/* Find a TLV of the given type in a PROXY v2 TLV area. */
static const unsigned char *pp2_tlv(const unsigned char *p, size_t len,
				    unsigned int type, size_t *vlen)
{
	while (len >= 3) {
		size_t l = (size_t)p[1] << 8 | p[2];

		if (l + 3 > len)
			return NULL;
		if (p[0] == type) {
			*vlen = l;
			return p + 3;
		}
		p += 3 + l;
		len -= 3 + l;
	}
	return NULL;
}

TEST_F(pol, proxy_protocol_v2_carries_identity)
{
	static const unsigned char sig[12] = { 0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
					       0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A };
	const char spiffe[] = "spiffe://corp.test/prod/payments";
	struct gwt_gw_opts go = { .upstream_extra = "      proxy_protocol: v2\n" };
	const unsigned char *h, *tlvs, *v;
	size_t hlen, vlen;
	uint64_t rx;
	char *line;

	struct gwt_backend_opts sink = { 0 };
	struct gwt_client_opts co = { .cert = "client-ecdsa" };
	struct gwt_outcome out;

	/* A backend that only receives: the header must not come back to us. */
	gwt_backend_stop(&self->be);
	ASSERT_EQ(0, gwt_backend_start(&self->be, &sink));
	ASSERT_EQ(0, pol_start(self, &go));
	gwt_client_try(self->gw.port, &co, "policy", 0, &out);
	ASSERT_TRUE(out.handshake_ok);
	ASSERT_TRUE(gwt_backend_wait_done(&self->be, 0, 5000));
	h = self->be.st->conn[0].head;
	ASSERT_MEMEQ(sig, h, 12);
	ASSERT_EQ(0x21, h[12]);			/* v2, PROXY */
	ASSERT_EQ(0x11, h[13]);			/* TCP over IPv4 */
	hlen = 16 + ((size_t)h[14] << 8 | h[15]);
	ASSERT_LT(hlen, (size_t)GWT_BACKEND_HEAD);
	ASSERT_EQ(0x7f, h[16]);			/* source 127.0.0.1 */
	ASSERT_EQ(self->gw.port, (h[26] << 8) | h[27]);	/* destination port */
	tlvs = h + 28;
	v = pp2_tlv(tlvs, hlen - 28, 0xE0, &vlen);
	ASSERT_NOT_NULL(v);
	ASSERT_EQ(strlen(spiffe), vlen);
	ASSERT_MEMEQ(spiffe, v, vlen);
	v = pp2_tlv(tlvs, hlen - 28, 0x20, &vlen);
	ASSERT_NOT_NULL(v);
	ASSERT_EQ(0x07, v[0]);
	/* The client's bytes follow the header, and only they count as payload. */
	rx = self->be.st->conn[0].rx_bytes;
	ASSERT_EQ(hlen + 6, rx);
	ASSERT_MEMEQ("policy", h + hlen, 6);
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"conn_close\"",
			      "\"bytes_in\":6,", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
}

/* ---- mtlsgw --check ---- */

TEST_F(pol, check_valid_config)
{
	struct gwt_gw_opts go = { 0 };
	char *out;

	go.upstream_port = self->be.port;
	ASSERT_EQ(0, gwt_gw_config(&self->gw, &go));
	ASSERT_EQ(0, gwt_gw_check(self->gw.cfg, &out));
	ASSERT_NOT_NULL(strstr(out, "is valid"));
	free(out);
}

TEST_F(pol, check_key_not_matching_cert)
{
	char tls_key[256], *cfg, *p, *out;
	struct gwt_gw_opts go = { 0 };
	FILE *f;

	go.upstream_port = self->be.port;
	ASSERT_EQ(0, gwt_gw_config(&self->gw, &go));
	/* Swap the server key for another valid key. */
	cfg = gwt_read_file(self->gw.cfg);
	snprintf(tls_key, sizeof(tls_key), "%s/server.key", gwt_pki());
	p = strstr(cfg, tls_key);
	ASSERT_NOT_NULL(p);
	f = fopen(self->gw.cfg, "w");
	ASSERT_NOT_NULL(f);
	fprintf(f, "%.*s%s/client-ecdsa.key%s", (int)(p - cfg), cfg, gwt_pki(),
		p + strlen(tls_key));
	fclose(f);
	free(cfg);
	ASSERT_EQ(2, gwt_gw_check(self->gw.cfg, &out));
	ASSERT_NOT_NULL(strstr(out, "listeners[0].tls.key"));
	ASSERT_NOT_NULL(strstr(out, "does not match"));
	ASSERT_NOT_NULL(strstr(out, "mtlsgw.yaml:"));
	free(out);
}

TEST_F(pol, check_corrupt_crl)
{
	struct gwt_gw_opts go = { .crl = "[broken.crl]" };
	char crl[128], *out;

	go.upstream_port = self->be.port;
	ASSERT_EQ(0, gwt_gw_config(&self->gw, &go));
	/* A relative path: next to the configuration file. */
	snprintf(crl, sizeof(crl), "%s/broken.crl", self->gw.dir);
	ASSERT_EQ(0, gwt_write_file(crl, "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n"));
	ASSERT_EQ(2, gwt_gw_check(self->gw.cfg, &out));
	ASSERT_NOT_NULL(strstr(out, "listeners[0].tls.crl"));
	ASSERT_NOT_NULL(strstr(out, crl));
	free(out);
}

TEST_F(pol, check_unknown_key_exit_2_and_daemon_refuses)
{
	struct gwt_gw_opts go = { .listener_extra = "    bogus_key: 1\n" };
	char *out;

	go.upstream_port = self->be.port;
	ASSERT_EQ(0, gwt_gw_config(&self->gw, &go));
	ASSERT_EQ(2, gwt_gw_check(self->gw.cfg, &out));
	ASSERT_NOT_NULL(strstr(out, "bogus_key"));
	ASSERT_NOT_NULL(strstr(out, "mtlsgw.yaml:"));
	free(out);
	/* The daemon itself refuses to start with status 2. */
	ASSERT_NE(0, gwt_gw_start(&self->gw));
}

TEST_HARNESS_MAIN
