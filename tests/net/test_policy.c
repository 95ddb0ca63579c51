// SPDX-License-Identifier: GPL-2.0-only
/*
 * Listener policy beyond the default: audit mode, the userspace source
 * allowlist, subject and fingerprint rules, min_version, handshake
 * timeouts, an unreachable backend, IPv6, and "mtlsgw --check".
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <openssl/err.h>

#include "harness.h"
#include "lib/gwtest.h"
#include "lib/pkigen.h"

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

/* ---- a client chain longer than verify_depth allows ---- */

#define CPU_ROUNDS 100

FIXTURE(junk) {
	struct gwt_backend be;
	struct gwt_gw gw;
};

/*
 * verify_depth 3 (the tests' configuration): 5 certificates at most, 40
 * KiB. 60 junk certificates fit in the bytes and are refused for their
 * number before any is parsed; 200 are over the bytes and refused from the
 * message's header, while the client is still sending: the gateway's
 * alert may be lost in the reset of a socket it closes with unread data.
 */
FIXTURE_VARIANT(junk) {
	int version;
	unsigned int n_junk;
	const char *detail;	/* in the audit line's detail */
	int alert;		/* the alert every client reads, -1: any or none */
};

FIXTURE_VARIANT_ADD(junk, tls13_60) {
	.version = TLS1_3_VERSION, .n_junk = 60,
	.detail = "the client sent 63 certificates; verify_depth 3 allows 5",
	.alert = SSL_AD_DECODE_ERROR,
};
FIXTURE_VARIANT_ADD(junk, tls12_60) {
	.version = TLS1_2_VERSION, .n_junk = 60,
	.detail = "the client sent 63 certificates; verify_depth 3 allows 5",
	.alert = SSL_AD_DECODE_ERROR,
};
FIXTURE_VARIANT_ADD(junk, tls13_200) {
	.version = TLS1_3_VERSION, .n_junk = 200,
	.detail = "Certificate message is over 40960 bytes, the most verify_depth 3 allows",
	.alert = -1,
};
FIXTURE_VARIANT_ADD(junk, tls12_200) {
	.version = TLS1_2_VERSION, .n_junk = 200,
	.detail = "Certificate message is over 40960 bytes, the most verify_depth 3 allows",
	.alert = -1,
};

FIXTURE_SETUP(junk)
{
	struct gwt_gw_opts go = { 0 };

	ASSERT_EQ(0, gwt_env_start(&self->be, &self->gw, &go, true));
}

FIXTURE_TEARDOWN(junk)
{
	EXPECT_EQ(0, gwt_env_stop(&self->be, &self->gw));
}

/*
 * A junk CA certificate, self-signed, in DER. Copies of it differ in their
 * last four bytes, the end of the signature: still well formed, still
 * junk, and each new to the gateway's certificate pool.
 */
static unsigned char *junk_der(int *len)
{
	EVP_PKEY *key = gwt_ec_key();
	X509 *x = key ? gwt_make_cert("junk", key, NULL, key, true, -3600, 86400, 1) : NULL;
	unsigned char *der = NULL;

	*len = x ? i2d_X509(x, &der) : -1;
	X509_free(x);
	EVP_PKEY_free(key);
	return *len > 4 ? der : NULL;
}

/*
 * A client context with client-ecdsa's own chain (leaf, issuing and
 * intermediate CA: it verifies), then n junk certificates numbered from
 * serial0: nothing verification could use, only bulk. Fresh junk for
 * every handshake, as an attacker would send: the same again would be
 * parsed once per worker and then served from its certificate pool.
 */
static SSL_CTX *junk_client_ctx(int version, const unsigned char *der, int len,
				unsigned int n, uint32_t serial0)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	unsigned char *copy = der ? malloc((size_t)len) : NULL;
	const unsigned char *p;
	uint32_t serial;
	unsigned int i;
	X509 *x;

	if (!ctx || (der && !copy))
		goto fail;
	SSL_CTX_set_min_proto_version(ctx, version);
	SSL_CTX_set_max_proto_version(ctx, version);
	SSL_CTX_set_security_level(ctx, 0);
	if (SSL_CTX_use_certificate_chain_file(ctx, gwt_pki_path("client-ecdsa-chain.pem")) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, gwt_pki_path("client-ecdsa.key"),
					SSL_FILETYPE_PEM) != 1)
		goto fail;
	for (i = 0; der && i < n; i++) {
		memcpy(copy, der, (size_t)len);
		serial = serial0 + i;
		memcpy(copy + len - sizeof(serial), &serial, sizeof(serial));
		p = copy;
		x = d2i_X509(NULL, &p, len);
		if (!x || SSL_CTX_add0_chain_cert(ctx, x) != 1) {
			X509_free(x);
			goto fail;
		}
	}
	free(copy);
	return ctx;
fail:
	free(copy);
	SSL_CTX_free(ctx);
	return NULL;
}

static void junk_info_cb(const SSL *ssl, int where, int ret)
{
	int *alert = SSL_get_app_data(ssl);

	if ((where & SSL_CB_ALERT) && (where & SSL_CB_READ))
		*alert = ret & 0xff;
}

/*
 * One client through the gateway: handshake, one byte, its echo. true
 * when the byte came back (the gateway let the client through); the
 * alert it read, if any, in *alert.
 */
static bool junk_client_once(SSL_CTX *ctx, int port, int *alert)
{
	int fd = gwt_raw_connect(port), one = 1;
	SSL *ssl = fd >= 0 ? SSL_new(ctx) : NULL;
	char b = 'x';
	bool ok;

	*alert = -1;
	/* Our flight goes out whole, not held by Nagle for a delayed ACK. */
	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (ssl) {
		SSL_set_app_data(ssl, alert);
		SSL_set_info_callback(ssl, junk_info_cb);
	}
	ok = ssl && SSL_set_fd(ssl, fd) == 1 && SSL_connect(ssl) == 1;
	/*
	 * TLS 1.3: the handshake ends on our side before the gateway decided;
	 * its refusal may reset the write, and the alert waits to be read.
	 */
	if (ok) {
		SSL_write(ssl, &b, 1);
		ok = SSL_read(ssl, &b, 1) == 1;
	}
	if (ok)
		SSL_shutdown(ssl);
	SSL_free(ssl);
	if (fd >= 0)
		close(fd);
	ERR_clear_error();
	return ok;
}

/*
 * A client sending its valid chain and junk after it, more than
 * verify_depth allows, is refused as too_deep, and cheaply: the gateway's
 * CPU per such handshake stays within 3 times a good client's, measured
 * here one after the other (a ratio, not a time). Parsed and verified,
 * 200 fresh junk certificates cost 40 times.
 */
TEST_F_TIMEOUT(junk, refused_before_parsing, 180)
{
	const char *series = "mtlsgw_handshakes_total{listener=\"test\",result=\"fail\",reason=\"too_deep\"}";
	int i, len, alert, accepted = 0, alerted = 0, expected = 0;
	long t0, t_good, t_junk;
	char *line;
	unsigned char *der;
	SSL_CTX *ctx;

	signal(SIGPIPE, SIG_IGN);
	der = junk_der(&len);
	ASSERT_NOT_NULL(der);
	/* A good client with the same chain, without the junk. */
	ctx = junk_client_ctx(variant->version, NULL, 0, 0, 0);
	ASSERT_NOT_NULL(ctx);
	t0 = gwt_proc_cpu_ms(self->gw.pid);
	for (i = 0; i < CPU_ROUNDS; i++)
		ASSERT_TRUE(junk_client_once(ctx, self->gw.port, &alert));
	t_good = gwt_proc_cpu_ms(self->gw.pid) - t0;
	SSL_CTX_free(ctx);
	ASSERT_EQ(CPU_ROUNDS, __atomic_load_n(&self->be.st->accepted, __ATOMIC_SEQ_CST));

	/* Making the junk takes time, none of the gateway's CPU. */
	t0 = gwt_proc_cpu_ms(self->gw.pid);
	for (i = 0; i < CPU_ROUNDS; i++) {
		ctx = junk_client_ctx(variant->version, der, len, variant->n_junk,
				      (uint32_t)i * variant->n_junk);
		ASSERT_NOT_NULL(ctx);
		accepted += junk_client_once(ctx, self->gw.port, &alert);
		alerted += alert != -1;
		expected += alert == variant->alert;
		SSL_CTX_free(ctx);
	}
	t_junk = gwt_proc_cpu_ms(self->gw.pid) - t0;
	OPENSSL_free(der);
	printf("# gateway CPU per handshake: %.2f ms for a good client, %.2f ms with %u junk certificates after its chain (%.1fx); %d of %d accepted, %d saw an alert\n",
	       (double)t_good / CPU_ROUNDS, (double)t_junk / CPU_ROUNDS, variant->n_junk,
	       t_good ? (double)t_junk / t_good : 0, accepted, CPU_ROUNDS, alerted);
	ASSERT_EQ(0, accepted);
	if (variant->alert != -1 && expected != CPU_ROUNDS)
		TH_LOG("the last alert: %d, expected %d", alert, variant->alert);
	if (variant->alert != -1)
		ASSERT_EQ(CPU_ROUNDS, expected);
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"handshake_fail\"",
			      "\"reason\":\"too_deep\"", variant->detail, NULL);
	if (!line) {
		line = gwt_audit_wait(&self->gw, 100, "\"event\":\"handshake_fail\"", NULL);
		TH_LOG("a handshake_fail line: %s", line ? line : "(none)");
		free(line);
		line = NULL;
	}
	ASSERT_NOT_NULL(line);
	free(line);
	ASSERT_EQ(CPU_ROUNDS, gwt_metric_wait(&self->gw, series, CPU_ROUNDS, 2000));
	/* Not a connection reached the backend after the good clients'. */
	ASSERT_EQ(CPU_ROUNDS, __atomic_load_n(&self->be.st->accepted, __ATOMIC_SEQ_CST));
	ASSERT_GT(t_good, 0);
	ASSERT_LT(t_junk, 3 * t_good);
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
