/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A strict JSON checker for tests, written apart from userspace/json.c so
 * that one does not vouch for the other: RFC 8259 grammar over RFC 3629
 * UTF-8, and a lookup of one member by its path for asserting on audit
 * lines ("unverified.spiffe_id").
 */
#ifndef GWT_JSONCHECK_H
#define GWT_JSONCHECK_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Whether len bytes at text are exactly one JSON value with optional
 * whitespace around it: well-formed UTF-8 (no overlong, surrogate, above
 * U+10FFFF, truncated or stray byte), no raw control character in a
 * string, no escaped lone surrogate, nesting at most 64 deep.
 */
bool gwt_json_valid(const char *text, size_t len);

/* Whether len bytes at s are well-formed UTF-8, by the same rules. */
bool gwt_utf8_valid(const char *s, size_t len);

/*
 * The raw text of the member at path (keys joined by '.') in the object
 * that line holds (one JSON Lines line, NUL-terminated), malloc'd: a
 * string comes with its quotes and escapes as written. NULL when line is
 * not valid JSON or has no such member.
 */
char *gwt_json_member(const char *line, const char *path);

#endif
