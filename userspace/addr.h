/* SPDX-License-Identifier: GPL-2.0-only */
/* Socket addresses and CIDR prefixes: parsing, formatting, matching. Pure. */
#ifndef GW_ADDR_H
#define GW_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <netinet/in.h>
#include <sys/socket.h>

struct gw_cidr {
	sa_family_t family;		/* AF_INET or AF_INET6 */
	unsigned char prefix_len;	/* 0..32 or 0..128 */
	unsigned char addr[16];		/* network byte order, host bits zero */
};

/*
 * "10.0.0.0/8", "2001:db8::/32", or a bare address (= /32, /128).
 * Returns 0, or -EINVAL for a malformed string, a prefix length out of
 * range, or host bits set below the prefix ("10.0.0.1/8").
 */
int gw_cidr_parse(const char *s, struct gw_cidr *out);

/*
 * Does sa fall inside c? An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is
 * matched as the IPv4 address it carries.
 */
bool gw_cidr_match(const struct gw_cidr *c, const struct sockaddr *sa);

/* True when sa matches any of the n prefixes. */
bool gw_cidr_match_any(const struct gw_cidr *c, unsigned int n,
		       const struct sockaddr *sa);

int gw_cidr_fmt(const struct gw_cidr *c, char *buf, size_t len);

/*
 * "HOST:PORT" with HOST a numeric IPv4 address, or "[V6]:PORT".
 * No name resolution. Port 0..65535. Returns 0 or -EINVAL.
 */
int gw_sockaddr_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len);

/* "1.2.3.4:80" / "[::1]:80"; an IPv4-mapped address is shown as IPv4. */
int gw_sockaddr_fmt(const struct sockaddr *sa, char *buf, size_t len);

/* Address only, without port ("1.2.3.4", "::1"). */
int gw_sockaddr_fmt_host(const struct sockaddr *sa, char *buf, size_t len);

#define GW_SOCKADDR_STRLEN 64

/*
 * An IPv4 or IPv6 socket address as a connection keeps three of them
 * (28 bytes where a sockaddr_storage takes 128). Family 0: none.
 */
union gw_inaddr {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

/* ss when it is AF_INET or AF_INET6, else family 0 (no address). */
void gw_inaddr_set(union gw_inaddr *a, const struct sockaddr_storage *ss);

/* The same address and length, byte for byte (listener addresses). */
bool gw_sockaddr_equal(const struct sockaddr_storage *a, socklen_t alen,
		       const struct sockaddr_storage *b, socklen_t blen);

/* A steered destination: a prefix and an inclusive port range. */
struct gw_steer {
	struct gw_cidr dst;
	unsigned short lo, hi;
};

/*
 * "10.0.0.0/24:443", "10.0.0.0/24:8000-8100", "[2001:db8::]/64:443",
 * "[2001:db8::1]:443" (a single address). 0 or -EINVAL.
 */
int gw_steer_parse(const char *s, struct gw_steer *out);

/* Do two steered destinations share an address and a port? */
bool gw_steer_overlap(const struct gw_steer *a, const struct gw_steer *b);

/* Does prefix a contain prefix b (same family, a no longer than b)? */
bool gw_cidr_contains(const struct gw_cidr *a, const struct gw_cidr *b);

#endif
