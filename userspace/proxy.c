// SPDX-License-Identifier: GPL-2.0-only
/*
 * The PROXY protocol v2 header (proxy.h): the one towards the backend,
 * with the addresses and the verified identity in TLVs, and the parser
 * of one a balancer sends us. Pure functions, no I/O.
 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "proxy.h"

static const unsigned char pp2_sig[12] = {
	0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A
};

struct pp_out {
	unsigned char *buf;
	size_t len, off;
	int err;
};

static void put(struct pp_out *o, const void *p, size_t n)
{
	if (o->err || n > o->len - o->off) {
		o->err = -ENOSPC;
		return;
	}
	memcpy(o->buf + o->off, p, n);
	o->off += n;
}

static void put_u8(struct pp_out *o, unsigned int v)
{
	unsigned char b = v;

	put(o, &b, 1);
}

static void put_u16(struct pp_out *o, unsigned int v)
{
	unsigned char b[2] = { v >> 8, v & 0xff };

	put(o, b, 2);
}

static void put_tlv(struct pp_out *o, unsigned int type, const void *v, size_t n)
{
	if (n > 0xffff) {
		o->err = -ENOSPC;
		return;
	}
	put_u8(o, type);
	put_u16(o, n);
	put(o, v, n);
}

/* Patch a 16-bit length at position at to cover everything after it. */
static void patch_len(struct pp_out *o, size_t at)
{
	size_t n = o->off - at - 2;

	if (o->err)
		return;
	if (n > 0xffff) {
		o->err = -ENOSPC;
		return;
	}
	o->buf[at] = n >> 8;
	o->buf[at + 1] = n & 0xff;
}

/* IPv4-mapped IPv6 is carried as IPv4. */
static int v4_of(const struct sockaddr *sa, struct in_addr *a, in_port_t *port)
{
	if (sa->sa_family == AF_INET) {
		*a = ((const struct sockaddr_in *)sa)->sin_addr;
		*port = ((const struct sockaddr_in *)sa)->sin_port;
		return 1;
	}
	if (sa->sa_family == AF_INET6 &&
	    IN6_IS_ADDR_V4MAPPED(&((const struct sockaddr_in6 *)sa)->sin6_addr)) {
		memcpy(a, &((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr[12], 4);
		*port = ((const struct sockaddr_in6 *)sa)->sin6_port;
		return 1;
	}
	return 0;
}

static void put_addresses(struct pp_out *o, const struct sockaddr *src,
			  const struct sockaddr *dst)
{
	const struct sockaddr_in6 *s6 = (const void *)src, *d6 = (const void *)dst;
	struct in_addr s4, d4;
	in_port_t sp, dp;

	if (v4_of(src, &s4, &sp) && v4_of(dst, &d4, &dp)) {
		put_u8(o, 0x11);			/* TCP over IPv4 */
		put_u16(o, 0);				/* patched later */
		put(o, &s4, 4);
		put(o, &d4, 4);
		put(o, &sp, 2);
		put(o, &dp, 2);
	} else if (src->sa_family == AF_INET6 && dst->sa_family == AF_INET6) {
		put_u8(o, 0x21);			/* TCP over IPv6 */
		put_u16(o, 0);
		put(o, &s6->sin6_addr, 16);
		put(o, &d6->sin6_addr, 16);
		put(o, &s6->sin6_port, 2);
		put(o, &d6->sin6_port, 2);
	} else {
		put_u8(o, 0x00);			/* unspecified */
		put_u16(o, 0);
	}
}

static const char *subject_cn(const struct gw_identity *id)
{
	unsigned int i;

	for (i = 0; i < id->n_subject_attrs; i++)
		if (!strcmp(id->subject_attrs[i].key, "CN"))
			return id->subject_attrs[i].value;
	return NULL;
}

int gw_proxy_v2_build(unsigned char *buf, size_t len,
		      const struct sockaddr *src, const struct sockaddr *dst,
		      const struct gw_identity *id, const char *tls_version,
		      const char *cipher)
{
	struct pp_out o = { .buf = buf, .len = len };
	const unsigned char verify_ok[4] = { 0 };
	size_t hdr_len_at, ssl_len_at;
	const char *cn;

	put(&o, pp2_sig, sizeof(pp2_sig));
	put_u8(&o, 0x21);				/* v2, PROXY */
	hdr_len_at = o.off + 1;
	put_addresses(&o, src, dst);

	put_u8(&o, GW_PP2_TYPE_SSL);
	ssl_len_at = o.off;
	put_u16(&o, 0);
	put_u8(&o, 0x01 | 0x02 | 0x04);			/* SSL, CERT_CONN, CERT_SESS */
	put(&o, verify_ok, 4);
	if (tls_version)
		put_tlv(&o, GW_PP2_SUBTYPE_SSL_VERSION, tls_version, strlen(tls_version));
	if (id && (cn = subject_cn(id)))
		put_tlv(&o, GW_PP2_SUBTYPE_SSL_CN, cn, strlen(cn));
	if (cipher)
		put_tlv(&o, GW_PP2_SUBTYPE_SSL_CIPHER, cipher, strlen(cipher));
	patch_len(&o, ssl_len_at);

	if (id && id->spiffe_id)
		put_tlv(&o, GW_PP2_TYPE_SPIFFE_ID, id->spiffe_id, strlen(id->spiffe_id));
	if (id && id->subject)
		put_tlv(&o, GW_PP2_TYPE_SUBJECT, id->subject, strlen(id->subject));
	if (id)
		put_tlv(&o, GW_PP2_TYPE_SHA256, id->sha256, sizeof(id->sha256));
	patch_len(&o, hdr_len_at);
	return o.err ? o.err : (int)o.off;
}

/* ---- the header a balancer sends ---- */

static const char v1_sig[6] = "PROXY ";

static void sa_of(struct sockaddr_storage *ss, int family, const unsigned char *addr,
		  const unsigned char *port)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, addr, 4);
		memcpy(&s4->sin_port, port, 2);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, addr, 16);
		memcpy(&s6->sin6_port, port, 2);
	}
}

size_t gw_proxy_v2_want(const unsigned char *buf, size_t len)
{
	size_t total;

	if (len < GW_PROXY_V2_FIXED)
		return GW_PROXY_V2_FIXED;
	total = GW_PROXY_V2_FIXED + ((size_t)buf[14] << 8 | buf[15]);
	return total < GW_PROXY_V2_FIXED + GW_PROXY_V2_ADDRS_MAX ?
	       total : GW_PROXY_V2_FIXED + GW_PROXY_V2_ADDRS_MAX;
}

int gw_proxy_v2_parse(const unsigned char *buf, size_t len, struct gw_proxy_v2 *out,
		      const char **why)
{
	size_t body, need, i;
	int family, alen;

	for (i = 0; i < len && i < sizeof(pp2_sig); i++) {
		if (buf[i] == pp2_sig[i])
			continue;
		if (len >= sizeof(v1_sig) && !memcmp(buf, v1_sig, sizeof(v1_sig)))
			*why = "a PROXY v1 (text) header; only v2 is accepted";
		else if (i == 0 && buf[0] == 0x16)
			*why = "a TLS record where the PROXY v2 header belongs";
		else
			*why = "no PROXY v2 header";
		return -EINVAL;
	}
	if (len < GW_PROXY_V2_FIXED)
		return -EAGAIN;
	if (buf[12] >> 4 != 2) {
		*why = "PROXY header version is not 2";
		return -EINVAL;
	}
	body = (size_t)buf[14] << 8 | buf[15];
	memset(out, 0, sizeof(*out));
	switch (buf[12] & 0x0f) {
	case 0x0:				/* LOCAL: the family is ignored */
		out->local = true;
		return GW_PROXY_V2_FIXED + body;
	case 0x1:				/* PROXY */
		break;
	default:
		*why = "PROXY v2 command is neither LOCAL nor PROXY";
		return -EINVAL;
	}
	switch (buf[13]) {
	case 0x00:				/* UNSPEC: the connection's own */
		out->local = true;
		return GW_PROXY_V2_FIXED + body;
	case 0x11:				/* TCP over IPv4 */
		family = AF_INET;
		alen = 4;
		break;
	case 0x21:				/* TCP over IPv6 */
		family = AF_INET6;
		alen = 16;
		break;
	default:
		*why = "PROXY v2 header for another protocol than TCP over IPv4 or IPv6";
		return -EINVAL;
	}
	need = 2 * (size_t)alen + 4;
	if (body < need) {
		*why = "PROXY v2 address block shorter than its family needs";
		return -EINVAL;
	}
	if (len < GW_PROXY_V2_FIXED + need)
		return -EAGAIN;
	buf += GW_PROXY_V2_FIXED;
	sa_of(&out->src, family, buf, buf + 2 * alen);
	sa_of(&out->dst, family, buf + alen, buf + 2 * alen + 2);
	return GW_PROXY_V2_FIXED + body;
}
