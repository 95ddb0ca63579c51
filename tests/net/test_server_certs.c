// SPDX-License-Identifier: GPL-2.0-only
/*
 * Several server certificates on one listener (tls.certs): an ECDSA and an
 * RSA chain side by side, the client's signature algorithms picking one;
 * two of one key type refused with both named; a rotation of one of them
 * that no handshake notices.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "harness.h"
#include "lib/gwtest.h"

/* Offered by a client that can only check ECDSA, or only RSA, signatures. */
#define ECDSA_ONLY "ECDSA+SHA256:ECDSA+SHA384"
#define RSA_ONLY "rsa_pss_rsae_sha256:rsa_pss_rsae_sha384:RSA+SHA256"

FIXTURE(sc) {
	struct gwt_backend be;
	struct gwt_gw gw;
	struct gwt_gw_opts go;
	char dir[64];			/* the listener's certificate files */
	char certs[512];
};

/* Copy the PKI's NAME chain and key into dir as FILE-chain.pem, FILE.key. */
static int install(const char *dir, const char *name, const char *file)
{
	char from[256], to[128], tmp[160];
	int err = 0;

	snprintf(from, sizeof(from), "%s-chain.pem", name);
	snprintf(to, sizeof(to), "%s/%s-chain.pem", dir, file);
	if (gwt_replace_file(gwt_pki_path(from), to))
		return -1;
	/* The key: a private file renamed into place, as a deploy tool does. */
	snprintf(from, sizeof(from), "%s.key", name);
	snprintf(to, sizeof(to), "%s/%s.key", dir, file);
	snprintf(tmp, sizeof(tmp), "%s.new", to);
	{
		char *pem = gwt_read_file(gwt_pki_path(from));

		err = pem ? gwt_write_file(tmp, pem) : -1;
		free(pem);
	}
	if (err || chmod(tmp, 0600) || rename(tmp, to))
		return -1;
	return 0;
}

FIXTURE_SETUP(sc)
{
	self->gw.pid = -1;
	self->gw.notify_fd = -1;
	self->be.pid = -1;
	ASSERT_EQ(0, gwt_mkdtemp(self->dir, sizeof(self->dir)));
	ASSERT_EQ(0, install(self->dir, "server", "ecdsa"));
	ASSERT_EQ(0, install(self->dir, "server-rsa", "rsa"));
	snprintf(self->certs, sizeof(self->certs),
		 "        - { cert: %1$s/ecdsa-chain.pem, key: %1$s/ecdsa.key }\n"
		 "        - { cert: %1$s/rsa-chain.pem, key: %1$s/rsa.key }\n", self->dir);
	self->go.server_certs = self->certs;
	ASSERT_EQ(0, gwt_env_start(&self->be, &self->gw, &self->go, true));
}

FIXTURE_TEARDOWN(sc)
{
	EXPECT_EQ(0, gwt_env_stop(&self->be, &self->gw));
	if (self->dir[0])
		gwt_rmtree(self->dir);
}

/* The PKI's leaf NAME.crt. */
static X509 *pki_leaf(const char *name)
{
	char file[64];
	X509 *x = NULL;
	FILE *f;

	snprintf(file, sizeof(file), "%s.crt", name);
	f = fopen(gwt_pki_path(file), "r");
	if (f) {
		x = PEM_read_X509(f, NULL, NULL, NULL);
		fclose(f);
	}
	return x;
}

/*
 * A client of cert offering only sigalgs at version, after a round trip:
 * the index in names (the PKI's leaves) of the leaf the gateway served,
 * -1 when the handshake or the round trip failed or the leaf is none of them.
 */
static int leaf_served(int port, const char *cert, const char *sigalgs, int version,
		       const char *const *names, int n)
{
	struct gwt_client_opts co = { .cert = cert, .sigalgs = sigalgs,
				      .min_version = version, .max_version = version };
	struct gwt_client c;
	X509 *peer;
	int i, found = -1;

	if (gwt_client_connect(&c, port, &co)) {
		printf("# %s: handshake failed, alert %d\n", sigalgs, c.alert);
		gwt_client_close(&c);
		return -1;
	}
	peer = SSL_get1_peer_certificate(c.ssl);
	for (i = 0; peer && i < n && found < 0; i++) {
		X509 *leaf = pki_leaf(names[i]);

		if (leaf && !X509_cmp(peer, leaf))
			found = i;
		X509_free(leaf);
	}
	if (found < 0)
		printf("# %s: served a leaf that is none of the expected\n", sigalgs);
	else if (!gwt_roundtrip(&c, "which"))
		found = -1;
	X509_free(peer);
	gwt_client_close(&c);
	return found;
}

/* Is want the leaf served (and does a round trip pass)? */
static bool served(int port, const char *cert, const char *sigalgs, int version,
		   const char *want)
{
	return leaf_served(port, cert, sigalgs, version, &want, 1) == 0;
}

TEST_F(sc, ecdsa_and_rsa_clients_each_get_theirs)
{
	int v[] = { TLS1_2_VERSION, TLS1_3_VERSION };
	unsigned int i;

	for (i = 0; i < 2; i++) {
		ASSERT_TRUE(served(self->gw.port, "client-ecdsa", ECDSA_ONLY, v[i], "server"));
		ASSERT_TRUE(served(self->gw.port, "client-rsa", RSA_ONLY, v[i], "server-rsa"));
		/* OpenSSL's default list puts ECDSA first; the client's order decides. */
		ASSERT_TRUE(served(self->gw.port, "client-rsa", NULL, v[i], "server"));
	}
}

TEST_F(sc, expiry_metric_is_the_earliest_leaf)
{
	X509 *a = pki_leaf("server"), *b = pki_leaf("server-rsa");
	time_t ta = 0, tb = 0;
	struct tm tm;

	ASSERT_NOT_NULL(a);
	ASSERT_NOT_NULL(b);
	ASSERT_EQ(1, ASN1_TIME_to_tm(X509_get0_notAfter(a), &tm));
	ta = timegm(&tm);
	ASSERT_EQ(1, ASN1_TIME_to_tm(X509_get0_notAfter(b), &tm));
	tb = timegm(&tm);
	X509_free(a);
	X509_free(b);
	ASSERT_EQ((double)(ta < tb ? ta : tb), gwt_metric_value(&self->gw,
		  "mtlsgw_cert_not_after_timestamp_seconds{listener=\"test\",kind=\"server\"}"));
}

TEST_F(sc, two_of_one_key_type_refused_and_running_set_kept)
{
	char certs[768], want[320], *out = NULL, *line, *log;

	ASSERT_EQ(0, install(self->dir, "server-next", "next"));
	snprintf(certs, sizeof(certs),
		 "        - { cert: %1$s/ecdsa-chain.pem, key: %1$s/ecdsa.key }\n"
		 "        - { cert: %1$s/rsa-chain.pem, key: %1$s/rsa.key }\n"
		 "        - { cert: %1$s/next-chain.pem, key: %1$s/next.key }\n", self->dir);
	self->go.server_certs = certs;
	ASSERT_EQ(0, gwt_gw_rewrite(&self->gw, &self->go));
	ASSERT_NE(0, gwt_gw_check(self->gw.cfg, &out));
	snprintf(want, sizeof(want),
		 "listeners[0].tls.certs[2].cert: \"%s/next-chain.pem\": a second ECDSA certificate: certs[0].cert (\"%s/ecdsa-chain.pem\")",
		 self->dir, self->dir);
	EXPECT_NOT_NULL(strstr(out, want));
	if (!strstr(out, want))
		TH_LOG("mtlsgw --check said: %s", out);
	free(out);
	/* The running daemon reloads (inotify) and refuses: both still served. */
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"reload\"", "\"decision\":\"error\"",
			      NULL);
	ASSERT_NOT_NULL(line);
	free(line);
	log = gwt_read_file(self->gw.log);
	ASSERT_NOT_NULL(log);
	EXPECT_NOT_NULL(strstr(log, want));
	free(log);
	ASSERT_TRUE(served(self->gw.port, "client-ecdsa", ECDSA_ONLY, TLS1_3_VERSION, "server"));
	ASSERT_TRUE(served(self->gw.port, "client-rsa", RSA_ONLY, TLS1_3_VERSION, "server-rsa"));
}

/*
 * The rotation runbook: the new ECDSA chain and key are written over the
 * old files. A handshake at any moment gets the old or the new leaf, never
 * an error; the RSA one and a live connection are not touched.
 */
TEST_F(sc, rotating_the_ecdsa_files_leaves_no_gap)
{
	const char *const leaves[] = { "server", "server-next" };
	struct gwt_client_opts co = { .cert = "client-ecdsa" };
	struct gwt_client live;
	int tries, got = 0;

	ASSERT_EQ(0, gwt_client_connect(&live, self->gw.port, &co));
	ASSERT_TRUE(gwt_roundtrip(&live, "before"));
	ASSERT_EQ(0, install(self->dir, "server-next", "ecdsa"));
	/* Until the reload is in: each handshake serves one of the two. */
	for (tries = 0; tries < 250 && got != 1; tries++) {
		got = leaf_served(self->gw.port, "client-ecdsa", ECDSA_ONLY, TLS1_3_VERSION,
				  leaves, 2);
		ASSERT_LE(0, got);
		usleep(20000);
	}
	ASSERT_EQ(1, got);
	ASSERT_TRUE(served(self->gw.port, "client-rsa", RSA_ONLY, TLS1_3_VERSION, "server-rsa"));
	ASSERT_TRUE(gwt_roundtrip(&live, "after"));
	gwt_client_close(&live);
	/* No reload along the way was refused. */
	ASSERT_EQ(0, gwt_audit_count(&self->gw, "\"decision\":\"error\""));
}

TEST_HARNESS_MAIN
