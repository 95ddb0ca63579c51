/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * libcyaml's error report: collect its log lines (message, then the
 * backtrace of mapping fields and sequence entries) and turn them into one
 * "FILE:LINE: key.path: message" that names the key as the file spells it
 * and the line the line map recorded for it.
 *
 * Reentrant: no static state; the log of each load lives in its caller.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_report.h"

void gw_cy_log_fn(cyaml_log_t level, void *ctx, const char *fmt, va_list args)
{
	struct gw_cy_log *cl = ctx;
	char line[GW_LM_KEY + 64];
	size_t n;

	if (level < CYAML_LOG_ERROR)
		return;
	vsnprintf(line, sizeof(line), fmt, args);
	n = strlen(line);
	while (n && line[n - 1] == '\n')
		line[--n] = '\0';
	if (!strncmp(line, "Load: ", 6))
		memmove(line, line + 6, strlen(line + 6) + 1);
	if (!strcmp(line, "Backtrace:")) {
		cl->in_backtrace = true;
		return;
	}
	if (cl->in_backtrace) {
		if (cl->n_levels < GW_LM_DEPTH)
			(void)gw_snprintf(cl->levels[cl->n_levels++], sizeof(cl->levels[0]),
					  "%s", line);
		return;
	}
	if (!cl->msg[0])
		(void)gw_snprintf(cl->msg, sizeof(cl->msg), "%s", line);
}

/*
 * Key path of backtrace levels [from, n) (the outermost level is the last),
 * and the line the innermost of them names.
 */
static void cy_path(const struct gw_cy_log *cl, unsigned int from, char *path, size_t len,
		    unsigned int *line)
{
	int i;

	path[0] = '\0';
	*line = 0;
	for (i = (int)cl->n_levels - 1; i >= (int)from; i--) {
		const char *l = cl->levels[i], *q;
		char name[GW_LM_KEY];
		size_t k, o = strlen(path);
		unsigned int ln;

		q = strchr(l, '\'');
		if (q) {
			for (k = 0, q++; *q && *q != '\'' && k < sizeof(name) - 1; q++)
				name[k++] = *q;
			name[k] = '\0';
			if (strstr(l, "mapping field"))
				(void)gw_snprintf(path + o, len - o, "%s%s", o ? "." : "", name);
			else if (strstr(l, "sequence entry"))
				(void)gw_snprintf(path + o, len - o, "[%ld]",
						  strtol(name, NULL, 10) - 1);
		}
		q = strstr(l, "line: ");
		if (q && sscanf(q, "line: %u", &ln) == 1)
			*line = ln;
	}
}

/*
 * The mapping a key-related libcyaml error is about. For a missing required
 * key libcyaml has finished the mapping, and its innermost level names a
 * field of that mapping (the last one read, or the first of the schema), not
 * a level of its own: drop it. For an unknown key the innermost level is the
 * mapping itself; should it name a field, the walk tells which path holds
 * the key.
 */
static void cy_key_path(const struct gw_cy_log *cl, const struct gw_line_map *lm,
			const char *key, bool unknown, char *path, size_t len,
			unsigned int *line)
{
	bool stale = cl->n_levels && strstr(cl->levels[0], "mapping field");
	char full[GW_LM_PATH + GW_LM_KEY];

	if (!unknown || !stale) {
		cy_path(cl, stale ? 1 : 0, path, len, line);
		return;
	}
	cy_path(cl, 0, path, len, line);
	(void)gw_snprintf(full, sizeof(full), "%s%s%s", path, path[0] ? "." : "", key);
	if (!gw_lm_find(lm, full))
		cy_path(cl, 1, path, len, line);
}

/* One libcyaml error as "FILE:LINE: key.path: message". */
void gw_cy_report(const struct gw_cy_log *cl, const struct gw_line_map *lm,
		  const char *file, cyaml_err_t err, struct gw_diag *diag)
{
	char path[GW_LM_PATH], full[GW_LM_PATH + GW_LM_KEY];
	const struct gw_lm_node *node;
	const char *shown, *key = NULL;
	unsigned int line;

	if (!strncmp(cl->msg, "Unexpected key: ", 16))
		key = cl->msg + 16;
	else if (!strncmp(cl->msg, "Missing required mapping field: ", 32))
		key = cl->msg + 32;
	if (key) {
		bool unknown = cl->msg[0] == 'U';

		cy_key_path(cl, lm, key, unknown, path, sizeof(path), &line);
		(void)gw_snprintf(full, sizeof(full), "%s%s%s", path, path[0] ? "." : "", key);
		if (unknown)
			gw_diag_add(diag, "%s:%u: %s: unknown key", file,
				    gw_lm_line(lm, full) ?: line ?: 1, full);
		else
			gw_diag_add(diag, "%s:%u: %s: required key is missing", file,
				    gw_lm_line(lm, path) ?: line ?: 1, full);
		return;
	}
	cy_path(cl, 0, path, sizeof(path), &line);
	shown = path[0] ? path : "(top level)";
	line = gw_lm_line(lm, path) ?: line ?: 1;
	if (!strncmp(cl->msg, "Expecting ", 10)) {
		const char *want = !strncmp(cl->msg + 10, "SEQUENCE", 8) ? "a list" :
				   !strncmp(cl->msg + 10, "MAPPING", 7) ? "a mapping" :
				   "a single value";

		node = gw_lm_find(lm, path);
		if (node)
			gw_diag_add(diag, "%s:%u: %s: expected %s, not %s", file, line, shown,
				    want, gw_lm_kind_name(node->kind));
		else
			gw_diag_add(diag, "%s:%u: %s: expected %s", file, line, shown, want);
		return;
	}
	gw_diag_add(diag, "%s:%u: %s: %s", file, line, shown,
		    cl->msg[0] ? cl->msg : cyaml_strerror(err));
}
