// SPDX-License-Identifier: GPL-2.0-only
/*
 * Zero-downtime restarts: while a client opens connections continuously,
 * mtlsgw is restarted with --takeover ten times. The successor puts its
 * sockets into the pinned steering map, the predecessor drains and exits:
 * no connection may be refused or reset, and every transfer is checked.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <openssl/ssl.h>

#include "harness.h"
#include "lib/gwtest.h"
#include "lib/netns.h"

FIXTURE(tk) {
	struct gwt_topo topo;
	struct gwt_backend be;
	struct gwt_gw gw;
	struct gwt_gw_opts go;
	char top_extra[256];
	char pin_dir[64];
};

FIXTURE_SETUP(tk)
{
	self->gw.pid = -1;
	self->gw.notify_fd = -1;
	self->be.pid = -1;
	if (geteuid())
		SKIP("network namespaces and BPF need root");
	if (gwt_sh("mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf"))
		SKIP("no bpffs at /sys/fs/bpf and cannot mount one");
	snprintf(self->pin_dir, sizeof(self->pin_dir), "/sys/fs/bpf/mtlsgw-test-%d", getpid());
	ASSERT_EQ(0, gwt_topo_env_start(&self->topo, &self->be));
	snprintf(self->top_extra, sizeof(self->top_extra),
		 "takeover: true\nbpf_pin_dir: %s\n", self->pin_dir);
	self->go.top_extra = self->top_extra;
	self->go.upstream_port = self->be.port;
	self->go.listen_host = GWT_GW_V4;
	ASSERT_EQ(0, gwt_gw_config(&self->gw, &self->go));
}

FIXTURE_TEARDOWN(tk)
{
	EXPECT_EQ(0, gwt_topo_env_stop(&self->topo, &self->be, &self->gw));
	gwt_sh("rm -rf %s", self->pin_dir);
}

static int gw_start_in_ns(FIXTURE_DATA(tk) *self, struct gwt_gw *g)
{
	return gwt_gw_start_in(g, self->topo.gw_ns);
}

struct tally {
	volatile int stop;
	unsigned long ok, refused, reset, other;
	int ok_ev;		/* eventfd: the hammer counts each ok connection here too */
};

/* Wait until t->ok reaches want (timeout_ms at most); the last count seen. */
static unsigned long wait_ok(struct tally *t, unsigned long want, int timeout_ms)
{
	uint64_t end = gwt_now_ms() + (uint64_t)timeout_ms;
	unsigned long ok;

	while ((ok = __atomic_load_n(&t->ok, __ATOMIC_SEQ_CST)) < want) {
		struct pollfd p = { .fd = t->ok_ev, .events = POLLIN };
		uint64_t now = gwt_now_ms(), n;

		if (now >= end)
			break;
		if (poll(&p, 1, (int)(end - now)) > 0 && read(t->ok_ev, &n, sizeof(n)) < 0)
			break;
	}
	return ok;
}

/* In the client namespace: connect, mTLS, 4 KiB echoed byte-exact, close. */
static void hammer(FIXTURE_DATA(tk) *self, struct tally *t)
{
	struct gwt_client_opts co = { .cert = "client-ecdsa", .no_server_check = true };
	char msg[4096], back[4096];
	unsigned int i;

	if (gwt_netns_enter(self->topo.cl_ns) < 0)
		_exit(1);
	for (i = 0; i < sizeof(msg); i++)
		msg[i] = (char)('a' + i % 26);
	while (!t->stop) {
		struct gwt_client c;
		size_t got = 0;
		int fd, n;

		fd = gwt_tcp_connect_from(GWT_CL_V4_ALLOWED, GWT_GW_V4, self->gw.port, 3000);
		if (fd == -ECONNREFUSED) {
			__atomic_add_fetch(&t->refused, 1, __ATOMIC_SEQ_CST);
			continue;
		}
		if (fd < 0) {
			__atomic_add_fetch(fd == -ECONNRESET ? &t->reset : &t->other, 1,
					   __ATOMIC_SEQ_CST);
			continue;
		}
		if (gwt_client_handshake(&c, fd, &co) ||
		    SSL_write(c.ssl, msg, sizeof(msg)) != (int)sizeof(msg)) {
			__atomic_add_fetch(errno == ECONNRESET ? &t->reset : &t->other, 1,
					   __ATOMIC_SEQ_CST);
			gwt_client_close(&c);
			continue;
		}
		while (got < sizeof(back) && (n = SSL_read(c.ssl, back + got, sizeof(back) - got)) > 0)
			got += n;
		if (got == sizeof(back) && !memcmp(msg, back, sizeof(back))) {
			uint64_t one = 1;

			__atomic_add_fetch(&t->ok, 1, __ATOMIC_SEQ_CST);
			if (write(t->ok_ev, &one, sizeof(one)) != sizeof(one))
				_exit(1);
		} else {
			__atomic_add_fetch(errno == ECONNRESET ? &t->reset : &t->other, 1,
					   __ATOMIC_SEQ_CST);
		}
		SSL_shutdown(c.ssl);
		gwt_client_close(&c);
	}
	_exit(0);
}

TEST_F_TIMEOUT(tk, ten_takeover_restarts_refuse_nothing, 120)
{
	struct tally *t = mmap(NULL, sizeof(*t), PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct gwt_gw next;
	pid_t pid;
	int i;

	ASSERT_NE(MAP_FAILED, (void *)t);
	t->ok_ev = eventfd(0, EFD_CLOEXEC);
	ASSERT_LE(0, t->ok_ev);
	ASSERT_EQ(0, gw_start_in_ns(self, &self->gw));
	fflush(NULL);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0)
		hammer(self, t);
	/* The first restart comes while traffic flows. */
	ASSERT_LE(5, wait_ok(t, 5, 10000));
	for (i = 0; i < 10; i++) {
		unsigned long before = __atomic_load_n(&t->ok, __ATOMIC_SEQ_CST);

		next = self->gw;
		next.pid = -1;
		next.notify_fd = -1;
		next.extra_arg = "--takeover";
		ASSERT_EQ(0, gw_start_in_ns(self, &next));
		/* The predecessor drains and exits on its own, cleanly. */
		ASSERT_EQ(0, gwt_gw_wait_exit(&self->gw, 10000));
		self->gw = next;
		/* Traffic keeps flowing through the successor. */
		ASSERT_LE(before + 5, wait_ok(t, before + 5, 10000));
	}
	t->stop = 1;
	waitpid(pid, NULL, 0);
	close(t->ok_ev);
	TH_LOG("10 takeover restarts: %lu connections ok, %lu refused, %lu reset, %lu other failures",
	       t->ok, t->refused, t->reset, t->other);
	EXPECT_EQ(0, t->refused);
	EXPECT_EQ(0, t->reset);
	EXPECT_EQ(0, t->other);
	ASSERT_GT(t->ok, 50);
	munmap(t, sizeof(*t));
}

TEST_F(tk, sigkill_then_fresh_start_cleans_pins)
{
	char *out;

	ASSERT_EQ(0, gw_start_in_ns(self, &self->gw));
	out = gwt_sh_out("ls %s", self->pin_dir);
	ASSERT_NOT_NULL(strstr(out, "steer_link"));
	free(out);
	ASSERT_EQ(0, gwt_gw_signal(&self->gw, SIGKILL));
	ASSERT_EQ(128 + SIGKILL, gwt_gw_stop(&self->gw));
	/* The pinned link outlived the crash; a plain start replaces it. */
	ASSERT_EQ(0, gw_start_in_ns(self, &self->gw));
	{
		struct gwt_client_opts co = { .cert = "client-ecdsa", .no_server_check = true };
		struct gwt_outcome o;
		int fd = gwt_connect_in(self->topo.cl_ns, GWT_CL_V4_ALLOWED, GWT_GW_V4,
					self->gw.port, 3000);

		ASSERT_LE(0, fd);
		gwt_client_try_fd(fd, &co, "pins", 4, &o);
		ASSERT_EQ(4, o.rx);
	}
	/* A clean stop removes the pins. */
	ASSERT_EQ(0, gwt_gw_stop(&self->gw));
	ASSERT_NE(0, access(self->pin_dir, F_OK));
}

TEST_HARNESS_MAIN
