// SPDX-License-Identifier: GPL-2.0-only
/*
 * reqsrv.c, the control socket's and the metrics endpoint's server, in a
 * real event loop: a request in, the handler's answer out, then EOF; a
 * partial line ended by EOF; a NUL; a request longer than the buffer;
 * HTTP's 405, 400 and 408; and clients that send nothing, which must
 * neither hold the loop nor take more than GW_REQSRV_MAX_CLIENTS slots.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "harness.h"
#include "control.h"
#include "loop.h"
#include "reqsrv.h"
#include "util.h"

FIXTURE(srv) {
	char dir[40];
	char path[80];
	struct gw_loop loop;
	struct gw_reqsrv s;
	struct gw_timer stop;
	char last[GW_CTL_MAX_REQUEST];	/* the last request the handler saw */
	unsigned int n_handled;
	int cli[40];
	unsigned int n_cli;
};

static FIXTURE_DATA(srv) *current;

static void answer(struct gw_reqsrv *s, char *req, struct gw_sbuf *out)
{
	(void)s;
	snprintf(current->last, sizeof(current->last), "%s", req);
	current->n_handled++;
	gw_sbuf_printf(out, "got %zu bytes\n", strlen(req));
}

FIXTURE_SETUP(srv)
{
	int fd;

	current = self;
	snprintf(self->dir, sizeof(self->dir), "/tmp/mtlsgw-test-srv.XXXXXX");
	ASSERT_NOT_NULL(mkdtemp(self->dir));
	snprintf(self->path, sizeof(self->path), "%s/control.sock", self->dir);
	ASSERT_EQ(0, gw_loop_init(&self->loop));
	gw_reqsrv_init(&self->s);
	fd = gw_ctl_listen_unix(self->path);
	ASSERT_LE(0, fd);
	gw_reqsrv_start(&self->s, &self->loop, fd, GW_REQSRV_LINE, "control socket", answer);
}

FIXTURE_TEARDOWN(srv)
{
	unsigned int i;

	for (i = 0; i < self->n_cli; i++)
		close(self->cli[i]);
	gw_reqsrv_stop(&self->s);
	gw_loop_fini(&self->loop);
	unlink(self->path);
	rmdir(self->dir);
}

static void stop_loop(struct gw_timer *t)
{
	gw_container_of(t, FIXTURE_DATA(srv), stop)->loop.done = true;
}

/* Run the loop for ms; how long it really took. */
static uint64_t run_for(FIXTURE_DATA(srv) *self, unsigned int ms)
{
	uint64_t t0 = gw_now_ms();

	gw_timer_start(&self->loop, &self->stop, ms, stop_loop);
	gw_loop_run(&self->loop, NULL, NULL);
	self->loop.done = false;
	return gw_now_ms() - t0;
}

static int client(FIXTURE_DATA(srv) *self, const char *send, size_t len)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", self->path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) ||
	    (len && write(fd, send, len) != (ssize_t)len)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	self->cli[self->n_cli++] = fd;
	return fd;
}

/* What the server sent before EOF (NULL if no EOF yet: it would block). */
static char *answer_of(int fd)
{
	static char buf[4096];
	size_t n = 0;
	ssize_t r;

	while ((r = recv(fd, buf + n, sizeof(buf) - 1 - n, MSG_DONTWAIT)) > 0)
		n += (size_t)r;
	if (r < 0)
		return NULL;
	buf[n] = '\0';
	return buf;
}

TEST_F(srv, request_answer_eof)
{
	int fd = client(self, "kill serial 0A1B\nstatus\n", 24);

	ASSERT_LE(0, fd);
	run_for(self, 100);
	EXPECT_EQ(1, self->n_handled);
	EXPECT_STREQ("kill serial 0A1B", self->last);
	EXPECT_STREQ("got 16 bytes\n", answer_of(fd));
	EXPECT_EQ(0, self->s.n_clients);
}

/* A line without its newline is a request when the client ends its stream. */
TEST_F(srv, partial_line_ended_by_eof)
{
	int fd = client(self, "stat", 4);

	ASSERT_LE(0, fd);
	run_for(self, 50);
	EXPECT_EQ(0, self->n_handled);
	ASSERT_EQ(0, shutdown(fd, SHUT_WR));
	run_for(self, 50);
	EXPECT_STREQ("stat", self->last);
	EXPECT_STREQ("got 4 bytes\n", answer_of(fd));
}

TEST_F(srv, nul_byte_refused)
{
	int fd = client(self, "sta\0tus\n", 8);

	ASSERT_LE(0, fd);
	run_for(self, 50);
	EXPECT_EQ(0, self->n_handled);
	EXPECT_STREQ("error: a NUL byte in the request\n", answer_of(fd));
}

/* Longer than the buffer: the first 1023 bytes are the request. */
TEST_F(srv, long_request_cut_at_buffer)
{
	char big[3000];
	int fd;

	memset(big, 'q', sizeof(big));
	fd = client(self, big, sizeof(big));
	ASSERT_LE(0, fd);
	run_for(self, 50);
	EXPECT_EQ(1, self->n_handled);
	EXPECT_EQ(GW_CTL_MAX_REQUEST - 1, strlen(self->last));
	EXPECT_STREQ("got 1023 bytes\n", answer_of(fd));
}

/*
 * 30 clients that send nothing and one that asks. The loop is never held
 * by them (each run returns on time), at most GW_REQSRV_MAX_CLIENTS
 * slots are taken, the silent ones are told and closed after
 * GW_REQSRV_READ_MS, and the one that asked is answered.
 */
TEST_F(srv, silent_clients_hold_nothing)
{
	unsigned int i, max_slots = 0;
	uint64_t took, worst = 0;
	int good;

	/* In batches: a connect blocks while the socket's queue (16) is full. */
	for (i = 0; i < 30; i++) {
		ASSERT_LE(0, client(self, NULL, 0));
		if (i % 8 == 7)
			run_for(self, 10);
	}
	good = client(self, "status\n", 7);
	ASSERT_LE(0, good);
	for (i = 0; i < 40 && self->n_handled == 0; i++) {
		took = run_for(self, 100);
		worst = took > worst ? took : worst;
		max_slots = self->s.n_clients > max_slots ? self->s.n_clients : max_slots;
	}
	printf("# longest 100 ms run of the loop: %llu ms; slots taken at most: %u\n",
	       (unsigned long long)worst, max_slots);
	/* Synchronous reads held the loop 200 ms per silent client. */
	EXPECT_LT(worst, 600);
	EXPECT_EQ(GW_REQSRV_MAX_CLIENTS, max_slots);
	EXPECT_EQ(1, self->n_handled);
	EXPECT_STREQ("got 6 bytes\n", answer_of(good));
	EXPECT_STREQ("error: request not complete within 1 s\n", answer_of(self->cli[0]));
}

/* ---- HTTP ---- */

static int tcp_client(int port, const char *send, size_t len)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    write(fd, send, len) != (ssize_t)len) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

TEST_F(srv, http_statuses)
{
	struct gw_reqsrv h;
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int fd, get, post, bad, slow, port;
	char *a;

	fd = gw_ctl_listen_tcp("127.0.0.1:0", false);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, getsockname(fd, (struct sockaddr *)&sa, &sl));
	port = ntohs(sa.sin_port);
	gw_reqsrv_init(&h);
	gw_reqsrv_start(&h, &self->loop, fd, GW_REQSRV_HTTP, "metrics", answer);
	get = tcp_client(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 34);
	post = tcp_client(port, "POST /metrics HTTP/1.1\r\n\r\n", 26);
	bad = tcp_client(port, "GET /m\0 HTTP/1.1\r\n", 18);
	slow = tcp_client(port, "GET /metrics HTTP/1.1\r\n", 23);
	ASSERT_LE(0, get);
	ASSERT_LE(0, post);
	ASSERT_LE(0, bad);
	ASSERT_LE(0, slow);
	run_for(self, 100);
	EXPECT_EQ(1, self->n_handled);
	EXPECT_STREQ("/metrics", self->last);
	EXPECT_STREQ("got 8 bytes\n", answer_of(get));
	a = answer_of(post);
	EXPECT_EQ(0, strncmp(a, "HTTP/1.0 405 Method Not Allowed\r\n", 33));
	EXPECT_NOT_NULL(strstr(a, "\r\nAllow: GET\r\n"));
	a = answer_of(bad);
	EXPECT_EQ(0, strncmp(a, "HTTP/1.0 400 Bad Request\r\n", 26));
	/* The head never ends: 408 after the read deadline. */
	EXPECT_NULL(answer_of(slow));
	run_for(self, GW_REQSRV_READ_MS + 200);
	a = answer_of(slow);
	EXPECT_NOT_NULL(a);
	EXPECT_EQ(0, strncmp(a ? a : "", "HTTP/1.0 408 Request Timeout\r\n", 30));
	close(get);
	close(post);
	close(bad);
	close(slow);
	gw_reqsrv_stop(&h);
}

TEST_HARNESS_MAIN
