// SPDX-License-Identifier: GPL-2.0-only
/*
 * Socket addresses and CIDR prefixes. Numeric only: nothing here resolves a
 * name, and every parser is strict (no surrounding spaces, no leading zeros
 * in numbers, no trailing junk) because its input decides who may connect.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

#include "addr.h"
#include "util.h"

/*
 * A decimal number of 1..max_digits digits, no sign, no leading zero (except
 * "0" itself), the whole of s[0..len). 0 or -EINVAL.
 */
static int parse_uint(const char *s, size_t len, size_t max_digits,
		      unsigned long max, unsigned long *out)
{
	unsigned long v = 0;
	size_t i;

	if (!len || len > max_digits || (len > 1 && s[0] == '0'))
		return -EINVAL;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* Copy s[0..len) to a NUL-terminated buffer and inet_pton it. */
static int pton_n(int family, const char *s, size_t len, void *dst)
{
	char buf[INET6_ADDRSTRLEN];

	if (!len || len >= sizeof(buf) || memchr(s, '\0', len))
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return inet_pton(family, buf, dst) == 1 ? 0 : -EINVAL;
}

int gw_cidr_parse(const char *s, struct gw_cidr *out)
{
	struct gw_cidr c = { 0 };
	unsigned long plen;
	const char *slash;
	size_t alen, bits, i;
	int err;

	if (!s || !out)
		return -EINVAL;
	slash = strchr(s, '/');
	alen = slash ? (size_t)(slash - s) : strlen(s);
	c.family = memchr(s, ':', alen) ? AF_INET6 : AF_INET;
	bits = c.family == AF_INET ? 32 : 128;

	err = pton_n(c.family, s, alen, c.addr);
	if (err)
		return err;
	if (slash) {
		err = parse_uint(slash + 1, strlen(slash + 1), 3, bits, &plen);
		if (err)
			return err;
	} else {
		plen = bits;
	}
	c.prefix_len = (unsigned char)plen;

	/* Host bits must be zero: "10.0.0.1/8" is a typo, not a prefix. */
	for (i = plen; i < bits; i++) {
		if (c.addr[i / 8] & (0x80 >> (i % 8)))
			return -EINVAL;
	}
	*out = c;
	return 0;
}

/*
 * The address bytes of sa as seen by prefix matching, with an IPv4-mapped
 * IPv6 address (a v4 client on a dual-stack socket) reduced to its IPv4
 * address. NULL for other families.
 */
static const unsigned char *sockaddr_bytes(const struct sockaddr *sa,
					   sa_family_t *family)
{
	const struct sockaddr_in6 *sin6;

	switch (sa->sa_family) {
	case AF_INET:
		*family = AF_INET;
		return (const unsigned char *)
			&((const struct sockaddr_in *)sa)->sin_addr;
	case AF_INET6:
		sin6 = (const struct sockaddr_in6 *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			*family = AF_INET;
			return sin6->sin6_addr.s6_addr + 12;
		}
		*family = AF_INET6;
		return sin6->sin6_addr.s6_addr;
	default:
		return NULL;
	}
}

bool gw_cidr_match(const struct gw_cidr *c, const struct sockaddr *sa)
{
	const unsigned char *a;
	sa_family_t family;
	unsigned int full, rem;

	if (!c || !sa)
		return false;
	a = sockaddr_bytes(sa, &family);
	if (!a || family != c->family)
		return false;
	if (c->prefix_len > (family == AF_INET ? 32 : 128))
		return false;

	full = c->prefix_len / 8;
	rem = c->prefix_len % 8;
	if (memcmp(a, c->addr, full))
		return false;
	if (rem) {
		unsigned char mask = (unsigned char)(0xff << (8 - rem));

		if ((a[full] & mask) != (c->addr[full] & mask))
			return false;
	}
	return true;
}

bool gw_cidr_match_any(const struct gw_cidr *c, unsigned int n,
		       const struct sockaddr *sa)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		if (gw_cidr_match(&c[i], sa))
			return true;
	}
	return false;
}

int gw_cidr_fmt(const struct gw_cidr *c, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	if (!c || (c->family != AF_INET && c->family != AF_INET6))
		return -EINVAL;
	if (!inet_ntop(c->family, c->addr, host, sizeof(host)))
		return -errno;
	return gw_snprintf(buf, len, "%s/%u", host, c->prefix_len);
}

int gw_sockaddr_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	const char *host, *colon, *close;
	struct sockaddr_in6 sin6 = { 0 };
	struct sockaddr_in sin = { 0 };
	unsigned long port;
	size_t hlen;
	int err;

	if (!s || !ss)
		return -EINVAL;

	if (s[0] == '[') {
		/* "[V6]:PORT" */
		host = s + 1;
		close = strchr(host, ']');
		if (!close || close[1] != ':')
			return -EINVAL;
		hlen = (size_t)(close - host);
		colon = close + 1;
	} else {
		/*
		 * "A.B.C.D:PORT". Unbracketed IPv6 ("::1:80") fails below:
		 * the host before the first colon is empty or not IPv4, or
		 * the "port" after it holds colons.
		 */
		host = s;
		colon = strchr(s, ':');
		if (!colon)
			return -EINVAL;
		hlen = (size_t)(colon - host);
	}
	err = parse_uint(colon + 1, strlen(colon + 1), 5, 65535, &port);
	if (err)
		return err;

	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[') {
		err = pton_n(AF_INET6, host, hlen, &sin6.sin6_addr);
		if (err)
			return err;
		sin6.sin6_family = AF_INET6;
		sin6.sin6_port = htons((uint16_t)port);
		memcpy(ss, &sin6, sizeof(sin6));
		if (len)
			*len = sizeof(sin6);
	} else {
		err = pton_n(AF_INET, host, hlen, &sin.sin_addr);
		if (err)
			return err;
		sin.sin_family = AF_INET;
		sin.sin_port = htons((uint16_t)port);
		memcpy(ss, &sin, sizeof(sin));
		if (len)
			*len = sizeof(sin);
	}
	return 0;
}

/*
 * Printable host of sa (IPv4-mapped shown as IPv4), its port, and whether
 * it needs brackets in "host:port".
 */
static int sockaddr_host(const struct sockaddr *sa, char *host, size_t hlen,
			 unsigned int *port, bool *bracket)
{
	const struct sockaddr_in6 *sin6;
	const struct sockaddr_in *sin;

	if (!sa)
		return -EINVAL;
	switch (sa->sa_family) {
	case AF_INET:
		sin = (const struct sockaddr_in *)sa;
		*port = ntohs(sin->sin_port);
		*bracket = false;
		if (!inet_ntop(AF_INET, &sin->sin_addr, host, (socklen_t)hlen))
			return -errno;
		return 0;
	case AF_INET6:
		sin6 = (const struct sockaddr_in6 *)sa;
		*port = ntohs(sin6->sin6_port);
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			*bracket = false;
			if (!inet_ntop(AF_INET, sin6->sin6_addr.s6_addr + 12,
				       host, (socklen_t)hlen))
				return -errno;
			return 0;
		}
		*bracket = true;
		if (!inet_ntop(AF_INET6, &sin6->sin6_addr, host, (socklen_t)hlen))
			return -errno;
		return 0;
	default:
		return -EAFNOSUPPORT;
	}
}

int gw_sockaddr_fmt(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];
	unsigned int port;
	bool bracket;
	int err;

	err = sockaddr_host(sa, host, sizeof(host), &port, &bracket);
	if (err)
		return err;
	if (bracket)
		return gw_snprintf(buf, len, "[%s]:%u", host, port);
	return gw_snprintf(buf, len, "%s:%u", host, port);
}

int gw_sockaddr_fmt_host(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];
	unsigned int port;
	bool bracket;
	int err;

	err = sockaddr_host(sa, host, sizeof(host), &port, &bracket);
	if (err)
		return err;
	return gw_snprintf(buf, len, "%s", host);
}

static int parse_port(const char *s, const char *end, unsigned short *out)
{
	unsigned long v = 0;
	const char *p;

	if (s == end || end - s > 5 || (*s == '0' && end - s > 1))
		return -EINVAL;
	for (p = s; p < end; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (!v || v > 65535)
		return -EINVAL;
	*out = (unsigned short)v;
	return 0;
}

int gw_steer_parse(const char *s, struct gw_steer *out)
{
	char cidr[INET6_ADDRSTRLEN + 8];
	const char *colon, *dash, *end;
	size_t n;

	if (!s)
		return -EINVAL;
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (!rb)
			return -EINVAL;
		n = (size_t)(rb - s - 1);
		if (n >= sizeof(cidr))
			return -EINVAL;
		memcpy(cidr, s + 1, n);
		cidr[n] = '\0';
		/* "[addr]/len:port" or "[addr]:port" */
		if (rb[1] == '/') {
			colon = strchr(rb, ':');
			if (!colon || (size_t)(colon - rb - 1) + n >= sizeof(cidr))
				return -EINVAL;
			memcpy(cidr + n, rb + 1, (size_t)(colon - rb - 1));
			cidr[n + (size_t)(colon - rb - 1)] = '\0';
		} else if (rb[1] == ':') {
			colon = rb + 1;
		} else {
			return -EINVAL;
		}
		if (!strchr(cidr, ':'))
			return -EINVAL;
	} else {
		colon = strrchr(s, ':');
		if (!colon || (size_t)(colon - s) >= sizeof(cidr))
			return -EINVAL;
		memcpy(cidr, s, (size_t)(colon - s));
		cidr[colon - s] = '\0';
		if (strchr(cidr, ':'))
			return -EINVAL;
	}
	if (gw_cidr_parse(cidr, &out->dst))
		return -EINVAL;
	end = colon + 1 + strlen(colon + 1);
	dash = strchr(colon + 1, '-');
	if (dash) {
		if (parse_port(colon + 1, dash, &out->lo) || parse_port(dash + 1, end, &out->hi) ||
		    out->lo > out->hi)
			return -EINVAL;
	} else {
		if (parse_port(colon + 1, end, &out->lo))
			return -EINVAL;
		out->hi = out->lo;
	}
	return 0;
}

bool gw_cidr_contains(const struct gw_cidr *a, const struct gw_cidr *b)
{
	unsigned int bits = a->prefix_len, i;

	if (a->family != b->family || a->prefix_len > b->prefix_len)
		return false;
	for (i = 0; i < bits / 8; i++)
		if (a->addr[i] != b->addr[i])
			return false;
	if (bits % 8) {
		unsigned char mask = (unsigned char)(0xff << (8 - bits % 8));

		if ((a->addr[i] & mask) != (b->addr[i] & mask))
			return false;
	}
	return true;
}

bool gw_steer_overlap(const struct gw_steer *a, const struct gw_steer *b)
{
	if (a->hi < b->lo || b->hi < a->lo)
		return false;
	return gw_cidr_contains(&a->dst, &b->dst) || gw_cidr_contains(&b->dst, &a->dst);
}

bool gw_sockaddr_equal(const struct sockaddr_storage *a, socklen_t alen,
		       const struct sockaddr_storage *b, socklen_t blen)
{
	return alen == blen && !memcmp(a, b, alen);
}

void gw_inaddr_set(union gw_inaddr *a, const struct sockaddr_storage *ss)
{
	memset(a, 0, sizeof(*a));
	if (ss->ss_family == AF_INET)
		memcpy(&a->in, ss, sizeof(a->in));
	else if (ss->ss_family == AF_INET6)
		memcpy(&a->in6, ss, sizeof(a->in6));
}
