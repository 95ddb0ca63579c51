// SPDX-License-Identifier: GPL-2.0-only
/*
 * config.c: a full configuration loads with every value and default right;
 * each kind of mistake is reported as exactly one "FILE:LINE: key.path:
 * message" line (the text an operator reads from --check), and several
 * semantic mistakes in one file are all reported.
 *
 * Each test gets a fresh directory with the files the configuration names.
 * Their contents do not matter here (tls.c parses them); only existence,
 * type and permissions do.
 */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/ssl.h>

#include "harness.h"
#include "util.h"
#include "config.h"

/* Files every test directory holds: name and mode. */
static const struct {
	const char *name;
	mode_t mode;
} test_files[] = {
	{ "cert.pem", 0644 },
	{ "key.pem", 0600 },
	{ "ca.pem", 0644 },
	{ "server-chain.pem", 0644 },
	{ "server-key.pem", 0600 },
	{ "clients-root.pem", 0644 },
	{ "issuing.crl", 0644 },
	{ "intermediate.crl", 0644 },
	{ "gw-client-chain.pem", 0644 },
	{ "gw-client-key.pem", 0600 },
	{ "backend-root.pem", 0644 },
	{ "backend.crl", 0644 },
	{ "tickets.key", 0600 },
	{ "tickets-open.key", 0644 },
};

FIXTURE(cfg) {
	char dir[PATH_MAX];		/* real path of the test directory */
	char path[PATH_MAX + 16];	/* dir/mtlsgw.yaml */
	struct gw_config *cfg;
	struct gw_diag diag;
};

FIXTURE_SETUP(cfg)
{
	char tmpl[] = "/tmp/mtlsgw-test-config.XXXXXX";
	unsigned int i;

	ASSERT_NOT_NULL(mkdtemp(tmpl));
	ASSERT_NOT_NULL(realpath(tmpl, self->dir));
	ASSERT_EQ(0, gw_snprintf(self->path, sizeof(self->path), "%s/mtlsgw.yaml", self->dir));
	for (i = 0; i < ARRAY_SIZE(test_files); i++) {
		char p[PATH_MAX + 64];
		FILE *f;

		ASSERT_EQ(0, gw_snprintf(p, sizeof(p), "%s/%s", self->dir, test_files[i].name));
		f = fopen(p, "w");
		ASSERT_NOT_NULL(f);
		fputs("dummy\n", f);
		fclose(f);
		ASSERT_EQ(0, chmod(p, test_files[i].mode));
	}
}

static int rm_entry(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(p);
}

FIXTURE_TEARDOWN(cfg)
{
	gw_cfg_free(self->cfg);
	gw_diag_free(&self->diag);
	if (self->dir[0])
		nftw(self->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void write_file(HARNESS_CTX, const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ASSERT_NOT_NULL(f);
	ASSERT_EQ(strlen(text), fwrite(text, 1, strlen(text), f));
	ASSERT_EQ(0, fclose(f));
}

/* Write text as the configuration and load it. */
static struct gw_config *load(HARNESS_CTX, FIXTURE_DATA(cfg) *self, const char *text)
{
	write_file(_ctx, self->path, text);
	self->cfg = gw_cfg_load(self->path, &self->diag);
	return self->cfg;
}

/*
 * A minimal valid configuration with extra lines: tls_extra (indented six
 * spaces) starts on line 14, then listener_extra (four spaces), then
 * top_extra. crl_check is off so that no CRL file is needed.
 */
static const char min_fmt[] =
	"listeners:\n"				/* 1 */
	"  - name: web\n"			/* 2 */
	"    listen: \"%s\"\n"			/* 3 */
	"    upstream:\n"			/* 4 */
	"      address: \"127.0.0.1:9000\"\n"	/* 5 */
	"    authorize:\n"			/* 6 */
	"      - name: any-corp\n"		/* 7 */
	"        san_dns: [\"*.corp.test\"]\n"	/* 8 */
	"    tls:\n"				/* 9 */
	"      cert: cert.pem\n"		/* 10 */
	"      key: key.pem\n"			/* 11 */
	"      client_ca: ca.pem\n"		/* 12 */
	"      crl_check: \"off\"\n"		/* 13 */
	"%s%s%s";				/* 14 */

static struct gw_config *load_min(HARNESS_CTX, FIXTURE_DATA(cfg) *self, const char *tls_extra,
				  const char *listener_extra, const char *top_extra)
{
	char text[4096];

	ASSERT_EQ(0, gw_snprintf(text, sizeof(text), min_fmt, "127.0.0.1:8443",
				 tls_extra ?: "", listener_extra ?: "", top_extra ?: ""));
	return load(_ctx, self, text);
}

/*
 * The load failed with exactly one message: "PATH:LINE: " followed by the
 * formatted rest.
 */
static void __attribute__((format(printf, 4, 5)))
expect_error(HARNESS_CTX, FIXTURE_DATA(cfg) *self, unsigned int line, const char *fmt, ...)
{
	char rest[2048], want[4096];
	unsigned int i;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rest, sizeof(rest), fmt, ap);
	va_end(ap);
	ASSERT_EQ(0, gw_snprintf(want, sizeof(want), "%s:%u: %s", self->path, line, rest));
	if (gw_diag_count(&self->diag) != 1 || strcmp(want, self->diag.msgs[0]))
		for (i = 0; i < self->diag.n; i++)
			TH_LOG("diag: %s", self->diag.msgs[i]);
	EXPECT_NULL(self->cfg);
	ASSERT_EQ(1, gw_diag_count(&self->diag));
	ASSERT_STREQ(want, self->diag.msgs[0]);
}

static void expect_ok(HARNESS_CTX, FIXTURE_DATA(cfg) *self)
{
	unsigned int i;

	for (i = 0; i < self->diag.n; i++)
		TH_LOG("unexpected diag: %s", self->diag.msgs[i]);
	ASSERT_EQ(0, gw_diag_count(&self->diag));
	ASSERT_NOT_NULL(self->cfg);
}

/* "DIR/name" for this test's directory. */
static const char *in_dir(FIXTURE_DATA(cfg) *self, const char *name)
{
	static char buf[4][PATH_MAX + 64];
	static unsigned int next;
	char *b = buf[next++ % 4];

	(void)gw_snprintf(b, sizeof(buf[0]), "%s/%s", self->dir, name);
	return b;
}

/* The SPEC.md example, with a second listener and every optional key. */
static const char full_yaml[] =
	"log:\n"						/* 1 */
	"  level: debug\n"					/* 2 */
	"  audit: logs/audit.jsonl\n"				/* 3 */
	"metrics:\n"						/* 4 */
	"  listen: 127.0.0.1:9109\n"				/* 5 */
	"control:\n"						/* 6 */
	"  socket: /run/mtlsgw/ctl.sock\n"			/* 7 */
	"user: mtlsgw\n"					/* 8 */
	"datapath: splice\n"					/* 9 */
	"drain_timeout: 2m\n"					/* 10 */
	"listeners:\n"						/* 11 */
	"  - name: payments\n"					/* 12 */
	"    listen: \"0.0.0.0:8443\"\n"			/* 13 */
	"    interfaces: [eth0, lo]\n"				/* 14 */
	"    mode: audit\n"					/* 15 */
	"    allow_sources:\n"					/* 16 */
	"      - 10.0.0.0/8\n"					/* 17 */
	"      - 2001:db8::/32\n"				/* 18 */
	"    tls:\n"						/* 19 */
	"      cert: server-chain.pem\n"			/* 20 */
	"      key: server-key.pem\n"				/* 21 */
	"      client_ca: clients-root.pem\n"			/* 22 */
	"      crl: [issuing.crl, intermediate.crl]\n"		/* 23 */
	"      crl_check: leaf\n"				/* 24 */
	"      verify_depth: 5\n"				/* 25 */
	"      min_version: \"1.3\"\n"				/* 26 */
	"      handshake_timeout: 1500ms\n"			/* 27 */
	"    authorize:\n"					/* 28 */
	"      - name: payments-callers\n"			/* 29 */
	"        spiffe_id: [\"spiffe://corp.test/prod/*\"]\n"	/* 30 */
	"        san_dns: [\"*.corp.test\", api.corp.test]\n"	/* 31 */
	"        subject: { O: Corp, OU: prod }\n"		/* 32 */
	"      - name: break-glass\n"				/* 33 */
	"        fingerprint_sha256:\n"				/* 34 */
	"          - \"AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:AB:CD:EF:01:23:45:67:89\"\n"
	"          - 00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF\n"
	"      - name: by-subject\n"				/* 37 */
	"        subject: { CN: alice, O: Corp, OU: ops, C: DE, ST: Berlin, L: Mitte }\n"
	"    upstream:\n"					/* 39 */
	"      address: 127.0.0.1:9000\n"			/* 40 */
	"      proxy_protocol: v2\n"				/* 41 */
	"      connect_timeout: 1h\n"				/* 42 */
	"      tls:\n"						/* 43 */
	"        cert: gw-client-chain.pem\n"			/* 44 */
	"        key: gw-client-key.pem\n"			/* 45 */
	"        ca: ./backend-root.pem\n"			/* 46 */
	"        server_name: payments.internal\n"		/* 47 */
	"        verify_name: \"*.payments.internal\"\n"	/* 48 */
	"        verify_spiffe_id: spiffe://corp.test/prod/*\n"	/* 49 */
	"        crl: [backend.crl]\n"				/* 50 */
	"        crl_check: leaf\n"				/* 51 */
	"        min_version: \"1.3\"\n"			/* 52 */
	"    max_connections: 1000000\n"			/* 53 */
	"    max_handshakes: 1\n"				/* 54 */
	"  - name: v6.only_listener-2\n"			/* 55 */
	"    listen: \"[::]:8443\"\n"				/* 56 */
	"    tls:\n"						/* 57 */
	"      cert: cert.pem\n"				/* 58 */
	"      key: key.pem\n"					/* 59 */
	"      client_ca: ca.pem\n"				/* 60 */
	"      crl: issuing.crl\n"				/* 61 */
	"      min_version: 1.2\n"				/* 62 */
	"    authorize:\n"					/* 63 */
	"      - name: one\n"					/* 64 */
	"        san_dns: [a.corp.test]\n"			/* 65 */
	"    upstream:\n"					/* 66 */
	"      address: \"[::1]:9000\"\n";			/* 67 */

TEST_F(cfg, full_config_every_field)
{
	static const unsigned char fp0[32] = {
		0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01,
		0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89,
		0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89,
	};
	static const unsigned char fp1[32] = {
		0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb,
		0xcc, 0xdd, 0xee, 0xff, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
		0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
	};
	const struct gw_cfg_listener *l, *l2;
	const struct sockaddr_in6 *sin6;
	const struct sockaddr_in *sin;
	const struct gw_authz_rule *r;
	char buf[64];

	ASSERT_EQ(0, mkdir(in_dir(self, "logs"), 0755));
	load(_ctx, self, full_yaml);
	expect_ok(_ctx, self);

	EXPECT_STREQ(self->path, self->cfg->path);
	EXPECT_EQ(GW_LOG_DEBUG, self->cfg->log_level);
	EXPECT_STREQ(in_dir(self, "logs/audit.jsonl"), self->cfg->audit);
	EXPECT_STREQ("127.0.0.1:9109", self->cfg->metrics_listen);
	EXPECT_STREQ("/run/mtlsgw/ctl.sock", self->cfg->control_socket);
	EXPECT_STREQ("mtlsgw", self->cfg->user);
	EXPECT_EQ(GW_DATAPATH_SPLICE, self->cfg->datapath);
	EXPECT_EQ(120000, self->cfg->drain_timeout_ms);
	ASSERT_EQ(2, self->cfg->n_listeners);

	l = &self->cfg->listeners[0];
	EXPECT_STREQ("payments", l->name);
	EXPECT_STREQ("0.0.0.0:8443", l->listen_str);
	sin = (const struct sockaddr_in *)&l->listen;
	EXPECT_EQ(AF_INET, sin->sin_family);
	EXPECT_EQ(8443, ntohs(sin->sin_port));
	EXPECT_EQ(INADDR_ANY, ntohl(sin->sin_addr.s_addr));
	EXPECT_EQ(sizeof(struct sockaddr_in), l->listen_len);
	ASSERT_EQ(2, l->n_interfaces);
	EXPECT_STREQ("eth0", l->interfaces[0]);
	EXPECT_STREQ("lo", l->interfaces[1]);
	EXPECT_EQ(GW_MODE_AUDIT, l->mode);
	EXPECT_FALSE(l->allow_any);
	ASSERT_EQ(2, l->n_allow_sources);
	ASSERT_EQ(0, gw_cidr_fmt(&l->allow_sources[0], buf, sizeof(buf)));
	EXPECT_STREQ("10.0.0.0/8", buf);
	EXPECT_EQ(AF_INET, l->allow_sources[0].family);
	EXPECT_EQ(8, l->allow_sources[0].prefix_len);
	ASSERT_EQ(0, gw_cidr_fmt(&l->allow_sources[1], buf, sizeof(buf)));
	EXPECT_STREQ("2001:db8::/32", buf);
	EXPECT_EQ(AF_INET6, l->allow_sources[1].family);

	/* Relative paths are absolute now; lines are those of the keys. */
	EXPECT_STREQ(in_dir(self, "server-chain.pem"), l->tls.certs[0].cert);
	EXPECT_STREQ(in_dir(self, "server-key.pem"), l->tls.certs[0].key);
	EXPECT_STREQ(in_dir(self, "clients-root.pem"), l->tls.client_ca);
	EXPECT_EQ(20, l->tls.certs[0].pos_cert.line);
	EXPECT_EQ(21, l->tls.certs[0].pos_key.line);
	EXPECT_EQ(22, l->tls.pos_client_ca.line);
	EXPECT_EQ(23, l->tls.pos_crl.line);
	ASSERT_EQ(2, l->tls.n_crl);
	EXPECT_STREQ(in_dir(self, "issuing.crl"), l->tls.crl[0]);
	EXPECT_STREQ(in_dir(self, "intermediate.crl"), l->tls.crl[1]);
	EXPECT_EQ(GW_CRL_LEAF, l->tls.crl_check);
	EXPECT_EQ(5, l->tls.verify_depth);
	EXPECT_EQ(TLS1_3_VERSION, l->tls.min_version);
	EXPECT_EQ(1500, l->tls.handshake_timeout_ms);

	ASSERT_EQ(3, l->n_rules);
	r = &l->rules[0];
	EXPECT_STREQ("payments-callers", r->name);
	ASSERT_EQ(1, r->n_spiffe_id);
	EXPECT_STREQ("spiffe://corp.test/prod/*", r->spiffe_id[0]);
	ASSERT_EQ(2, r->n_san_dns);
	EXPECT_STREQ("*.corp.test", r->san_dns[0]);
	EXPECT_STREQ("api.corp.test", r->san_dns[1]);
	EXPECT_STREQ("Corp", r->subject.O);
	EXPECT_STREQ("prod", r->subject.OU);
	EXPECT_NULL(r->subject.CN);
	EXPECT_NULL(r->subject.C);
	EXPECT_NULL(r->subject.ST);
	EXPECT_NULL(r->subject.L);
	EXPECT_EQ(0, r->n_fingerprint_sha256);
	r = &l->rules[1];
	EXPECT_STREQ("break-glass", r->name);
	EXPECT_EQ(0, r->n_spiffe_id);
	EXPECT_EQ(0, r->n_san_dns);
	ASSERT_EQ(2, r->n_fingerprint_sha256);
	EXPECT_MEMEQ(fp0, r->fingerprint_sha256[0], 32);
	EXPECT_MEMEQ(fp1, r->fingerprint_sha256[1], 32);
	r = &l->rules[2];
	EXPECT_STREQ("alice", r->subject.CN);
	EXPECT_STREQ("Corp", r->subject.O);
	EXPECT_STREQ("ops", r->subject.OU);
	EXPECT_STREQ("DE", r->subject.C);
	EXPECT_STREQ("Berlin", r->subject.ST);
	EXPECT_STREQ("Mitte", r->subject.L);

	EXPECT_STREQ("127.0.0.1:9000", l->upstream.address_str);
	sin = (const struct sockaddr_in *)&l->upstream.addr;
	EXPECT_EQ(AF_INET, sin->sin_family);
	EXPECT_EQ(9000, ntohs(sin->sin_port));
	EXPECT_EQ(INADDR_LOOPBACK, ntohl(sin->sin_addr.s_addr));
	EXPECT_EQ(GW_PROXY_V2, l->upstream.proxy_protocol);
	EXPECT_EQ(3600000, l->upstream.connect_timeout_ms);
	ASSERT_NOT_NULL(l->upstream.tls);
	EXPECT_STREQ(in_dir(self, "gw-client-chain.pem"), l->upstream.tls->cert);
	EXPECT_STREQ(in_dir(self, "gw-client-key.pem"), l->upstream.tls->key);
	EXPECT_STREQ(in_dir(self, "./backend-root.pem"), l->upstream.tls->ca);
	EXPECT_STREQ("payments.internal", l->upstream.tls->server_name);
	EXPECT_STREQ("*.payments.internal", l->upstream.tls->verify_name);
	EXPECT_STREQ("spiffe://corp.test/prod/*", l->upstream.tls->verify_spiffe_id);
	ASSERT_EQ(1, l->upstream.tls->n_crl);
	EXPECT_STREQ(in_dir(self, "backend.crl"), l->upstream.tls->crl[0]);
	EXPECT_EQ(50, l->upstream.tls->pos_crl.line);
	EXPECT_EQ(44, l->upstream.tls->pos_cert.line);
	EXPECT_EQ(GW_CRL_LEAF, l->upstream.tls->crl_check);
	EXPECT_EQ(TLS1_3_VERSION, l->upstream.tls->min_version);
	EXPECT_EQ(1000000, l->max_connections);
	EXPECT_EQ(1, l->max_handshakes);

	l2 = &self->cfg->listeners[1];
	EXPECT_STREQ("v6.only_listener-2", l2->name);
	sin6 = (const struct sockaddr_in6 *)&l2->listen;
	EXPECT_EQ(AF_INET6, sin6->sin6_family);
	EXPECT_EQ(8443, ntohs(sin6->sin6_port));
	EXPECT_EQ(sizeof(struct sockaddr_in6), l2->listen_len);
	/* A single CRL path, not a list; a plain (unquoted) 1.2. */
	ASSERT_EQ(1, l2->tls.n_crl);
	EXPECT_STREQ(in_dir(self, "issuing.crl"), l2->tls.crl[0]);
	EXPECT_EQ(61, l2->tls.pos_crl.line);
	EXPECT_EQ(GW_CRL_CHAIN, l2->tls.crl_check);
	EXPECT_EQ(TLS1_2_VERSION, l2->tls.min_version);
	sin6 = (const struct sockaddr_in6 *)&l2->upstream.addr;
	EXPECT_EQ(AF_INET6, sin6->sin6_family);
	EXPECT_TRUE(IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr));
}

TEST_F(cfg, defaults)
{
	const struct gw_cfg_listener *l;

	load_min(_ctx, self, NULL, NULL, NULL);
	expect_ok(_ctx, self);
	EXPECT_EQ(GW_LOG_INFO, self->cfg->log_level);
	EXPECT_STREQ("-", self->cfg->audit);
	EXPECT_EQ(GW_AUDIT_CONTINUE, self->cfg->audit_failure);
	EXPECT_NULL(self->cfg->metrics_listen);
	EXPECT_STREQ("/run/mtlsgw/control.sock", self->cfg->control_socket);
	EXPECT_NULL(self->cfg->user);
	EXPECT_EQ(GW_DATAPATH_AUTO, self->cfg->datapath);
	EXPECT_EQ(30000, self->cfg->drain_timeout_ms);
	ASSERT_EQ(1, self->cfg->n_listeners);
	l = &self->cfg->listeners[0];
	EXPECT_EQ(0, l->n_interfaces);
	EXPECT_EQ(GW_MODE_ENFORCE, l->mode);
	EXPECT_TRUE(l->allow_any);
	EXPECT_EQ(0, l->n_allow_sources);
	EXPECT_EQ(0, l->tls.n_crl);
	EXPECT_EQ(0, l->tls.pos_crl.line);
	EXPECT_EQ(GW_CRL_OFF, l->tls.crl_check);
	EXPECT_EQ(3, l->tls.verify_depth);
	EXPECT_EQ(TLS1_2_VERSION, l->tls.min_version);
	EXPECT_EQ(5000, l->tls.handshake_timeout_ms);
	EXPECT_NULL(l->tls.ticket_key_file);
	EXPECT_EQ(20000, l->tls.session_cache_size);
	EXPECT_EQ(3600000, l->tls.session_lifetime_ms);
	EXPECT_FALSE(l->proxy_accept);
	EXPECT_EQ(GW_PROXY_OFF, l->upstream.proxy_protocol);
	EXPECT_EQ(5000, l->upstream.connect_timeout_ms);
	EXPECT_NULL(l->upstream.tls);
	EXPECT_EQ(10000, l->max_connections);
	EXPECT_EQ(1000, l->max_handshakes);
	EXPECT_EQ(600000, l->idle_timeout_ms);	/* nginx stream's proxy_timeout */
	EXPECT_STREQ("enforce", gw_mode_str(l->mode));
	EXPECT_STREQ("auto", gw_datapath_str(self->cfg->datapath));
	EXPECT_EQ(0, self->cfg->workers);	/* auto */
}

TEST_F(cfg, workers_auto_and_a_number)
{
	load_min(_ctx, self, NULL, NULL, "workers: auto\n");
	expect_ok(_ctx, self);
	EXPECT_EQ(0, self->cfg->workers);
	gw_cfg_free(self->cfg);
	self->cfg = NULL;
	load_min(_ctx, self, NULL, NULL, "workers: 3\n");
	expect_ok(_ctx, self);
	EXPECT_EQ(3, self->cfg->workers);
}

TEST_F(cfg, workers_out_of_range)
{
	load_min(_ctx, self, NULL, NULL, "workers: 0\n");
	expect_error(_ctx, self, 14,
		     "workers: \"0\" is neither \"auto\" nor a whole number from 1 to 64");
}

TEST_F(cfg, workers_not_a_number)
{
	load_min(_ctx, self, NULL, NULL, "workers: all\n");
	expect_error(_ctx, self, 14,
		     "workers: \"all\" is neither \"auto\" nor a whole number from 1 to 64");
}

TEST_F(cfg, crl_check_defaults_to_chain)
{
	load_min(_ctx, self, "      crl: issuing.crl\n", NULL, NULL);
	expect_ok(_ctx, self);
	/* crl_check: "off" is in the template; without it the default is chain. */
	gw_cfg_free(self->cfg);
	load(_ctx, self,
	     "listeners:\n"
	     "  - name: web\n"
	     "    listen: \"127.0.0.1:8443\"\n"
	     "    upstream: {address: \"127.0.0.1:9000\"}\n"
	     "    authorize: [{name: r, san_dns: [a.test]}]\n"
	     "    tls: {cert: cert.pem, key: key.pem, client_ca: ca.pem, crl: [issuing.crl]}\n");
	expect_ok(_ctx, self);
	EXPECT_EQ(GW_CRL_CHAIN, self->cfg->listeners[0].tls.crl_check);
	EXPECT_EQ(1, self->cfg->listeners[0].tls.n_crl);
}

TEST_F(cfg, absolute_paths_kept_and_relative_config_path)
{
	char text[4096], tls[1024];

	ASSERT_EQ(0, gw_snprintf(tls, sizeof(tls), "      crl: [%s]\n", in_dir(self, "issuing.crl")));
	ASSERT_EQ(0, gw_snprintf(text, sizeof(text), min_fmt, "127.0.0.1:8443", tls,
				 "", "control:\n  socket: run/ctl.sock\n"));
	write_file(_ctx, self->path, text);
	ASSERT_EQ(0, chdir(self->dir));
	self->cfg = gw_cfg_load("./mtlsgw.yaml", &self->diag);
	expect_ok(_ctx, self);
	EXPECT_STREQ(self->path, self->cfg->path);
	EXPECT_STREQ(in_dir(self, "cert.pem"), self->cfg->listeners[0].tls.certs[0].cert);
	EXPECT_STREQ(in_dir(self, "issuing.crl"), self->cfg->listeners[0].tls.crl[0]);
	EXPECT_STREQ(in_dir(self, "run/ctl.sock"), self->cfg->control_socket);
}

TEST_F(cfg, min_version_plain_and_quoted)
{
	static const struct {
		const char *yaml;
		int want;
	} cases[] = {
		{ "      min_version: 1.2\n", TLS1_2_VERSION },
		{ "      min_version: \"1.2\"\n", TLS1_2_VERSION },
		{ "      min_version: 1.3\n", TLS1_3_VERSION },
		{ "      min_version: '1.3'\n", TLS1_3_VERSION },
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		load_min(_ctx, self, cases[i].yaml, NULL, NULL);
		expect_ok(_ctx, self);
		EXPECT_EQ(cases[i].want, self->cfg->listeners[0].tls.min_version);
		gw_cfg_free(self->cfg);
		self->cfg = NULL;
	}
}

/*
 * The configuration given as text: only len bytes count (no NUL needed),
 * the path names it in messages and relative paths resolve against its
 * directory, though the file itself does not exist.
 */
TEST_F(cfg, load_text_in_memory)
{
	char text[4096], name[PATH_MAX + 32];
	size_t len;

	ASSERT_EQ(0, gw_snprintf(text, sizeof(text), min_fmt, "127.0.0.1:8443", "", "", ""));
	len = strlen(text);
	/* Past len: a syntax error the loader must not see. */
	ASSERT_EQ(0, gw_snprintf(text + len, sizeof(text) - len, "  bogus: [\n"));
	ASSERT_EQ(0, gw_snprintf(name, sizeof(name), "%s/never-written.yaml", self->dir));
	self->cfg = gw_cfg_load_text(name, text, len, &self->diag);
	expect_ok(_ctx, self);
	EXPECT_STREQ(name, self->cfg->path);
	EXPECT_STREQ(in_dir(self, "cert.pem"), self->cfg->listeners[0].tls.certs[0].cert);
	gw_cfg_free(self->cfg);

	self->cfg = gw_cfg_load_text(name, text, strlen(text), &self->diag);
	ASSERT_NULL(self->cfg);
	ASSERT_EQ(1, gw_diag_count(&self->diag));
	EXPECT_EQ(0, strncmp(self->diag.msgs[0], name, strlen(name)));
	EXPECT_EQ(':', self->diag.msgs[0][strlen(name)]);
}

/* A directory or a FIFO named as the configuration: refused, never waited on. */
TEST_F(cfg, config_not_a_regular_file)
{
	const char *fifo = in_dir(self, "fifo.yaml");
	char want[PATH_MAX + 64];

	ASSERT_EQ(0, mkfifo(fifo, 0600));
	self->cfg = gw_cfg_load(fifo, &self->diag);
	ASSERT_NULL(self->cfg);
	ASSERT_EQ(1, gw_diag_count(&self->diag));
	ASSERT_EQ(0, gw_snprintf(want, sizeof(want), "%s: not a regular file", fifo));
	EXPECT_STREQ(want, self->diag.msgs[0]);
	gw_diag_free(&self->diag);
	memset(&self->diag, 0, sizeof(self->diag));

	self->cfg = gw_cfg_load(self->dir, &self->diag);
	ASSERT_NULL(self->cfg);
	ASSERT_EQ(1, gw_diag_count(&self->diag));
	ASSERT_EQ(0, gw_snprintf(want, sizeof(want), "%s: not a regular file", self->dir));
	EXPECT_STREQ(want, self->diag.msgs[0]);
}

TEST_F(cfg, config_file_missing)
{
	self->cfg = gw_cfg_load("/nonexistent/mtlsgw.yaml", &self->diag);
	ASSERT_NULL(self->cfg);
	ASSERT_EQ(1, gw_diag_count(&self->diag));
	ASSERT_STREQ("/nonexistent/mtlsgw.yaml: No such file or directory", self->diag.msgs[0]);
}

/* ---- libcyaml (schema) errors: the first one stops the load ---- */

TEST_F(cfg, unknown_top_level_key)
{
	load_min(_ctx, self, NULL, NULL, "log:\n  level: info\nlogging: {level: info}\n");
	expect_error(_ctx, self, 16, "logging: unknown key");
}

TEST_F(cfg, unknown_nested_key_exact_line)
{
	/* Not the first key of its mapping: libcyaml's own line is the one before. */
	load_min(_ctx, self, "      verify_depth: 2\n      bogus: 1\n", NULL, NULL);
	expect_error(_ctx, self, 15, "listeners[0].tls.bogus: unknown key");
}

TEST_F(cfg, unknown_key_in_second_listener_rule)
{
	load_min(_ctx, self, NULL, NULL,
		 "  - name: other\n"			/* 14 */
		 "    listen: \"127.0.0.1:8444\"\n"
		 "    upstream: {address: \"127.0.0.1:9000\"}\n"
		 "    tls: {cert: cert.pem, key: key.pem, client_ca: ca.pem, crl_check: \"off\"}\n"
		 "    authorize:\n"
		 "      - name: a\n"			/* 19 */
		 "        subject:\n"
		 "          CN: x\n"
		 "          UID: y\n");		/* 22 */
	expect_error(_ctx, self, 22, "listeners[1].authorize[0].subject.UID: unknown key");
}

TEST_F(cfg, wrong_type_scalar_for_list)
{
	load_min(_ctx, self, NULL, "    interfaces: eth0\n", NULL);
	expect_error(_ctx, self, 14, "listeners[0].interfaces: expected a list, not a single value");
}

TEST_F(cfg, wrong_type_list_for_mapping)
{
	load_min(_ctx, self, NULL, NULL, "log: [info]\n");
	expect_error(_ctx, self, 14, "log: expected a mapping, not a list");
}

TEST_F(cfg, wrong_type_mapping_for_scalar)
{
	load_min(_ctx, self, NULL, NULL, "user: {name: mtlsgw}\n");
	expect_error(_ctx, self, 14, "user: expected a single value, not a mapping");
}

TEST_F(cfg, missing_required_key)
{
	load(_ctx, self,
	     "listeners:\n"
	     "  - name: web\n"
	     "    listen: \"127.0.0.1:8443\"\n"
	     "    upstream: {address: \"127.0.0.1:9000\"}\n"
	     "    authorize: [{name: r, san_dns: [a.test]}]\n"
	     "    tls:\n"					/* 6 */
	     "      key: key.pem\n"
	     "      client_ca: ca.pem\n"
	     "      crl_check: \"off\"\n");
	expect_error(_ctx, self, 6, "listeners[0].tls.cert: required key is missing");
}

/* The listener part of min_fmt with its own tls section. */
static const char certs_fmt[] =
	"listeners:\n"				/* 1 */
	"  - name: web\n"			/* 2 */
	"    listen: \"127.0.0.1:8443\"\n"	/* 3 */
	"    upstream: {address: \"127.0.0.1:9000\"}\n"	/* 4 */
	"    authorize: [{name: r, san_dns: [a.test]}]\n"	/* 5 */
	"    tls:\n"				/* 6 */
	"      client_ca: ca.pem\n"		/* 7 */
	"      crl_check: \"off\"\n"		/* 8 */
	"%s";					/* 9 */

static struct gw_config *load_certs(HARNESS_CTX, FIXTURE_DATA(cfg) *self, const char *certs)
{
	char text[4096];

	ASSERT_EQ(0, gw_snprintf(text, sizeof(text), certs_fmt, certs));
	return load(_ctx, self, text);
}

TEST_F(cfg, certs_list_one_per_entry)
{
	const struct gw_cfg_tls *t;

	load_certs(_ctx, self,
		   "      certs:\n"
		   "        - cert: cert.pem\n"		/* 10 */
		   "          key: key.pem\n"
		   "        - {cert: server-chain.pem, key: server-key.pem}\n");	/* 12 */
	expect_ok(_ctx, self);
	t = &self->cfg->listeners[0].tls;
	ASSERT_EQ(2, t->n_certs);
	EXPECT_STREQ(in_dir(self, "cert.pem"), t->certs[0].cert);
	EXPECT_STREQ(in_dir(self, "key.pem"), t->certs[0].key);
	EXPECT_EQ(10, t->certs[0].pos_cert.line);
	EXPECT_EQ(11, t->certs[0].pos_key.line);
	EXPECT_STREQ("certs[0].cert", t->certs[0].key_cert);
	EXPECT_STREQ(in_dir(self, "server-chain.pem"), t->certs[1].cert);
	EXPECT_STREQ(in_dir(self, "server-key.pem"), t->certs[1].key);
	EXPECT_EQ(12, t->certs[1].pos_key.line);
	EXPECT_STREQ("certs[1].key", t->certs[1].key_key);
}

TEST_F(cfg, cert_and_certs_together_refused)
{
	load_certs(_ctx, self,
		   "      cert: cert.pem\n"
		   "      key: key.pem\n"
		   "      certs: [{cert: server-chain.pem, key: server-key.pem}]\n");	/* 11 */
	expect_error(_ctx, self, 11,
		     "listeners[0].tls.certs: set either cert and key or certs, not both (certs: [{cert, key}, ...] takes one chain per key type)");
}

TEST_F(cfg, cert_without_key_refused)
{
	load_certs(_ctx, self, "      cert: cert.pem\n");
	expect_error(_ctx, self, 6, "listeners[0].tls.key: required key is missing");
}

TEST_F(cfg, certs_entry_without_key_refused)
{
	load_certs(_ctx, self,
		   "      certs:\n"
		   "        - {cert: cert.pem, key: key.pem}\n"
		   "        - cert: server-chain.pem\n");	/* 11 */
	ASSERT_NULL(self->cfg);
	ASSERT_EQ(1, gw_diag_count(&self->diag));
	EXPECT_NOT_NULL(strstr(self->diag.msgs[0], "listeners[0].tls.certs[1].key"));
	EXPECT_NOT_NULL(strstr(self->diag.msgs[0], "required key is missing"));
}

TEST_F(cfg, certs_more_than_key_types_refused)
{
	load_certs(_ctx, self,
		   "      certs:\n"	/* 9 */
		   "        - {cert: cert.pem, key: key.pem}\n"
		   "        - {cert: cert.pem, key: key.pem}\n"
		   "        - {cert: cert.pem, key: key.pem}\n"
		   "        - {cert: cert.pem, key: key.pem}\n"
		   "        - {cert: cert.pem, key: key.pem}\n"
		   "        - {cert: cert.pem, key: key.pem}\n");
	expect_error(_ctx, self, 9,
		     "listeners[0].tls.certs: 6 entries: from 1 to 5, one per key type (RSA, RSA-PSS, ECDSA, Ed25519, Ed448)");
}

TEST_F(cfg, certs_entry_key_mode_checked)
{
	ASSERT_EQ(0, chmod(in_dir(self, "server-key.pem"), 0640));
	load_certs(_ctx, self,
		   "      certs:\n"
		   "        - {cert: cert.pem, key: key.pem}\n"
		   "        - cert: server-chain.pem\n"
		   "          key: server-key.pem\n");	/* 12 */
	expect_error(_ctx, self, 12,
		     "listeners[0].tls.certs[1].key: \"%s\" is readable by group or other (mode 0640); chmod 600 it",
		     in_dir(self, "server-key.pem"));
}

TEST_F(cfg, metrics_tls_is_a_listener_of_its_own)
{
	const struct gw_cfg_listener *m;

	load_min(_ctx, self, NULL, NULL,
		 "metrics:\n"				/* 14 */
		 "  listen: 127.0.0.1:9443\n"
		 "  tls:\n"
		 "    cert: server-chain.pem\n"		/* 17 */
		 "    key: server-key.pem\n"
		 "    client_ca: clients-root.pem\n"
		 "    crl: issuing.crl\n"			/* 20 */
		 "    authorize:\n"
		 "      - name: prometheus\n"
		 "        spiffe_id: [\"spiffe://corp.test/monitoring/prometheus\"]\n");
	expect_ok(_ctx, self);
	m = self->cfg->metrics_tls;
	ASSERT_NOT_NULL(m);
	EXPECT_STREQ("metrics", m->name);
	ASSERT_EQ(1, m->tls.n_certs);
	EXPECT_STREQ(in_dir(self, "server-chain.pem"), m->tls.certs[0].cert);
	EXPECT_EQ(17, m->tls.certs[0].pos_cert.line);
	ASSERT_EQ(1, m->tls.n_crl);
	EXPECT_EQ(20, m->tls.pos_crl.line);
	EXPECT_EQ(GW_CRL_CHAIN, m->tls.crl_check);
	ASSERT_EQ(1, m->n_rules);
	EXPECT_STREQ("prometheus", m->rules[0].name);
	/* Not one of the listeners: no socket, no Stage 1, no upstream. */
	EXPECT_EQ(1, self->cfg->n_listeners);
}

TEST_F(cfg, metrics_tls_needs_rules_crls_and_a_listen)
{
	load_min(_ctx, self, NULL, NULL,
		 "metrics:\n"
		 "  tls:\n"				/* 15 */
		 "    cert: server-chain.pem\n"
		 "    key: server-key.pem\n"
		 "    client_ca: clients-root.pem\n"
		 "    authorize: []\n");			/* 19 */
	ASSERT_NULL(self->cfg);
	ASSERT_EQ(3, gw_diag_count(&self->diag));
	EXPECT_NOT_NULL(strstr(self->diag.msgs[0], ":15: metrics.tls: needs metrics.listen"));
	EXPECT_NOT_NULL(strstr(self->diag.msgs[1], ":15: metrics.tls: crl_check: chain (the default) needs at least one crl file"));
	EXPECT_NOT_NULL(strstr(self->diag.msgs[2], ":19: metrics.tls.authorize: needs at least one rule"));
}

TEST_F(cfg, metrics_tls_key_mode_checked)
{
	ASSERT_EQ(0, chmod(in_dir(self, "server-key.pem"), 0644));
	load_min(_ctx, self, NULL, NULL,
		 "metrics:\n"
		 "  listen: 127.0.0.1:9443\n"
		 "  tls:\n"
		 "    cert: server-chain.pem\n"
		 "    key: server-key.pem\n"			/* 18 */
		 "    client_ca: clients-root.pem\n"
		 "    crl_check: \"off\"\n"
		 "    authorize: [{name: p, spiffe_id: [\"spiffe://corp.test/*\"]}]\n");
	expect_error(_ctx, self, 18,
		     "metrics.tls.key: \"%s\" is readable by group or other (mode 0644); chmod 600 it",
		     in_dir(self, "server-key.pem"));
}

TEST_F(cfg, user_is_read_without_validating_the_rest)
{
	char *user;

	/* A key no one can read, a missing CA: the user is there all the same. */
	write_file(_ctx, self->path,
		   "user: mtlsgw\nlisteners:\n  - name: web\n    tls: {key: gone.pem}\n");
	user = gw_cfg_user(self->path);
	ASSERT_NOT_NULL(user);
	EXPECT_STREQ("mtlsgw", user);
	free(user);
	write_file(_ctx, self->path, "listeners: []\n");
	EXPECT_NULL(gw_cfg_user(self->path));
	write_file(_ctx, self->path, "user: [not, a, name]\n");
	EXPECT_NULL(gw_cfg_user(self->path));
	EXPECT_NULL(gw_cfg_user(in_dir(self, "no-such.yaml")));
}

TEST_F(cfg, per_identity_limits)
{
	const struct gw_cfg_listener *l;

	load_min(_ctx, self, NULL,
		 "    limits:\n      per_identity: { connections: 20, rate: 2.5 }\n", NULL);
	expect_ok(_ctx, self);
	l = &self->cfg->listeners[0];
	EXPECT_TRUE(l->limit_identities);
	EXPECT_EQ(20, l->per_identity.connections);
	EXPECT_TRUE(l->per_identity.rate > 2.49 && l->per_identity.rate < 2.51);
	/* The burst defaults to a second's worth. */
	EXPECT_EQ(3, l->per_identity.burst);
}

TEST_F(cfg, per_identity_limits_refused)
{
	static const struct {
		const char *yaml, *want;
	} cases[] = {
		{ "{}", ":15: listeners[0].limits.per_identity: set connections, rate or both" },
		{ "{ connections: 0 }", "listeners[0].limits.per_identity.connections: \"0\" is not a whole number from 1 to 1000000" },
		{ "{ rate: fast }", "listeners[0].limits.per_identity.rate: \"fast\" is not a number of new connections per second" },
		{ "{ rate: -1 }", "listeners[0].limits.per_identity.rate: \"-1\" is not a number" },
		{ "{ connections: 5, burst: 10 }", "listeners[0].limits.per_identity.burst: burst goes with rate" },
	};
	char extra[128];
	unsigned int i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		gw_cfg_free(self->cfg);
		gw_diag_free(&self->diag);
		memset(&self->diag, 0, sizeof(self->diag));
		snprintf(extra, sizeof(extra), "    limits:\n      per_identity: %s\n", cases[i].yaml);
		load_min(_ctx, self, NULL, extra, NULL);
		ASSERT_NULL(self->cfg);
		ASSERT_EQ(1, gw_diag_count(&self->diag));
		if (!strstr(self->diag.msgs[0], cases[i].want))
			TH_LOG("%s: %s", cases[i].yaml, self->diag.msgs[0]);
		EXPECT_NOT_NULL(strstr(self->diag.msgs[0], cases[i].want));
	}
}

TEST_F(cfg, missing_listeners)
{
	load(_ctx, self, "log:\n  level: info\n");
	expect_error(_ctx, self, 1, "listeners: required key is missing");
}

TEST_F(cfg, empty_listeners)
{
	load(_ctx, self, "log:\n  level: info\nlisteners: []\n");
	expect_error(_ctx, self, 3, "listeners: needs at least one listener");
}

TEST_F(cfg, empty_file)
{
	load(_ctx, self, "# nothing yet\n");
	expect_error(_ctx, self, 1, "listeners: required key is missing (the file is empty)");
}

/* ---- the walk: syntax, duplicates, empty values ---- */

TEST_F(cfg, yaml_syntax_error)
{
	load_min(_ctx, self, NULL, NULL, "log:\n  level: info\n   audit: x\n");
	expect_error(_ctx, self, 16, "YAML syntax error: mapping values are not allowed in this context");
}

TEST_F(cfg, yaml_syntax_error_unterminated_quote)
{
	load(_ctx, self, "user: \"mtlsgw\nlisteners: []\n");
	expect_error(_ctx, self, 3,
		     "YAML syntax error: found unexpected end of stream (while scanning a quoted scalar at line 1)");
}

TEST_F(cfg, duplicate_key)
{
	load_min(_ctx, self, "      verify_depth: 2\n      verify_depth: 4\n", NULL, NULL);
	expect_error(_ctx, self, 15, "listeners[0].tls.verify_depth: duplicate key (first at line 14)");
}

TEST_F(cfg, key_without_value)
{
	load_min(_ctx, self, NULL, "    mode:\n", NULL);
	expect_error(_ctx, self, 14, "listeners[0].mode: has no value; give one or remove the key");
}

TEST_F(cfg, alias_refused)
{
	load_min(_ctx, self, NULL, NULL, "log: &l {level: info}\nmetrics: *l\n");
	expect_error(_ctx, self, 15, "YAML aliases (*l) are not supported; write the value out");
}

/* ---- semantic errors ---- */

TEST_F(cfg, bad_enum)
{
	load_min(_ctx, self, NULL, "    mode: strict\n", NULL);
	expect_error(_ctx, self, 14, "listeners[0].mode: \"strict\" is not one of \"enforce\", \"audit\"");
}

TEST_F(cfg, bad_top_level_enums)
{
	load_min(_ctx, self, NULL, NULL, "datapath: kernel\n");
	expect_error(_ctx, self, 14,
		     "datapath: \"kernel\" is not one of \"auto\", \"splice\", \"userspace\"");
}

TEST_F(cfg, audit_failure_refuse)
{
	load_min(_ctx, self, NULL, NULL, "log:\n  audit_failure: refuse\n");
	expect_ok(_ctx, self);
	EXPECT_EQ(GW_AUDIT_REFUSE, self->cfg->audit_failure);
}

TEST_F(cfg, bad_audit_failure)
{
	load_min(_ctx, self, NULL, NULL, "log:\n  audit_failure: stop\n");
	expect_error(_ctx, self, 15,
		     "log.audit_failure: \"stop\" is not one of \"continue\", \"refuse\"");
}

TEST_F(cfg, bad_duration)
{
	load_min(_ctx, self, "      handshake_timeout: 5 s\n", NULL, NULL);
	expect_error(_ctx, self, 14,
		     "listeners[0].tls.handshake_timeout: \"5 s\" is not a duration (a whole number with ms, s, m or h, like \"30s\")");
}

TEST_F(cfg, zero_handshake_timeout)
{
	load_min(_ctx, self, "      handshake_timeout: 0s\n", NULL, NULL);
	expect_error(_ctx, self, 14, "listeners[0].tls.handshake_timeout: must be greater than 0");
}

/* Zero needs no unit: a bare 0 is a duration, refused where 0 is. */
TEST_F(cfg, bare_zero_duration)
{
	load_min(_ctx, self, NULL, "    max_connection_lifetime: 0\n", "drain_timeout: 0\n");
	expect_ok(_ctx, self);
	EXPECT_EQ(0, self->cfg->drain_timeout_ms);
	EXPECT_EQ(0, self->cfg->listeners[0].max_connection_lifetime_ms);
	gw_cfg_free(self->cfg);
	self->cfg = NULL;
	load_min(_ctx, self, "      handshake_timeout: 0\n", NULL, NULL);
	expect_error(_ctx, self, 14, "listeners[0].tls.handshake_timeout: must be greater than 0");
}

TEST_F(cfg, idle_timeout_values)
{
	static const struct {
		const char *val;
		uint64_t ms;
	} ok[] = { { "90s", 90000 }, { "250ms", 250 }, { "2h", 7200000 }, { "0s", 0 }, { "0", 0 } };
	char line[64];
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(ok); i++) {
		ASSERT_EQ(0, gw_snprintf(line, sizeof(line), "    idle_timeout: %s\n", ok[i].val));
		load_min(_ctx, self, NULL, line, NULL);
		expect_ok(_ctx, self);
		EXPECT_EQ(ok[i].ms, self->cfg->listeners[0].idle_timeout_ms);
		gw_cfg_free(self->cfg);
		self->cfg = NULL;
	}
}

/* A negative, unitless, spaced or absurd idle_timeout: its key and line, what is wanted. */
TEST_F(cfg, bad_idle_timeout)
{
	static const char *const bad[] = { "-5s", "10", "soon", "5 m", "1.5s" };
	char line[64];
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		ASSERT_EQ(0, gw_snprintf(line, sizeof(line), "    idle_timeout: \"%s\"\n", bad[i]));
		load_min(_ctx, self, NULL, line, NULL);
		expect_error(_ctx, self, 14,
			     "listeners[0].idle_timeout: \"%s\" is not a duration (a whole number with ms, s, m or h, like \"30s\")",
			     bad[i]);
		gw_diag_free(&self->diag);
	}
	load_min(_ctx, self, NULL, "    max_connections: 5\n    idle_timeout: 99999999999999999h\n", NULL);
	expect_error(_ctx, self, 15,
		     "listeners[0].idle_timeout: \"99999999999999999h\" is too long a duration");
}

/*
 * Each steered destination that does not parse is one message, and pairs
 * with no other: 1,000 of them used to "overlap" each other too, about
 * 500,000 more messages (20,000 gave 200 million and 22 GB).
 */
TEST_F(cfg, bad_steer_entries_one_message_each)
{
	static const char *const bad[] = {
		"nonsense", "10.0.0.0/24:99999", "10.0.0.0/24", "[2001:db8::]/64:443-80",
	};
	const unsigned int n = 1000;
	struct gw_sbuf steer = { 0 }, text = { 0 };
	char want[512];
	unsigned int i;

	gw_sbuf_printf(&steer, "    steer:\n");			/* 14 */
	for (i = 0; i < n; i++)
		gw_sbuf_printf(&steer, "      - \"%s\"\n", bad[i % ARRAY_SIZE(bad)]);
	gw_sbuf_printf(&text, min_fmt, "127.0.0.1:8443", "", steer.buf ?: "", "");
	gw_sbuf_free(&steer);
	ASSERT_EQ(0, text.err);
	load(_ctx, self, text.buf);
	gw_sbuf_free(&text);
	EXPECT_NULL(self->cfg);
	ASSERT_EQ(n, gw_diag_count(&self->diag));
	for (i = 0; i < n; i++) {
		ASSERT_EQ(0, gw_snprintf(want, sizeof(want),
					 "%s:%u: listeners[0].steer[%u]: \"%s\" is not ADDR/PREFIX:PORT or ADDR/PREFIX:PORT-PORT (IPv6 as [ADDR]/PREFIX:PORT)",
					 self->path, 15 + i, i, bad[i % ARRAY_SIZE(bad)]));
		ASSERT_STREQ(want, self->diag.msgs[i]);
	}
}

TEST_F(cfg, bad_cidr)
{
	load_min(_ctx, self, NULL, "    allow_sources: [10.0.0.0/8, 10.0.0.0/33]\n", NULL);
	expect_error(_ctx, self, 14,
		     "listeners[0].allow_sources[1]: \"10.0.0.0/33\" is not a CIDR prefix (like 10.0.0.0/8 or 2001:db8::/32, host bits zero)");
}

TEST_F(cfg, cidr_host_bits_set)
{
	load_min(_ctx, self, NULL, "    allow_sources:\n      - 2001:db8::/32\n      - 10.1.2.3/8\n",
		 NULL);
	expect_error(_ctx, self, 16,
		     "listeners[0].allow_sources[1]: \"10.1.2.3/8\" is not a CIDR prefix (like 10.0.0.0/8 or 2001:db8::/32, host bits zero)");
}

TEST_F(cfg, empty_allow_sources)
{
	load_min(_ctx, self, NULL, "    allow_sources: []\n", NULL);
	expect_error(_ctx, self, 14,
		     "listeners[0].allow_sources: empty list would deny every source; omit the key to allow any");
}

static void load_listen(HARNESS_CTX, FIXTURE_DATA(cfg) *self, const char *listen)
{
	char text[4096];

	ASSERT_EQ(0, gw_snprintf(text, sizeof(text), min_fmt, listen, "", "", ""));
	load(_ctx, self, text);
}

TEST_F(cfg, bad_listen_address)
{
	load_listen(_ctx, self, "localhost:8443");
	expect_error(_ctx, self, 3,
		     "listeners[0].listen: \"localhost:8443\": \"localhost\" is not a numeric IPv4 address (write IPv6 as \"[addr]:port\")");
}

TEST_F(cfg, bad_listen_unbracketed_ipv6)
{
	load_listen(_ctx, self, "::1:8443");
	expect_error(_ctx, self, 3,
		     "listeners[0].listen: \"::1:8443\": \"\" is not a numeric IPv4 address (write IPv6 as \"[addr]:port\")");
}

TEST_F(cfg, bad_listen_no_port)
{
	load_listen(_ctx, self, "127.0.0.1");
	expect_error(_ctx, self, 3,
		     "listeners[0].listen: \"127.0.0.1\" is not \"IPv4:port\" or \"[IPv6]:port\"");
}

TEST_F(cfg, bad_port)
{
	load_listen(_ctx, self, "127.0.0.1:70000");
	expect_error(_ctx, self, 3,
		     "listeners[0].listen: \"127.0.0.1:70000\": port \"70000\" is not a number from 1 to 65535");
}

TEST_F(cfg, port_zero)
{
	load_listen(_ctx, self, "[::1]:0");
	expect_error(_ctx, self, 3,
		     "listeners[0].listen: \"[::1]:0\": port 0 is not allowed; use a port from 1 to 65535");
}

TEST_F(cfg, min_version_1_1)
{
	load_min(_ctx, self, "      min_version: \"1.1\"\n", NULL, NULL);
	expect_error(_ctx, self, 14,
		     "listeners[0].tls.min_version: \"1.1\" is not one of \"1.2\", \"1.3\"");
}

TEST_F(cfg, verify_depth_out_of_range)
{
	load_min(_ctx, self, "      verify_depth: 0\n", NULL, NULL);
	expect_error(_ctx, self, 14,
		     "listeners[0].tls.verify_depth: \"0\" is not a whole number from 1 to 16");
	gw_diag_free(&self->diag);
	load_min(_ctx, self, "      verify_depth: 17\n", NULL, NULL);
	expect_error(_ctx, self, 14,
		     "listeners[0].tls.verify_depth: \"17\" is not a whole number from 1 to 16");
}

TEST_F(cfg, max_connections_out_of_range)
{
	load_min(_ctx, self, NULL, "    max_connections: 1000001\n", NULL);
	expect_error(_ctx, self, 14,
		     "listeners[0].max_connections: \"1000001\" is not a whole number from 1 to 1000000");
}

TEST_F(cfg, missing_file)
{
	ASSERT_EQ(0, unlink(in_dir(self, "ca.pem")));
	load_min(_ctx, self, NULL, NULL, NULL);
	expect_error(_ctx, self, 12, "listeners[0].tls.client_ca: \"%s\": No such file or directory",
		     in_dir(self, "ca.pem"));
}

TEST_F(cfg, missing_crl_file_in_list)
{
	load_min(_ctx, self, "      crl:\n        - issuing.crl\n        - gone.crl\n", NULL, NULL);
	expect_error(_ctx, self, 16, "listeners[0].tls.crl[1]: \"%s\": No such file or directory",
		     in_dir(self, "gone.crl"));
}

TEST_F(cfg, file_is_a_directory)
{
	ASSERT_EQ(0, unlink(in_dir(self, "cert.pem")));
	ASSERT_EQ(0, mkdir(in_dir(self, "cert.pem"), 0755));
	load_min(_ctx, self, NULL, NULL, NULL);
	expect_error(_ctx, self, 10, "listeners[0].tls.cert: \"%s\" is not a regular file",
		     in_dir(self, "cert.pem"));
}

TEST_F(cfg, private_key_readable_by_group)
{
	ASSERT_EQ(0, chmod(in_dir(self, "key.pem"), 0644));
	load_min(_ctx, self, NULL, NULL, NULL);
	expect_error(_ctx, self, 11,
		     "listeners[0].tls.key: \"%s\" is readable by group or other (mode 0644); chmod 600 it",
		     in_dir(self, "key.pem"));
}

TEST_F(cfg, upstream_key_mode_checked_too)
{
	ASSERT_EQ(0, chmod(in_dir(self, "gw-client-key.pem"), 0640));
	load(_ctx, self,
	     "listeners:\n"
	     "  - name: web\n"
	     "    listen: \"127.0.0.1:8443\"\n"
	     "    authorize: [{name: r, san_dns: [a.test]}]\n"
	     "    tls: {cert: cert.pem, key: key.pem, client_ca: ca.pem, crl_check: \"off\"}\n"
	     "    upstream:\n"
	     "      address: \"127.0.0.1:9000\"\n"
	     "      tls:\n"
	     "        cert: gw-client-chain.pem\n"
	     "        key: gw-client-key.pem\n"		/* 10 */
	     "        ca: backend-root.pem\n"
	     "        verify_name: backend.test\n");
	expect_error(_ctx, self, 10,
		     "listeners[0].upstream.tls.key: \"%s\" is readable by group or other (mode 0640); chmod 600 it",
		     in_dir(self, "gw-client-key.pem"));
}

/*
 * A listener whose upstream.tls block is "tls:" at line 8, extra from
 * line 12. What an earlier load left is dropped first.
 */
static void load_upstream_tls(HARNESS_CTX, FIXTURE_DATA(cfg) *self, const char *extra)
{
	char text[2048];

	gw_cfg_free(self->cfg);
	self->cfg = NULL;
	gw_diag_free(&self->diag);
	memset(&self->diag, 0, sizeof(self->diag));
	ASSERT_EQ(0, gw_snprintf(text, sizeof(text),
				 "listeners:\n"
				 "  - name: web\n"
				 "    listen: \"127.0.0.1:8443\"\n"
				 "    authorize: [{name: r, san_dns: [a.test]}]\n"
				 "    tls: {cert: cert.pem, key: key.pem, client_ca: ca.pem, crl_check: \"off\"}\n"
				 "    upstream:\n"
				 "      address: \"127.0.0.1:9000\"\n"
				 "      tls:\n"				/* 8 */
				 "        cert: gw-client-chain.pem\n"
				 "        key: gw-client-key.pem\n"		/* 10 */
				 "        ca: backend-root.pem\n"
				 "%s", extra));
	load(_ctx, self, text);
}

TEST_F(cfg, upstream_tls_without_verify_is_an_error)
{
	load_upstream_tls(_ctx, self, "        server_name: backend.test\n");
	expect_error(_ctx, self, 8,
		     "listeners[0].upstream.tls: set verify_name or verify_spiffe_id (or both): the backend's certificate must name what it is; there is no option that skips this");
}

TEST_F(cfg, upstream_tls_bad_names)
{
	load_upstream_tls(_ctx, self, "        verify_name: \"a.*.test\"\n");
	expect_error(_ctx, self, 12,
		     "listeners[0].upstream.tls.verify_name: \"a.*.test\" is not a DNS name or a \"*.\" pattern");
	load_upstream_tls(_ctx, self, "        verify_spiffe_id: corp.test/backend\n");
	expect_error(_ctx, self, 12,
		     "listeners[0].upstream.tls.verify_spiffe_id: \"corp.test/backend\" does not start with spiffe://");
	load_upstream_tls(_ctx, self,
			  "        verify_name: backend.test\n"
			  "        server_name: \"*.test\"\n");
	expect_error(_ctx, self, 13,
		     "listeners[0].upstream.tls.server_name: \"*.test\" is not a DNS name; omit the key to send no server name");
}

TEST_F(cfg, upstream_tls_crl_check_needs_a_crl)
{
	const struct gw_cfg_upstream_tls *t;

	load_upstream_tls(_ctx, self,
			  "        verify_name: backend.test\n"
			  "        crl_check: chain\n");
	expect_error(_ctx, self, 13,
		     "listeners[0].upstream.tls.crl_check: crl_check: chain needs at least one crl file; omit crl_check to run without revocation checks");
	/* No crl: no revocation check; one: chain by default. */
	load_upstream_tls(_ctx, self, "        verify_spiffe_id: spiffe://corp.test/b\n");
	expect_ok(_ctx, self);
	t = self->cfg->listeners[0].upstream.tls;
	EXPECT_EQ(GW_CRL_OFF, t->crl_check);
	EXPECT_NULL(t->server_name);
	EXPECT_NULL(t->verify_name);
	EXPECT_EQ(TLS1_2_VERSION, t->min_version);
	EXPECT_TRUE(t->session_reuse);
	load_upstream_tls(_ctx, self,
			  "        verify_name: backend.test\n"
			  "        session_reuse: false\n");
	expect_ok(_ctx, self);
	EXPECT_FALSE(self->cfg->listeners[0].upstream.tls->session_reuse);
	load_upstream_tls(_ctx, self,
			  "        verify_name: backend.test\n"
			  "        crl: backend.crl\n");
	expect_ok(_ctx, self);
	EXPECT_EQ(GW_CRL_CHAIN, self->cfg->listeners[0].upstream.tls->crl_check);
}

TEST_F(cfg, tls_groups)
{
	load_min(_ctx, self, "      groups: [X25519, P-256, secp384r1]\n", NULL, NULL);
	expect_ok(_ctx, self);
	EXPECT_STREQ("X25519:P-256:secp384r1", self->cfg->listeners[0].tls.groups);
	gw_cfg_free(self->cfg);
	self->cfg = NULL;
	load_min(_ctx, self, NULL, NULL, NULL);
	expect_ok(_ctx, self);
	EXPECT_NULL(self->cfg->listeners[0].tls.groups);
}

TEST_F(cfg, session_tickets)
{
	char want[PATH_MAX + 32];
	const struct gw_cfg_tls *t;

	load_min(_ctx, self, "      session_tickets: { key_file: tickets.key, cache_size: 5, lifetime: 10m }\n",
		 NULL, NULL);
	expect_ok(_ctx, self);
	t = &self->cfg->listeners[0].tls;
	ASSERT_EQ(0, gw_snprintf(want, sizeof(want), "%s/tickets.key", self->dir));
	EXPECT_STREQ(want, t->ticket_key_file);
	EXPECT_EQ(14, t->pos_ticket_key.line);
	EXPECT_EQ(5, t->session_cache_size);
	EXPECT_EQ(600000, t->session_lifetime_ms);
}

TEST_F(cfg, session_tickets_mistakes)
{
	load_min(_ctx, self, "      session_tickets: { key_file: tickets-open.key }\n", NULL, NULL);
	expect_error(_ctx, self, 14,
		     "listeners[0].tls.session_tickets.key_file: \"%s/tickets-open.key\" is readable by group or other (mode 0644); chmod 600 it",
		     self->dir);
	gw_diag_free(&self->diag);
	memset(&self->diag, 0, sizeof(self->diag));
	load_min(_ctx, self, "      session_tickets: { lifetime: 169h }\n", NULL, NULL);
	expect_error(_ctx, self, 14,
		     "listeners[0].tls.session_tickets.lifetime: from 1s to 7d (RFC 8446: a client keeps a ticket 7 days at most)");
}

TEST_F(cfg, proxy_protocol_accept)
{
	const struct gw_cfg_listener *l;
	char buf[64];

	load_min(_ctx, self, NULL,
		 "    proxy_protocol: { accept: v2, from: [10.0.0.0/24, \"2001:db8::/64\"] }\n", NULL);
	expect_ok(_ctx, self);
	l = &self->cfg->listeners[0];
	EXPECT_TRUE(l->proxy_accept);
	ASSERT_EQ(2, l->n_proxy_from);
	ASSERT_EQ(0, gw_cidr_fmt(&l->proxy_from[1], buf, sizeof(buf)));
	EXPECT_STREQ("2001:db8::/64", buf);
}

TEST_F(cfg, tls_groups_unknown_or_empty)
{
	load_min(_ctx, self, "      groups: [X25519, P-257]\n", NULL, NULL);
	expect_error(_ctx, self, 14,
		     "listeners[0].tls.groups[1]: \"P-257\": not a key exchange group this OpenSSL (%s) knows",
		     OpenSSL_version(OPENSSL_VERSION));
	gw_diag_free(&self->diag);
	memset(&self->diag, 0, sizeof(self->diag));
	load_min(_ctx, self, "      groups: [\"X25519:P-256\"]\n", NULL, NULL);
	expect_error(_ctx, self, 14,
		     "listeners[0].tls.groups[0]: \"X25519:P-256\": not a key exchange group this OpenSSL (%s) knows",
		     OpenSSL_version(OPENSSL_VERSION));
	gw_diag_free(&self->diag);
	memset(&self->diag, 0, sizeof(self->diag));
	load_min(_ctx, self, "      groups: []\n", NULL, NULL);
	expect_error(_ctx, self, 14,
		     "listeners[0].tls.groups: empty list; omit the key for the default groups");
}

TEST_F(cfg, crl_check_without_crl)
{
	load(_ctx, self,
	     "listeners:\n"
	     "  - name: web\n"
	     "    listen: \"127.0.0.1:8443\"\n"
	     "    upstream: {address: \"127.0.0.1:9000\"}\n"
	     "    authorize: [{name: r, san_dns: [a.test]}]\n"
	     "    tls:\n"
	     "      cert: cert.pem\n"
	     "      key: key.pem\n"
	     "      client_ca: ca.pem\n"
	     "      crl_check: chain\n");			/* 10 */
	expect_error(_ctx, self, 10,
		     "listeners[0].tls.crl_check: crl_check: chain needs at least one crl file; set crl_check: off to run without revocation checks");
}

TEST_F(cfg, crl_check_default_without_crl)
{
	load(_ctx, self,
	     "listeners:\n"
	     "  - name: web\n"
	     "    listen: \"127.0.0.1:8443\"\n"
	     "    upstream: {address: \"127.0.0.1:9000\"}\n"
	     "    authorize: [{name: r, san_dns: [a.test]}]\n"
	     "    tls: {cert: cert.pem, key: key.pem, client_ca: ca.pem}\n");
	expect_error(_ctx, self, 6,
		     "listeners[0].tls: crl_check: chain (the default) needs at least one crl file; set crl_check: off to run without revocation checks");
}

TEST_F(cfg, crl_as_mapping)
{
	load_min(_ctx, self, "      crl: {file: issuing.crl}\n", NULL, NULL);
	expect_error(_ctx, self, 14,
		     "listeners[0].tls.crl: expected a path or a list of paths, not a mapping");
}

static const char two_listeners_fmt[] =
	"listeners:\n"
	"  - name: %s\n"					/* 2 */
	"    listen: \"%s\"\n"					/* 3 */
	"    upstream: {address: \"127.0.0.1:9000\"}\n"
	"    authorize: [{name: r, san_dns: [a.test]}]\n"
	"    tls: {cert: cert.pem, key: key.pem, client_ca: ca.pem, crl_check: \"off\"}\n"
	"  - name: %s\n"					/* 7 */
	"    listen: \"%s\"\n"					/* 8 */
	"    upstream: {address: \"127.0.0.1:9000\"}\n"
	"    authorize: [{name: r, san_dns: [a.test]}]\n"
	"    tls: {cert: cert.pem, key: key.pem, client_ca: ca.pem, crl_check: \"off\"}\n";

TEST_F(cfg, duplicate_listener_names)
{
	char text[4096];

	ASSERT_EQ(0, gw_snprintf(text, sizeof(text), two_listeners_fmt,
				 "web", "127.0.0.1:8443", "web", "127.0.0.1:8444"));
	load(_ctx, self, text);
	expect_error(_ctx, self, 7,
		     "listeners[1].name: listener name \"web\" is already used by listeners[0]");
}

TEST_F(cfg, duplicate_listen_addresses)
{
	char text[4096];

	ASSERT_EQ(0, gw_snprintf(text, sizeof(text), two_listeners_fmt,
				 "a", "[::]:8443", "b", "[0::0]:8443"));
	load(_ctx, self, text);
	expect_error(_ctx, self, 8,
		     "listeners[1].listen: \"[0::0]:8443\" is the address of both listener \"a\" (listeners[0]) and listener \"b\"");
}

TEST_F(cfg, bad_listener_name)
{
	char text[4096];

	ASSERT_EQ(0, gw_snprintf(text, sizeof(text), two_listeners_fmt,
				 "web/1", "127.0.0.1:8443", "ok", "127.0.0.1:8444"));
	load(_ctx, self, text);
	expect_error(_ctx, self, 2,
		     "listeners[0].name: \"web/1\": use 1 to 64 of A-Z a-z 0-9 _ . -");
}

TEST_F(cfg, rule_without_criteria)
{
	load(_ctx, self,
	     "listeners:\n"
	     "  - name: web\n"
	     "    listen: \"127.0.0.1:8443\"\n"
	     "    upstream: {address: \"127.0.0.1:9000\"}\n"
	     "    tls: {cert: cert.pem, key: key.pem, client_ca: ca.pem, crl_check: \"off\"}\n"
	     "    authorize:\n"
	     "      - name: ok\n"
	     "        san_dns: [a.test]\n"
	     "      - name: everyone\n"				/* 9 */
	     "        subject: {}\n");
	expect_error(_ctx, self, 9,
		     "listeners[0].authorize[1]: rule \"everyone\" has no criterion (spiffe_id, san_dns, subject or fingerprint_sha256); it would match every certificate");
}

TEST_F(cfg, bad_fingerprint)
{
	static const char *const bad[] = {
		"AB:CD",							/* short */
		"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeg0",	/* not hex */
		"0011:2233445566778899aabbccddeeff00112233445566778899aabbccddeeff",	/* colons misplaced */
		"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00",	/* 33 bytes */
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		char text[4096];

		ASSERT_EQ(0, gw_snprintf(text, sizeof(text),
					 "listeners:\n"
					 "  - name: web\n"
					 "    listen: \"127.0.0.1:8443\"\n"
					 "    upstream: {address: \"127.0.0.1:9000\"}\n"
					 "    tls: {cert: cert.pem, key: key.pem, client_ca: ca.pem, crl_check: \"off\"}\n"
					 "    authorize:\n"
					 "      - name: fp\n"
					 "        fingerprint_sha256:\n"
					 "          - \"%s\"\n", bad[i]));	/* 9 */
		load(_ctx, self, text);
		expect_error(_ctx, self, 9,
			     "listeners[0].authorize[0].fingerprint_sha256[0]: \"%s\" is not a SHA-256 fingerprint (64 hex digits, optionally as 32 pairs separated by colons)",
			     bad[i]);
		gw_diag_free(&self->diag);
	}
}

TEST_F(cfg, spiffe_id_without_scheme)
{
	load_min(_ctx, self, NULL, NULL,
		 "  - name: b\n"				/* 14 */
		 "    listen: \"127.0.0.1:8444\"\n"
		 "    upstream: {address: \"127.0.0.1:9000\"}\n"
		 "    tls: {cert: cert.pem, key: key.pem, client_ca: ca.pem, crl_check: \"off\"}\n"
		 "    authorize:\n"
		 "      - name: s\n"
		 "        spiffe_id: [\"spiffe://corp.test/a\", \"corp.test/b\"]\n");	/* 20 */
	expect_error(_ctx, self, 20,
		     "listeners[1].authorize[0].spiffe_id[1]: \"corp.test/b\" does not start with \"spiffe://\"");
}

TEST_F(cfg, audit_directory_missing)
{
	load_min(_ctx, self, NULL, NULL, "log:\n  audit: nodir/audit.jsonl\n");
	expect_error(_ctx, self, 15, "log.audit: directory \"%s\": No such file or directory",
		     in_dir(self, "nodir"));
}

TEST_F(cfg, bad_interface_name)
{
	load_min(_ctx, self, NULL, "    interfaces: [eth0, averyveryverylongname]\n", NULL);
	expect_error(_ctx, self, 14,
		     "listeners[0].interfaces[1]: \"averyveryverylongname\" is not an interface name (1 to 15 characters, no \"/\", \":\" or spaces)");
}

/* Every semantic problem is reported, each with its own line. */
TEST_F(cfg, all_semantic_errors_reported)
{
	char want[8][PATH_MAX + 512];
	unsigned int i;

	ASSERT_EQ(0, chmod(in_dir(self, "key.pem"), 0604));
	load(_ctx, self,
	     "log:\n"
	     "  level: loud\n"					/* 2 */
	     "drain_timeout: soon\n"				/* 3 */
	     "listeners:\n"
	     "  - name: web\n"
	     "    listen: \"127.0.0.1:99999\"\n"		/* 6 */
	     "    mode: audit\n"
	     "    allow_sources: [10.0.0.1/8]\n"		/* 8 */
	     "    upstream: {address: \"127.0.0.1:9000\"}\n"
	     "    authorize: [{name: r}]\n"			/* 10 */
	     "    tls:\n"
	     "      cert: missing.pem\n"			/* 12 */
	     "      key: key.pem\n"				/* 13 */
	     "      client_ca: ca.pem\n"
	     "      crl_check: \"off\"\n"
	     "      min_version: \"1.0\"\n");			/* 16 */
	ASSERT_EQ(0, gw_snprintf(want[0], sizeof(want[0]), "%s:2: log.level: \"loud\" is not one of \"error\", \"warn\", \"info\", \"debug\"", self->path));
	ASSERT_EQ(0, gw_snprintf(want[1], sizeof(want[1]), "%s:3: drain_timeout: \"soon\" is not a duration (a whole number with ms, s, m or h, like \"30s\")", self->path));
	ASSERT_EQ(0, gw_snprintf(want[2], sizeof(want[2]), "%s:6: listeners[0].listen: \"127.0.0.1:99999\": port \"99999\" is not a number from 1 to 65535", self->path));
	ASSERT_EQ(0, gw_snprintf(want[3], sizeof(want[3]), "%s:8: listeners[0].allow_sources[0]: \"10.0.0.1/8\" is not a CIDR prefix (like 10.0.0.0/8 or 2001:db8::/32, host bits zero)", self->path));
	ASSERT_EQ(0, gw_snprintf(want[4], sizeof(want[4]), "%s:12: listeners[0].tls.cert: \"%s\": No such file or directory", self->path, in_dir(self, "missing.pem")));
	ASSERT_EQ(0, gw_snprintf(want[5], sizeof(want[5]), "%s:13: listeners[0].tls.key: \"%s\" is readable by group or other (mode 0604); chmod 600 it", self->path, in_dir(self, "key.pem")));
	ASSERT_EQ(0, gw_snprintf(want[6], sizeof(want[6]), "%s:16: listeners[0].tls.min_version: \"1.0\" is not one of \"1.2\", \"1.3\"", self->path));
	ASSERT_EQ(0, gw_snprintf(want[7], sizeof(want[7]), "%s:10: listeners[0].authorize[0]: rule \"r\" has no criterion (spiffe_id, san_dns, subject or fingerprint_sha256); it would match every certificate", self->path));
	if (gw_diag_count(&self->diag) != ARRAY_SIZE(want))
		for (i = 0; i < self->diag.n; i++)
			TH_LOG("diag: %s", self->diag.msgs[i]);
	ASSERT_NULL(self->cfg);
	ASSERT_EQ(ARRAY_SIZE(want), gw_diag_count(&self->diag));
	for (i = 0; i < ARRAY_SIZE(want); i++)
		EXPECT_STREQ(want[i], self->diag.msgs[i]);
}

/* ---- listeners[].routes[] ---- */

/* Two routes after the minimal listener (line 14 on): api, then ledger. */
static const char routes_fmt[] =
	"    routes:\n"					/* 14 */
	"      - name: api\n"				/* 15 */
	"        server_names: [API.corp.test, \"*.api.corp.test\"]\n"	/* 16 */
	"        tls: { cert: server-chain.pem, key: server-key.pem }\n"	/* 17 */
	"        authorize: [ { name: prod, spiffe_id: [\"spiffe://corp.test/prod/*\"] } ]\n"
	"        upstream: { address: \"127.0.0.1:9001\" }\n"		/* 19 */
	"      - name: %s\n"				/* 20 */
	"        server_names: [%s]\n"			/* 21 */
	"        tls: { client_ca: clients-root.pem, crl: issuing.crl }\n"	/* 22 */
	"        mode: audit\n"				/* 23 */
	"        authorize: [ { name: ops, san_dns: [ops.corp.test] } ]\n"	/* 24 */
	"        upstream: { address: \"127.0.0.1:9002\" }\n"		/* 25 */
	"        limits: { per_identity: { connections: 3 } }\n";	/* 26 */

static struct gw_config *load_routes(HARNESS_CTX, FIXTURE_DATA(cfg) *self, const char *name,
				     const char *names)
{
	char extra[2048];

	ASSERT_EQ(0, gw_snprintf(extra, sizeof(extra), routes_fmt, name, names));
	return load_min(_ctx, self, NULL, extra, NULL);
}

TEST_F(cfg, routes_load_with_what_they_inherit)
{
	const struct gw_cfg_listener *l, *api, *ledger;

	load_routes(_ctx, self, "ledger", "ledger.corp.test");
	expect_ok(_ctx, self);
	l = &self->cfg->listeners[0];
	ASSERT_EQ(2, l->n_routes);
	EXPECT_TRUE(l->has_default);
	EXPECT_STREQ("default", l->route);
	api = &l->routes[0];
	ledger = &l->routes[1];
	EXPECT_STREQ("web", api->name);
	EXPECT_STREQ("api", api->route);
	EXPECT_STREQ("web/api", api->qname);
	/* Names compare in lowercase. */
	EXPECT_STREQ("api.corp.test", api->server_names[0]);
	EXPECT_STREQ("*.api.corp.test", api->server_names[1]);
	EXPECT_STREQ(in_dir(self, "server-chain.pem"), api->tls.certs[0].cert);
	/* api takes the listener's client_ca and crl_check; ledger its certificate. */
	EXPECT_STREQ(in_dir(self, "ca.pem"), api->tls.client_ca);
	EXPECT_EQ(GW_CRL_OFF, api->tls.crl_check);
	EXPECT_EQ(GW_MODE_ENFORCE, api->mode);
	EXPECT_FALSE(api->limit_identities);
	EXPECT_STREQ(in_dir(self, "cert.pem"), ledger->tls.certs[0].cert);
	EXPECT_STREQ(in_dir(self, "clients-root.pem"), ledger->tls.client_ca);
	/* Its own CRL is checked without being asked. */
	EXPECT_EQ(GW_CRL_CHAIN, ledger->tls.crl_check);
	ASSERT_EQ(1, ledger->tls.n_crl);
	EXPECT_EQ(GW_MODE_AUDIT, ledger->mode);
	EXPECT_TRUE(ledger->limit_identities);
	EXPECT_EQ(3, ledger->per_identity.connections);
	EXPECT_EQ(9002, ntohs(((struct sockaddr_in *)&ledger->upstream.addr)->sin_port));
	EXPECT_EQ(l->idle_timeout_ms, ledger->idle_timeout_ms);
}

TEST_F(cfg, route_server_name_twice_names_both_routes_and_lines)
{
	load_routes(_ctx, self, "ledger", "ledger.corp.test, Api.Corp.Test");
	expect_error(_ctx, self, 21,
		     "listeners[0].routes[1].server_names[1]: \"api.corp.test\" is route \"api\"'s already (listeners[0].routes[0].server_names[0], line 16); each server name belongs to one route");
}

TEST_F(cfg, route_pattern_twice_refused)
{
	load_routes(_ctx, self, "ledger", "\"*.API.corp.test\"");
	expect_error(_ctx, self, 21,
		     "listeners[0].routes[1].server_names[0]: \"*.api.corp.test\" is route \"api\"'s already (listeners[0].routes[0].server_names[1], line 16); each server name belongs to one route");
}

TEST_F(cfg, route_names_unique_and_default_reserved)
{
	load_routes(_ctx, self, "api", "ledger.corp.test");
	expect_error(_ctx, self, 20, "listeners[0].routes[1].name: route name \"api\" is already used by routes[0]");
	gw_diag_free(&self->diag);
	load_routes(_ctx, self, "Default", "ledger.corp.test");
	expect_error(_ctx, self, 20,
		     "listeners[0].routes[1].name: \"default\" is the listener's own keys (its default route); name this route otherwise");
}

TEST_F(cfg, route_server_name_must_be_a_dns_name)
{
	load_routes(_ctx, self, "ledger", "\"ledger corp\"");
	expect_error(_ctx, self, 21,
		     "listeners[0].routes[1].server_names[0]: \"ledger corp\" is not a DNS name or a \"*.\" pattern");
	gw_diag_free(&self->diag);
	load_routes(_ctx, self, "ledger", "");
	expect_error(_ctx, self, 21,
		     "listeners[0].routes[1].server_names: needs at least one name (exact, or a \"*.\" pattern)");
}

/*
 * A listener of routes only: listener_lines (from line 4 on, each line
 * one) then route a, whose tls line is route_tls ("" for none).
 */
static struct gw_config *load_edge(HARNESS_CTX, FIXTURE_DATA(cfg) *self,
				   const char *listener_lines, const char *route_tls)
{
	char text[2048];

	ASSERT_EQ(0, gw_snprintf(text, sizeof(text),
		"listeners:\n"
		"  - name: edge\n"
		"    listen: \"127.0.0.1:8443\"\n"
		"%s"
		"    routes:\n"
		"      - name: a\n"
		"        server_names: [a.corp.test]\n"
		"%s"
		"        authorize: [ { name: r, san_dns: [x.corp.test] } ]\n"
		"        upstream: { address: \"127.0.0.1:9001\" }\n", listener_lines, route_tls));
	return load(_ctx, self, text);
}

/* Without an upstream there is no default route, and nothing to inherit a certificate from. */
TEST_F(cfg, routes_without_default)
{
	static const char tls[] = "    tls: { client_ca: ca.pem, crl_check: \"off\" }\n";
	const struct gw_cfg_listener *l;

	load_edge(_ctx, self, tls, "        tls: { cert: cert.pem, key: key.pem }\n");
	expect_ok(_ctx, self);
	l = &self->cfg->listeners[0];
	EXPECT_FALSE(l->has_default);
	EXPECT_NULL(l->route);
	EXPECT_EQ(0, l->n_rules);
	EXPECT_STREQ(in_dir(self, "ca.pem"), l->routes[0].tls.client_ca);
	gw_cfg_free(self->cfg);
	self->cfg = NULL;
	load_edge(_ctx, self, tls, "");
	expect_error(_ctx, self, 6,
		     "listeners[0].routes[0].tls.cert: required key is missing: the listener has no tls.cert for its routes to take");
}

TEST_F(cfg, listener_rules_without_upstream_refused)
{
	load_edge(_ctx, self,
		  "    tls: { cert: cert.pem, key: key.pem, client_ca: ca.pem, crl_check: \"off\" }\n"
		  "    authorize: [ { name: r, san_dns: [x.corp.test] } ]\n", "");	/* 5 */
	expect_error(_ctx, self, 5,
		     "listeners[0].authorize: rules without an upstream: a listener with routes is a default route only with upstream, and routes do not take its rules (give each route its own authorize)");
}

TEST_F(cfg, listener_without_routes_needs_upstream)
{
	load(_ctx, self,
	     "listeners:\n"						/* 1 */
	     "  - name: edge\n"						/* 2 */
	     "    listen: \"127.0.0.1:8443\"\n"				/* 3 */
	     "    tls: { cert: cert.pem, key: key.pem, client_ca: ca.pem, crl_check: \"off\" }\n"
	     "    authorize: [ { name: r, san_dns: [x.corp.test] } ]\n");	/* 5 */
	expect_error(_ctx, self, 2, "listeners[0].upstream: required key is missing");
}

/* The fuzzer's find: no tls at all once passed a NULL path on. */
TEST_F(cfg, listener_without_tls_refused)
{
	load(_ctx, self,
	     "listeners:\n"						/* 1 */
	     "  - name: edge\n"						/* 2 */
	     "    listen: \"127.0.0.1:8443\"\n"				/* 3 */
	     "    upstream: { address: \"127.0.0.1:9001\" }\n"		/* 4 */
	     "    authorize: [ { name: r, san_dns: [x.corp.test] } ]\n");	/* 5 */
	expect_error(_ctx, self, 2, "listeners[0].tls: required key is missing");
}

TEST(free_null_and_names)
{
	gw_cfg_free(NULL);
	EXPECT_STREQ("enforce", gw_mode_str(GW_MODE_ENFORCE));
	EXPECT_STREQ("audit", gw_mode_str(GW_MODE_AUDIT));
	EXPECT_STREQ("auto", gw_datapath_str(GW_DATAPATH_AUTO));
	EXPECT_STREQ("splice", gw_datapath_str(GW_DATAPATH_SPLICE));
	EXPECT_STREQ("userspace", gw_datapath_str(GW_DATAPATH_USERSPACE));
}

TEST_HARNESS_MAIN
