// SPDX-License-Identifier: GPL-2.0-only
/*
 * A fleet: two gateways behind an L4 balancer, as the README's "Running a
 * fleet" sets it up. They share the ticket key file and the CRL files,
 * nothing else. A client resumes on one gateway with the other's ticket;
 * a CRL change closes a revoked client's live connections on both; one
 * gateway is killed and every new connection goes through the other.
 *
 * Two balancers, one variant each:
 *  - haproxy: HAProxy in TCP mode on the host (send-proxy-v2, round robin,
 *    redispatch); the gateways learn the client from the PROXY header.
 *  - ipvs: the kernel's IPVS in NAT mode, configured with ipvsadm, which
 *    keeps the client's address, so no header. It needs ip_vs, which the
 *    host's kernel lacks: make test runs it in a QEMU guest
 *    (test_fleet+ipvs@KERNEL) and it is skipped on the host.
 *
 *   client ns   10.215.0.2 (good), 10.215.0.3 (revoked)
 *       | veth |
 *   director    10.215.0.1, VIP 10.215.0.100:443 (IPVS rr, masquerading)
 *       | veth              | veth
 *   gw ns a 10.215.1.2   gw ns b 10.215.2.2   (each with its own echo backend)
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <openssl/rand.h>

#include "harness.h"
#include "lib/gwtest.h"
#include "lib/netns.h"

#define N_GW 2
#define VIP "10.215.0.100"
#define VIP_PORT 443

FIXTURE(fl) {
	struct gwt_backend be[N_GW];
	struct gwt_gw gw[N_GW];
	char dir[64];			/* what the fleet shares */
	char crl_yaml[320], tls_extra[192];
	const char *good, *revoked;	/* the clients' source addresses */
	pid_t haproxy;
	int fe_port;
	/* ipvs */
	char ns[N_GW][32], cl_ns[32], rs[N_GW][32];
	bool topo, ipvs_set;
	int ip_forward;			/* its value before the test, -1 unknown */
};

FIXTURE_VARIANT(fl) {
	bool ipvs;
};

FIXTURE_VARIANT_ADD(fl, haproxy) {
	.ipvs = false,
};

FIXTURE_VARIANT_ADD(fl, ipvs) {
	.ipvs = true,
};

/* One ticket key and the issuing CA's CRL (no revocation yet), in self->dir. */
static int shared_files(FIXTURE_DATA(fl) *self)
{
	unsigned char key[80];
	char path[128];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "%s/tickets.key", self->dir);
	if (RAND_bytes(key, sizeof(key)) != 1 || !(f = fopen(path, "wb")))
		return -1;
	ok = fwrite(key, 1, sizeof(key), f) == sizeof(key);
	if (fclose(f) || !ok || chmod(path, 0600))
		return -1;
	snprintf(self->tls_extra, sizeof(self->tls_extra),
		 "      session_tickets: { key_file: %s }\n", path);
	snprintf(path, sizeof(path), "%s/issuing.crl", self->dir);
	if (gwt_replace_file(gwt_pki_path("issuing-ca-norevoke.crl"), path))
		return -1;
	snprintf(self->crl_yaml, sizeof(self->crl_yaml), "[%s, %s, %s]",
		 gwt_pki_path("root-ca.crl"), gwt_pki_path("intermediate-ca.crl"), path);
	return 0;
}

/*
 * iproute2's ip by its path: in the QEMU guest /bin/sh is busybox's, which
 * runs its own applet for a bare "ip", and that one has no netns or veth.
 */
static const char *ip_tool(void)
{
	return access("/usr/sbin/ip", X_OK) ? "ip" : "/usr/sbin/ip";
}

/* Client, director and gateway namespaces; IPVS spreading VIP over both. */
static int ipvs_topology(FIXTURE_DATA(fl) *self)
{
	const char *ip = ip_tool();
	int id = getpid() % 100000, i;
	FILE *f;

	snprintf(self->cl_ns, sizeof(self->cl_ns), "mtlsgw-flc-%d", id);
	for (i = 0; i < N_GW; i++)
		snprintf(self->ns[i], sizeof(self->ns[i]), "mtlsgw-fl%c-%d", 'a' + i, id);
	f = fopen("/proc/sys/net/ipv4/ip_forward", "r");
	if (f && fscanf(f, "%d", &self->ip_forward) != 1)
		self->ip_forward = -1;
	if (f)
		fclose(f);
	self->topo = true;
	if (gwt_sh("%1$s netns add %2$s && "
		   "%1$s link add flc%3$d type veth peer name eth0 netns %2$s && "
		   "%1$s addr add 10.215.0.1/24 dev flc%3$d && "
		   "%1$s addr add " VIP "/32 dev flc%3$d && %1$s link set flc%3$d up && "
		   "%1$s -n %2$s link set lo up && %1$s -n %2$s addr add 10.215.0.2/24 dev eth0 && "
		   "%1$s -n %2$s addr add 10.215.0.3/24 dev eth0 && %1$s -n %2$s link set eth0 up && "
		   "%1$s -n %2$s route add default via 10.215.0.1", ip, self->cl_ns, id))
		return -1;
	for (i = 0; i < N_GW; i++)
		if (gwt_sh("%1$s netns add %2$s && "
			   "%1$s link add fl%3$c%4$d type veth peer name eth0 netns %2$s && "
			   "%1$s addr add 10.215.%5$d.1/24 dev fl%3$c%4$d && "
			   "%1$s link set fl%3$c%4$d up && %1$s -n %2$s link set lo up && "
			   "%1$s -n %2$s addr add 10.215.%5$d.2/24 dev eth0 && "
			   "%1$s -n %2$s link set eth0 up && "
			   "%1$s -n %2$s route add default via 10.215.%5$d.1",
			   ip, self->ns[i], 'a' + i, id, i + 1))
			return -1;
	return gwt_sh("echo 1 > /proc/sys/net/ipv4/ip_forward");
}

/* Gateway i (and its backend), in its namespace under IPVS. 0 or -1. */
static int start_gateway(FIXTURE_DATA(fl) *self, const FIXTURE_VARIANT_TYPE(fl) *variant,
			 int i)
{
	struct gwt_backend_opts bo = { .echo = true };
	struct gwt_gw_opts go = {
		.crl = self->crl_yaml,
		.tls_extra = self->tls_extra,
	};
	char host[16];
	int saved = -1, err;

	if (variant->ipvs) {
		snprintf(host, sizeof(host), "10.215.%d.2", i + 1);
		go.listen_host = host;
		go.allow_sources = "[10.215.0.0/24]";
		saved = gwt_netns_enter(self->ns[i]);
		if (saved < 0)
			return -1;
	} else {
		go.listener_extra = "    proxy_protocol: { accept: v2, from: [127.0.0.1/32] }\n";
		go.allow_sources = "[127.0.0.0/8]";
	}
	err = gwt_backend_start(&self->be[i], &bo);
	go.upstream_port = self->be[i].port;
	if (!err)
		err = gwt_gw_config(&self->gw[i], &go) ?: gwt_gw_start(&self->gw[i]);
	gwt_netns_leave(saved);
	return err ? -1 : 0;
}

FIXTURE_SETUP(fl)
{
	int ports[N_GW], i;

	self->haproxy = -1;
	self->ip_forward = -1;
	for (i = 0; i < N_GW; i++) {
		self->be[i].pid = -1;
		self->gw[i].pid = -1;
		self->gw[i].notify_fd = -1;
	}
	if (variant->ipvs) {
		if (geteuid())
			SKIP("IPVS and network namespaces need root");
		if (access("/proc/net/ip_vs", F_OK))
			gwt_sh("modprobe -q ip_vs 2>/dev/null");
		if (access("/proc/net/ip_vs", F_OK))
			SKIP("this kernel has no IPVS (no /proc/net/ip_vs): make test runs "
			     "this variant in a QEMU guest, test_fleet+ipvs@KERNEL");
		if (system("command -v ipvsadm >/dev/null 2>&1"))
			SKIP("ipvsadm is not installed (make deps installs it)");
		self->good = "10.215.0.2";
		self->revoked = "10.215.0.3";
	} else {
		if (system("command -v haproxy >/dev/null 2>&1"))
			SKIP("haproxy is not installed (make deps installs it)");
		self->good = "127.0.0.2";
		self->revoked = "127.0.0.3";
	}
	ASSERT_EQ(0, gwt_mkdtemp(self->dir, sizeof(self->dir)));
	ASSERT_EQ(0, shared_files(self));
	if (variant->ipvs)
		ASSERT_EQ(0, ipvs_topology(self));
	for (i = 0; i < N_GW; i++) {
		ASSERT_EQ(0, start_gateway(self, variant, i));
		ports[i] = self->gw[i].port;
	}
	if (variant->ipvs) {
		self->ipvs_set = true;
		ASSERT_EQ(0, gwt_sh("ipvsadm -A -t " VIP ":%d -s rr", VIP_PORT));
		for (i = 0; i < N_GW; i++) {
			snprintf(self->rs[i], sizeof(self->rs[i]), "10.215.%d.2:%d", i + 1, ports[i]);
			ASSERT_EQ(0, gwt_sh("ipvsadm -a -t " VIP ":%d -r %s -m",
					    VIP_PORT, self->rs[i]));
		}
		return;
	}
	self->fe_port = gwt_free_port();
	self->haproxy = gwt_haproxy_start(self->dir, self->fe_port, ports, N_GW);
	ASSERT_LT(0, self->haproxy);
}

FIXTURE_TEARDOWN(fl)
{
	int i;

	if (!variant->ipvs)
		EXPECT_EQ(0, gwt_haproxy_stop(self->haproxy));
	for (i = 0; i < N_GW; i++) {
		gwt_backend_stop(&self->be[i]);
		gwt_gw_cleanup(&self->gw[i]);
	}
	if (self->ipvs_set)
		gwt_sh("ipvsadm -D -t " VIP ":%d", VIP_PORT);
	if (self->topo) {
		/* Deleting a namespace removes its veth pair, both ends. */
		gwt_sh("%1$s netns del %2$s 2>/dev/null; %1$s netns del %3$s 2>/dev/null; "
		       "%1$s netns del %4$s 2>/dev/null; true", ip_tool(), self->cl_ns,
		       self->ns[0], self->ns[1]);
		if (self->ip_forward >= 0)
			gwt_sh("echo %d > /proc/sys/net/ipv4/ip_forward", self->ip_forward);
	}
	if (self->dir[0])
		gwt_rmtree(self->dir);
}

/* A client of cert through the balancer, from src; 0 once the handshake is done. */
static int via_lb(FIXTURE_DATA(fl) *self, const FIXTURE_VARIANT_TYPE(fl) *variant,
		  struct gwt_client *c, const char *cert, const char *src, SSL_SESSION *sess)
{
	struct gwt_client_opts co = { .cert = cert, .session = sess,
				      .max_version = TLS1_3_VERSION,
				      .no_server_check = variant->ipvs };
	struct timeval tv = { .tv_sec = 10 };
	int fd;

	if (variant->ipvs)
		fd = gwt_connect_in(self->cl_ns, src, VIP, VIP_PORT, 10000);
	else
		fd = gwt_connect_from(src, self->fe_port);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return gwt_client_handshake(c, fd, &co);
}

/* A metric of gateway i, read from inside its namespace under IPVS. */
static double metric_of(FIXTURE_DATA(fl) *self, const FIXTURE_VARIANT_TYPE(fl) *variant,
			int i, const char *series)
{
	int saved = variant->ipvs ? gwt_netns_enter(self->ns[i]) : -1;
	double v = gwt_metric_value(&self->gw[i], series);

	gwt_netns_leave(saved);
	return v;
}

static int conn_opens(struct gwt_gw *g)
{
	return gwt_audit_count(g, "\"event\":\"conn_open\"");
}

/*
 * A round trip through the balancer on a new client of cert; *gw: the
 * gateway it landed on (its conn_open count grew). HAProxy's round robin
 * is shared by its threads and its own probes: the tests never assume an
 * order. 0, or -1.
 */
static int connect_where(FIXTURE_DATA(fl) *self, const FIXTURE_VARIANT_TYPE(fl) *variant,
			 struct gwt_client *c, const char *cert, const char *src,
			 SSL_SESSION *sess, int *gw)
{
	int before[N_GW], i;

	for (i = 0; i < N_GW; i++)
		before[i] = conn_opens(&self->gw[i]);
	if (via_lb(self, variant, c, cert, src, sess) || !gwt_roundtrip(c, "where"))
		return -1;
	for (i = 0; i < N_GW; i++)
		if (self->gw[i].pid > 0 && conn_opens(&self->gw[i]) > before[i]) {
			*gw = i;
			return 0;
		}
	return -1;
}

/*
 * Every conn_open line of gateway i names src as the client's source: with
 * HAProxy in front the balancer is the line's "via"; IPVS keeps the
 * client's own address, so there is no "via".
 */
static bool opens_name_the_client(FIXTURE_DATA(fl) *self,
				  const FIXTURE_VARIANT_TYPE(fl) *variant, int i, const char *src)
{
	char *log = gwt_read_file(self->gw[i].audit), *line, *save = NULL, needle[64];
	bool ok = log != NULL;

	snprintf(needle, sizeof(needle), "\"src\":\"%s:", src);
	for (line = log ? strtok_r(log, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save)) {
		bool via = strstr(line, "\"via\":\"127.0.0.1:") != NULL;

		if (strstr(line, "\"event\":\"conn_open\"") &&
		    (!strstr(line, needle) || via == variant->ipvs))
			ok = false;
	}
	free(log);
	return ok;
}

/* Up to 16 connections of cert until one is on every gateway; each in c[gw]. */
static int one_on_each(FIXTURE_DATA(fl) *self, const FIXTURE_VARIANT_TYPE(fl) *variant,
		       struct gwt_client *c, const char *cert, const char *src)
{
	bool have[N_GW] = { false };
	int n = 0, tries, gw;

	for (tries = 0; tries < 16 && n < N_GW; tries++) {
		struct gwt_client t;

		if (connect_where(self, variant, &t, cert, src, NULL, &gw))
			return -1;
		if (have[gw]) {
			gwt_client_close(&t);
			continue;
		}
		have[gw] = true;
		c[gw] = t;
		n++;
	}
	return n == N_GW ? 0 : -1;
}

TEST_F(fl, a_ticket_from_one_gateway_resumes_on_the_other)
{
	struct gwt_client c, warm[N_GW];
	bool resumed_on[N_GW] = { false };
	SSL_SESSION *s;
	int i, from, gw, tries;

	/* A full handshake on each, so each knows the client's issuer path. */
	ASSERT_EQ(0, one_on_each(self, variant, warm, "client-ecdsa", self->good));
	for (i = 0; i < N_GW; i++)
		gwt_client_close(&warm[i]);
	ASSERT_EQ(0, connect_where(self, variant, &c, "client-ecdsa", self->good, NULL, &from));
	s = gwt_client_ticket(&c, "ticket");
	ASSERT_NOT_NULL(s);
	/* Offered until it reached the other gateway: resumed every time. */
	for (tries = 0; tries < 16 && !resumed_on[!from]; tries++) {
		ASSERT_EQ(0, connect_where(self, variant, &c, "client-ecdsa", self->good, s, &gw));
		ASSERT_EQ(1, SSL_session_reused(c.ssl));
		resumed_on[gw] = true;
		gwt_client_close(&c);
	}
	SSL_SESSION_free(s);
	ASSERT_TRUE(resumed_on[!from]);
	ASSERT_LE(1, metric_of(self, variant, !from,
		"mtlsgw_verify_cache_total{listener=\"test\",path=\"resumed\"}"));
	/* Each saw the client, not the balancer, as the source of every connection. */
	for (i = 0; i < N_GW; i++)
		ASSERT_TRUE(opens_name_the_client(self, variant, i, self->good));
}

TEST_F(fl, a_crl_change_closes_the_revoked_client_on_both_gateways)
{
	struct gwt_client rev[N_GW], good[N_GW];
	char path[128], src[64], *line;
	int i;

	ASSERT_EQ(0, one_on_each(self, variant, rev, "client-revoked", self->revoked));
	ASSERT_EQ(0, one_on_each(self, variant, good, "client-ecdsa", self->good));
	/* The issuing CA publishes the revocation: one file, both gateways. */
	snprintf(path, sizeof(path), "%s/issuing.crl", self->dir);
	ASSERT_EQ(0, gwt_replace_file(gwt_pki_path("issuing-ca.crl"), path));
	snprintf(src, sizeof(src), "\"src\":\"%s:", self->revoked);
	for (i = 0; i < N_GW; i++) {
		line = gwt_audit_wait(&self->gw[i], 5000, "\"event\":\"revoked_close\"",
				      src, "\"reason\":\"revoked\"", NULL);
		ASSERT_NOT_NULL(line);
		free(line);
		ASSERT_LE(0, gwt_wait_closed(&rev[i], 5000));
		gwt_client_close(&rev[i]);
	}
	for (i = 0; i < N_GW; i++) {
		ASSERT_TRUE(gwt_roundtrip(&good[i], "still here"));
		gwt_client_close(&good[i]);
		/* Only the revoked client's connection was closed there. */
		ASSERT_EQ(1, gwt_audit_count(&self->gw[i], "\"event\":\"revoked_close\""));
	}
}

TEST_F(fl, one_gateway_killed_the_other_takes_every_client)
{
	struct gwt_client c[N_GW];
	int i, gw, before, status;

	ASSERT_EQ(0, one_on_each(self, variant, c, "client-ecdsa", self->good));
	before = conn_opens(&self->gw[1]);
	/* Gateway 0 dies: its client's connection ends, gateway 1's lives on. */
	ASSERT_EQ(0, kill(self->gw[0].pid, SIGKILL));
	ASSERT_EQ(self->gw[0].pid, waitpid(self->gw[0].pid, &status, 0));
	self->gw[0].pid = -1;
	ASSERT_LE(0, gwt_wait_closed(&c[0], 5000));
	gwt_client_close(&c[0]);
	ASSERT_TRUE(gwt_roundtrip(&c[1], "after"));
	gwt_client_close(&c[1]);
	/*
	 * HAProxy's redispatch retries a refused connect on the other server.
	 * IPVS has no health check of its own: keepalived's (or any checker's)
	 * answer to a dead real server is to take it out, as here.
	 */
	if (variant->ipvs)
		ASSERT_EQ(0, gwt_sh("ipvsadm -d -t " VIP ":%d -r %s", VIP_PORT, self->rs[0]));
	/* Every reconnect goes through the survivor, none refused. */
	for (i = 0; i < 6; i++) {
		struct gwt_client r;

		ASSERT_EQ(0, connect_where(self, variant, &r, "client-ecdsa", self->good, NULL, &gw));
		ASSERT_EQ(1, gw);
		gwt_client_close(&r);
	}
	ASSERT_EQ(before + 6, conn_opens(&self->gw[1]));
}

TEST_HARNESS_MAIN
