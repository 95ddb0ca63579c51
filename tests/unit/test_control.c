// SPDX-License-Identifier: GPL-2.0-only
/*
 * control.c: gw_ctl_parse, the control request line parser (commands,
 * arguments, CR/LF cut, unknown and incomplete requests, a line of the
 * maximum length), and the unix socket transport (0600 socket, one
 * request read, the reply and the close, the read timeout).
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"
#include "util.h"
#include "control.h"

struct parse_case {
	const char *line;
	enum gw_ctl_cmd cmd;
	const char *word;
	bool json;
	enum gw_ctl_kill_by kill_by;
	const char *value;		/* NULL: no value */
};

static const struct parse_case cases[] = {
	{ "status\n", GW_CTL_STATUS, "status" },
	{ "status", GW_CTL_STATUS, "status" },
	{ "status extra", GW_CTL_STATUS, "status" },
	{ "conns", GW_CTL_CONNS, "conns" },
	{ "conns\n", GW_CTL_CONNS, "conns" },
	{ "conns json", GW_CTL_CONNS, "conns", true },
	{ "conns json\r\n", GW_CTL_CONNS, "conns", true },
	{ "conns json extra", GW_CTL_CONNS, "conns", true },
	{ "conns xml", GW_CTL_CONNS, "conns", false },
	{ "conns jsonx", GW_CTL_CONNS, "conns", false },
	{ "conns  json", GW_CTL_CONNS, "conns", false },	/* single spaces only */
	{ "reload\r\n", GW_CTL_RELOAD, "reload" },
	{ "reload", GW_CTL_RELOAD, "reload" },
	{ "handover", GW_CTL_HANDOVER, "handover" },
	{ "handover\n", GW_CTL_HANDOVER, "handover" },
	{ "kill conn 12", GW_CTL_KILL, "kill", false, GW_KILL_CONN, "12" },
	{ "kill conn 12\n", GW_CTL_KILL, "kill", false, GW_KILL_CONN, "12" },
	{ "kill serial AB:CD", GW_CTL_KILL, "kill", false, GW_KILL_SERIAL, "AB:CD" },
	{ "kill serial 0A1B\r\n", GW_CTL_KILL, "kill", false, GW_KILL_SERIAL, "0A1B" },
	{ "kill spiffe-id spiffe://x/y", GW_CTL_KILL, "kill", false, GW_KILL_SPIFFE_ID,
	  "spiffe://x/y" },
	{ "kill spiffe-id spiffe://corp.test/prod/a\n", GW_CTL_KILL, "kill", false,
	  GW_KILL_SPIFFE_ID, "spiffe://corp.test/prod/a" },
	/* A kill needs a selector and a value; unknown selectors are unknown. */
	{ "kill", GW_CTL_UNKNOWN, "kill" },
	{ "kill\n", GW_CTL_UNKNOWN, "kill" },
	{ "kill conn", GW_CTL_UNKNOWN, "kill" },
	{ "kill conn\n", GW_CTL_UNKNOWN, "kill" },
	/* A selector with an empty value is no kill (it would kill nothing, silently). */
	{ "kill conn ", GW_CTL_UNKNOWN, "kill" },
	{ "kill serial \n", GW_CTL_UNKNOWN, "kill" },
	{ "kill pid 3", GW_CTL_UNKNOWN, "kill" },
	{ "kill Conn 3", GW_CTL_UNKNOWN, "kill" },
	{ "kill  conn 3", GW_CTL_UNKNOWN, "kill" },	/* empty selector */
	{ "kill spiffe-id\r\nspiffe://x/y", GW_CTL_UNKNOWN, "kill" },
	/* Empty and unknown. */
	{ "", GW_CTL_UNKNOWN, "" },
	{ "\n", GW_CTL_UNKNOWN, "" },
	{ "\r\n", GW_CTL_UNKNOWN, "" },
	{ " status", GW_CTL_UNKNOWN, "" },
	{ "bogus words", GW_CTL_UNKNOWN, "bogus" },
	{ "bogus", GW_CTL_UNKNOWN, "bogus" },
	{ "statusx", GW_CTL_UNKNOWN, "statusx" },
	{ "stat", GW_CTL_UNKNOWN, "stat" },
	/* The line ends at the first CR or LF, wherever it is. */
	{ "status\rreload\n", GW_CTL_STATUS, "status" },
	{ "reload\nstatus\n", GW_CTL_RELOAD, "reload" },
	{ "sta\rtus\n", GW_CTL_UNKNOWN, "sta" },
	{ "conns js\ron", GW_CTL_CONNS, "conns", false },
	{ "kill conn 1\r2", GW_CTL_KILL, "kill", false, GW_KILL_CONN, "1" },
};

static void check_case(HARNESS_CTX, const struct parse_case *c)
{
	struct gw_ctl_req req;
	size_t n = strlen(c->line);
	char *line = malloc(n + 1);

	ASSERT_NOT_NULL(line);
	memcpy(line, c->line, n + 1);
	memset(&req, 0x5A, sizeof(req));
	gw_ctl_parse(line, &req);
	if (req.cmd != c->cmd || !req.word || strcmp(req.word, c->word) ||
	    req.json != c->json || (c->value && (!req.value || strcmp(req.value, c->value))))
		TH_LOG("line \"%s\"", c->line);
	EXPECT_EQ(c->cmd, req.cmd);
	EXPECT_STREQ(c->word, req.word);
	EXPECT_EQ(c->json, req.json);
	/* The word is the start of the line, changed in place. */
	EXPECT_TRUE(req.word == line);
	if (c->value) {
		EXPECT_EQ(c->kill_by, req.kill_by);
		EXPECT_STREQ(c->value, req.value);
		/* The value points into the line too. */
		EXPECT_TRUE(req.value > line && req.value < line + n);
	} else {
		EXPECT_NULL(req.value);
	}
	free(line);
}

TEST(parse_table)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(cases); i++)
		check_case(_ctx, &cases[i]);
}

/* The longest request gw_ctl_accept can return: 1023 bytes and the NUL. */
TEST(parse_max_length_line)
{
	static const char head[] = "kill spiffe-id spiffe://corp.test/";
	char line[GW_CTL_MAX_REQUEST];
	struct gw_ctl_req req;
	size_t vlen;

	/* No newline: the buffer was full. */
	memcpy(line, head, sizeof(head) - 1);
	memset(line + sizeof(head) - 1, 'a', sizeof(line) - sizeof(head));
	line[sizeof(line) - 1] = '\0';
	ASSERT_EQ(1023, strlen(line));
	gw_ctl_parse(line, &req);
	ASSERT_EQ(GW_CTL_KILL, req.cmd);
	EXPECT_EQ(GW_KILL_SPIFFE_ID, req.kill_by);
	ASSERT_NOT_NULL(req.value);
	vlen = strlen(req.value);
	EXPECT_EQ(1023 - strlen("kill spiffe-id "), vlen);
	EXPECT_EQ(0, strncmp(req.value, "spiffe://corp.test/aaa", 22));
	EXPECT_EQ('a', req.value[vlen - 1]);

	/* 1022 bytes and the newline. */
	memcpy(line, head, sizeof(head) - 1);
	memset(line + sizeof(head) - 1, 'b', sizeof(line) - sizeof(head));
	line[sizeof(line) - 2] = '\n';
	line[sizeof(line) - 1] = '\0';
	gw_ctl_parse(line, &req);
	ASSERT_EQ(GW_CTL_KILL, req.cmd);
	ASSERT_NOT_NULL(req.value);
	EXPECT_EQ(1022 - strlen("kill spiffe-id "), strlen(req.value));
	EXPECT_EQ('b', req.value[strlen(req.value) - 1]);

	/* A 1023-byte unknown word. */
	memset(line, 'z', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\0';
	gw_ctl_parse(line, &req);
	EXPECT_EQ(GW_CTL_UNKNOWN, req.cmd);
	EXPECT_EQ(1023, strlen(req.word));
	EXPECT_NULL(req.value);

	/* "status" and 1016 bytes of arguments. */
	memset(line, 'x', sizeof(line) - 1);
	memcpy(line, "status ", 7);
	line[sizeof(line) - 1] = '\0';
	gw_ctl_parse(line, &req);
	EXPECT_EQ(GW_CTL_STATUS, req.cmd);
	EXPECT_STREQ("status", req.word);
}

/* ---- the unix socket transport ---- */

FIXTURE(ctl) {
	char dir[64];
	char path[128];
	int lfd;
	int cli;
};

FIXTURE_SETUP(ctl)
{
	snprintf(self->dir, sizeof(self->dir), "/tmp/mtlsgw-test-ctl.XXXXXX");
	ASSERT_NOT_NULL(mkdtemp(self->dir));
	snprintf(self->path, sizeof(self->path), "%s/control.sock", self->dir);
	self->cli = -1;
	self->lfd = gw_ctl_listen_unix(self->path);
	ASSERT_GE(self->lfd, 0);
}

FIXTURE_TEARDOWN(ctl)
{
	if (self->cli >= 0)
		close(self->cli);
	if (self->lfd >= 0)
		close(self->lfd);
	unlink(self->path);
	rmdir(self->dir);
}

static int connect_unix(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun))) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Read until EOF (with a deadline); the number of bytes, or -1. */
static ssize_t read_all(int fd, char *buf, size_t len)
{
	size_t n = 0;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&p, 1, 5000) <= 0)
			return -1;
		r = read(fd, buf + n, len - 1 - n);
		if (r < 0)
			return -1;
		if (r == 0 || n + r == len - 1) {
			n += r;
			buf[n] = '\0';
			return n;
		}
		n += r;
	}
}

TEST_F(ctl, socket_is_0600_and_replaces_stale)
{
	struct stat st;
	int fd2;

	ASSERT_EQ(0, stat(self->path, &st));
	EXPECT_TRUE(S_ISSOCK(st.st_mode));
	EXPECT_EQ(0600, st.st_mode & 07777);

	/* A second listen on the same path takes it over. */
	fd2 = gw_ctl_listen_unix(self->path);
	ASSERT_GE(fd2, 0);
	close(self->lfd);
	self->lfd = fd2;
	self->cli = connect_unix(self->path);
	EXPECT_GE(self->cli, 0);
}

TEST(listen_unix_path_too_long)
{
	char path[200];

	memset(path, 'p', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	EXPECT_EQ(-ENAMETOOLONG, gw_ctl_listen_unix(path));
}

/* One request line in, parsed, one reply out, then EOF. */
TEST_F(ctl, request_and_reply)
{
	static const char reply[] = "killed 1\n";
	char buf[GW_CTL_MAX_REQUEST], got[256];
	struct gw_ctl_req req;
	int cfd;

	self->cli = connect_unix(self->path);
	ASSERT_GE(self->cli, 0);
	ASSERT_EQ(24, write(self->cli, "kill serial 0A1B\nstatus\n", 24));
	cfd = gw_ctl_accept(self->lfd, buf, sizeof(buf));
	ASSERT_GE(cfd, 0);
	EXPECT_EQ(0, strncmp(buf, "kill serial 0A1B\n", 17));
	gw_ctl_parse(buf, &req);
	EXPECT_EQ(GW_CTL_KILL, req.cmd);
	EXPECT_EQ(GW_KILL_SERIAL, req.kill_by);
	EXPECT_STREQ("0A1B", req.value);

	gw_ctl_reply(cfd, reply, strlen(reply));
	ASSERT_EQ(strlen(reply), read_all(self->cli, got, sizeof(got)));
	EXPECT_STREQ(reply, got);
}

/* A client that never ends its line costs at most GW_CTL_TIMEOUT_MS. */
TEST_F(ctl, silent_client_times_out)
{
	char buf[GW_CTL_MAX_REQUEST];
	uint64_t t0;
	int cfd;

	self->cli = connect_unix(self->path);
	ASSERT_GE(self->cli, 0);
	ASSERT_EQ(4, write(self->cli, "stat", 4));
	t0 = gw_now_ms();
	cfd = gw_ctl_accept(self->lfd, buf, sizeof(buf));
	ASSERT_GE(cfd, 0);
	EXPECT_GE(gw_now_ms() - t0, GW_CTL_TIMEOUT_MS - 10);
	EXPECT_LT(gw_now_ms() - t0, 5 * GW_CTL_TIMEOUT_MS);
	EXPECT_STREQ("stat", buf);
	close(cfd);
}

/* A request longer than the buffer is cut at len - 1, NUL-terminated. */
TEST_F(ctl, long_request_fills_buffer)
{
	char big[3000], buf[GW_CTL_MAX_REQUEST];
	int cfd;

	memset(big, 'q', sizeof(big));
	self->cli = connect_unix(self->path);
	ASSERT_GE(self->cli, 0);
	ASSERT_EQ(sizeof(big), write(self->cli, big, sizeof(big)));
	cfd = gw_ctl_accept(self->lfd, buf, sizeof(buf));
	ASSERT_GE(cfd, 0);
	EXPECT_EQ(sizeof(buf) - 1, strlen(buf));
	close(cfd);
}

TEST_HARNESS_MAIN
