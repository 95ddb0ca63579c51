// SPDX-License-Identifier: GPL-2.0-only
/*
 * json.c: every string, whatever its bytes, comes out as valid UTF-8 JSON
 * with the exact escapes json.h promises (a table of nasty inputs: each
 * class of invalid UTF-8, quotes, controls, C1, U+2028), checked against
 * an independent strict checker (tests/lib/jsoncheck.c) and, where
 * python3 is installed, against Python's json module; the writer's
 * nesting, commas, errors and buffers; and the terminal-safe text escape.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "json.h"
#include "lib/gwtest.h"
#include "lib/jsoncheck.h"

struct esc_case {
	const char *in;
	size_t len;		/* 0 = strlen(in) */
	const char *json;	/* the string body gw_json_escape writes */
	const char *text;	/* what gw_text_escape writes */
};

#define R "\\ufffd"	/* one replaced byte */

static const struct esc_case cases[] = {
	{ "plain ascii 0-9", 0, "plain ascii 0-9", "plain ascii 0-9" },
	{ "", 0, "", "" },
	{ "q\"b\\s/", 0, "q\\\"b\\\\s/", "q\"b\\\\s/" },
	{ "nl\ncr\rtab\t", 0, "nl\\u000acr\\u000dtab\\u0009", "nl\\x0acr\\x0dtab\\x09" },
	{ "\x1b[31mred\x1b[0m", 0, "\\u001b[31mred\\u001b[0m", "\\x1b[31mred\\x1b[0m" },
	{ "\x01\x1f\x7f", 0, "\\u0001\\u001f\\u007f", "\\x01\\x1f\\x7f" },
	{ "nul\0x", 5, "nul\\u0000x", NULL },
	/* valid UTF-8 is kept */
	{ "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 0, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80",
	  "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80" },
	{ "\xc2\xa0\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbd\xf4\x8f\xbf\xbf", 0,
	  "\xc2\xa0\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbd\xf4\x8f\xbf\xbf",
	  "\xc2\xa0\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbd\xf4\x8f\xbf\xbf" },
	/* C1 controls: valid, escaped in both */
	{ "\xc2\x80\xc2\x85\xc2\x9b\xc2\x9f", 0, "\\u0080\\u0085\\u009b\\u009f",
	  "\\xc2\\x80\\xc2\\x85\\xc2\\x9b\\xc2\\x9f" },
	/* line and paragraph separators */
	{ "a\xe2\x80\xa8" "b\xe2\x80\xa9", 0, "a\\u2028b\\u2029", "a\\xe2\\x80\\xa8b\\xe2\\x80\\xa9" },
	/* bidirectional override: valid JSON as is, escaped on a terminal */
	{ "\xe2\x80\xae" "cba", 0, "\xe2\x80\xae" "cba", "\\xe2\\x80\\xaecba" },
	/* overlongs */
	{ "\xc0\xaf", 0, R R, "\\xc0\\xaf" },
	{ "\xc1\xbf", 0, R R, "\\xc1\\xbf" },
	{ "\xe0\x80\xaf", 0, R R R, "\\xe0\\x80\\xaf" },
	{ "\xe0\x9f\xbf", 0, R R R, "\\xe0\\x9f\\xbf" },
	{ "\xf0\x80\x80\xaf", 0, R R R R, "\\xf0\\x80\\x80\\xaf" },
	{ "\xf0\x8f\xbf\xbf", 0, R R R R, "\\xf0\\x8f\\xbf\\xbf" },
	/* surrogates */
	{ "\xed\xa0\x80", 0, R R R, "\\xed\\xa0\\x80" },
	{ "\xed\xbf\xbf", 0, R R R, "\\xed\\xbf\\xbf" },
	{ "\xed\xa0\xbd\xed\xb8\x80", 0, R R R R R R, "\\xed\\xa0\\xbd\\xed\\xb8\\x80" },
	/* above U+10FFFF, and bytes that never occur */
	{ "\xf4\x90\x80\x80", 0, R R R R, "\\xf4\\x90\\x80\\x80" },
	{ "\xf5\x80\x80\x80", 0, R R R R, "\\xf5\\x80\\x80\\x80" },
	{ "\xf8\x88\x80\x80\x80", 0, R R R R R, "\\xf8\\x88\\x80\\x80\\x80" },
	{ "\xff\xfe", 0, R R, "\\xff\\xfe" },
	/* truncated sequences, at the end and before another character */
	{ "a\xc3", 0, "a" R, "a\\xc3" },
	{ "a\xe2\x82", 0, "a" R R, "a\\xe2\\x82" },
	{ "\xe2\x82z", 0, R R "z", "\\xe2\\x82z" },
	{ "\xf0\x9f\x98", 0, R R R, "\\xf0\\x9f\\x98" },
	{ "\xf0\x9f\x98\xc3\xa9", 0, R R R "\xc3\xa9", "\\xf0\\x9f\\x98\xc3\xa9" },
	{ "\xe2\x22", 0, R "\\\"", "\\xe2\"" },
	/* stray continuation bytes */
	{ "\x80", 0, R, "\\x80" },
	{ "a\xbf" "b\x80\x80", 0, "a" R "b" R R, "a\\xbfb\\x80\\x80" },
	{ "\xc3\xa9\xa9", 0, "\xc3\xa9" R, "\xc3\xa9\\xa9" },
	/* what an attacker puts in a URI SAN */
	{ "spiffe://corp.test/\xff\xfe\"},\"spiffe_id\":\"x\n", 0,
	  "spiffe://corp.test/" R R "\\\"},\\\"spiffe_id\\\":\\\"x\\u000a",
	  "spiffe://corp.test/\\xff\\xfe\"},\"spiffe_id\":\"x\\x0a" },
};

static size_t case_len(const struct esc_case *c)
{
	return c->len ? c->len : strlen(c->in);
}

/* Printable and well-formed UTF-8: nothing a terminal would act on. */
static bool terminal_safe(const char *s)
{
	const unsigned char *u;

	for (u = (const unsigned char *)s; *u; u++)
		if (*u < 0x20 || *u == 0x7f || (u[0] == 0xc2 && u[1] >= 0x80 && u[1] <= 0x9f))
			return false;
	return gwt_utf8_valid(s, strlen(s));
}

TEST(escape_table_exact_and_valid)
{
	char line[4096];
	unsigned int i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct esc_case *c = &cases[i];
		struct gw_sbuf sb = { 0 };

		gw_json_escape(&sb, c->in, case_len(c));
		ASSERT_EQ(0, sb.err);
		if (strcmp(c->json, sb.buf ? sb.buf : ""))
			TH_LOG("case %u", i);
		EXPECT_STREQ(c->json, sb.buf ? sb.buf : "");
		snprintf(line, sizeof(line), "{\"k\":\"%s\"}", sb.buf ? sb.buf : "");
		if (!gwt_json_valid(line, strlen(line)))
			TH_LOG("case %u: not valid JSON: %s", i, line);
		EXPECT_TRUE(gwt_json_valid(line, strlen(line)));
		gw_sbuf_free(&sb);
	}
}

/* The checker is strict: raw input of the nasty cases is refused by it. */
TEST(checker_refuses_what_the_writer_must_repair)
{
	static const char *const bad[] = {
		"\"\xc0\xaf\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"", "\"\xff\"",
		"\"a\xe2\x82\"", "\"\x80\"", "\"\x1b\"", "\"\n\"", "\"\\ud800\"",
		"\"\\udc00x\"", "\"\\x41\"", "{\"a\":1,}", "[1 2]", "01", "{\"a\"}", "\"abc",
	};
	static const char *const good[] = {
		"\"\xc3\xa9\"", "\"\\ud83d\\ude00\"", "{\"a\":[1,-2.5e3,true,null,{}]}\n", "\"\x7f\"",
	};
	unsigned int i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		EXPECT_FALSE(gwt_json_valid(bad[i], strlen(bad[i])));
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		EXPECT_TRUE(gwt_json_valid(good[i], strlen(good[i])));
}

TEST(text_escape_table_exact_and_terminal_safe)
{
	char buf[512];
	unsigned int i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct esc_case *c = &cases[i];

		if (!c->text)
			continue;	/* a C string: no NUL inside */
		ASSERT_EQ(0, gw_text_escape(buf, sizeof(buf), c->in));
		if (strcmp(c->text, buf))
			TH_LOG("case %u", i);
		EXPECT_STREQ(c->text, buf);
		EXPECT_TRUE(terminal_safe(buf));
	}
}

TEST(text_escape_fixed_buffer_cut_between_characters)
{
	char buf[8];

	memset(buf, 'X', sizeof(buf));
	/* "ab" fits, "\x1b" (4 bytes) would need 7 with the NUL: it does. */
	EXPECT_EQ(0, gw_text_escape(buf, 7, "ab\x1b"));
	EXPECT_STREQ("ab\\x1b", buf);
	EXPECT_EQ(-ENOSPC, gw_text_escape(buf, 6, "ab\x1b"));
	EXPECT_STREQ("ab", buf);
	/* A two-byte character is never cut in two. */
	EXPECT_EQ(-ENOSPC, gw_text_escape(buf, 3, "a\xc3\xa9"));
	EXPECT_STREQ("a", buf);
	EXPECT_EQ(-ENOSPC, gw_text_escape(buf, 0, "a"));
}

TEST(writer_one_object_per_line)
{
	static char *const sans[] = { "a.test", "b\"c" };
	struct gw_json j;
	const char *t;
	size_t len;

	gw_json_init(&j, NULL);
	gw_json_begin(&j);
	gw_json_str(&j, "missing", NULL);	/* left out, no stray comma */
	gw_json_str(&j, "event", "conn_open");
	gw_json_u64(&j, "conn", UINT64_MAX);
	gw_json_i64(&j, "delta", -42);
	gw_json_bool(&j, "found", true);
	gw_json_bool(&j, "lost", false);
	gw_json_str_list(&j, "san_dns", sans, 2);
	gw_json_str_list(&j, "none", NULL, 0);
	gw_json_obj_begin(&j, "unverified");
	gw_json_str(&j, "spiffe_id", "spiffe://x/\xff");
	gw_json_obj_begin(&j, "empty");
	gw_json_end(&j);
	gw_json_end(&j);
	gw_json_arr_begin(&j, "list");
	gw_json_u64(&j, NULL, 1);
	gw_json_obj_begin(&j, NULL);
	gw_json_str(&j, "k", "v");
	gw_json_end(&j);
	gw_json_end(&j);
	gw_json_raw_members(&j, ",\"packets\":3,\"top\":[]");
	gw_json_end(&j);
	t = gw_json_text(&j, &len);
	ASSERT_NOT_NULL(t);
	EXPECT_STREQ("{\"event\":\"conn_open\",\"conn\":18446744073709551615,\"delta\":-42,"
		     "\"found\":true,\"lost\":false,\"san_dns\":[\"a.test\",\"b\\\"c\"],\"none\":[],"
		     "\"unverified\":{\"spiffe_id\":\"spiffe://x/\\ufffd\",\"empty\":{}},"
		     "\"list\":[1,{\"k\":\"v\"}],\"packets\":3,\"top\":[]}\n", t);
	EXPECT_EQ(strlen(t), len);
	EXPECT_TRUE(gwt_json_valid(t, len));

	/* The next line in the same buffer; raw members first drop their comma. */
	gw_json_reset(&j);
	gw_json_begin(&j);
	gw_json_raw_members(&j, ",\"a\":1");
	gw_json_str(&j, "b", "2");
	gw_json_end(&j);
	EXPECT_STREQ("{\"a\":1,\"b\":\"2\"}\n", gw_json_text(&j, NULL));
	gw_json_free(&j);
}

/* Lines appended to a caller's buffer: a control reply of many rows. */
TEST(writer_appends_to_a_callers_buffer)
{
	struct gw_sbuf reply = { 0 };
	struct gw_json j;
	unsigned int i;

	gw_sbuf_printf(&reply, "# header\n");
	gw_json_init(&j, &reply);
	for (i = 0; i < 3; i++) {
		gw_json_begin(&j);
		gw_json_u64(&j, "id", i);
		gw_json_end(&j);
	}
	EXPECT_STREQ("{\"id\":0}\n{\"id\":1}\n{\"id\":2}\n", gw_json_text(&j, NULL));
	gw_json_free(&j);	/* not the caller's buffer */
	ASSERT_NOT_NULL(reply.buf);
	EXPECT_STREQ("# header\n{\"id\":0}\n{\"id\":1}\n{\"id\":2}\n", reply.buf);
	gw_sbuf_free(&reply);
}

TEST(writer_misuse_fails_and_sticks)
{
	struct gw_json j;
	unsigned int i;

	gw_json_init(&j, NULL);
	gw_json_str(&j, "k", "outside any object");
	EXPECT_EQ(-EINVAL, gw_json_err(&j));
	EXPECT_NULL(gw_json_text(&j, NULL));
	gw_json_begin(&j);	/* sticks: still failed */
	gw_json_end(&j);
	EXPECT_NULL(gw_json_text(&j, NULL));

	gw_json_reset(&j);
	gw_json_begin(&j);
	gw_json_arr_begin(&j, "a");
	gw_json_str(&j, "key", "in an array");
	EXPECT_EQ(-EINVAL, gw_json_err(&j));

	gw_json_reset(&j);
	gw_json_begin(&j);
	gw_json_str(&j, NULL, "no key in an object");
	EXPECT_EQ(-EINVAL, gw_json_err(&j));

	gw_json_reset(&j);
	gw_json_begin(&j);
	gw_json_end(&j);
	gw_json_end(&j);	/* one too many */
	EXPECT_EQ(-EINVAL, gw_json_err(&j));

	gw_json_reset(&j);
	gw_json_begin(&j);
	gw_json_begin(&j);	/* a second top level inside the first */
	EXPECT_EQ(-EINVAL, gw_json_err(&j));

	gw_json_reset(&j);
	gw_json_begin(&j);
	for (i = 1; i < GW_JSON_MAX_DEPTH; i++)
		gw_json_obj_begin(&j, "d");
	EXPECT_EQ(0, gw_json_err(&j));
	gw_json_obj_begin(&j, "too deep");
	EXPECT_EQ(-EINVAL, gw_json_err(&j));
	gw_json_free(&j);
}

TEST(writer_full_fixed_buffer)
{
	char small[16];
	struct gw_sbuf sb = GW_SBUF_FIXED(small, sizeof(small));
	struct gw_json j;

	gw_json_init(&j, &sb);
	gw_json_begin(&j);
	gw_json_str(&j, "event", "a line longer than the buffer");
	gw_json_end(&j);
	EXPECT_EQ(-ENOSPC, gw_json_err(&j));
	EXPECT_NULL(gw_json_text(&j, NULL));
	EXPECT_LT(strlen(small), sizeof(small));
}

/*
 * A second opinion from Python: each table entry as a line, decoded as
 * strict UTF-8 and parsed by the json module; a valid input comes back
 * as it was, an invalid one with replacement characters.
 */
TEST(python_json_module_agrees)
{
	static const char script[] =
		"import sys, json\n"
		"n = 0\n"
		"for raw in sys.stdin.buffer.read().split(b'\\n')[:-1]:\n"
		"    o = json.loads(raw.decode('utf-8'))\n"
		"    try:\n"
		"        want = bytes.fromhex(o['hex']).decode('utf-8')\n"
		"        assert o['s'] == want, (o, want)\n"
		"    except UnicodeDecodeError:\n"
		"        assert '\\ufffd' in o['s'], o\n"
		"    n += 1\n"
		"print(n)\n";
	char dir[] = "/tmp/mtlsgw-test-json.XXXXXX", py[64], res[64], cmd[256], hex[256];
	unsigned int i, k, n = sizeof(cases) / sizeof(cases[0]);
	FILE *p;
	int fd;

	if (access("/usr/bin/python3", X_OK))
		SKIP("no /usr/bin/python3");
	ASSERT_NOT_NULL(mkdtemp(dir));
	snprintf(py, sizeof(py), "%s/check.py", dir);
	snprintf(res, sizeof(res), "%s/out", dir);
	fd = open(py, O_WRONLY | O_CREAT | O_EXCL, 0600);
	ASSERT_GE(fd, 0);
	ASSERT_EQ((ssize_t)strlen(script), write(fd, script, strlen(script)));
	close(fd);
	snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s > %s", py, res);
	p = popen(cmd, "w");
	ASSERT_NOT_NULL(p);
	for (i = 0; i < n; i++) {
		size_t len = case_len(&cases[i]);
		struct gw_json j;

		for (k = 0; k < len && 2 * k + 2 < sizeof(hex); k++)
			sprintf(hex + 2 * k, "%02x", (unsigned char)cases[i].in[k]);
		hex[2 * k] = '\0';
		gw_json_init(&j, NULL);
		gw_json_begin(&j);
		gw_json_str(&j, "hex", hex);
		gw_json_strn(&j, "s", cases[i].in, len);
		gw_json_end(&j);
		ASSERT_NOT_NULL(gw_json_text(&j, NULL));
		fputs(gw_json_text(&j, NULL), p);
		gw_json_free(&j);
	}
	EXPECT_EQ(0, pclose(p));
	{
		char *out = gwt_read_file(res);

		EXPECT_NOT_NULL(out);
		if (out)
			EXPECT_EQ(n, (unsigned int)strtoul(out, NULL, 10));
		free(out);
	}
	unlink(py);
	unlink(res);
	rmdir(dir);
}

TEST_HARNESS_MAIN
