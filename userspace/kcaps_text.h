/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What the kernel capability check found (kcaps.h), as text for people:
 * a summary line and a table.
 */
#ifndef GW_KCAPS_TEXT_H
#define GW_KCAPS_TEXT_H

#include <stddef.h>

#include "kcaps.h"

/* Enough for any gw_kcaps_format() line. */
#define GW_KCAPS_SUMMARY_LEN 1024

/*
 * One line for the log and "mtlsgwctl status", e.g.
 *   kTLS tx/rx: tls13-aes128gcm ...; splice: yes; rekey: no (TLS_TX EBUSY); psock+kTLS: no (...)
 *   kTLS: no ("tls" ULP missing: modprobe tls)
 * 0, or -ENOSPC when len is too small (GW_KCAPS_SUMMARY_LEN always fits);
 * buf is always terminated.
 */
int gw_kcaps_format(const struct gw_kcaps *k, char *buf, size_t len);

/* Enough for any gw_kcaps_report() table. */
#define GW_KCAPS_REPORT_LEN 4096

/*
 * A multi-line table for "mtlsgw --check-kernel": one row per probed
 * operation with errno and what to do, then the verdict for the splice
 * datapath. 0, or -ENOSPC when len is too small; buf is always terminated.
 */
int gw_kcaps_report(const struct gw_kcaps *k, char *buf, size_t len);

#endif
