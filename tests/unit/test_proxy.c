// SPDX-License-Identifier: GPL-2.0-only
/*
 * PROXY protocol v2 header bytes, checked field by field; and the parser
 * of the header a balancer sends, fed whole, byte by byte and broken.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "harness.h"
#include "proxy.h"

static const unsigned char sig[12] = { 0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
				       0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A };

static struct sockaddr_in v4(const char *ip, int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };

	inet_pton(AF_INET, ip, &sa.sin_addr);
	return sa;
}

static struct sockaddr_in6 v6(const char *ip, int port)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_port = htons(port) };

	inet_pton(AF_INET6, ip, &sa.sin6_addr);
	return sa;
}

TEST(ipv4_addresses_and_no_identity)
{
	struct sockaddr_in s = v4("192.0.2.7", 40000), d = v4("198.51.100.1", 8443);
	unsigned char buf[256];
	int n;

	n = gw_proxy_v2_build(buf, sizeof(buf), (struct sockaddr *)&s,
			      (struct sockaddr *)&d, NULL, "TLSv1.3", "TLS_AES_128_GCM_SHA256");
	ASSERT_GT(n, 28);
	ASSERT_MEMEQ(sig, buf, 12);
	ASSERT_EQ(0x21, buf[12]);
	ASSERT_EQ(0x11, buf[13]);
	ASSERT_EQ(n - 16, (buf[14] << 8) | buf[15]);
	ASSERT_MEMEQ(&s.sin_addr, buf + 16, 4);
	ASSERT_MEMEQ(&d.sin_addr, buf + 20, 4);
	ASSERT_EQ(40000, (buf[24] << 8) | buf[25]);
	ASSERT_EQ(8443, (buf[26] << 8) | buf[27]);
	/* PP2_TYPE_SSL: flags, verify 0, then the version sub-TLV. */
	ASSERT_EQ(0x20, buf[28]);
	ASSERT_EQ(0x07, buf[31]);
	ASSERT_EQ(0, buf[32] | buf[33] | buf[34] | buf[35]);
	ASSERT_EQ(0x21, buf[36]);
	ASSERT_EQ(7, (buf[37] << 8) | buf[38]);
	ASSERT_MEMEQ("TLSv1.3", buf + 39, 7);
}

TEST(ipv6_and_identity_tlvs)
{
	struct sockaddr_in6 s = v6("2001:db8::1", 1234), d = v6("2001:db8::2", 443);
	char *uris[] = { "spiffe://corp.test/prod/x" };
	struct gw_name_attr attrs[] = { { "CN", "x" }, { "O", "Corp" } };
	struct gw_identity id = {
		.subject = "CN=x,O=Corp", .san_uri = uris, .n_san_uri = 1,
		.spiffe_id = uris[0], .subject_attrs = attrs, .n_subject_attrs = 2,
	};
	unsigned char buf[512];
	const unsigned char *p, *end;
	bool seen_spiffe = false, seen_subject = false, seen_sha = false;
	int n;

	memset(id.sha256, 0xab, sizeof(id.sha256));
	n = gw_proxy_v2_build(buf, sizeof(buf), (struct sockaddr *)&s,
			      (struct sockaddr *)&d, &id, "TLSv1.2", "X");
	ASSERT_GT(n, 0);
	ASSERT_EQ(0x21, buf[13]);
	ASSERT_MEMEQ(&s.sin6_addr, buf + 16, 16);
	ASSERT_MEMEQ(&d.sin6_addr, buf + 32, 16);
	/* Walk the TLVs after the 36 address bytes. */
	p = buf + 16 + 36;
	end = buf + n;
	while (p + 3 <= end) {
		size_t l = (size_t)p[1] << 8 | p[2];

		ASSERT_LE(p + 3 + l, end);
		if (p[0] == 0xE0) {
			ASSERT_EQ(strlen(uris[0]), l);
			ASSERT_MEMEQ(uris[0], p + 3, l);
			seen_spiffe = true;
		} else if (p[0] == 0xE1) {
			ASSERT_MEMEQ("CN=x,O=Corp", p + 3, l);
			seen_subject = true;
		} else if (p[0] == 0xE2) {
			ASSERT_EQ(32, l);
			ASSERT_MEMEQ(id.sha256, p + 3, 32);
			seen_sha = true;
		}
		p += 3 + l;
	}
	ASSERT_TRUE(p == end);
	ASSERT_TRUE(seen_spiffe);
	ASSERT_TRUE(seen_subject);
	ASSERT_TRUE(seen_sha);
}

TEST(v4_mapped_is_carried_as_ipv4)
{
	struct sockaddr_in6 s = v6("::ffff:10.1.2.3", 5), d = v6("::ffff:10.9.9.9", 6);
	unsigned char buf[128];
	int n;

	n = gw_proxy_v2_build(buf, sizeof(buf), (struct sockaddr *)&s,
			      (struct sockaddr *)&d, NULL, NULL, NULL);
	ASSERT_GT(n, 0);
	ASSERT_EQ(0x11, buf[13]);
	ASSERT_EQ(10, buf[16]);
	ASSERT_EQ(3, buf[19]);
}

TEST(too_small_buffer_is_an_error)
{
	struct sockaddr_in s = v4("192.0.2.7", 1), d = v4("192.0.2.8", 2);
	unsigned char buf[20];

	ASSERT_EQ(-ENOSPC, gw_proxy_v2_build(buf, sizeof(buf), (struct sockaddr *)&s,
					     (struct sockaddr *)&d, NULL, "TLSv1.3", NULL));
}

/* ---- the parser ---- */

/* A TCP4 header from 192.0.2.7:40000 to 198.51.100.1:8443 with tlv_len bytes of TLVs. */
static size_t pp_v4(unsigned char *buf, size_t tlv_len)
{
	static const unsigned char a[12] = { 192, 0, 2, 7, 198, 51, 100, 1,
					     0x9c, 0x40, 0x20, 0xfb };
	size_t body = sizeof(a) + tlv_len;

	memcpy(buf, sig, 12);
	buf[12] = 0x21;
	buf[13] = 0x11;
	buf[14] = body >> 8;
	buf[15] = body & 0xff;
	memcpy(buf + 16, a, sizeof(a));
	memset(buf + 16 + sizeof(a), 0xE7, tlv_len);
	return 16 + body;
}

TEST(parse_reads_what_the_encoder_wrote)
{
	struct sockaddr_in6 s = v6("2001:db8::7", 1234), d = v6("2001:db8::1", 443);
	struct gw_proxy_v2 pp;
	const char *why = NULL;
	unsigned char buf[512];
	int n;

	n = gw_proxy_v2_build(buf, sizeof(buf), (struct sockaddr *)&s,
			      (struct sockaddr *)&d, NULL, "TLSv1.3", "X");
	ASSERT_GT(n, 52);
	/* Only the fixed part and the address block are needed. */
	ASSERT_EQ(n, gw_proxy_v2_parse(buf, 52, &pp, &why));
	ASSERT_FALSE(pp.local);
	ASSERT_EQ(AF_INET6, pp.src.ss_family);
	ASSERT_MEMEQ(&s, &pp.src, sizeof(s));
	ASSERT_MEMEQ(&d, &pp.dst, sizeof(d));
}

TEST(parse_ipv4_byte_by_byte)
{
	struct sockaddr_in s = v4("192.0.2.7", 40000), d = v4("198.51.100.1", 8443);
	unsigned char buf[64];
	struct gw_proxy_v2 pp;
	const char *why = NULL;
	size_t total = pp_v4(buf, 5), i;

	for (i = 0; i < 28; i++)
		ASSERT_EQ(-EAGAIN, gw_proxy_v2_parse(buf, i, &pp, &why));
	ASSERT_EQ((int)total, gw_proxy_v2_parse(buf, 28, &pp, &why));
	ASSERT_MEMEQ(&s, &pp.src, sizeof(s));
	ASSERT_MEMEQ(&d, &pp.dst, sizeof(d));
	ASSERT_NULL(why);
}

TEST(parse_local_and_unspec_keep_the_connection_addresses)
{
	unsigned char buf[64];
	struct gw_proxy_v2 pp;
	const char *why = NULL;

	pp_v4(buf, 0);
	buf[12] = 0x20;				/* LOCAL: the family is ignored */
	ASSERT_EQ(28, gw_proxy_v2_parse(buf, 16, &pp, &why));
	ASSERT_TRUE(pp.local);
	buf[12] = 0x21;
	buf[13] = 0x00;				/* PROXY with UNSPEC */
	ASSERT_EQ(28, gw_proxy_v2_parse(buf, 16, &pp, &why));
	ASSERT_TRUE(pp.local);
}

TEST(parse_the_largest_length_field)
{
	unsigned char buf[64];
	struct gw_proxy_v2 pp;
	const char *why = NULL;

	pp_v4(buf, 0);
	buf[14] = buf[15] = 0xff;
	ASSERT_EQ(16 + 65535, gw_proxy_v2_parse(buf, 28, &pp, &why));
}

static const char *parse_why(const unsigned char *buf, size_t len)
{
	struct gw_proxy_v2 pp;
	const char *why = NULL;

	return gw_proxy_v2_parse(buf, len, &pp, &why) == -EINVAL ? why : NULL;
}

TEST(parse_refuses_what_is_not_a_v2_tcp_header)
{
	static const unsigned char hello[] = { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01 };
	static const char v1[] = "PROXY TCP4 192.0.2.7 198.51.100.1 40000 8443\r\n";
	unsigned char buf[64];

	ASSERT_STREQ("a TLS record where the PROXY v2 header belongs", parse_why(hello, 1));
	ASSERT_STREQ("a PROXY v1 (text) header; only v2 is accepted",
		     parse_why((const unsigned char *)v1, sizeof(v1) - 1));
	ASSERT_STREQ("no PROXY v2 header", parse_why((const unsigned char *)"GET / HTTP/1.1", 14));
	/* A signature wrong in its last byte. */
	pp_v4(buf, 0);
	buf[11] ^= 1;
	ASSERT_STREQ("no PROXY v2 header", parse_why(buf, 12));
	pp_v4(buf, 0);
	buf[12] = 0x11;
	ASSERT_STREQ("PROXY header version is not 2", parse_why(buf, 16));
	buf[12] = 0x22;
	ASSERT_STREQ("PROXY v2 command is neither LOCAL nor PROXY", parse_why(buf, 16));
	buf[12] = 0x21;
	buf[13] = 0x12;				/* UDP over IPv4 */
	ASSERT_NOT_NULL(parse_why(buf, 16));
	buf[13] = 0x31;				/* a UNIX stream socket */
	ASSERT_NOT_NULL(parse_why(buf, 16));
	buf[13] = 0x21;				/* TCP6, but only 12 address bytes */
	ASSERT_STREQ("PROXY v2 address block shorter than its family needs", parse_why(buf, 16));
	buf[13] = 0x11;
	buf[14] = 0;
	buf[15] = 11;
	ASSERT_STREQ("PROXY v2 address block shorter than its family needs", parse_why(buf, 16));
}

TEST_HARNESS_MAIN
