/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Metrics in the Prometheus text exposition format (version 0.0.4).
 *
 * A small registry: every family is declared once in metrics.c with its
 * type and help text; a series is the family plus a label set rendered as
 * text ('listener="a",result="ok"', escaped by gw_metric_labels). Counters
 * only go up; gauges are set, usually right before rendering by the
 * worker's snapshot callback. Every function may be called from any
 * worker's thread (one lock).
 */
#ifndef GW_METRICS_H
#define GW_METRICS_H

#include <stddef.h>
#include <stdint.h>

/*
 * Build a label set from key/value pairs ending with NULL:
 * gw_metric_labels(buf, sizeof(buf), "listener", "a", "result", "ok", NULL).
 * Values are escaped (backslash, double quote, newline). A key written
 * "?name" is optional: left out with a NULL value, else "name" (a route,
 * which listeners without routes[] do not have). 0 or -ENOSPC.
 */
int gw_metric_labels(char *buf, size_t len, ...) __attribute__((sentinel));

void gw_metric_add(const char *family, const char *labels, double v);
void gw_metric_set(const char *family, const char *labels, double v);
/* Histogram families: one observation (buckets, _sum, _count). */
void gw_metric_observe(const char *family, const char *labels, double v);
/* Drop every series of a gauge family (before setting the current ones). */
void gw_metric_reset(const char *family);

/* The whole exposition, malloc'd, NUL-terminated; NULL on OOM. */
char *gw_metrics_render(size_t *len);

void gw_metrics_free(void);

#endif
