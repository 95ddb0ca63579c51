// SPDX-License-Identifier: GPL-2.0-only
/*
 * tickets.c: the key file's two forms (nginx's binary keys, HAProxy's
 * base64 lines) read into the same keys, every malformed file refused
 * with its reason, and the callback's work: the first key encrypts, any
 * decrypts (2 for one that is not the first), an unknown name is 0.
 */
#include <string.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "harness.h"
#include "tickets.h"

/* nginx's layout (name, HMAC, AES) turned into HAProxy's (name, AES, HMAC), base64. */
static int to_text(const unsigned char *bin, char *out)
{
	unsigned char hp[80];

	memcpy(hp, bin, 16);
	memcpy(hp + 16, bin + 48, 32);
	memcpy(hp + 48, bin + 16, 32);
	return EVP_EncodeBlock((unsigned char *)out, hp, 80);
}

/* Encrypt msg under tk's first key, decrypt it under dk: whether it comes back, and MACs agree. */
static int roundtrip(const struct gw_tickets *tk, const struct gw_tickets *dk)
{
	unsigned char name[16], iv[EVP_MAX_IV_LENGTH], ct[64], pt[64], mac1[32], mac2[32];
	static const unsigned char msg[32] = "a session, as OpenSSL encodes it";
	EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *h1 = EVP_MAC_CTX_new(hmac), *h2 = EVP_MAC_CTX_new(hmac);
	EVP_CIPHER_CTX *c1 = EVP_CIPHER_CTX_new(), *c2 = EVP_CIPHER_CTX_new();
	int n1, n2, f, r, ret = -1;
	size_t m1, m2;

	if (gw_tickets_crypt(tk, name, iv, c1, h1, 1) != 1 ||
	    !EVP_EncryptUpdate(c1, ct, &n1, msg, sizeof(msg)) ||
	    !EVP_EncryptFinal_ex(c1, ct + n1, &f))
		goto out;
	n1 += f;
	r = gw_tickets_crypt(dk, name, iv, c2, h2, 0);
	if (r <= 0) {
		ret = r;
		goto out;
	}
	if (!EVP_DecryptUpdate(c2, pt, &n2, ct, n1) || !EVP_DecryptFinal_ex(c2, pt + n2, &f) ||
	    n2 + f != (int)sizeof(msg) || memcmp(pt, msg, sizeof(msg)))
		goto out;
	if (!EVP_MAC_init(h1, NULL, 0, NULL) || !EVP_MAC_update(h1, ct, (size_t)n1) ||
	    !EVP_MAC_final(h1, mac1, &m1, sizeof(mac1)) ||
	    !EVP_MAC_init(h2, NULL, 0, NULL) || !EVP_MAC_update(h2, ct, (size_t)n1) ||
	    !EVP_MAC_final(h2, mac2, &m2, sizeof(mac2)) || m1 != m2 || memcmp(mac1, mac2, m1))
		goto out;
	ret = r;
out:
	EVP_CIPHER_CTX_free(c1);
	EVP_CIPHER_CTX_free(c2);
	EVP_MAC_CTX_free(h1);
	EVP_MAC_CTX_free(h2);
	EVP_MAC_free(hmac);
	return ret;
}

TEST(binary_and_base64_forms_are_the_same_keys)
{
	unsigned char bin[160];
	char text[400], why[256];
	struct gw_tickets *a, *b, *old;
	int n;

	ASSERT_EQ(1, RAND_bytes(bin, sizeof(bin)));
	a = gw_tickets_new(bin, 160, NULL, why, sizeof(why));
	ASSERT_NOT_NULL(a);
	ASSERT_EQ(2, gw_tickets_count(a));
	/* Key 2 then key 1 as HAProxy lines, CRLF and a blank line between. */
	n = to_text(bin + 80, text);
	memcpy(text + n, "\r\n\r\n", 4);
	n += 4 + to_text(bin, text + n + 4);
	text[n++] = '\n';
	b = gw_tickets_new((unsigned char *)text, (size_t)n, NULL, why, sizeof(why));
	ASSERT_NOT_NULL(b);
	ASSERT_EQ(2, gw_tickets_count(b));
	/* a encrypts under key 1: b has it second (renew); b's under key 2: a has it second. */
	ASSERT_EQ(2, roundtrip(a, b));
	ASSERT_EQ(2, roundtrip(b, a));
	ASSERT_EQ(1, roundtrip(a, a));
	/* Only key 2: a's tickets are unknown there. */
	old = gw_tickets_new(bin + 80, 80, NULL, why, sizeof(why));
	ASSERT_NOT_NULL(old);
	ASSERT_EQ(0, roundtrip(a, old));
	gw_tickets_free(a);
	gw_tickets_free(b);
	gw_tickets_free(old);
}

static const char *refused(const void *data, size_t len)
{
	static char why[256];
	struct gw_tickets *tk = gw_tickets_new(data, len, NULL, why, sizeof(why));

	if (tk) {
		gw_tickets_free(tk);
		return NULL;
	}
	return why;
}

TEST(malformed_files_are_refused_with_their_reason)
{
	static unsigned char many[65 * 80], bin[81];
	unsigned char k48[48];
	char line[128];

	memset(bin, 0xff, sizeof(bin));
	ASSERT_NOT_NULL(strstr(refused(bin, 81), "81 bytes: not one or more 80-byte keys"));
	ASSERT_NOT_NULL(strstr(refused(bin, 0), "0 bytes"));
	memset(many, 0xfe, sizeof(many));
	ASSERT_NOT_NULL(refused(many, sizeof(many)));
	ASSERT_NULL(refused(many, 64 * 80));
	ASSERT_STREQ("no key in it", refused(" \n\n", 3));
	memset(k48, 7, sizeof(k48));
	EVP_EncodeBlock((unsigned char *)line, k48, 48);
	ASSERT_STREQ("line 1: 48 bytes of base64, not a 80-byte key (48-byte AES-128 keys are not taken)",
		     refused(line, strlen(line)));
	ASSERT_STREQ("line 2 is not one base64 key of 80 bytes", refused("\nabc\n", 5));
}

TEST_HARNESS_MAIN
