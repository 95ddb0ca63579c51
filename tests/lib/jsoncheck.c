// SPDX-License-Identifier: GPL-2.0-only
/* A strict JSON checker and member lookup for tests (jsoncheck.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jsoncheck.h"

#define MAX_DEPTH 64

struct jp {
	const unsigned char *p, *end;
	int depth;
};

static void ws(struct jp *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static bool lit(struct jp *j, const char *s)
{
	size_t n = strlen(s);

	if ((size_t)(j->end - j->p) < n || memcmp(j->p, s, n))
		return false;
	j->p += n;
	return true;
}

/* One well-formed UTF-8 character of two to four bytes (RFC 3629, table 3-7). */
static bool utf8_multi(struct jp *j)
{
	const unsigned char *s = j->p;
	size_t left = (size_t)(j->end - s), n, i;
	unsigned char lo = 0x80, hi = 0xbf;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return false;
	if (s[0] == 0xe0)
		lo = 0xa0;
	if (s[0] == 0xed)
		hi = 0x9f;
	if (s[0] == 0xf0)
		lo = 0x90;
	if (s[0] == 0xf4)
		hi = 0x8f;
	if (left < n || s[1] < lo || s[1] > hi)
		return false;
	for (i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return false;
	j->p += n;
	return true;
}

static int hex4(const unsigned char *s)
{
	int v = 0, i;

	for (i = 0; i < 4; i++) {
		int c = s[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	return v;
}

/* \uXXXX after the backslash and 'u'; a high surrogate needs its low one. */
static bool uescape(struct jp *j)
{
	int v, w;

	if (j->end - j->p < 4 || (v = hex4(j->p)) < 0)
		return false;
	j->p += 4;
	if (v >= 0xdc00 && v <= 0xdfff)
		return false;
	if (v < 0xd800 || v > 0xdbff)
		return true;
	if (j->end - j->p < 6 || j->p[0] != '\\' || j->p[1] != 'u' ||
	    (w = hex4(j->p + 2)) < 0xdc00 || w > 0xdfff)
		return false;
	j->p += 6;
	return true;
}

static bool string(struct jp *j)
{
	if (j->p >= j->end || *j->p != '"')
		return false;
	j->p++;
	while (j->p < j->end) {
		unsigned char c = *j->p;

		if (c == '"') {
			j->p++;
			return true;
		}
		if (c < 0x20)
			return false;
		if (c == '\\') {
			if (++j->p >= j->end)
				return false;
			c = *j->p++;
			if (c == 'u') {
				if (!uescape(j))
					return false;
			} else if (!strchr("\"\\/bfnrt", c) || !c) {
				return false;
			}
		} else if (c < 0x80) {
			j->p++;
		} else if (!utf8_multi(j)) {
			return false;
		}
	}
	return false;
}

static bool digits(struct jp *j)
{
	const unsigned char *s = j->p;

	while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
		j->p++;
	return j->p > s;
}

static bool number(struct jp *j)
{
	if (j->p < j->end && *j->p == '-')
		j->p++;
	if (j->p < j->end && *j->p == '0')
		j->p++;
	else if (!digits(j))
		return false;
	if (j->p < j->end && *j->p == '.') {
		j->p++;
		if (!digits(j))
			return false;
	}
	if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
		j->p++;
		if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
			j->p++;
		if (!digits(j))
			return false;
	}
	return true;
}

static bool value(struct jp *j);

/* An object or array after its opening bracket. */
static bool members(struct jp *j, bool object)
{
	char close = object ? '}' : ']';

	if (++j->depth > MAX_DEPTH)
		return false;
	ws(j);
	if (j->p < j->end && *j->p == close) {
		j->p++;
		j->depth--;
		return true;
	}
	for (;;) {
		if (object) {
			ws(j);
			if (!string(j))
				return false;
			ws(j);
			if (j->p >= j->end || *j->p++ != ':')
				return false;
		}
		if (!value(j))
			return false;
		ws(j);
		if (j->p >= j->end)
			return false;
		if (*j->p == ',') {
			j->p++;
			continue;
		}
		if (*j->p++ != close)
			return false;
		j->depth--;
		return true;
	}
}

static bool value(struct jp *j)
{
	ws(j);
	if (j->p >= j->end)
		return false;
	switch (*j->p) {
	case '{':
		j->p++;
		return members(j, true);
	case '[':
		j->p++;
		return members(j, false);
	case '"':
		return string(j);
	case 't':
		return lit(j, "true");
	case 'f':
		return lit(j, "false");
	case 'n':
		return lit(j, "null");
	default:
		return number(j);
	}
}

bool gwt_utf8_valid(const char *s, size_t len)
{
	struct jp j = { (const unsigned char *)s, (const unsigned char *)s + len, 0 };

	while (j.p < j.end)
		if (*j.p < 0x80)
			j.p++;
		else if (!utf8_multi(&j))
			return false;
	return true;
}

bool gwt_json_valid(const char *text, size_t len)
{
	struct jp j = { (const unsigned char *)text, (const unsigned char *)text + len, 0 };

	if (!value(&j))
		return false;
	ws(&j);
	return j.p == j.end;
}

/*
 * In the object starting at j->p, the member named by the first len bytes
 * of key (compared with the raw text between the quotes): *start and
 * *stop around its value. The text is known to be valid.
 */
static bool find(struct jp *j, const char *key, size_t len,
		 const unsigned char **start, const unsigned char **stop)
{
	ws(j);
	if (*j->p != '{')
		return false;
	j->p++;
	ws(j);
	if (*j->p == '}')
		return false;
	for (;;) {
		const unsigned char *k;
		bool match;

		ws(j);
		k = j->p + 1;
		string(j);
		match = (size_t)(j->p - 1 - k) == len && !memcmp(k, key, len);
		ws(j);
		j->p++;		/* ':' */
		ws(j);
		*start = j->p;
		value(j);
		*stop = j->p;
		if (match)
			return true;
		ws(j);
		if (*j->p++ != ',')
			return false;
	}
}

char *gwt_json_member(const char *line, const char *path)
{
	size_t len = strlen(line);
	struct jp j = { (const unsigned char *)line, (const unsigned char *)line + len, 0 };
	const unsigned char *start = NULL, *stop = NULL;
	char *out;

	if (!gwt_json_valid(line, len))
		return NULL;
	for (;;) {
		const char *dot = strchr(path, '.');
		size_t n = dot ? (size_t)(dot - path) : strlen(path);

		if (!find(&j, path, n, &start, &stop))
			return NULL;
		if (!dot)
			break;
		path = dot + 1;
		j.p = start;
		j.depth = 0;
	}
	out = malloc((size_t)(stop - start) + 1);
	if (!out)
		return NULL;
	memcpy(out, start, (size_t)(stop - start));
	out[stop - start] = '\0';
	return out;
}
