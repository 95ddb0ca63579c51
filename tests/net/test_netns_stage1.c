// SPDX-License-Identifier: GPL-2.0-only
/*
 * Stage 1 on real traffic: the daemon in a gateway namespace with the
 * eBPF allowlist attached to its veth, clients in another namespace with
 * an allowed and a denied source address. A denied source's SYNs never
 * get an answer and never reach accept(); an allowed one completes mTLS.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "lib/gwtest.h"
#include "lib/netns.h"

FIXTURE(s1) {
	struct gwt_topo topo;
	struct gwt_backend be;
	struct gwt_gw gw;
	struct gwt_gw_opts go;
	char top_extra[128];
	char listener_extra[128];
	unsigned int links[16];		/* the daemon's BPF link ids, seen by attached() */
	unsigned int n_links;
};

FIXTURE_VARIANT(s1) {
	const char *attach;	/* stage1.attach */
	const char *mode;	/* as "ip -d link" / tc show it */
};

FIXTURE_VARIANT_ADD(s1, xdp) { .attach = "xdp", .mode = "xdp" };
FIXTURE_VARIANT_ADD(s1, xdp_generic) { .attach = "xdp-generic", .mode = "xdpgeneric" };
FIXTURE_VARIANT_ADD(s1, tc) { .attach = "tc", .mode = "tc" };

FIXTURE_SETUP(s1)
{
	self->gw.pid = -1;
	self->gw.notify_fd = -1;
	self->be.pid = -1;
	if (geteuid())
		SKIP("network namespaces and BPF need root");
	ASSERT_EQ(0, gwt_topo_env_start(&self->topo, &self->be));

	snprintf(self->top_extra, sizeof(self->top_extra),
		 "stage1:\n  attach: %s\n  summary_interval: 300ms\n", variant->attach);
	snprintf(self->listener_extra, sizeof(self->listener_extra),
		 "    interfaces: [%s]\n", self->topo.gw_if);
	self->go.upstream_port = self->be.port;
	self->go.listen_host = GWT_GW_V4;
	self->go.allow_sources = "[" GWT_CL_V4_ALLOWED "/32, \"" GWT_CL_V6_ALLOWED "/128\"]";
	self->go.top_extra = self->top_extra;
	self->go.listener_extra = self->listener_extra;
	ASSERT_EQ(0, gwt_gw_config(&self->gw, &self->go));
}

FIXTURE_TEARDOWN(s1)
{
	EXPECT_EQ(0, gwt_topo_env_stop(&self->topo, &self->be, &self->gw));
}

static int gw_start_in_ns(FIXTURE_DATA(s1) *self)
{
	return gwt_gw_start_in(&self->gw, self->topo.gw_ns);
}

/* Connect from the client namespace; the fd or -errno. */
static int client_connect(FIXTURE_DATA(s1) *self, const char *src, const char *dst,
			  int timeout_ms)
{
	return gwt_connect_in(self->topo.cl_ns, src, dst, self->gw.port, timeout_ms);
}

static bool mtls_echo_from(FIXTURE_DATA(s1) *self, const char *src, const char *dst)
{
	struct gwt_client_opts co = { .cert = "client-ecdsa", .no_server_check = true };
	struct gwt_outcome out;
	int fd = client_connect(self, src, dst, 3000);

	if (fd < 0)
		return false;
	gwt_client_try_fd(fd, &co, "stage1", 6, &out);
	return out.handshake_ok && out.rx == 6 && !strcmp(out.data, "stage1");
}

/*
 * The ids of the BPF links daemon pid holds, and whether one of them is a
 * tcx attachment (fdinfo: "link_type:" and "link_id:"). Only the daemon's
 * own: another test run may have a gw_stage1_tc program linked at the
 * same time, in its own namespace.
 */
static unsigned int daemon_links(pid_t pid, unsigned int *ids, unsigned int max, bool *tcx)
{
	char dir[64], path[320], buf[512];
	unsigned int n = 0;
	struct dirent *de;
	DIR *d;

	*tcx = false;
	snprintf(dir, sizeof(dir), "/proc/%d/fdinfo", (int)pid);
	d = opendir(dir);
	while (d && (de = readdir(d)) && n < max) {
		const char *id;
		ssize_t len;
		int fd;

		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		len = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (len <= 0)
			continue;
		buf[len] = '\0';
		id = strstr(buf, "link_id:");
		if (!id)
			continue;
		ids[n++] = (unsigned int)strtoul(id + 8, NULL, 10);
		if (strstr(buf, "link_type:\ttcx"))
			*tcx = true;
	}
	if (d)
		closedir(d);
	return n;
}

/* Is anything of ours attached to the gateway's veth? Remembers the daemon's links. */
static bool attached(FIXTURE_DATA(s1) *self)
{
	char *link = gwt_sh_out("ip -n %s -d link show dev %s", self->topo.gw_ns, self->topo.gw_if);
	char *tc = gwt_sh_out("tc -n %s filter show dev %s ingress", self->topo.gw_ns,
			      self->topo.gw_if);
	bool tcx = false, any;

	if (self->gw.pid > 0)
		self->n_links = daemon_links(self->gw.pid, self->links,
					     sizeof(self->links) / sizeof(self->links[0]), &tcx);
	any = (link && strstr(link, "prog/xdp")) || (tc && strstr(tc, "bpf")) || tcx;
	free(link);
	free(tc);
	return any;
}

/*
 * After the daemon is gone: nothing attached to the interface (XDP, tc
 * filter), and none of the BPF links it held (tcx among them) left.
 * Programs that are loaded but not attached die with their last file
 * descriptor.
 */
static bool anything_left(FIXTURE_DATA(s1) *self)
{
	char *links = gwt_sh_out("bpftool link show");
	bool left = attached(self);
	unsigned int i;

	for (i = 0; i < self->n_links && links && !left; i++) {
		char needle[24];

		snprintf(needle, sizeof(needle), "\n%u: ", self->links[i]);
		left = !strncmp(links, needle + 1, strlen(needle + 1)) || strstr(links, needle);
	}
	free(links);
	return left;
}

TEST_F(s1, allowed_passes_denied_never_answered)
{
	char *line;
	int fd;

	ASSERT_EQ(0, gw_start_in_ns(self));
	ASSERT_TRUE(attached(self));
	ASSERT_TRUE(mtls_echo_from(self, GWT_CL_V4_ALLOWED, GWT_GW_V4));
	/* The denied source's SYN is dropped: no RST, no accept, a timeout. */
	fd = client_connect(self, GWT_CL_V4_DENIED, GWT_GW_V4, 1000);
	ASSERT_EQ(-ETIMEDOUT, fd);
	/* The userspace check never saw it: the kernel stopped it first. */
	ASSERT_EQ(0, gwt_audit_count(&self->gw, "source_denied"));
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"stage1_drops\"",
			      "\"listener\":\"test\"", "\"decision\":\"drop\"",
			      "\"prefix\":\"10.213.0.0/24\"", NULL);
	ASSERT_NOT_NULL(line);
	TH_LOG("%s", line);
	free(line);
	ASSERT_EQ(1, gwt_audit_count(&self->gw, "\"event\":\"conn_open\""));
}

TEST_F(s1, ipv6_allowed_and_denied)
{
	char *line;

	self->go.listen_host = "[" GWT_GW_V6 "]";
	ASSERT_EQ(0, gwt_gw_rewrite(&self->gw, &self->go));
	ASSERT_EQ(0, gw_start_in_ns(self));
	ASSERT_TRUE(mtls_echo_from(self, GWT_CL_V6_ALLOWED, GWT_GW_V6));
	ASSERT_EQ(-ETIMEDOUT, client_connect(self, GWT_CL_V6_DENIED, GWT_GW_V6, 1000));
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"stage1_drops\"",
			      "\"prefix\":\"fd00:213::/64\"", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
}

/*
 * SIGHUP is the only reload here: with reload_on_change the rewrite of the
 * config reloads too, 100 ms later or not at all (when the SIGHUP reload
 * renewed the watches before the daemon read the event), and "generation
 * 3" could be that reload of the first rewrite.
 */
TEST_F(s1, reload_moves_prefix_both_ways)
{
	char top_extra[160], *line;

	snprintf(top_extra, sizeof(top_extra), "%sreload_on_change: false\n", self->top_extra);
	self->go.top_extra = top_extra;
	ASSERT_EQ(0, gwt_gw_rewrite(&self->gw, &self->go));
	ASSERT_EQ(0, gw_start_in_ns(self));
	ASSERT_EQ(-ETIMEDOUT, client_connect(self, GWT_CL_V4_DENIED, GWT_GW_V4, 1000));
	/* Allow the /24: the denied address is now in. */
	self->go.allow_sources = "[10.213.0.0/24]";
	ASSERT_EQ(0, gwt_gw_rewrite(&self->gw, &self->go));
	ASSERT_EQ(0, gwt_gw_signal(&self->gw, SIGHUP));
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"reload\"", "\"decision\":\"ok\"",
			      "\"detail\":\"generation 2\"", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
	ASSERT_TRUE(mtls_echo_from(self, GWT_CL_V4_DENIED, GWT_GW_V4));
	/* And back out. */
	self->go.allow_sources = "[" GWT_CL_V4_ALLOWED "/32]";
	ASSERT_EQ(0, gwt_gw_rewrite(&self->gw, &self->go));
	ASSERT_EQ(0, gwt_gw_signal(&self->gw, SIGHUP));
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"reload\"", "\"decision\":\"ok\"",
			      "\"detail\":\"generation 3\"", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
	ASSERT_EQ(2, gwt_audit_count(&self->gw, "\"event\":\"reload\""));
	ASSERT_EQ(-ETIMEDOUT, client_connect(self, GWT_CL_V4_DENIED, GWT_GW_V4, 1000));
	ASSERT_TRUE(mtls_echo_from(self, GWT_CL_V4_ALLOWED, GWT_GW_V4));
}

TEST_F(s1, audit_mode_passes_and_counts)
{
	char *line;

	self->go.mode = "audit";
	ASSERT_EQ(0, gwt_gw_rewrite(&self->gw, &self->go));
	ASSERT_EQ(0, gw_start_in_ns(self));
	ASSERT_TRUE(mtls_echo_from(self, GWT_CL_V4_DENIED, GWT_GW_V4));
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"stage1_drops\"",
			      "\"decision\":\"would_drop\"", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
	/* The userspace check logs the same source as would_deny. */
	line = gwt_audit_wait(&self->gw, 5000, "\"reason\":\"source_denied\"",
			      "\"decision\":\"would_deny\"", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
}

TEST_F(s1, two_listeners_two_allowlists)
{
	char extra[512];
	int port2 = gwt_free_port();
	int fd;

	/* Listener "other" on another port allows only the "denied" address. */
	snprintf(extra, sizeof(extra),
		 "  - name: other\n"
		 "    listen: \"%s:%d\"\n"
		 "    interfaces: [%s]\n"
		 "    allow_sources: [%s/32]\n"
		 "    tls:\n"
		 "      cert: %s\n      key: %s\n      client_ca: %s\n      crl_check: off\n"
		 "    authorize:\n      - name: any-prod\n        spiffe_id: [\"spiffe://corp.test/prod/*\"]\n"
		 "    upstream:\n      address: \"127.0.0.1:%d\"\n",
		 GWT_GW_V4, port2, self->topo.gw_if, GWT_CL_V4_DENIED,
		 gwt_pki_path("server-chain.pem"), gwt_pki_path("server.key"),
		 gwt_pki_path("ca-bundle.pem"), self->be.port);
	self->go.extra_listeners = extra;
	ASSERT_EQ(0, gwt_gw_rewrite(&self->gw, &self->go));
	ASSERT_EQ(0, gw_start_in_ns(self));
	/* test: .2 yes, .3 no.  other: .3 yes, .2 no. */
	ASSERT_TRUE(mtls_echo_from(self, GWT_CL_V4_ALLOWED, GWT_GW_V4));
	ASSERT_EQ(-ETIMEDOUT, client_connect(self, GWT_CL_V4_DENIED, GWT_GW_V4, 1000));
	fd = gwt_connect_in(self->topo.cl_ns, GWT_CL_V4_DENIED, GWT_GW_V4, port2, 3000);
	ASSERT_LE(0, fd);
	close(fd);
	fd = gwt_connect_in(self->topo.cl_ns, GWT_CL_V4_ALLOWED, GWT_GW_V4, port2, 1000);
	ASSERT_EQ(-ETIMEDOUT, fd);
}

/*
 * Behind a balancer (proxy_protocol) the program admits the balancers
 * only; allow_sources applies in userspace to the client each PROXY
 * header names. The "allowed" client address plays the balancer here.
 */
static int balanced_try(FIXTURE_DATA(s1) *self, const char *client, struct gwt_outcome *out)
{
	struct gwt_client_opts co = { .cert = "client-ecdsa", .no_server_check = true };
	unsigned char hdr[64];
	size_t n = gwt_proxy_v2_header(hdr, client, 40000, GWT_GW_V4, self->gw.port, 0, false);
	int fd = client_connect(self, GWT_CL_V4_ALLOWED, GWT_GW_V4, 3000);

	if (fd < 0)
		return fd;
	if (send(fd, hdr, n, MSG_NOSIGNAL) != (ssize_t)n) {
		close(fd);
		return -EIO;
	}
	gwt_client_try_fd(fd, &co, "stage1", 6, out);
	return 0;
}

TEST_F(s1, behind_a_balancer_the_program_admits_the_balancer_only)
{
	struct gwt_outcome out;
	char *line;

	snprintf(self->listener_extra, sizeof(self->listener_extra),
		 "    interfaces: [%s]\n    proxy_protocol: { accept: v2, from: [%s/32] }\n",
		 self->topo.gw_if, GWT_CL_V4_ALLOWED);
	self->go.allow_sources = "[192.0.2.0/24]";
	ASSERT_EQ(0, gwt_gw_rewrite(&self->gw, &self->go));
	ASSERT_EQ(0, gw_start_in_ns(self));
	ASSERT_EQ(0, balanced_try(self, "192.0.2.7", &out));
	ASSERT_TRUE(out.handshake_ok);
	ASSERT_EQ(6, out.rx);
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"conn_open\"",
			      "\"src\":\"192.0.2.7:40000\"", "\"via\":\"" GWT_CL_V4_ALLOWED ":", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
	/* A client outside allow_sources, named by the balancer: userspace says no. */
	ASSERT_EQ(0, balanced_try(self, "198.51.100.9", &out));
	ASSERT_FALSE(out.handshake_ok);
	line = gwt_audit_wait(&self->gw, 5000, "\"reason\":\"source_denied\"",
			      "\"src\":\"198.51.100.9:40000\"", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
	/* Anyone but the balancer never gets an answer, header or not. */
	ASSERT_EQ(-ETIMEDOUT, client_connect(self, GWT_CL_V4_DENIED, GWT_GW_V4, 1000));
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"stage1_drops\"",
			      "\"decision\":\"drop\"", "\"prefix\":\"10.213.0.0/24\"", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
	ASSERT_EQ(0, gwt_audit_count(&self->gw, "proxy_source_untrusted"));
}

TEST_F(s1, nothing_left_after_sigterm)
{
	ASSERT_EQ(0, gw_start_in_ns(self));
	ASSERT_TRUE(attached(self));
	ASSERT_EQ(0, gwt_gw_stop(&self->gw));
	ASSERT_FALSE(anything_left(self));
}

TEST_F(s1, nothing_left_after_sigkill)
{
	ASSERT_EQ(0, gw_start_in_ns(self));
	ASSERT_TRUE(attached(self));
	ASSERT_EQ(0, gwt_gw_signal(&self->gw, SIGKILL));
	ASSERT_EQ(128 + SIGKILL, gwt_gw_stop(&self->gw));
	ASSERT_FALSE(anything_left(self));
	/* And a fresh start attaches again. */
	ASSERT_EQ(0, gw_start_in_ns(self));
	ASSERT_TRUE(attached(self));
}

TEST_HARNESS_MAIN
