/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The configuration's line map (internal to config*.c): a libyaml walk of
 * the file that records, for every key path ("listeners[0].tls.cert"; ""
 * is the document), the line of the key or list entry, the kind of its
 * value and, for a single value, its text. Every configuration message
 * uses it to name the exact line it is about.
 *
 * The walk also refuses what the schema cannot see: syntax errors,
 * duplicate keys, aliases, keys with no value, more than one document.
 *
 * Bottom of the config modules: it depends only on libyaml and util.h.
 */
#ifndef GW_CONFIG_LINES_H
#define GW_CONFIG_LINES_H

#include "util.h"

#define GW_LM_DEPTH 32		/* nesting levels */
#define GW_LM_PATH 1024		/* bytes of a key path */
#define GW_LM_KEY 256		/* bytes of one key */

enum gw_lm_kind {
	GW_LM_SCALAR,
	GW_LM_SEQ,
	GW_LM_MAP,
};

struct gw_lm_node {
	const char *path;	/* "listeners[0].tls.cert"; "" is the document */
	const char *value;	/* scalar text; NULL for lists and mappings */
	unsigned int line;	/* of the key, or of the entry in a list */
	enum gw_lm_kind kind;
	unsigned int hash;	/* of path, for the index */
};

/*
 * The nodes in file order, and an index of their paths: every key is
 * looked up (the walk's duplicate check, then each message), so a lookup
 * must not cost a scan of a file with tens of thousands of keys. The
 * nodes' strings live in a few large blocks, not one allocation each.
 */
struct gw_line_map {
	struct gw_lm_node *e;
	unsigned int n, cap;
	unsigned int *slot;	/* open addressing: node index + 1; 0 = free */
	unsigned int n_slots;	/* a power of two, at least 2 n */
	struct gw_lm_block *blocks;
};

/*
 * Walk text[0..len), the contents of file, with libyaml and fill lm
 * (zero-initialised by the caller); file only names it in messages.
 * Returns 0; -EINVAL when the text is not a usable document, with every
 * problem in diag as "FILE:LINE: message"; or -errno (which the caller
 * reports when diag did not get a message). lm needs gw_lm_free() either way.
 */
int gw_lm_build(const char *file, const char *text, size_t len, struct gw_line_map *lm,
		struct gw_diag *diag);
void gw_lm_free(struct gw_line_map *lm);

/* The node of path, or NULL when the file does not have it. */
const struct gw_lm_node *gw_lm_find(const struct gw_line_map *lm, const char *path);

/* The line of path; 0 when the file does not have it. */
unsigned int gw_lm_line(const struct gw_line_map *lm, const char *path);

/*
 * The line of path, or of the nearest enclosing key that is in the file
 * (a defaulted key has no line of its own; its mapping has).
 */
unsigned int gw_lm_line_near(const struct gw_line_map *lm, const char *path);

/* "a single value", "a list" or "a mapping", for messages. */
const char *gw_lm_kind_name(enum gw_lm_kind k);

#endif
