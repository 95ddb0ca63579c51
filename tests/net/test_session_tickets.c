// SPDX-License-Identifier: GPL-2.0-only
/*
 * tls.session_tickets: two gateways that hold the same ticket key file
 * resume each other's clients (TLS 1.3 and 1.2); without the file, or
 * after the key was rotated out, they do not. A resumed client is
 * checked again under the resuming gateway's rules. Key rotation (old
 * key second), HAProxy's base64 form, lifetime, and the file's errors:
 * mode, size, a broken file on reload keeping the running keys.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "harness.h"
#include "lib/gwtest.h"

FIXTURE(tk) {
	struct gwt_backend be;
	struct gwt_gw a, b;
	char dir[64];
	char key1[96], key2[96];
	char extra_a[256], extra_b[256];
};

/* The binary files a and b concatenated into out (0600): keys a then b. */
static int cat_keys(const char *out, const char *a, const char *b)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "cat '%s' '%s' > '%s' && chmod 600 '%s'", a, b, out, out);
	return system(cmd) ? -1 : 0;
}

FIXTURE_SETUP(tk)
{
	struct gwt_backend_opts bo = { .echo = true };

	self->a.pid = self->b.pid = -1;
	self->a.notify_fd = self->b.notify_fd = -1;
	ASSERT_EQ(0, gwt_mkdtemp(self->dir, sizeof(self->dir)));
	snprintf(self->key1, sizeof(self->key1), "%s/k1.key", self->dir);
	snprintf(self->key2, sizeof(self->key2), "%s/k2.key", self->dir);
	ASSERT_EQ(0, gwt_write_ticket_keys(self->key1, 1));
	ASSERT_EQ(0, gwt_write_ticket_keys(self->key2, 1));
	ASSERT_EQ(0, gwt_backend_start(&self->be, &bo));
}

FIXTURE_TEARDOWN(tk)
{
	gwt_backend_stop(&self->be);
	EXPECT_EQ(0, gwt_gw_cleanup(&self->a));
	EXPECT_EQ(0, gwt_gw_cleanup(&self->b));
	gwt_rmtree(self->dir);
}

/*
 * A gateway whose tls has extra (NULL: no session_tickets) and authorize
 * rules. Two workers resuming each other's tickets: test_fleet.
 */
static int start_gw(FIXTURE_DATA(tk) *self, struct gwt_gw *g, const char *extra,
		    const char *authorize)
{
	/* One worker: one certificate pool, so the tests can tell a lookup from a parse. */
	struct gwt_gw_opts go = {
		.upstream_port = self->be.port, .tls_extra = extra, .authorize = authorize,
		.top_extra = "workers: 1\n",
	};

	if (gwt_gw_config(g, &go))
		return -1;
	return gwt_gw_start(g);
}

static const char *keys_extra(char *buf, size_t len, const char *file, const char *more)
{
	snprintf(buf, len, "      session_tickets: { key_file: %s%s }\n", file, more ? more : "");
	return buf;
}

/* A session from g for client-ecdsa at version, or NULL. */
static SSL_SESSION *ticket_from(struct gwt_gw *g, int version)
{
	struct gwt_client_opts co = { .cert = "client-ecdsa", .min_version = version,
				      .max_version = version };
	struct gwt_client c;

	if (gwt_client_connect(&c, g->port, &co))
		return NULL;
	return gwt_client_ticket(&c, "ticket");
}

/*
 * One full handshake of client-ecdsa on g: a ticket carries no
 * intermediates, so a gateway resumes another's client only once it has
 * verified one client of the same issuer path itself (vcache.h).
 */
static bool warm(struct gwt_gw *g)
{
	return gwt_echo_ok(g->port, "client-ecdsa", "warm");
}

/* Offer sess to g: 1 resumed, 0 full handshake, -1 refused. The session is freed. */
static int offer(struct gwt_gw *g, SSL_SESSION *sess, int version)
{
	struct gwt_client_opts co = { .cert = "client-ecdsa", .min_version = version,
				      .max_version = version, .session = sess };
	struct gwt_client c;
	int ret = -1;

	if (!gwt_client_connect(&c, g->port, &co) && gwt_roundtrip(&c, "again"))
		ret = SSL_session_reused(c.ssl);
	gwt_client_close(&c);
	SSL_SESSION_free(sess);
	return ret;
}

/*
 * Gateways a and b on the key files file_a and file_b, b warmed: a's
 * ticket offered to b, as offer() says.
 */
static int a_to_b(FIXTURE_DATA(tk) *self, const char *file_a, const char *file_b, int version)
{
	SSL_SESSION *s;

	keys_extra(self->extra_a, sizeof(self->extra_a), file_a, NULL);
	keys_extra(self->extra_b, sizeof(self->extra_b), file_b, NULL);
	if (start_gw(self, &self->a, self->extra_a, NULL) ||
	    start_gw(self, &self->b, self->extra_b, NULL) || !warm(&self->b))
		return -2;
	s = ticket_from(&self->a, version);
	return s ? offer(&self->b, s, version) : -2;
}

/* The ticket's length in s and the DER length of the PKI's client-ecdsa leaf. */
static void ticket_and_leaf(SSL_SESSION *s, size_t *tick, int *leaf)
{
	const unsigned char *t = NULL;
	char *pem = gwt_read_file(gwt_pki_path("client-ecdsa.crt"));
	BIO *b = pem ? BIO_new_mem_buf(pem, -1) : NULL;
	X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;

	*tick = 0;
	SSL_SESSION_get0_ticket(s, &t, tick);
	*leaf = x ? i2d_X509(x, NULL) : -1;
	X509_free(x);
	BIO_free(b);
	free(pem);
}

static void across(HARNESS_CTX, FIXTURE_DATA(tk) *self, int version)
{
	SSL_SESSION *s;

	ASSERT_EQ(1, a_to_b(self, self->key1, self->key1, version));
	ASSERT_EQ(1, gwt_metric_wait(&self->b,
		"mtlsgw_verify_cache_total{listener=\"test\",path=\"resumed\"}", 1, 2000));
	/*
	 * The leaf came out of the ticket's application data, through B's
	 * certificate pool (it saw the client in the warm-up): not parsed
	 * again as OpenSSL's own session decoding would (tickets.h).
	 */
	ASSERT_LE(1, gwt_metric_value(&self->b,
		"mtlsgw_client_certs_parsed_total{result=\"reused\"}"));
	/* And back: B's ticket on A. */
	s = ticket_from(&self->b, version);
	ASSERT_NOT_NULL(s);
	/*
	 * The leaf is in the ticket once, in its application data: the
	 * session in it goes without (784 bytes here with a 561-byte leaf;
	 * 1,360 with OpenSSL's own session decoding, the leaf twice).
	 */
	{
		size_t tick;
		int leaf;

		ticket_and_leaf(s, &tick, &leaf);
		ASSERT_LT(0, leaf);
		ASSERT_LT(tick, (size_t)leaf + 400);
	}
	ASSERT_EQ(1, offer(&self->a, s, version));
}

TEST_F(tk, tls13_ticket_of_one_gateway_resumes_on_the_other)
{
	across(_ctx, self, TLS1_3_VERSION);
}

TEST_F(tk, tls12_ticket_of_one_gateway_resumes_on_the_other)
{
	across(_ctx, self, TLS1_2_VERSION);
}

TEST_F(tk, without_the_shared_file_no_gateway_resumes_another)
{
	SSL_SESSION *s;

	ASSERT_EQ(0, start_gw(self, &self->a, NULL, NULL));
	ASSERT_EQ(0, start_gw(self, &self->b, NULL, NULL));
	ASSERT_TRUE(warm(&self->b));
	s = ticket_from(&self->a, TLS1_3_VERSION);
	ASSERT_NOT_NULL(s);
	ASSERT_EQ(0, offer(&self->b, s, TLS1_3_VERSION));
	/* Different files: no better. */
	EXPECT_EQ(0, gwt_gw_cleanup(&self->a));
	EXPECT_EQ(0, gwt_gw_cleanup(&self->b));
	ASSERT_EQ(0, a_to_b(self, self->key1, self->key2, TLS1_3_VERSION));
}

TEST_F(tk, rotation_old_key_second_still_resumes_then_not_at_all)
{
	char both[128], *out = NULL;
	SSL_SESSION *s;

	/* A encrypts under k1; B has k2 first and k1 second, as mid-rotation. */
	snprintf(both, sizeof(both), "%s/k2k1.key", self->dir);
	ASSERT_EQ(0, cat_keys(both, self->key2, self->key1));
	ASSERT_EQ(1, a_to_b(self, self->key1, both, TLS1_3_VERSION));
	/* B's own tickets are under k2: A (k1 only) cannot read them. */
	ASSERT_TRUE(warm(&self->a));
	s = ticket_from(&self->b, TLS1_3_VERSION);
	ASSERT_NOT_NULL(s);
	ASSERT_EQ(0, offer(&self->a, s, TLS1_3_VERSION));
	/* k1 rotated out of B (a rewrite reloads it): A's tickets are over there. */
	s = ticket_from(&self->a, TLS1_3_VERSION);
	ASSERT_NOT_NULL(s);
	ASSERT_EQ(0, cat_keys(both, self->key2, "/dev/null"));
	ASSERT_EQ(0, gwt_ctl(&self->b, &out, "reload"));
	free(out);
	ASSERT_TRUE(warm(&self->b));		/* a reload starts a new path cache */
	ASSERT_EQ(0, offer(&self->b, s, TLS1_3_VERSION));
}

TEST_F(tk, resumed_client_is_checked_against_the_resuming_gateways_rules)
{
	static const char dev_only[] =
		"      - name: dev\n"
		"        spiffe_id: [\"spiffe://corp.test/dev/*\"]\n";
	struct gwt_client_opts co = { .cert = "client-ecdsa", .max_version = TLS1_3_VERSION };
	struct gwt_outcome out;
	SSL_SESSION *s;
	int i;

	keys_extra(self->extra_a, sizeof(self->extra_a), self->key1, NULL);
	ASSERT_EQ(0, start_gw(self, &self->a, self->extra_a, NULL));
	ASSERT_EQ(0, start_gw(self, &self->b, self->extra_a, dev_only));
	/* Denied, but B now knows the issuer path: the ticket's keys would do. */
	ASSERT_FALSE(warm(&self->b));
	s = ticket_from(&self->a, TLS1_3_VERSION);
	ASSERT_NOT_NULL(s);
	/* B accepts the ticket's keys but not the client: a full handshake, denied. */
	co.session = s;
	gwt_client_try(self->b.port, &co, "x", 1, &out);
	SSL_SESSION_free(s);
	ASSERT_EQ(0, out.rx);
	/* Both denials, the warm-up's and this one's, logged. */
	for (i = 0; i < 50 && gwt_audit_count(&self->b, "\"reason\":\"not_authorized\"") < 2; i++)
		usleep(100 * 1000);
	ASSERT_EQ(2, gwt_audit_count(&self->b, "\"reason\":\"not_authorized\""));
	ASSERT_GE(0, gwt_metric_value(&self->b,
		"mtlsgw_verify_cache_total{listener=\"test\",path=\"resumed\"}"));
}

TEST_F(tk, haproxy_base64_form)
{
	unsigned char raw[80];
	char text[256], path[128], b64[128];

	/* The same key as k1, in HAProxy's layout: name, AES key, HMAC key. */
	{
		FILE *f = fopen(self->key1, "rb");

		ASSERT_NOT_NULL(f);
		ASSERT_EQ(80, fread(raw, 1, 80, f));
		fclose(f);
	}
	{
		unsigned char hp[80];

		memcpy(hp, raw, 16);
		memcpy(hp + 16, raw + 48, 32);		/* nginx: AES key last */
		memcpy(hp + 48, raw + 16, 32);		/* nginx: HMAC key second */
		ASSERT_EQ(108, EVP_EncodeBlock((unsigned char *)b64, hp, 80));
	}
	snprintf(path, sizeof(path), "%s/haproxy.keys", self->dir);
	snprintf(text, sizeof(text), "%s\n", b64);
	ASSERT_EQ(0, gwt_write_file(path, text));
	ASSERT_EQ(0, chmod(path, 0600));
	ASSERT_EQ(1, a_to_b(self, self->key1, path, TLS1_3_VERSION));
}

TEST_F(tk, lifetime_ends_resumption)
{
	SSL_SESSION *s;

	keys_extra(self->extra_a, sizeof(self->extra_a), self->key1, ", lifetime: 1s");
	ASSERT_EQ(0, start_gw(self, &self->a, self->extra_a, NULL));
	s = ticket_from(&self->a, TLS1_3_VERSION);
	ASSERT_NOT_NULL(s);
	ASSERT_EQ(1, SSL_SESSION_get_ticket_lifetime_hint(s));
	usleep(2200 * 1000);
	ASSERT_EQ(0, offer(&self->a, s, TLS1_3_VERSION));
}

TEST_F(tk, key_file_errors_name_the_key_and_keep_the_running_keys)
{
	static const struct {
		const char *content;
		size_t len;
		mode_t mode;
		const char *want;
	} cases[] = {
		{ "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a", 10, 0600,
		  "10 bytes: not one or more 80-byte keys" },
		{ "8888888888888888888888888888888888888888888888888888888888888888888888888888888",
		  80, 0640, "is readable by group or other (mode 0640); chmod 600 it" },
		{ "bm90IGEga2V5IGF0IGFsbA==\n", 25, 0600, "line 1: 16 bytes of base64, not a 80-byte key" },
		{ "", 0, 0600, "0 bytes: not one or more 80-byte keys" },
	};
	char path[128], *out = NULL;
	unsigned int i;
	SSL_SESSION *s;

	snprintf(path, sizeof(path), "%s/bad.key", self->dir);
	keys_extra(self->extra_b, sizeof(self->extra_b), path, NULL);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct gwt_gw_opts go = { .upstream_port = self->be.port, .tls_extra = self->extra_b };
		FILE *f = fopen(path, "wb");

		ASSERT_NOT_NULL(f);
		ASSERT_EQ(cases[i].len, fwrite(cases[i].content, 1, cases[i].len, f));
		fclose(f);
		ASSERT_EQ(0, chmod(path, cases[i].mode));
		ASSERT_EQ(0, gwt_gw_config(&self->b, &go));
		ASSERT_NE(0, gwt_gw_check(self->b.cfg, &out));
		if (!strstr(out, cases[i].want) || !strstr(out, "tls.session_tickets.key_file: "))
			TH_LOG("case %u: %s", i, out);
		ASSERT_NOT_NULL(strstr(out, cases[i].want));
		ASSERT_NOT_NULL(strstr(out, "tls.session_tickets.key_file: "));
		free(out);
		out = NULL;
		gwt_gw_cleanup(&self->b);
	}
	/* A running gateway keeps its keys when the file breaks. */
	keys_extra(self->extra_a, sizeof(self->extra_a), self->key1, NULL);
	ASSERT_EQ(0, start_gw(self, &self->a, self->extra_a, NULL));
	s = ticket_from(&self->a, TLS1_3_VERSION);
	ASSERT_NOT_NULL(s);
	ASSERT_EQ(0, gwt_write_file(self->key1, "\x01\x02\x03"));
	ASSERT_NE(0, gwt_ctl(&self->a, &out, "reload"));
	ASSERT_NOT_NULL(strstr(out, "3 bytes: not one or more 80-byte keys"));
	free(out);
	ASSERT_EQ(1, offer(&self->a, s, TLS1_3_VERSION));
}

/* The local cache (no key file) across reloads: kept with the same trust settings only. */
TEST_F(tk, local_cache_survives_a_reload_that_keeps_the_trust_settings)
{
	struct gwt_gw_opts go = { .upstream_port = self->be.port };
	char ca[128], *data, *out = NULL;
	SSL_SESSION *s;

	ASSERT_EQ(0, gwt_gw_config(&self->a, &go));
	ASSERT_EQ(0, gwt_gw_start(&self->a));
	s = ticket_from(&self->a, TLS1_3_VERSION);
	ASSERT_NOT_NULL(s);
	ASSERT_EQ(0, gwt_ctl(&self->a, &out, "reload"));
	free(out);
	/* The new generation's path cache learns the issuer from one full handshake. */
	ASSERT_TRUE(warm(&self->a));
	ASSERT_EQ(1, offer(&self->a, s, TLS1_3_VERSION));
	/* Another client_ca file (the same bytes): a new trust setting, a new cache. */
	s = ticket_from(&self->a, TLS1_3_VERSION);
	ASSERT_NOT_NULL(s);
	snprintf(ca, sizeof(ca), "%s/other-ca.pem", self->dir);
	data = gwt_read_file(gwt_pki_path("ca-bundle.pem"));
	ASSERT_NOT_NULL(data);
	ASSERT_EQ(0, gwt_write_file(ca, data));
	free(data);
	go.client_ca = ca;
	ASSERT_EQ(0, gwt_gw_rewrite(&self->a, &go));
	ASSERT_EQ(0, gwt_ctl(&self->a, &out, "reload"));
	free(out);
	ASSERT_TRUE(warm(&self->a));
	ASSERT_EQ(0, offer(&self->a, s, TLS1_3_VERSION));
}

TEST_F(tk, config_errors)
{
	static const struct {
		const char *extra, *want;
	} cases[] = {
		{ "      session_tickets: { cache_size: 0 }\n", "tls.session_tickets.cache_size" },
		{ "      session_tickets: { lifetime: 169h }\n",
		  "tls.session_tickets.lifetime: from 1s to 7d" },
		{ "      session_tickets: { lifetime: 500ms }\n",
		  "tls.session_tickets.lifetime: from 1s to 7d" },
		{ "      session_tickets: { key_file: /nonexistent/tickets.key }\n",
		  "tls.session_tickets.key_file: \"/nonexistent/tickets.key\": No such file" },
		{ "      session_tickets: { keyfile: x }\n", "keyfile" },
	};
	unsigned int i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct gwt_gw_opts go = { .upstream_port = self->be.port, .tls_extra = cases[i].extra };
		char *out = NULL;

		ASSERT_EQ(0, gwt_gw_config(&self->b, &go));
		ASSERT_NE(0, gwt_gw_check(self->b.cfg, &out));
		if (!strstr(out, cases[i].want))
			TH_LOG("case %u: %s", i, out);
		ASSERT_NOT_NULL(strstr(out, cases[i].want));
		free(out);
		gwt_gw_cleanup(&self->b);
	}
}

TEST_HARNESS_MAIN
