// SPDX-License-Identifier: GPL-2.0-only
/*
 * The kernel capability check's answers as text (kcaps_text.h): the one
 * line for the log and "mtlsgwctl status", and the "mtlsgw
 * --check-kernel" table with what an operator can do about each failure.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "kcaps.h"
#include "kcaps_text.h"
#include "util.h"

/* End the text (even an empty one): 0, or -ENOSPC when it was cut. */
static int sb_done(struct gw_sbuf *sb)
{
	if (!sb->cap)
		return -ENOSPC;
	sb->buf[sb->len] = '\0';
	return sb->err;
}

static const char *ename(int err)
{
	const char *s = strerrorname_np(err < 0 ? -err : err);

	return s ? s : "E?";
}

/* "no (STEP ENAME)", "not probed (STEP ENAME)" or "yes" into sb. */
static void put_cap_short(struct gw_sbuf *sb, const struct gw_kcap *cap)
{
	if (cap->ok)
		gw_sbuf_printf(sb, "yes");
	else if (!cap->tried && !cap->err)
		gw_sbuf_printf(sb, "not probed (%s)", cap->step);
	else
		gw_sbuf_printf(sb, "%s (%s %s)", cap->tried ? "no" : "not probed", cap->step,
		       ename(cap->err));
}

/* The answer that keeps cipher c from working (TX first), or NULL. */
static const struct gw_kcap *first_failure(const struct gw_kcaps *k, unsigned int c)
{
	if (gw_kcaps_cipher_ok(k, c))
		return NULL;
	return k->tx[c].ok ? &k->rx[c] : &k->tx[c];
}

int gw_kcaps_format(const struct gw_kcaps *k, char *buf, size_t len)
{
	struct gw_sbuf sb = GW_SBUF_FIXED(buf, len);
	unsigned int i, n_ok = 0, n_bad = 0, done = 0;

	if (!k->ulp.ok) {
		if (k->ulp.tried && k->ulp.err == -ENOENT)
			gw_sbuf_printf(&sb, "kTLS: no (\"tls\" ULP missing: modprobe tls)");
		else if (k->ulp.tried)
			gw_sbuf_printf(&sb, "kTLS: no (TCP_ULP \"tls\": %s)", ename(k->ulp.err));
		else
			gw_sbuf_printf(&sb, "kTLS: not probed (%s: %s)", k->ulp.step, ename(k->ulp.err));
		return sb_done(&sb);
	}
	gw_sbuf_printf(&sb, "kTLS tx/rx:");
	for (i = 0; i < GW_KCAPS_N_CIPHERS; i++) {
		if (gw_kcaps_cipher_ok(k, i)) {
			gw_sbuf_printf(&sb, " %s", gw_kcaps_cipher_name(i));
			n_ok++;
		}
	}
	if (!n_ok)
		gw_sbuf_printf(&sb, " none");
	/* Failing ciphers, those with the same answer grouped: "a b TLS_TX ENOENT". */
	for (i = 0; i < GW_KCAPS_N_CIPHERS; i++) {
		const struct gw_kcap *bad = first_failure(k, i), *other;
		unsigned int j;

		if (!bad || (done & (1u << i)))
			continue;
		gw_sbuf_printf(&sb, "%s", n_bad++ ? "," : " (no:");
		for (j = i; j < GW_KCAPS_N_CIPHERS; j++) {
			other = first_failure(k, j);
			if (other && other->err == bad->err && !strcmp(other->step, bad->step)) {
				gw_sbuf_printf(&sb, " %s", gw_kcaps_cipher_name(j));
				done |= 1u << j;
			}
		}
		gw_sbuf_printf(&sb, " %s %s", bad->step, ename(bad->err));
	}
	if (n_bad)
		gw_sbuf_printf(&sb, ")");

	gw_sbuf_printf(&sb, "; splice: ");
	if (k->splice_rx.ok && k->splice_tx.ok)
		gw_sbuf_printf(&sb, "yes");
	else
		put_cap_short(&sb, k->splice_rx.ok ? &k->splice_tx : &k->splice_rx);

	gw_sbuf_printf(&sb, "; rekey: ");
	if (k->rekey_tx.ok && k->rekey_rx.ok) {
		gw_sbuf_printf(&sb, "yes");
	} else if (k->rekey_tx.ok) {
		gw_sbuf_printf(&sb, "tx only, rx ");
		put_cap_short(&sb, &k->rekey_rx);
	} else {
		put_cap_short(&sb, &k->rekey_tx);
	}

	gw_sbuf_printf(&sb, "; psock+kTLS: ");
	if (k->psock_then_ktls.ok && k->ktls_then_psock.ok) {
		gw_sbuf_printf(&sb, "yes");
	} else if (!k->psock_then_ktls.tried && !k->ktls_then_psock.tried) {
		put_cap_short(&sb, &k->psock_then_ktls);
	} else {
		gw_sbuf_printf(&sb, "%s (psock first: ", k->psock_then_ktls.ok ||
		       k->ktls_then_psock.ok ? "partly" : "no");
		if (k->psock_then_ktls.ok)
			gw_sbuf_printf(&sb, "yes");
		else
			gw_sbuf_printf(&sb, "%s %s", k->psock_then_ktls.step, ename(k->psock_then_ktls.err));
		gw_sbuf_printf(&sb, "; kTLS first: ");
		if (k->ktls_then_psock.ok)
			gw_sbuf_printf(&sb, "yes");
		else
			gw_sbuf_printf(&sb, "%s %s", k->ktls_then_psock.step, ename(k->ktls_then_psock.err));
		gw_sbuf_printf(&sb, ")");
	}
	return sb_done(&sb);
}

/* What an operator can do about a failure, or NULL. */
static const char *hint(const struct gw_kcap *cap, int c)
{
	int err = cap->err;

	if (c >= 0 && (err == -ENOENT || err == -ENOPKG))
		return gw_kcaps_cipher_config(c);
	if (c >= 0 && err == -EINVAL)
		return "this kernel's kTLS does not take this cipher";
	if (err == -EPERM || err == -EACCES)
		return "needs root (CAP_BPF or CAP_SYS_ADMIN)";
	if (err == -EBUSY)
		return "no kTLS rekey here: a peer's TLS 1.3 KeyUpdate ends a kTLS connection";
	return NULL;
}

/* One table cell: "yes", or "no: STEP: ENAME (strerror)[; hint]". */
static void put_cap_long(struct gw_sbuf *sb, const struct gw_kcap *cap, int c)
{
	const char *h;

	if (cap->ok) {
		gw_sbuf_printf(sb, "yes");
		return;
	}
	gw_sbuf_printf(sb, "%s: %s", cap->tried ? "no" : "not probed", cap->step);
	if (cap->err)
		gw_sbuf_printf(sb, ": %s (%s)", ename(cap->err), strerror(-cap->err));
	h = cap->tried ? hint(cap, c) : NULL;
	if (h)
		gw_sbuf_printf(sb, "; %s", h);
}

int gw_kcaps_report(const struct gw_kcaps *k, char *buf, size_t len)
{
	static const struct {
		const char *label;
		size_t off;
	} rows[] = {
		{ "splice kTLS RX -> pipe", offsetof(struct gw_kcaps, splice_rx) },
		{ "splice pipe -> kTLS TX", offsetof(struct gw_kcaps, splice_tx) },
		{ "TLS 1.3 rekey TX", offsetof(struct gw_kcaps, rekey_tx) },
		{ "TLS 1.3 rekey RX", offsetof(struct gw_kcaps, rekey_rx) },
		{ "sockmap, then kTLS", offsetof(struct gw_kcaps, psock_then_ktls) },
		{ "kTLS, then sockmap", offsetof(struct gw_kcaps, ktls_then_psock) },
	};
	struct gw_sbuf sb = GW_SBUF_FIXED(buf, len);
	unsigned int i;

	gw_sbuf_printf(&sb, "kernel capabilities (tried on loopback TCP pairs, %u ms):\n", k->elapsed_ms);
	gw_sbuf_printf(&sb, "  %-28s ", "TCP_ULP \"tls\"");
	if (k->ulp.tried && k->ulp.err == -ENOENT)
		gw_sbuf_printf(&sb, "no: the kernel has no \"tls\" ULP; modprobe tls (CONFIG_TLS)\n");
	else {
		put_cap_long(&sb, &k->ulp, -1);
		gw_sbuf_printf(&sb, "\n");
	}
	for (i = 0; i < GW_KCAPS_N_CIPHERS; i++) {
		if (gw_kcaps_cipher_ok(k, i)) {
			gw_sbuf_printf(&sb, "  %-28s tx yes, rx yes\n", gw_kcaps_cipher_label(i));
			continue;
		}
		if (!k->tx[i].tried && !k->rx[i].tried && k->tx[i].step == k->rx[i].step &&
		    k->tx[i].err == k->rx[i].err) {
			gw_sbuf_printf(&sb, "  %-28s tx, rx ", gw_kcaps_cipher_label(i));
			put_cap_long(&sb, &k->tx[i], (int)i);
			gw_sbuf_printf(&sb, "\n");
			continue;
		}
		gw_sbuf_printf(&sb, "  %-28s tx ", gw_kcaps_cipher_label(i));
		put_cap_long(&sb, &k->tx[i], (int)i);
		gw_sbuf_printf(&sb, "\n  %-28s rx ", "");
		put_cap_long(&sb, &k->rx[i], (int)i);
		gw_sbuf_printf(&sb, "\n");
	}
	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		gw_sbuf_printf(&sb, "  %-28s ", rows[i].label);
		put_cap_long(&sb, (const struct gw_kcap *)((const char *)k + rows[i].off), -1);
		gw_sbuf_printf(&sb, "\n");
	}
	if (gw_kcaps_splice_usable(k))
		gw_sbuf_printf(&sb, "splice datapath: usable (kTLS + splice)\n");
	else if (!k->ulp.ok)
		gw_sbuf_printf(&sb, "splice datapath: NOT usable: no kTLS%s; connections use the userspace datapath\n",
		       k->ulp.err == -ENOENT ? " (\"tls\" ULP missing: modprobe tls, CONFIG_TLS)" : "");
	else if (!gw_kcaps_cipher_mask(k))
		gw_sbuf_printf(&sb, "splice datapath: NOT usable: kTLS takes none of the ciphers; connections use the userspace datapath\n");
	else
		gw_sbuf_printf(&sb, "splice datapath: NOT usable: splice to or from a kTLS socket fails; connections use the userspace datapath\n");
	return sb_done(&sb);
}
