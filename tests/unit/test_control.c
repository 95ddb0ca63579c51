// SPDX-License-Identifier: GPL-2.0-only
/*
 * control.c: gw_ctl_parse, the control request line parser (commands,
 * arguments, CR/LF cut, unknown and incomplete requests, a line of the
 * maximum length), gw_http_parse (the metrics endpoint's request head),
 * and the unix socket (0600, a stale one replaced).
 */
#include <errno.h>
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
	{ "top", GW_CTL_TOP, "top" },
	{ "top json\n", GW_CTL_TOP, "top", true },
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

/* The longest request the server passes on: 1023 bytes and the NUL. */
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

/* ---- gw_http_parse ---- */

struct http_case {
	const char *head;
	size_t len;			/* 0: strlen(head) */
	enum gw_http_parse want;
	const char *method, *target;
};

static const struct http_case http_cases[] = {
	{ "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 0, GW_HTTP_DONE, "GET", "/metrics" },
	{ "GET /metrics?x=1 HTTP/1.0\n\n", 0, GW_HTTP_DONE, "GET", "/metrics?x=1" },
	{ "POST /metrics HTTP/1.1\r\n\r\n", 0, GW_HTTP_DONE, "POST", "/metrics" },
	{ "GET /metrics HTTP/1.1\r\nHost: x\r\n", 0, GW_HTTP_INCOMPLETE },
	{ "GET /metr", 0, GW_HTTP_INCOMPLETE },
	{ "", 0, GW_HTTP_INCOMPLETE },
	/* Wrong from the first bytes: a TLS ClientHello, lower case, a NUL. */
	{ "\x16\x03\x01\x02\x00\x01", 0, GW_HTTP_BAD },
	{ "get /metrics HTTP/1.1\r\n\r\n", 0, GW_HTTP_BAD },
	{ "GET /met\0rics HTTP/1.1\r\n\r\n", 26, GW_HTTP_BAD },
	{ "GET /metrics HTTP/1.1\r\nX: \0\r\n", 30, GW_HTTP_BAD },
	/* Malformed request lines. */
	{ "GET /metrics\r\n\r\n", 0, GW_HTTP_BAD },
	{ "GET  /metrics HTTP/1.1\r\n\r\n", 0, GW_HTTP_BAD },
	{ "GET /metrics HTTP/2.0\r\n\r\n", 0, GW_HTTP_BAD },
	{ "GET /metrics HTTP/1.1 x\r\n\r\n", 0, GW_HTTP_BAD },
	{ "GET /m\x1b[2J HTTP/1.1\r\n\r\n", 0, GW_HTTP_BAD },
	{ "AVERYLONGMETHODNAME /metrics HTTP/1.1\r\n\r\n", 0, GW_HTTP_BAD },
};

TEST(http_parse_table)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(http_cases); i++) {
		const struct http_case *c = &http_cases[i];
		struct gw_http_req req;
		enum gw_http_parse got;

		got = gw_http_parse(c->head, c->len ? c->len : strlen(c->head), &req);
		if (got != c->want)
			printf("# case %u: \"%s\"\n", i, c->head);
		EXPECT_EQ(c->want, got);
		if (got == GW_HTTP_DONE && c->want == GW_HTTP_DONE) {
			EXPECT_STREQ(c->method, req.method);
			EXPECT_STREQ(c->target, req.target);
		}
	}
}

/* A target too long for the request struct is refused, not cut. */
TEST(http_parse_long_target)
{
	char head[600];
	struct gw_http_req req;

	memset(head, 'a', sizeof(head));
	memcpy(head, "GET /", 5);
	memcpy(head + 400, " HTTP/1.1\r\n\r\n", 14);
	EXPECT_EQ(GW_HTTP_BAD, gw_http_parse(head, 414, &req));
	/* Without a line end, a request line that long is refused too. */
	EXPECT_EQ(GW_HTTP_BAD, gw_http_parse(head, 400, &req));
}

/* ---- the unix socket ---- */

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

TEST_HARNESS_MAIN
