// SPDX-License-Identifier: GPL-2.0-only
/*
 * tls.c: the certificates of a client's Certificate message counted
 * without parsing any, in the TLS 1.2 and the TLS 1.3 layout, and every
 * malformed length refused (-1: libssl refuses the message then).
 */
#include <string.h>

#include "harness.h"
#include "tls.h"

/* A message under construction: handshake header first, lengths patched. */
struct msg {
	unsigned char b[512];
	size_t len;
};

static void put(struct msg *m, const void *p, size_t n)
{
	memcpy(m->b + m->len, p, n);
	m->len += n;
}

static void put24(unsigned char *at, size_t v)
{
	at[0] = (unsigned char)(v >> 16);
	at[1] = (unsigned char)(v >> 8);
	at[2] = (unsigned char)v;
}

/*
 * n entries of len bytes each ('C'), in the TLS 1.3 layout when tls13
 * (an empty certificate_request_context, ext bytes of extensions each).
 */
static void build(struct msg *m, bool tls13, unsigned int n, size_t len, size_t ext)
{
	unsigned char cert[64], zero[8] = { 0 }, l3[3], l2[2];
	size_t list;
	unsigned int i;

	memset(cert, 'C', sizeof(cert));
	memset(m, 0, sizeof(*m));
	put(m, "\x0b\0\0\0", 4);		/* Certificate, length patched below */
	if (tls13)
		put(m, zero, 1);		/* certificate_request_context: empty */
	list = m->len;
	put(m, zero, 3);			/* certificate_list length, patched */
	for (i = 0; i < n; i++) {
		put24(l3, len);
		put(m, l3, 3);
		put(m, cert, len);
		if (tls13) {
			l2[0] = (unsigned char)(ext >> 8);
			l2[1] = (unsigned char)ext;
			put(m, l2, 2);
			put(m, zero, ext);
		}
	}
	put24(m->b + list, m->len - list - 3);
	put24(m->b + 1, m->len - 4);
}

TEST(tls12_counts_each_certificate)
{
	struct msg m;

	build(&m, false, 0, 0, 0);
	ASSERT_EQ(0, gw_tls_cert_msg_count(m.b, m.len, false));
	build(&m, false, 1, 40, 0);
	ASSERT_EQ(1, gw_tls_cert_msg_count(m.b, m.len, false));
	build(&m, false, 7, 20, 0);
	ASSERT_EQ(7, gw_tls_cert_msg_count(m.b, m.len, false));
}

TEST(tls13_counts_entries_with_their_extensions)
{
	struct msg m;

	build(&m, true, 0, 0, 0);
	ASSERT_EQ(0, gw_tls_cert_msg_count(m.b, m.len, true));
	build(&m, true, 3, 30, 0);
	ASSERT_EQ(3, gw_tls_cert_msg_count(m.b, m.len, true));
	/* Extensions bytes are skipped, not taken for certificates. */
	build(&m, true, 5, 20, 6);
	ASSERT_EQ(5, gw_tls_cert_msg_count(m.b, m.len, true));
	/* The same bytes read in the other layout do not add up. */
	ASSERT_EQ(-1, gw_tls_cert_msg_count(m.b, m.len, false));
}

TEST(tls13_request_context_is_skipped)
{
	struct msg m;

	build(&m, true, 2, 20, 0);
	/* A 2-byte context: move everything after the context byte along. */
	memmove(m.b + 7, m.b + 5, m.len - 5);
	m.b[4] = 2;
	m.b[5] = 0xaa;
	m.b[6] = 0xbb;
	m.len += 2;
	put24(m.b + 1, m.len - 4);
	ASSERT_EQ(2, gw_tls_cert_msg_count(m.b, m.len, true));
}

TEST(malformed_lengths_are_refused)
{
	struct msg m;
	size_t len;

	ASSERT_EQ(-1, gw_tls_cert_msg_count((const unsigned char *)"", 0, false));
	ASSERT_EQ(-1, gw_tls_cert_msg_count((const unsigned char *)"\x0b\0\0", 3, false));
	build(&m, false, 3, 20, 0);
	len = m.len;
	/* Header length not the message's. */
	ASSERT_EQ(-1, gw_tls_cert_msg_count(m.b, len - 1, false));
	/* A certificate running past the list. */
	m.b[4 + 3 + 2 * 23 + 2] = 21;
	ASSERT_EQ(-1, gw_tls_cert_msg_count(m.b, len, false));
	/* TLS 1.3: extensions running past the message, context past it. */
	build(&m, true, 1, 20, 4);
	m.b[m.len - 5] = 5;
	ASSERT_EQ(-1, gw_tls_cert_msg_count(m.b, m.len, true));
	build(&m, true, 1, 20, 0);
	m.b[4] = 200;
	ASSERT_EQ(-1, gw_tls_cert_msg_count(m.b, m.len, true));
	/* A list length that disagrees with the message's. */
	build(&m, false, 2, 20, 0);
	m.b[6] -= 1;
	ASSERT_EQ(-1, gw_tls_cert_msg_count(m.b, m.len, false));
}

/* verify_depth counts intermediates: the leaf and a trust anchor besides. */
TEST(limit_follows_verify_depth)
{
	ASSERT_EQ(3, gw_tls_max_client_certs(1));
	ASSERT_EQ(5, gw_tls_max_client_certs(3));
	ASSERT_EQ(18, gw_tls_max_client_certs(16));
}

TEST_HARNESS_MAIN
