/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Writing JSON that is valid whatever bytes it is given (the audit log,
 * `mtlsgwctl conns --json`), and the terminal-safe escape for plain text.
 *
 * Strings come from certificates, that is from whoever connects: any byte
 * sequence. The writer always produces valid UTF-8 JSON: quote, backslash
 * and control characters (C0, DEL, C1) are escaped as \u00XX, U+2028 and
 * U+2029 as \u2028 and \u2029 (JavaScript readers take them for line
 * ends), and every byte that is not part of a well-formed UTF-8 sequence
 * (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF, no
 * truncated sequence, no stray continuation byte) becomes one \ufffd.
 * Keys are escaped the same way.
 *
 * Usage, one object per line (JSON Lines):
 *
 *	struct gw_json j;
 *
 *	gw_json_init(&j, NULL);
 *	gw_json_begin(&j);
 *	gw_json_str(&j, "event", "conn_open");
 *	gw_json_u64(&j, "conn", 7);
 *	gw_json_obj_begin(&j, "kernel");
 *	gw_json_bool(&j, "found", true);
 *	gw_json_end(&j);		(closes "kernel")
 *	gw_json_end(&j);		(closes the line: "}\n")
 *	text = gw_json_text(&j, &len);	(NULL if anything failed)
 *	...
 *	gw_json_reset(&j);		(the next line, same buffer)
 *	gw_json_free(&j);
 *
 * Member writers take a key; inside an array (gw_json_arr_begin) the key
 * is NULL. A NULL string value leaves the member out. The first failure
 * (allocation, a full fixed buffer, nesting deeper than GW_JSON_MAX_DEPTH
 * or an unbalanced end) sticks: later calls do nothing and gw_json_text
 * returns NULL.
 */
#ifndef GW_JSON_H
#define GW_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define GW_JSON_MAX_DEPTH 16

struct gw_json {
	struct gw_sbuf *out;		/* &own, or the caller's buffer */
	struct gw_sbuf own;
	size_t start;			/* where our text begins in *out */
	unsigned int depth;		/* open objects and arrays */
	uint32_t in_array;		/* bit d: level d+1 is an array */
	uint32_t has_member;		/* bit d: level d+1 has a member already */
	int err;			/* first failure, 0 while fine */
};

/*
 * Write into out (appended to what it holds: a control reply) or, when out
 * is NULL, into a growable buffer of the writer's own.
 */
void gw_json_init(struct gw_json *j, struct gw_sbuf *out);
/* Forget the text and the nesting; the buffer is kept for the next line. */
void gw_json_reset(struct gw_json *j);
/* Free the writer's own buffer (never the caller's). NULL-safe. */
void gw_json_free(struct gw_json *j);

/* A top-level object; its gw_json_end writes "}\n". */
void gw_json_begin(struct gw_json *j);
/* "key":{ and "key":[ (key NULL inside an array) */
void gw_json_obj_begin(struct gw_json *j, const char *key);
void gw_json_arr_begin(struct gw_json *j, const char *key);
/* Close the innermost object or array. */
void gw_json_end(struct gw_json *j);

/* "key":"val", escaped; nothing when val is NULL. */
void gw_json_str(struct gw_json *j, const char *key, const char *val);
/* The same for len bytes that may hold NUL (written as \u0000). */
void gw_json_strn(struct gw_json *j, const char *key, const char *val, size_t len);
void gw_json_u64(struct gw_json *j, const char *key, uint64_t v);
void gw_json_i64(struct gw_json *j, const char *key, int64_t v);
void gw_json_bool(struct gw_json *j, const char *key, bool v);
/* "key":["a","b"]; an empty array when n is 0. */
void gw_json_str_list(struct gw_json *j, const char *key, char *const *v, unsigned int n);
/*
 * Pre-built members (',"k":1,"l":[2]') appended as they are to the open
 * object: the caller vouches for them. Only for text made of our own
 * numbers and tokens.
 */
void gw_json_raw_members(struct gw_json *j, const char *members);

/* The text so far (NUL-terminated) and its length; NULL after a failure. */
const char *gw_json_text(const struct gw_json *j, size_t *len);
/* 0 or the first failure: -ENOMEM, -ENOSPC (fixed buffer), -EINVAL (nesting). */
static inline int gw_json_err(const struct gw_json *j)
{
	return j->err ? j->err : j->out->err;
}

/* The string body only (no quotes), escaped as above, appended to sb. */
void gw_json_escape(struct gw_sbuf *sb, const char *s, size_t len);

/*
 * Plain text for a terminal (`mtlsgwctl conns` rows, log messages): what
 * could move the cursor, recolour or reorder the screen is written as \xNN
 * per byte: C0 controls (ESC included), DEL, C1 controls (U+0080-U+009F),
 * U+2028/U+2029, the bidirectional controls U+200E, U+200F, U+202A-U+202E,
 * U+2066-U+2069, and every byte of invalid UTF-8. A backslash is doubled,
 * so the text can be read back unambiguously. Other UTF-8 is kept.
 */
void gw_text_escape_sbuf(struct gw_sbuf *sb, const char *s);
/*
 * The same into buf (len bytes, NUL-terminated). 0, or -ENOSPC when it did
 * not fit: buf then holds the escaped text up to a whole character or
 * escape.
 */
int gw_text_escape(char *buf, size_t len, const char *s);

#endif
