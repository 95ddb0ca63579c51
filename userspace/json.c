// SPDX-License-Identifier: GPL-2.0-only
/*
 * The JSON writer and the terminal-safe text escape (json.h): nesting and
 * commas tracked in two bit masks, strings checked byte by byte against
 * RFC 3629's table of well-formed UTF-8, so that no byte an attacker put
 * in a certificate can make a line invalid JSON or take over a terminal.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "json.h"

/*
 * The length of the well-formed UTF-8 sequence at s (at most left bytes),
 * its code point in *cp; 0 when the byte at s does not start one. The
 * ranges of the second byte exclude overlongs (E0, F0), surrogates (ED)
 * and code points above U+10FFFF (F4); C0, C1 and F5-FF never start one.
 */
static size_t utf8_seq(const unsigned char *s, size_t left, uint32_t *cp)
{
	unsigned char b = s[0], lo = 0x80, hi = 0xbf;
	size_t n, i;
	uint32_t c;

	if (b < 0x80) {
		*cp = b;
		return 1;
	}
	if (b >= 0xc2 && b <= 0xdf) {
		n = 2;
		c = b & 0x1f;
	} else if (b >= 0xe0 && b <= 0xef) {
		n = 3;
		c = b & 0x0f;
		if (b == 0xe0)
			lo = 0xa0;
		else if (b == 0xed)
			hi = 0x9f;
	} else if (b >= 0xf0 && b <= 0xf4) {
		n = 4;
		c = b & 0x07;
		if (b == 0xf0)
			lo = 0x90;
		else if (b == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	if (left < n || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	*cp = c;
	return n;
}

void gw_json_escape(struct gw_sbuf *sb, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, run = 0, n;
	char esc[8];
	uint32_t cp;

	/* Plain runs are copied at once; everything else is one escape. */
	while (i < len) {
		n = utf8_seq(u + i, len - i, &cp);
		if (n && cp >= 0x20 && cp != '"' && cp != '\\' && cp != 0x7f &&
		    !(cp >= 0x80 && cp <= 0x9f) && cp != 0x2028 && cp != 0x2029) {
			i += n;
			run += n;
			continue;
		}
		gw_sbuf_put(sb, u + i - run, run);
		run = 0;
		if (!n) {
			gw_sbuf_put(sb, "\\ufffd", 6);
			i++;
			continue;
		}
		if (cp == '"' || cp == '\\') {
			esc[0] = '\\';
			esc[1] = (char)cp;
			gw_sbuf_put(sb, esc, 2);
		} else {
			snprintf(esc, sizeof(esc), "\\u%04" PRIx32, cp);
			gw_sbuf_put(sb, esc, 6);
		}
		i += n;
	}
	gw_sbuf_put(sb, u + i - run, run);
}

void gw_json_init(struct gw_json *j, struct gw_sbuf *out)
{
	memset(j, 0, sizeof(*j));
	j->out = out ? out : &j->own;
	j->start = j->out->len;
}

void gw_json_reset(struct gw_json *j)
{
	struct gw_sbuf *out = j->out;

	j->depth = 0;
	j->in_array = j->has_member = 0;
	j->err = 0;
	if (out == &j->own)
		out->err = 0;
	if (out->buf && out->len >= j->start) {
		out->len = j->start;
		out->buf[out->len] = '\0';
	}
}

void gw_json_free(struct gw_json *j)
{
	if (j)
		gw_sbuf_free(&j->own);
}

static bool failed(struct gw_json *j)
{
	return j->err || j->out->err;
}

static void put(struct gw_json *j, const char *s, size_t n)
{
	gw_sbuf_put(j->out, s, n);
}

/*
 * The comma and "key": of a member at the current level. A key inside an
 * array, none inside an object, or anything outside the top-level object
 * is a caller's mistake: it fails the whole text.
 */
static bool member(struct gw_json *j, const char *key)
{
	uint32_t bit;

	if (failed(j))
		return false;
	bit = j->depth ? 1u << (j->depth - 1) : 0;
	if (!j->depth || !(j->in_array & bit) != !!key) {
		j->err = -EINVAL;
		return false;
	}
	if (j->has_member & bit)
		put(j, ",", 1);
	j->has_member |= bit;
	if (key) {
		put(j, "\"", 1);
		gw_json_escape(j->out, key, strlen(key));
		put(j, "\":", 2);
	}
	return true;
}

static void open_level(struct gw_json *j, bool array)
{
	uint32_t bit;

	if (j->depth >= GW_JSON_MAX_DEPTH) {
		j->err = -EINVAL;
		return;
	}
	bit = 1u << j->depth++;
	j->has_member &= ~bit;
	if (array)
		j->in_array |= bit;
	else
		j->in_array &= ~bit;
	put(j, array ? "[" : "{", 1);
}

void gw_json_begin(struct gw_json *j)
{
	if (failed(j))
		return;
	if (j->depth) {
		j->err = -EINVAL;
		return;
	}
	open_level(j, false);
}

void gw_json_obj_begin(struct gw_json *j, const char *key)
{
	if (member(j, key))
		open_level(j, false);
}

void gw_json_arr_begin(struct gw_json *j, const char *key)
{
	if (member(j, key))
		open_level(j, true);
}

void gw_json_end(struct gw_json *j)
{
	bool array;

	if (failed(j))
		return;
	if (!j->depth) {
		j->err = -EINVAL;
		return;
	}
	array = j->in_array & (1u << --j->depth);
	put(j, array ? "]" : "}", 1);
	if (!j->depth)
		put(j, "\n", 1);
}

void gw_json_strn(struct gw_json *j, const char *key, const char *val, size_t len)
{
	if (!val || !member(j, key))
		return;
	put(j, "\"", 1);
	gw_json_escape(j->out, val, len);
	put(j, "\"", 1);
}

void gw_json_str(struct gw_json *j, const char *key, const char *val)
{
	if (val)
		gw_json_strn(j, key, val, strlen(val));
}

void gw_json_u64(struct gw_json *j, const char *key, uint64_t v)
{
	char num[24];

	if (member(j, key))
		put(j, num, (size_t)snprintf(num, sizeof(num), "%" PRIu64, v));
}

void gw_json_i64(struct gw_json *j, const char *key, int64_t v)
{
	char num[24];

	if (member(j, key))
		put(j, num, (size_t)snprintf(num, sizeof(num), "%" PRId64, v));
}

void gw_json_bool(struct gw_json *j, const char *key, bool v)
{
	if (member(j, key))
		put(j, v ? "true" : "false", v ? 4 : 5);
}

void gw_json_str_list(struct gw_json *j, const char *key, char *const *v, unsigned int n)
{
	unsigned int i;

	gw_json_arr_begin(j, key);
	for (i = 0; i < n; i++)
		gw_json_str(j, NULL, v[i]);
	gw_json_end(j);
}

void gw_json_raw_members(struct gw_json *j, const char *members)
{
	uint32_t bit = j->depth ? 1u << (j->depth - 1) : 0;

	if (failed(j) || !members || !*members)
		return;
	if (!j->depth || (j->in_array & bit) || members[0] != ',') {
		j->err = -EINVAL;
		return;
	}
	/* Their leading comma is ours to drop when they come first. */
	if (!(j->has_member & bit))
		members++;
	j->has_member |= bit;
	put(j, members, strlen(members));
}

const char *gw_json_text(const struct gw_json *j, size_t *len)
{
	if (gw_json_err(j) || !j->out->buf)
		return NULL;
	if (len)
		*len = j->out->len - j->start;
	return j->out->buf + j->start;
}

/* ---- plain text for a terminal ---- */

/* Code points that are valid UTF-8 yet must not reach a terminal raw. */
static bool text_unsafe(uint32_t cp)
{
	return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) ||
	       cp == 0x200e || cp == 0x200f || cp == 0x2028 || cp == 0x2029 ||
	       (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

void gw_text_escape_sbuf(struct gw_sbuf *sb, const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t len = strlen(s), i = 0, n, k;
	char esc[8];
	uint32_t cp;

	while (i < len) {
		n = utf8_seq(u + i, len - i, &cp);
		if (n && cp == '\\') {
			gw_sbuf_put(sb, "\\\\", 2);
		} else if (n && !text_unsafe(cp)) {
			gw_sbuf_put(sb, u + i, n);	/* whole characters only */
		} else {
			if (!n)
				n = 1;	/* an invalid byte alone; the next is looked at anew */
			for (k = 0; k < n; k++) {
				snprintf(esc, sizeof(esc), "\\x%02x", u[i + k]);
				gw_sbuf_put(sb, esc, 4);
			}
		}
		i += n;
	}
}

int gw_text_escape(char *buf, size_t len, const char *s)
{
	struct gw_sbuf sb = GW_SBUF_FIXED(buf, len);

	if (!len)
		return -ENOSPC;
	buf[0] = '\0';
	gw_text_escape_sbuf(&sb, s);
	return sb.err;
}
