// SPDX-License-Identifier: GPL-2.0-only
/*
 * Fuzz target: the PROXY protocol v2 encoder (proxy.c), from fuzzed
 * addresses (IPv4, IPv6, IPv4-mapped IPv6, another family), TLS strings
 * and identity fields, some of them around the 64 KiB a 16-bit length
 * holds, into a buffer of fuzzed size or one with room to spare.
 *
 * The header is parsed back here, by the spec rather than the encoder,
 * and must carry exactly the inputs: signature, version and command;
 * the length field covering the rest; TCP over IPv4 when both ends have
 * an IPv4 form, over IPv6 when both are IPv6, UNSPEC otherwise, with the
 * addresses and ports; the SSL TLV (client SSL|CERT_CONN|CERT_SESS,
 * verify 0) with VERSION, CN (the first CN attribute) and CIPHER when
 * given, then SPIFFE ID, subject and SHA-256 when there is an identity,
 * nothing else; and the gateway's parser of received headers reads the
 * same family back. The result is -ENOSPC exactly when the header does not
 * fit the buffer or a length its 16 bits, and the encoder never writes
 * past the buffer (ASan: the bytes after it are poisoned).
 */
#include <errno.h>
#include <netinet/in.h>
#include <sanitizer/asan_interface.h>

#include "fuzz.h"
#include "proxy.h"

#define MAX_TLVS 8

static const unsigned char sig[12] = {
	0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A
};

/*
 * The output buffers: the start of a static arena, with the GUARD bytes
 * after the length the encoder is given poisoned, so that ASan reports a
 * write past it as it would one past a malloc'd block. Blocks this large
 * (up to five strings near 64 KiB) are mapped and unmapped by ASan for
 * every malloc: that was four tenths of the target's time, in the kernel.
 */
#define OUT_MAX (6 * 65536)
#define GUARD 4096
static unsigned char arena[2][OUT_MAX + GUARD];

static unsigned char *out_get(unsigned int i, size_t len)
{
	FZ_CHECK(len <= OUT_MAX);
	ASAN_POISON_MEMORY_REGION(arena[i] + len, GUARD);
	return arena[i];
}

static void out_put(unsigned int i, size_t len)
{
	ASAN_UNPOISON_MEMORY_REGION(arena[i] + len, GUARD);
}

struct tlv {
	unsigned int type;
	const unsigned char *v;
	size_t len;
};

/*
 * A string: a length byte, that many bytes (NULs kept: the encoder sees
 * the C string up to the first one), and a byte r. With long strings
 * asked for, the bytes repeat to 65535 - 128 + r bytes, around the most a
 * TLV holds; otherwise r is ignored.
 */
static char *fz_str(struct fz *f, bool long_ok)
{
	unsigned char piece[255];
	size_t len = fz_u8(f), total, i;
	unsigned int r;
	char *s;

	fz_bytes(f, piece, len);
	r = fz_u8(f);
	total = long_ok && len ? 0xffff - 128 + r : len;
	s = malloc(total + 1);
	if (!s)
		abort();
	memcpy(s, piece, len < total ? len : total);
	for (i = len; i < total; i *= 2)	/* doubling: few copies */
		memcpy(s + i, s, total - i < i ? total - i : i);
	s[total] = '\0';
	return s;
}

/* An address of the family the input picks; *v4 is its IPv4 form if any. */
static void fz_addr(struct fz *f, struct sockaddr_storage *ss, bool *v4, bool *v6)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	unsigned int kind = fz_u8(f) % 4;

	memset(ss, 0, sizeof(*ss));
	*v4 = *v6 = false;
	if (kind == 0) {
		sin->sin_family = AF_INET;
		fz_bytes(f, &sin->sin_addr, 4);
		fz_bytes(f, &sin->sin_port, 2);
		*v4 = true;
	} else if (kind == 1 || kind == 2) {
		sin6->sin6_family = AF_INET6;
		fz_bytes(f, &sin6->sin6_addr, 16);
		if (kind == 2) {	/* ::ffff:a.b.c.d */
			memset(sin6->sin6_addr.s6_addr, 0, 10);
			memset(sin6->sin6_addr.s6_addr + 10, 0xff, 2);
		}
		fz_bytes(f, &sin6->sin6_port, 2);
		*v6 = true;
		*v4 = IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr);
	} else {
		ss->ss_family = AF_UNIX;
	}
}

/* The 4 address bytes and 2 port bytes of an address with an IPv4 form. */
FZ_NO_COVERAGE static void v4_bytes(const struct sockaddr_storage *ss, unsigned char a[4], unsigned char p[2])
{
	const struct sockaddr_in *sin = (const void *)ss;
	const struct sockaddr_in6 *sin6 = (const void *)ss;

	if (ss->ss_family == AF_INET) {
		memcpy(a, &sin->sin_addr, 4);
		memcpy(p, &sin->sin_port, 2);
	} else {
		memcpy(a, sin6->sin6_addr.s6_addr + 12, 4);
		memcpy(p, &sin6->sin6_port, 2);
	}
}

FZ_NO_COVERAGE static size_t be16(const unsigned char *p)
{
	return (size_t)p[0] << 8 | p[1];
}

/* Split buf[0..n) into TLVs; false unless they cover it exactly. */
FZ_NO_COVERAGE static bool split_tlvs(const unsigned char *buf, size_t n, struct tlv *t, unsigned int *nt)
{
	size_t off = 0;

	*nt = 0;
	while (off < n) {
		if (n - off < 3 || *nt == MAX_TLVS || be16(buf + off + 1) > n - off - 3)
			return false;
		t[*nt].type = buf[off];
		t[*nt].len = be16(buf + off + 1);
		t[*nt].v = buf + off + 3;
		off += 3 + t[*nt].len;
		(*nt)++;
	}
	return true;
}

FZ_NO_COVERAGE static void want_tlv(struct tlv *t, unsigned int *nt, unsigned int type, const void *v, size_t len)
{
	t[*nt].type = type;
	t[*nt].v = v;
	t[*nt].len = len;
	(*nt)++;
}

FZ_NO_COVERAGE static void same_tlvs(const struct tlv *a, unsigned int na, const struct tlv *b, unsigned int nb)
{
	unsigned int i;

	FZ_CHECK(na == nb);
	for (i = 0; i < na; i++) {
		FZ_CHECK(a[i].type == b[i].type && a[i].len == b[i].len);
		FZ_CHECK(!memcmp(a[i].v, b[i].v, a[i].len));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tlv want[MAX_TLVS], got[MAX_TLVS], wsub[MAX_TLVS], gsub[MAX_TLVS];
	unsigned int nwant = 0, ngot, nwsub = 0, ngsub, i, flags, fam;
	bool s4, s6, d4, d6, fits, long_ok;
	struct sockaddr_storage src, dst;
	char *version = NULL, *cipher = NULL, *spiffe = NULL;
	struct gw_name_attr attrs[4];
	struct gw_identity id = { 0 };
	const unsigned char *ssl, *a;
	size_t buflen, total, alen, ssl_len;
	const char *cn = NULL;
	unsigned char *buf;
	struct fz f = { data, size };
	int ret;

	fz_addr(&f, &src, &s4, &s6);
	fz_addr(&f, &dst, &d4, &d6);
	/* 1 version, 2 cipher, 4 identity, 8 SPIFFE ID, 0x40 long strings, 0x80 room */
	flags = fz_u8(&f);
	long_ok = flags & 0x40;
	buflen = fz_u16(&f);
	if (flags & 1)
		version = fz_str(&f, long_ok);
	if (flags & 2)
		cipher = fz_str(&f, long_ok);
	if (flags & 4) {
		static const char *const keys[] = { "CN", "O", "OU", "cn" };

		id.subject = fz_str(&f, long_ok);
		if (flags & 8)
			spiffe = fz_str(&f, long_ok);
		id.spiffe_id = spiffe;
		fz_bytes(&f, id.sha256, sizeof(id.sha256));
		id.subject_attrs = attrs;
		id.n_subject_attrs = fz_u8(&f) % 5;
		for (i = 0; i < id.n_subject_attrs; i++) {
			attrs[i].key = (char *)keys[fz_u8(&f) % 4];
			attrs[i].value = fz_str(&f, long_ok);
			if (!cn && !strcmp(attrs[i].key, "CN"))
				cn = attrs[i].value;
		}
	}

	/* What the header must hold, in order. */
	if (version)
		want_tlv(wsub, &nwsub, GW_PP2_SUBTYPE_SSL_VERSION, version, strlen(version));
	if (cn)
		want_tlv(wsub, &nwsub, GW_PP2_SUBTYPE_SSL_CN, cn, strlen(cn));
	if (cipher)
		want_tlv(wsub, &nwsub, GW_PP2_SUBTYPE_SSL_CIPHER, cipher, strlen(cipher));
	ssl_len = 5;
	fits = true;
	for (i = 0; i < nwsub; i++) {
		ssl_len += 3 + wsub[i].len;
		fits = fits && wsub[i].len <= 0xffff;
	}
	want_tlv(want, &nwant, GW_PP2_TYPE_SSL, NULL, ssl_len);
	if (id.subject && id.spiffe_id)
		want_tlv(want, &nwant, GW_PP2_TYPE_SPIFFE_ID, id.spiffe_id, strlen(id.spiffe_id));
	if (id.subject)
		want_tlv(want, &nwant, GW_PP2_TYPE_SUBJECT, id.subject, strlen(id.subject));
	if (id.subject)
		want_tlv(want, &nwant, GW_PP2_TYPE_SHA256, id.sha256, sizeof(id.sha256));
	fam = s4 && d4 ? 0x11 : s6 && d6 ? 0x21 : 0x00;
	alen = fam == 0x11 ? 12 : fam == 0x21 ? 36 : 0;
	total = 16 + alen;
	for (i = 0; i < nwant; i++) {
		total += 3 + want[i].len;
		fits = fits && want[i].len <= 0xffff;
	}
	if (flags & 0x80)	/* room to spare: buflen is the slack */
		buflen = total + (buflen & 0xff);
	fits = fits && total - 16 <= 0xffff && total <= buflen;

	buf = out_get(0, buflen);
	ret = gw_proxy_v2_build(buf, buflen, (struct sockaddr *)&src, (struct sockaddr *)&dst,
				id.subject ? &id : NULL, version, cipher);
	if (!fits) {
		FZ_CHECK(ret == -ENOSPC);
		goto out;
	}
	FZ_CHECK(ret >= 0 && (size_t)ret == total);

	FZ_CHECK(!memcmp(buf, sig, sizeof(sig)) && buf[12] == 0x21);
	FZ_CHECK(buf[13] == fam && be16(buf + 14) == total - 16);
	a = buf + 16;
	if (fam == 0x11) {
		unsigned char sa[4], sp[2], da[4], dp[2];

		v4_bytes(&src, sa, sp);
		v4_bytes(&dst, da, dp);
		FZ_CHECK(!memcmp(a, sa, 4) && !memcmp(a + 4, da, 4));
		FZ_CHECK(!memcmp(a + 8, sp, 2) && !memcmp(a + 10, dp, 2));
	} else if (fam == 0x21) {
		const struct sockaddr_in6 *s = (const void *)&src, *d = (const void *)&dst;

		FZ_CHECK(!memcmp(a, &s->sin6_addr, 16) && !memcmp(a + 16, &d->sin6_addr, 16));
		FZ_CHECK(!memcmp(a + 32, &s->sin6_port, 2) && !memcmp(a + 34, &d->sin6_port, 2));
	}

	FZ_CHECK(split_tlvs(buf + 16 + alen, total - 16 - alen, got, &ngot));
	FZ_CHECK(ngot >= 1 && got[0].type == GW_PP2_TYPE_SSL && got[0].len >= 5);
	ssl = got[0].v;
	FZ_CHECK(ssl[0] == 0x07 && !ssl[1] && !ssl[2] && !ssl[3] && !ssl[4]);
	want[0].v = ssl;	/* checked above and below, not compared */
	same_tlvs(want, nwant, got, ngot);
	FZ_CHECK(split_tlvs(ssl + 5, got[0].len - 5, gsub, &ngsub));
	same_tlvs(wsub, nwsub, gsub, ngsub);

	/* The gateway's own parser reads it back: UNSPEC as the connection's addresses. */
	{
		struct gw_proxy_v2 pp;
		const char *why = NULL;

		FZ_CHECK(gw_proxy_v2_parse(buf, total, &pp, &why) == (int)total);
		FZ_CHECK(pp.local == (fam == 0x00));
		FZ_CHECK(pp.local || (pp.src.ss_family == (fam == 0x11 ? AF_INET : AF_INET6) &&
				      pp.dst.ss_family == pp.src.ss_family));
	}

	/* The same header again, into a buffer cut to its exact size. */
	if (buflen > total) {
		unsigned char *exact = out_get(1, total);

		FZ_CHECK(gw_proxy_v2_build(exact, total, (struct sockaddr *)&src,
					   (struct sockaddr *)&dst, id.subject ? &id : NULL,
					   version, cipher) == (int)total);
		FZ_CHECK(!memcmp(exact, buf, total));
		out_put(1, total);
	}
out:
	out_put(0, buflen);
	free(version);
	free(cipher);
	free(spiffe);
	free(id.subject);
	for (i = 0; i < id.n_subject_attrs; i++)
		free(attrs[i].value);
	return 0;
}
