// SPDX-License-Identifier: GPL-2.0-only
/* PROXY protocol v2 header bytes, checked field by field. */
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

TEST_HARNESS_MAIN
