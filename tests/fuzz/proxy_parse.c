// SPDX-License-Identifier: GPL-2.0-only
/*
 * Fuzz target: the parser of the PROXY v2 header a balancer sends
 * (gw_proxy_v2_parse, gw_proxy_v2_want in proxy.c), on raw bytes as a
 * client could send them.
 *
 * The input is fed the way source.c reads the socket: a prefix of it at
 * a time, each copied into a block of exactly that size (ASan: a read
 * past the bytes given is a report). What must hold:
 *  - the answer is -EAGAIN, -EINVAL with a reason, or the header's
 *    length, 16 to 16 + 65535;
 *  - a decision, once taken on a prefix, is the decision on every longer
 *    one (the same length, the same addresses): the bytes after the
 *    address block never matter;
 *  - with gw_proxy_v2_want bytes in hand the answer is never -EAGAIN, and
 *    want never reaches past the header's end;
 *  - the answer is the spec's, computed here on the whole input: the
 *    signature, version 2, LOCAL (or UNSPEC: the connection's addresses)
 *    or PROXY over TCP4/TCP6 with the address block inside the length.
 */
#include <errno.h>
#include <netinet/in.h>

#include "fuzz.h"
#include "proxy.h"

static const unsigned char sig[12] = {
	0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A
};

static int parse_exact(const uint8_t *data, size_t len, struct gw_proxy_v2 *out)
{
	unsigned char *copy = malloc(len ? len : 1);
	const char *why = NULL;
	int r;

	if (!copy)
		abort();
	memcpy(copy, data, len);
	memset(out, 0x5a, sizeof(*out));
	r = gw_proxy_v2_parse(copy, len, out, &why);
	FZ_CHECK(r == -EAGAIN || (r == -EINVAL && why && *why) ||
		 (r >= 16 && r <= 16 + 65535));
	free(copy);
	return r;
}

/* The spec's answer on a complete input: -EINVAL, -EAGAIN (too short) or the length. */
FZ_NO_COVERAGE static int model(const uint8_t *d, size_t n, bool *local, int *family)
{
	size_t body, alen;

	*local = false;
	*family = 0;
	if (memcmp(d, sig, n < 12 ? n : 12))
		return -EINVAL;
	if (n < 16)
		return -EAGAIN;
	body = (size_t)d[14] << 8 | d[15];
	if ((d[12] & 0xf0) != 0x20)
		return -EINVAL;
	if ((d[12] & 0x0f) == 0 || ((d[12] & 0x0f) == 1 && d[13] == 0)) {
		*local = true;
		return (int)(16 + body);
	}
	if ((d[12] & 0x0f) != 1 || (d[13] != 0x11 && d[13] != 0x21))
		return -EINVAL;
	*family = d[13] == 0x11 ? AF_INET : AF_INET6;
	alen = d[13] == 0x11 ? 12 : 36;
	if (body < alen)
		return -EINVAL;
	if (n < 16 + alen)
		return -EAGAIN;
	return (int)(16 + body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gw_proxy_v2 first, now;
	int decided = -EAGAIN, r, want_r, family;
	size_t k, step = size > 256 ? size / 64 : 1;
	bool local;

	for (k = 0; k <= size; k += (k < 64 ? 1 : step)) {
		size_t want;

		r = parse_exact(data, k, &now);
		if (decided == -EAGAIN) {
			decided = r;
			first = now;
		} else {
			FZ_CHECK(r == decided);
			if (r > 0) {
				FZ_CHECK(now.local == first.local);
				FZ_CHECK(now.local ||
					 !memcmp(&now.src, &first.src, sizeof(now.src)));
				FZ_CHECK(now.local ||
					 !memcmp(&now.dst, &first.dst, sizeof(now.dst)));
			}
		}
		if (r == -EINVAL)
			break;
		want = gw_proxy_v2_want(data, k);
		FZ_CHECK(want >= k || r != -EAGAIN);
		if (r > 0)
			FZ_CHECK(want <= (size_t)r);
	}
	r = parse_exact(data, size, &now);
	want_r = model(data, size, &local, &family);
	FZ_CHECK(r == want_r);
	if (r > 0) {
		FZ_CHECK(now.local == local);
		if (!local) {
			FZ_CHECK(now.src.ss_family == family && now.dst.ss_family == family);
			if (family == AF_INET) {
				const struct sockaddr_in *s = (const void *)&now.src;

				FZ_CHECK(!memcmp(&s->sin_addr, data + 16, 4));
				FZ_CHECK(!memcmp(&s->sin_port, data + 24, 2));
			} else {
				const struct sockaddr_in6 *d6 = (const void *)&now.dst;

				FZ_CHECK(!memcmp(&d6->sin6_addr, data + 32, 16));
				FZ_CHECK(!memcmp(&d6->sin6_port, data + 50, 2));
			}
		}
	}
	return 0;
}
