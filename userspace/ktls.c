// SPDX-License-Identifier: GPL-2.0-only
/*
 * kTLS keys (ktls.h): traffic secrets from the keylog callback, key and
 * IV derivation per cipher, the setsockopt calls that install them,
 * TLS 1.3 rekey, and one control record in or out of a kTLS socket.
 * Secrets are wiped on every path.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdlib.h>
#include <linux/tls.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include "ktls.h"
#include "util.h"

static int secrets_idx = -1;

static void secrets_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
			 long argl, void *argp)
{
	(void)parent; (void)ad; (void)idx; (void)argl; (void)argp;
	if (ptr) {
		OPENSSL_cleanse(ptr, sizeof(struct gw_ktls_secrets));
		free(ptr);
	}
}

/*
 * "CLIENT_TRAFFIC_SECRET_0 <client_random> <secret>": keep the secret
 * (in hex in the line), nothing else. OpenSSL calls this during the
 * handshake from inside SSL_do_handshake.
 */
static void keylog_cb(const SSL *ssl, const char *line)
{
	struct gw_ktls_secrets *s;
	unsigned char *dst;
	const char *hex;
	unsigned int bit, n = 0;

	if (!strncmp(line, "CLIENT_TRAFFIC_SECRET_0 ", 24))
		bit = 1;
	else if (!strncmp(line, "SERVER_TRAFFIC_SECRET_0 ", 24))
		bit = 2;
	else
		return;
	hex = strrchr(line, ' ');
	if (!hex)
		return;
	hex++;
	s = SSL_get_ex_data(ssl, secrets_idx);
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s || !SSL_set_ex_data((SSL *)ssl, secrets_idx, s)) {
			free(s);
			return;
		}
	}
	dst = bit == 1 ? s->client : s->server;
	while (hex[0] && hex[1] && n < sizeof(s->client)) {
		int hi = gw_hexval(hex[0]), lo = gw_hexval(hex[1]);

		if (hi < 0 || lo < 0)
			return;
		dst[n++] = (unsigned char)(hi << 4 | lo);
		hex += 2;
	}
	s->len = n;
	s->have |= bit;
}

void gw_ktls_enable_keylog(SSL_CTX *ctx)
{
	if (secrets_idx < 0)
		secrets_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, secrets_free);
	SSL_CTX_set_keylog_callback(ctx, keylog_cb);
}

void gw_ktls_forget(SSL *ssl)
{
	void *s = secrets_idx >= 0 ? SSL_get_ex_data(ssl, secrets_idx) : NULL;

	if (s) {
		SSL_set_ex_data(ssl, secrets_idx, NULL);
		secrets_free(NULL, s, NULL, 0, 0, NULL);
	}
}

/* HKDF-Expand-Label(secret, label, "", len) of TLS 1.3 (RFC 8446 7.1). */
static int hkdf_expand_label(const EVP_MD *md, const unsigned char *secret, size_t slen,
			     const char *label, unsigned char *out, size_t len)
{
	unsigned char info[2 + 1 + 6 + 32 + 1];
	size_t llen = strlen(label), ilen = 0;
	OSSL_PARAM params[5], *p = params;
	int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY, ret = -EINVAL;
	EVP_KDF_CTX *kctx;
	EVP_KDF *kdf;

	if (llen > 32)
		return -EINVAL;
	info[ilen++] = (unsigned char)(len >> 8);
	info[ilen++] = (unsigned char)len;
	info[ilen++] = (unsigned char)(6 + llen);
	memcpy(info + ilen, "tls13 ", 6);
	ilen += 6;
	memcpy(info + ilen, label, llen);
	ilen += llen;
	info[ilen++] = 0;		/* empty context */
	kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	EVP_KDF_free(kdf);
	if (!kctx)
		return -ENOMEM;
	*p++ = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
						(char *)EVP_MD_get0_name(md), 0);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)secret, slen);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, ilen);
	*p = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(kctx, out, len, params) == 1)
		ret = 0;
	EVP_KDF_CTX_free(kctx);
	OPENSSL_cleanse(info, sizeof(info));
	return ret;
}

/* TLS 1.2 key block: PRF(master, "key expansion", server_random || client_random). */
static int tls12_key_block(SSL *ssl, const EVP_MD *md, unsigned char *out, size_t len)
{
	unsigned char master[48], seed[13 + 64];
	OSSL_PARAM params[4], *p = params;
	SSL_SESSION *sess = SSL_get_session(ssl);
	EVP_KDF_CTX *kctx;
	EVP_KDF *kdf;
	size_t mlen;
	int ret = -EINVAL;

	if (!sess)
		return -EINVAL;
	mlen = SSL_SESSION_get_master_key(sess, master, sizeof(master));
	memcpy(seed, "key expansion", 13);
	if (SSL_get_server_random(ssl, seed + 13, 32) != 32 ||
	    SSL_get_client_random(ssl, seed + 45, 32) != 32 || mlen != 48)
		goto out;
	kdf = EVP_KDF_fetch(NULL, "TLS1-PRF", NULL);
	kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	EVP_KDF_free(kdf);
	if (!kctx) {
		ret = -ENOMEM;
		goto out;
	}
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
						(char *)EVP_MD_get0_name(md), 0);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET, master, mlen);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED, seed, sizeof(seed));
	*p = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(kctx, out, len, params) == 1)
		ret = 0;
	EVP_KDF_CTX_free(kctx);
out:
	OPENSSL_cleanse(master, sizeof(master));
	return ret;
}

static void put_seq(unsigned char *rec_seq, uint64_t seq)
{
	int i;

	for (i = 7; i >= 0; i--, seq >>= 8)
		rec_seq[i] = (unsigned char)seq;
}

/*
 * The GCM layouts differ only in key size: info, iv[8], key[N], salt[4],
 * rec_seq[8]. TLS 1.3: salt and iv are the 12-byte IV split 4 + 8; TLS
 * 1.2: salt is the key block's 4-byte IV and iv the explicit nonce of the
 * next record, for which we use its sequence number.
 */
static void fill_gcm(struct tls_crypto_info *info, unsigned char *ci_iv,
		     unsigned char *ci_key, size_t keylen, unsigned char *ci_salt,
		     unsigned char *ci_seq, const unsigned char *key,
		     const unsigned char *iv, uint64_t seq)
{
	memcpy(ci_key, key, keylen);
	memcpy(ci_salt, iv, 4);
	if (info->version == TLS_1_3_VERSION)
		memcpy(ci_iv, iv + 4, 8);
	else
		put_seq(ci_iv, seq);
	put_seq(ci_seq, seq);
}

/*
 * Fill one direction. iv is the full 12-byte TLS 1.3 IV, or for TLS 1.2
 * the 4-byte GCM salt / 12-byte ChaCha20 IV from the key block.
 */
static void fill_dir(struct gw_ktls_dir *d, uint16_t version, uint16_t cipher,
		     const unsigned char *key, const unsigned char *iv, uint64_t seq)
{
	struct tls_crypto_info *info = (void *)d->info;

	memset(d, 0, sizeof(*d));
	info->version = version;
	info->cipher_type = cipher;
	if (cipher == TLS_CIPHER_AES_GCM_128) {
		struct tls12_crypto_info_aes_gcm_128 *ci = (void *)d->info;

		fill_gcm(info, ci->iv, ci->key, sizeof(ci->key), ci->salt, ci->rec_seq,
			 key, iv, seq);
		d->len = sizeof(*ci);
	} else if (cipher == TLS_CIPHER_AES_GCM_256) {
		struct tls12_crypto_info_aes_gcm_256 *ci = (void *)d->info;

		fill_gcm(info, ci->iv, ci->key, sizeof(ci->key), ci->salt, ci->rec_seq,
			 key, iv, seq);
		d->len = sizeof(*ci);
	} else {
		struct tls12_crypto_info_chacha20_poly1305 *ci = (void *)d->info;

		memcpy(ci->key, key, sizeof(ci->key));
		memcpy(ci->iv, iv, sizeof(ci->iv));
		put_seq(ci->rec_seq, seq);
		d->len = sizeof(*ci);
	}
}

/* kTLS cipher, key length and handshake hash of an OpenSSL cipher name. */
static int cipher_params(const char *name, uint16_t *cipher, unsigned int *keylen,
			 const EVP_MD **md)
{
	if (strstr(name, "CHACHA20")) {
		*cipher = TLS_CIPHER_CHACHA20_POLY1305;
		*keylen = 32;
		*md = EVP_sha256();
	} else if (strstr(name, "AES_256_GCM") || strstr(name, "AES256-GCM")) {
		*cipher = TLS_CIPHER_AES_GCM_256;
		*keylen = 32;
		*md = EVP_sha384();
	} else if (strstr(name, "AES_128_GCM") || strstr(name, "AES128-GCM")) {
		*cipher = TLS_CIPHER_AES_GCM_128;
		*keylen = 16;
		*md = EVP_sha256();
	} else {
		return -EOPNOTSUPP;
	}
	return 0;
}

int gw_ktls_derive(SSL *ssl, uint64_t tx_seq, uint64_t rx_seq,
		   struct gw_ktls_dir *tx, struct gw_ktls_dir *rx)
{
	const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
	unsigned char kb[2 * 32 + 2 * 12], ckey[32], skey[32], civ[12], siv[12];
	bool server = SSL_is_server(ssl);
	unsigned int keylen, ivlen;
	uint16_t cipher;
	const EVP_MD *md;
	int ret;

	ret = cipher_params(c ? SSL_CIPHER_get_name(c) : "", &cipher, &keylen, &md);
	if (ret)
		return ret;
	if (SSL_version(ssl) == TLS1_3_VERSION) {
		struct gw_ktls_secrets *s = secrets_idx >= 0 ?
					    SSL_get_ex_data(ssl, secrets_idx) : NULL;

		if (!s || s->have != 3 || s->len != (unsigned int)EVP_MD_get_size(md))
			return -EINVAL;
		ret = hkdf_expand_label(md, s->client, s->len, "key", ckey, keylen);
		ret = ret ?: hkdf_expand_label(md, s->client, s->len, "iv", civ, 12);
		ret = ret ?: hkdf_expand_label(md, s->server, s->len, "key", skey, keylen);
		ret = ret ?: hkdf_expand_label(md, s->server, s->len, "iv", siv, 12);
		if (!ret && server) {
			fill_dir(tx, TLS_1_3_VERSION, cipher, skey, siv, tx_seq);
			fill_dir(rx, TLS_1_3_VERSION, cipher, ckey, civ, rx_seq);
		} else if (!ret) {
			fill_dir(tx, TLS_1_3_VERSION, cipher, ckey, civ, tx_seq);
			fill_dir(rx, TLS_1_3_VERSION, cipher, skey, siv, rx_seq);
		}
	} else if (SSL_version(ssl) == TLS1_2_VERSION) {
		ivlen = cipher == TLS_CIPHER_CHACHA20_POLY1305 ? 12 : 4;
		ret = tls12_key_block(ssl, md, kb, 2 * keylen + 2 * ivlen);
		/* client key, server key, client IV, server IV */
		if (!ret) {
			unsigned char *skb = kb + keylen, *sivb = kb + 2 * keylen + ivlen;
			unsigned char *ckb = kb, *civb = kb + 2 * keylen;

			fill_dir(tx, TLS_1_2_VERSION, cipher, server ? skb : ckb,
				 server ? sivb : civb, tx_seq);
			fill_dir(rx, TLS_1_2_VERSION, cipher, server ? ckb : skb,
				 server ? civb : sivb, rx_seq);
		}
	} else {
		ret = -EOPNOTSUPP;
	}
	OPENSSL_cleanse(kb, sizeof(kb));
	OPENSSL_cleanse(ckey, sizeof(ckey));
	OPENSSL_cleanse(skey, sizeof(skey));
	OPENSSL_cleanse(civ, sizeof(civ));
	OPENSSL_cleanse(siv, sizeof(siv));
	return ret;
}

int gw_ktls_ulp(int fd)
{
	return setsockopt(fd, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls")) ? -errno : 0;
}

int gw_ktls_install(int fd, struct gw_ktls_dir *tx, struct gw_ktls_dir *rx)
{
	int err = 0;

	if (setsockopt(fd, SOL_TLS, TLS_TX, tx->info, tx->len) ||
	    setsockopt(fd, SOL_TLS, TLS_RX, rx->info, rx->len))
		err = -errno;
	OPENSSL_cleanse(tx, sizeof(*tx));
	OPENSSL_cleanse(rx, sizeof(*rx));
	return err;
}

struct gw_ktls_secrets *gw_ktls_secrets_take(SSL *ssl)
{
	const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
	struct gw_ktls_secrets *s = secrets_idx >= 0 ? SSL_get_ex_data(ssl, secrets_idx) : NULL;
	unsigned int keylen;
	const EVP_MD *md;

	if (!s)
		return NULL;
	SSL_set_ex_data(ssl, secrets_idx, NULL);
	if (SSL_version(ssl) != TLS1_3_VERSION || s->have != 3 ||
	    cipher_params(c ? SSL_CIPHER_get_name(c) : "", &s->cipher, &keylen, &md)) {
		gw_ktls_secrets_free(s);
		return NULL;
	}
	s->is_server = SSL_is_server(ssl);
	return s;
}

void gw_ktls_secrets_free(struct gw_ktls_secrets *s)
{
	secrets_free(NULL, s, NULL, 0, 0, NULL);
}

/* Whether a direction of s follows the client's secret: RX the peer's, TX our own. */
static bool dir_is_client(const struct gw_ktls_secrets *s, bool rx)
{
	return rx == s->is_server;
}

/* The handshake hash and the key length of s's suite. */
static const EVP_MD *suite_md(const struct gw_ktls_secrets *s, unsigned int *keylen)
{
	*keylen = s->cipher == TLS_CIPHER_AES_GCM_128 ? 16 : 32;
	return s->len == 48 ? EVP_sha384() : EVP_sha256();
}

int gw_ktls_rekey(int fd, struct gw_ktls_secrets *s, bool rx)
{
	unsigned char *secret = dir_is_client(s, rx) ? s->client : s->server;
	unsigned char next[48], key[32], iv[12];
	unsigned int keylen;
	const EVP_MD *md = suite_md(s, &keylen);
	struct gw_ktls_dir d;
	int err;

	err = hkdf_expand_label(md, secret, s->len, "traffic upd", next, s->len);
	err = err ?: hkdf_expand_label(md, next, s->len, "key", key, keylen);
	err = err ?: hkdf_expand_label(md, next, s->len, "iv", iv, sizeof(iv));
	if (!err) {
		fill_dir(&d, TLS_1_3_VERSION, s->cipher, key, iv, 0);
		if (setsockopt(fd, SOL_TLS, rx ? TLS_RX : TLS_TX, d.info, d.len))
			err = -errno;
		else
			memcpy(secret, next, s->len);
		OPENSSL_cleanse(&d, sizeof(d));
	}
	OPENSSL_cleanse(next, sizeof(next));
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(iv, sizeof(iv));
	return err;
}

ssize_t gw_ktls_seal13(const struct gw_ktls_secrets *s, uint64_t seq, unsigned char type,
		       const void *in, size_t len, unsigned char *out, size_t outlen)
{
	/* As the peer sealed it: under the secret our RX follows. */
	const unsigned char *secret = dir_is_client(s, true) ? s->client : s->server;
	unsigned int keylen;
	const EVP_MD *md = suite_md(s, &keylen);
	const char *name = s->cipher == TLS_CIPHER_AES_GCM_128 ? "AES-128-GCM" :
			   s->cipher == TLS_CIPHER_AES_GCM_256 ? "AES-256-GCM" :
			   "ChaCha20-Poly1305";
	size_t inner = len + 1, total = 5 + inner + 16;
	unsigned char key[32], nonce[12];
	EVP_CIPHER_CTX *ctx = NULL;
	EVP_CIPHER *cipher = NULL;
	ssize_t ret = -EINVAL;
	int n, i;

	if (!s->len || len > 16384 || total > outlen)
		return -EINVAL;
	if (hkdf_expand_label(md, secret, s->len, "key", key, keylen) ||
	    hkdf_expand_label(md, secret, s->len, "iv", nonce, sizeof(nonce)))
		goto out;
	/* RFC 8446 5.3: the IV xor the sequence number, left-padded. */
	for (i = 0; i < 8; i++)
		nonce[11 - i] ^= (unsigned char)(seq >> (8 * i));
	/* RFC 8446 5.2: opaque type 23, version 0x0303, length; content || type. */
	out[0] = 23;
	out[1] = 3;
	out[2] = 3;
	out[3] = (unsigned char)((inner + 16) >> 8);
	out[4] = (unsigned char)(inner + 16);
	memcpy(out + 5, in, len);
	out[5 + len] = type;
	cipher = EVP_CIPHER_fetch(NULL, name, NULL);
	ctx = EVP_CIPHER_CTX_new();
	if (!cipher || !ctx || !EVP_EncryptInit_ex2(ctx, cipher, key, nonce, NULL) ||
	    !EVP_EncryptUpdate(ctx, NULL, &n, out, 5) ||
	    !EVP_EncryptUpdate(ctx, out + 5, &n, out + 5, (int)inner) ||
	    !EVP_EncryptFinal_ex(ctx, out + 5 + n, &n) ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, out + 5 + inner) != 1)
		goto out;
	ret = (ssize_t)total;
out:
	EVP_CIPHER_CTX_free(ctx);
	EVP_CIPHER_free(cipher);
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(nonce, sizeof(nonce));
	return ret;
}

int gw_ktls_send_record(int fd, unsigned char type, const void *buf, size_t len)
{
	char cbuf[CMSG_SPACE(sizeof(type))] = { 0 };
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;
	ssize_t n;

	if (type) {
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_TLS;
		cm->cmsg_type = TLS_SET_RECORD_TYPE;
		cm->cmsg_len = CMSG_LEN(sizeof(type));
		memcpy(CMSG_DATA(cm), &type, sizeof(type));
	}
	n = sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EMSGSIZE;
}

int gw_ktls_close_notify(int fd)
{
	static const unsigned char alert[2] = { 1, 0 };	/* warning, close_notify */

	return gw_ktls_send_record(fd, GW_TLS_RECORD_ALERT, alert, sizeof(alert));
}

ssize_t gw_ktls_recv_record(int fd, void *buf, size_t len, unsigned char *type)
{
	char cbuf[CMSG_SPACE(sizeof(*type))];
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm;
	ssize_t n;

	*type = 0;
	n = recvmsg(fd, &mh, MSG_DONTWAIT);
	if (n < 0)
		return -errno;
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
		if (cm->cmsg_level == SOL_TLS && cm->cmsg_type == TLS_GET_RECORD_TYPE)
			memcpy(type, CMSG_DATA(cm), sizeof(*type));
	return n;
}
