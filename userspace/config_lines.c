/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The configuration's line map: walk the YAML file with libyaml and record
 * every key path's line, value kind and scalar text (config_lines.h says
 * what the walk refuses), indexed by path in a hash table so that a
 * lookup costs the same in a file of ten keys or of a hundred thousand.
 * It knows nothing of the schema: any well-formed single document maps.
 *
 * Reentrant: no static state; every walk works on its own buffers.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "config_lines.h"
#include "util.h"

/* Strings, packed; a block never moves, so the nodes can point into it. */
struct gw_lm_block {
	struct gw_lm_block *next;
	size_t used, size;
	char s[];
};

#define LM_BLOCK 65536

/* A copy of s in the map's blocks, or NULL. */
static const char *lm_strdup(struct gw_line_map *lm, const char *s)
{
	size_t len = strlen(s) + 1;
	struct gw_lm_block *b = lm->blocks;

	if (!b || b->size - b->used < len) {
		bool own = len > LM_BLOCK / 4;

		b = malloc(sizeof(*b) + (own ? len : LM_BLOCK));
		if (!b)
			return NULL;
		b->used = 0;
		b->size = own ? len : LM_BLOCK;
		/* A long string gets a block of its own, behind the one being filled. */
		if (own && lm->blocks) {
			b->next = lm->blocks->next;
			lm->blocks->next = b;
		} else {
			b->next = lm->blocks;
			lm->blocks = b;
		}
	}
	memcpy(b->s + b->used, s, len);
	b->used += len;
	return b->s + b->used - len;
}

/* Put node i in the first free slot after its hash's (there is one: n_slots >= 2 n). */
static void lm_slot_put(struct gw_line_map *lm, unsigned int i)
{
	unsigned int mask = lm->n_slots - 1, s = lm->e[i].hash & mask;

	while (lm->slot[s])
		s = (s + 1) & mask;
	lm->slot[s] = i + 1;
}

/* Twice the slots, the nodes put again in file order. 0 or -ENOMEM. */
static int lm_index_grow(struct gw_line_map *lm)
{
	unsigned int n = lm->n_slots ? 2 * lm->n_slots : 128, i;
	unsigned int *slot;

	if (n < lm->n_slots)
		return -ENOMEM;
	slot = calloc(n, sizeof(*slot));
	if (!slot)
		return -ENOMEM;
	free(lm->slot);
	lm->slot = slot;
	lm->n_slots = n;
	for (i = 0; i < lm->n; i++)
		lm_slot_put(lm, i);
	return 0;
}

/* Index of the new node, or -ENOMEM. */
static int lm_add(struct gw_line_map *lm, const char *path, unsigned int line)
{
	struct gw_lm_node *e;

	if (lm->n == lm->cap) {
		unsigned int cap = lm->cap ? 2 * lm->cap : 64;

		e = realloc(lm->e, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		lm->e = e;
		lm->cap = cap;
	}
	if (2 * (lm->n + 1) > lm->n_slots && lm_index_grow(lm))
		return -ENOMEM;
	e = &lm->e[lm->n];
	memset(e, 0, sizeof(*e));
	e->path = lm_strdup(lm, path);
	if (!e->path)
		return -ENOMEM;
	e->line = line;
	e->hash = gw_hash_fnv1a(path, strlen(path));
	lm_slot_put(lm, lm->n);
	return (int)lm->n++;
}

const struct gw_lm_node *gw_lm_find(const struct gw_line_map *lm, const char *path)
{
	unsigned int h, mask, s;

	if (!lm->n_slots)
		return NULL;
	h = gw_hash_fnv1a(path, strlen(path));
	mask = lm->n_slots - 1;
	for (s = h & mask; lm->slot[s]; s = (s + 1) & mask) {
		const struct gw_lm_node *e = &lm->e[lm->slot[s] - 1];

		if (e->hash == h && !strcmp(e->path, path))
			return e;
	}
	return NULL;
}

unsigned int gw_lm_line(const struct gw_line_map *lm, const char *path)
{
	const struct gw_lm_node *e = gw_lm_find(lm, path);

	return e ? e->line : 0;
}

/*
 * The line of path, or of the nearest enclosing key that is in the file
 * (a defaulted key has no line of its own; its mapping has).
 */
unsigned int gw_lm_line_near(const struct gw_line_map *lm, const char *path)
{
	char p[GW_LM_PATH], *dot, *bracket;
	unsigned int line;

	if (gw_snprintf(p, sizeof(p), "%s", path))
		return 0;
	for (;;) {
		line = gw_lm_line(lm, p);
		if (line || !p[0])
			return line;
		/* Drop the last ".key" or "[i]". */
		dot = strrchr(p, '.');
		bracket = strrchr(p, '[');
		if (dot && (!bracket || dot > bracket))
			*dot = '\0';
		else if (bracket)
			*bracket = '\0';
		else
			p[0] = '\0';
	}
}

void gw_lm_free(struct gw_line_map *lm)
{
	struct gw_lm_block *b, *next;

	for (b = lm->blocks; b; b = next) {
		next = b->next;
		free(b);
	}
	lm->blocks = NULL;
	free(lm->e);
	free(lm->slot);
	lm->e = NULL;
	lm->slot = NULL;
	lm->n = lm->cap = lm->n_slots = 0;
}

struct lm_frame {
	bool is_map;
	bool expect_key;
	bool dup;		/* inside a duplicate key: already reported, not recorded */
	int key_node;		/* node of the key whose value comes next, or -1 */
	unsigned int idx;	/* next entry of a list */
	char path[GW_LM_PATH];
	char key[GW_LM_KEY];
};

/* The path of the value about to start under frame f (NULL: the root). */
static int lm_child_path(const struct lm_frame *f, char *out, size_t len)
{
	if (!f) {
		out[0] = '\0';
		return 0;
	}
	if (f->is_map)
		return gw_snprintf(out, len, "%s%s%s", f->path, f->path[0] ? "." : "", f->key);
	return gw_snprintf(out, len, "%s[%u]", f->path, f->idx);
}

static void lm_value_done(struct lm_frame *f)
{
	if (!f)
		return;
	if (f->is_map)
		f->expect_key = true;
	else
		f->idx++;
}

/* YAML's null: a plain scalar that is empty, "~" or "null". */
static bool yaml_is_null(const yaml_event_t *ev)
{
	const char *s = (const char *)ev->data.scalar.value;

	if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	return !s[0] || !strcmp(s, "~") || !strcmp(s, "null") ||
	       !strcmp(s, "Null") || !strcmp(s, "NULL");
}

struct lm_walk {
	const char *file;
	struct gw_line_map *lm;
	struct gw_diag *diag;
	struct lm_frame stack[GW_LM_DEPTH];
	int depth;
	int err;
};

static void __attribute__((format(printf, 3, 4)))
lm_err(struct lm_walk *w, unsigned int line, const char *fmt, ...)
{
	char msg[GW_LM_PATH + 256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	gw_diag_add(w->diag, "%s:%u: %s", w->file, line, msg);
	if (!w->err)
		w->err = -EINVAL;
}

/*
 * A value (scalar, list or mapping) starts at line under the current frame:
 * record its kind (and text) on the node of its key or list entry, and
 * enter it when it is a collection. 0, or -errno to stop the walk.
 */
static int lm_value(struct lm_walk *w, const yaml_event_t *ev, unsigned int line)
{
	struct lm_frame *top = w->depth ? &w->stack[w->depth - 1] : NULL;
	enum gw_lm_kind kind = ev->type == YAML_MAPPING_START_EVENT ? GW_LM_MAP :
			    ev->type == YAML_SEQUENCE_START_EVENT ? GW_LM_SEQ : GW_LM_SCALAR;
	char path[GW_LM_PATH];
	int node = -1;

	if (lm_child_path(top, path, sizeof(path))) {
		lm_err(w, line, "%s: key path is too long", top->path);
		return -EINVAL;
	}
	if (top && (top->is_map || top->dup)) {
		node = top->key_node;
	} else if (!top && gw_lm_find(w->lm, "")) {
		lm_err(w, line, "a second YAML document; put everything in one");
		return -EINVAL;
	} else {
		node = lm_add(w->lm, path, line);
		if (node < 0)
			return node;
	}
	if (node >= 0) {
		w->lm->e[node].kind = kind;
		if (kind == GW_LM_SCALAR) {
			w->lm->e[node].value = lm_strdup(w->lm,
							 (const char *)ev->data.scalar.value);
			if (!w->lm->e[node].value)
				return -ENOMEM;
		}
	}
	if (kind == GW_LM_SCALAR) {
		if (top && yaml_is_null(ev))
			lm_err(w, line, "%s: has no value; give one or remove the key", path);
		lm_value_done(top);
		return 0;
	}
	if (w->depth == GW_LM_DEPTH) {
		lm_err(w, line, "%s: nested too deeply", path);
		return -EINVAL;
	}
	top = &w->stack[w->depth++];
	memset(top, 0, sizeof(*top));
	top->is_map = kind == GW_LM_MAP;
	top->expect_key = true;
	top->key_node = -1;
	top->dup = w->depth > 1 && (w->stack[w->depth - 2].dup ||
				    (w->stack[w->depth - 2].is_map &&
				     w->stack[w->depth - 2].key_node < 0));
	(void)gw_snprintf(top->path, sizeof(top->path), "%s", path);
	return 0;
}

/* A key scalar under a mapping: record its line, refuse a duplicate. */
static int lm_key(struct lm_walk *w, const yaml_event_t *ev, unsigned int line)
{
	struct lm_frame *top = &w->stack[w->depth - 1];
	const struct gw_lm_node *dup;
	char path[GW_LM_PATH];
	int node;

	top->expect_key = false;
	top->key_node = -1;
	if (top->dup)
		return 0;
	if (gw_snprintf(top->key, sizeof(top->key), "%s",
			(const char *)ev->data.scalar.value) ||
	    lm_child_path(top, path, sizeof(path))) {
		lm_err(w, line, "%s: key \"%.40s...\" is too long", top->path[0] ? top->path :
		       "(top level)", top->key);
		return -EINVAL;
	}
	dup = gw_lm_find(w->lm, path);
	if (dup) {
		lm_err(w, line, "%s: duplicate key (first at line %u)", path, dup->line);
		return 0;
	}
	node = lm_add(w->lm, path, line);
	if (node < 0)
		return node;
	top->key_node = node;
	return 0;
}

/*
 * Walk the text of file with libyaml and fill lm. Returns 0; -EINVAL when
 * the text is not a usable document, with every problem in diag; or -errno
 * (which the caller reports when diag did not get a message).
 */
int gw_lm_build(const char *file, const char *text, size_t len, struct gw_line_map *lm,
		struct gw_diag *diag)
{
	struct lm_walk *w;
	yaml_parser_t parser;
	yaml_event_t ev;
	bool done = false;
	int ret = 0;

	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->file = file;
	w->lm = lm;
	w->diag = diag;
	if (!yaml_parser_initialize(&parser)) {
		ret = -ENOMEM;
		goto out_free;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	while (!done && !ret) {
		struct lm_frame *top = w->depth ? &w->stack[w->depth - 1] : NULL;
		unsigned int line;

		if (!yaml_parser_parse(&parser, &ev)) {
			if (parser.context && parser.context_mark.line != parser.problem_mark.line)
				lm_err(w, (unsigned int)parser.problem_mark.line + 1,
				       "YAML syntax error: %s (%s at line %u)",
				       parser.problem ? parser.problem : "malformed",
				       parser.context, (unsigned int)parser.context_mark.line + 1);
			else
				lm_err(w, (unsigned int)parser.problem_mark.line + 1,
				       "YAML syntax error: %s%s%s",
				       parser.problem ? parser.problem : "malformed",
				       parser.context ? " " : "",
				       parser.context ? parser.context : "");
			break;
		}
		line = (unsigned int)ev.start_mark.line + 1;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_MAPPING_START_EVENT:
		case YAML_SEQUENCE_START_EVENT:
			if (top && top->is_map && top->expect_key) {
				lm_err(w, line, "%s: a key must be a single value, not a %s",
				       top->path[0] ? top->path : "(top level)",
				       ev.type == YAML_MAPPING_START_EVENT ? "mapping" : "list");
				done = true;
				break;
			}
			ret = lm_value(w, &ev, line);
			break;
		case YAML_MAPPING_END_EVENT:
		case YAML_SEQUENCE_END_EVENT:
			w->depth--;
			lm_value_done(w->depth ? &w->stack[w->depth - 1] : NULL);
			break;
		case YAML_SCALAR_EVENT:
			if (top && top->is_map && top->expect_key)
				ret = lm_key(w, &ev, line);
			else
				ret = lm_value(w, &ev, line);
			break;
		case YAML_ALIAS_EVENT:
			lm_err(w, line, "YAML aliases (*%s) are not supported; write the value out",
			       (const char *)ev.data.alias.anchor);
			done = true;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	if (!ret)
		ret = w->err;
	yaml_parser_delete(&parser);
out_free:
	free(w);
	return ret;
}

const char *gw_lm_kind_name(enum gw_lm_kind k)
{
	switch (k) {
	case GW_LM_SEQ:
		return "a list";
	case GW_LM_MAP:
		return "a mapping";
	default:
		return "a single value";
	}
}
