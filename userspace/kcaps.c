// SPDX-License-Identifier: GPL-2.0-only
/*
 * Kernel capability check (kcaps.h): try each kernel TLS operation the
 * datapaths rely on, on loopback TCP pairs, and record what the kernel
 * said. No version numbers: a backported fix or a missing module shows up
 * as what it is.
 *
 * Every probe has the same shape: a connected pair (a sends, b receives),
 * TCP_ULP "tls" on both (the ULP needs an ESTABLISHED socket), the same
 * dummy key as TLS_TX on a and TLS_RX on b, a record through, and a
 * byte-exact comparison of what b reads. Sockets and pipes are nonblocking
 * and every wait is a poll() bounded by WAIT_MS, so a kernel that loses a
 * record makes the probe fail, not hang. Everything a probe opens is closed
 * before it returns.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/tls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "kcaps.h"
#include "ktls.h"
#include "util.h"

/* Per wait; on the host each probe finishes without waiting at all. */
#define WAIT_MS 1000

/* The KeyUpdate handshake message type (RFC 8446 4.6.3). */
#define HS_KEY_UPDATE 24

struct cipher {
	const char *name;	/* summary: "tls13-aes128gcm" */
	const char *label;	/* table: "TLS 1.3 AES-128-GCM" */
	const char *config;	/* what builds its crypto */
	unsigned short version;
	unsigned short type;
	unsigned int info_len;	/* sizeof the tls12_crypto_info_* struct */
};

#define AES128 TLS_CIPHER_AES_GCM_128, sizeof(struct tls12_crypto_info_aes_gcm_128)
#define AES256 TLS_CIPHER_AES_GCM_256, sizeof(struct tls12_crypto_info_aes_gcm_256)
#define CHACHA TLS_CIPHER_CHACHA20_POLY1305, sizeof(struct tls12_crypto_info_chacha20_poly1305)
#define GCM_CONFIG "CONFIG_CRYPTO_GCM, CONFIG_CRYPTO_AES"
#define CHACHA_CONFIG "CONFIG_CRYPTO_CHACHA20POLY1305"

static const struct cipher ciphers[GW_KCAPS_N_CIPHERS] = {
	[GW_KCAPS_TLS13_AES128GCM] = { "tls13-aes128gcm", "TLS 1.3 AES-128-GCM", GCM_CONFIG,
				       TLS_1_3_VERSION, AES128 },
	[GW_KCAPS_TLS13_AES256GCM] = { "tls13-aes256gcm", "TLS 1.3 AES-256-GCM", GCM_CONFIG,
				       TLS_1_3_VERSION, AES256 },
	[GW_KCAPS_TLS13_CHACHA20] = { "tls13-chacha20", "TLS 1.3 CHACHA20-POLY1305", CHACHA_CONFIG,
				      TLS_1_3_VERSION, CHACHA },
	[GW_KCAPS_TLS12_AES128GCM] = { "tls12-aes128gcm", "TLS 1.2 AES-128-GCM", GCM_CONFIG,
				       TLS_1_2_VERSION, AES128 },
	[GW_KCAPS_TLS12_AES256GCM] = { "tls12-aes256gcm", "TLS 1.2 AES-256-GCM", GCM_CONFIG,
				       TLS_1_2_VERSION, AES256 },
	[GW_KCAPS_TLS12_CHACHA20] = { "tls12-chacha20", "TLS 1.2 CHACHA20-POLY1305", CHACHA_CONFIG,
				      TLS_1_2_VERSION, CHACHA },
};

union crypto_info {
	struct tls_crypto_info base;
	struct tls12_crypto_info_aes_gcm_128 aes128;
	struct tls12_crypto_info_aes_gcm_256 aes256;
	struct tls12_crypto_info_chacha20_poly1305 chacha;
};

static const char msg1[] = "mtlsgw kcaps: first record";
static const char msg2[] = "mtlsgw kcaps: second record";

/* Both ends get the same bytes (key, iv, salt, rec_seq all = fill). */
static void dummy_key(union crypto_info *ci, const struct cipher *c, unsigned char fill)
{
	memset(ci, fill, sizeof(*ci));
	ci->base.version = c->version;
	ci->base.cipher_type = c->type;
}

static void cap_ok(struct gw_kcap *cap)
{
	*cap = (struct gw_kcap){ .tried = true, .ok = true };
}

static void cap_fail(struct gw_kcap *cap, const char *step, int err)
{
	*cap = (struct gw_kcap){ .tried = true, .err = err, .step = step };
}

static void cap_untried(struct gw_kcap *cap, const char *step, int err)
{
	*cap = (struct gw_kcap){ .err = err, .step = step };
}

static int wait_for(int fd, short events)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int n;

	do
		n = poll(&pfd, 1, WAIT_MS);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n ? 0 : -ETIMEDOUT;
}

struct pair {
	int a;		/* connected end: sends */
	int b;		/* accepted end: receives */
};

static void pair_close(struct pair *p)
{
	if (p->a >= 0)
		close(p->a);
	if (p->b >= 0)
		close(p->b);
	p->a = p->b = -1;
}

/* A connected, nonblocking TCP pair on 127.0.0.1 (an ephemeral port). */
static int pair_open(struct pair *p)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int lfd, err;

	p->a = p->b = -1;
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		return -errno;
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 1) ||
	    getsockname(lfd, (struct sockaddr *)&sa, &len))
		goto out_errno;
	p->a = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->a < 0)
		goto out_errno;
	if (connect(p->a, (struct sockaddr *)&sa, sizeof(sa)) && errno != EINPROGRESS)
		goto out_errno;
	err = wait_for(lfd, POLLIN);
	if (err)
		goto out_close;
	p->b = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (p->b < 0)
		goto out_errno;
	/* TCP_ULP refuses a socket that is not ESTABLISHED yet. */
	err = wait_for(p->a, POLLOUT);
	if (err)
		goto out_close;
	close(lfd);
	return 0;

out_errno:
	err = -errno;
out_close:
	pair_close(p);
	close(lfd);
	return err;
}

static int set_ulp(int fd)
{
	return setsockopt(fd, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls")) ? -errno : 0;
}

static int set_key(int fd, int dir, const union crypto_info *ci, const struct cipher *c)
{
	return setsockopt(fd, SOL_TLS, dir, ci, c->info_len) ? -errno : 0;
}

/* One record (type 0: data), waiting while the socket is full. */
static int send_record(int fd, unsigned char type, const void *buf, size_t len)
{
	int err;

	for (;;) {
		err = gw_ktls_send_record(fd, type, buf, len);
		if (err == -EINTR)
			continue;
		if (err != -EAGAIN)
			return err;
		err = wait_for(fd, POLLOUT);
		if (err)
			return err;
	}
}

/* One record with its content type, waiting for it: its length or -errno. */
static ssize_t recv_record(int fd, void *buf, size_t len, unsigned char *type)
{
	ssize_t n;
	int err;

	for (;;) {
		n = gw_ktls_recv_record(fd, buf, len, type);
		if (n == -EINTR)
			continue;
		if (n != -EAGAIN)
			return n;
		err = wait_for(fd, POLLIN);
		if (err)
			return err;
	}
}

/* Read len bytes and compare them with want: 0, -EBADMSG or -errno. */
static int recv_check(int fd, const void *want, size_t len)
{
	char buf[64];
	size_t got = 0;
	ssize_t n;
	int err;

	if (len > sizeof(buf))
		return -EMSGSIZE;
	while (got < len) {
		n = recv(fd, buf + got, len - got, MSG_DONTWAIT);
		if (n > 0) {
			got += n;
			continue;
		}
		if (n == 0)
			return -ENODATA;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		err = wait_for(fd, POLLIN);
		if (err)
			return err;
	}
	return memcmp(buf, want, len) ? -EBADMSG : 0;
}

/*
 * A pair with kTLS set up: ULP on both ends, key as TLS_TX on a and TLS_RX
 * on b. 0, or -errno with *step naming what failed.
 */
static int ktls_pair(struct pair *p, const struct cipher *c, const union crypto_info *ci,
		     const char **step)
{
	int err;

	*step = "loopback pair";
	err = pair_open(p);
	if (err)
		return err;
	*step = "TCP_ULP";
	err = set_ulp(p->a);
	if (!err)
		err = set_ulp(p->b);
	if (!err) {
		*step = "TLS_TX";
		err = set_key(p->a, TLS_TX, ci, c);
	}
	if (!err) {
		*step = "TLS_RX";
		err = set_key(p->b, TLS_RX, ci, c);
	}
	if (err)
		pair_close(p);
	return err;
}

/* Can this kernel attach the "tls" ULP at all? -ENOENT: no tls.ko. */
static int probe_ulp(struct gw_kcaps *k)
{
	struct pair p;
	int err;

	err = pair_open(&p);
	if (err) {
		cap_untried(&k->ulp, "loopback pair", err);
		return err;
	}
	err = set_ulp(p.a);
	if (err)
		cap_fail(&k->ulp, "TCP_ULP", err);
	else
		cap_ok(&k->ulp);
	pair_close(&p);
	return 0;
}

/*
 * TX and RX for one cipher. Both keys are tried even when one fails, so
 * each direction reports the kernel's own answer; the record needs both.
 */
static void probe_cipher(struct gw_kcaps *k, enum gw_kcaps_cipher i)
{
	const struct cipher *c = &ciphers[i];
	struct gw_kcap *tx = &k->tx[i], *rx = &k->rx[i];
	union crypto_info ci;
	struct pair p;
	int err;

	err = pair_open(&p);
	if (!err)
		err = set_ulp(p.a);
	if (!err)
		err = set_ulp(p.b);
	if (err) {
		cap_untried(tx, "loopback pair with TCP_ULP", err);
		cap_untried(rx, "loopback pair with TCP_ULP", err);
		goto out_close;
	}
	dummy_key(&ci, c, 0x5a);
	err = set_key(p.a, TLS_TX, &ci, c);
	if (err)
		cap_fail(tx, "TLS_TX", err);
	else if ((err = send_record(p.a, 0, msg1, sizeof(msg1))))
		cap_fail(tx, "send", err);
	else
		cap_ok(tx);
	err = set_key(p.b, TLS_RX, &ci, c);
	if (err)
		cap_fail(rx, "TLS_RX", err);
	else if (!tx->ok)
		cap_untried(rx, "no record to decrypt (TX failed)", 0);
	else if ((err = recv_check(p.b, msg1, sizeof(msg1))))
		cap_fail(rx, "recv", err);
	else
		cap_ok(rx);
out_close:
	pair_close(&p);
}

/* Move len bytes from a nonblocking fd into another with splice(). */
static int splice_all(int in, int out, size_t len)
{
	ssize_t n;
	int err;

	while (len) {
		n = splice(in, NULL, out, NULL, len, SPLICE_F_NONBLOCK);
		if (n > 0) {
			len -= n;
			continue;
		}
		if (n == 0)
			return -ENODATA;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		/* Either end may be the one that is not ready. */
		err = wait_for(in, POLLIN);
		if (!err)
			err = wait_for(out, POLLOUT);
		if (err)
			return err;
	}
	return 0;
}

/*
 * The splice datapath's two moves: kTLS RX socket -> pipe must yield
 * plaintext, pipe -> kTLS TX socket must go out as a record the peer
 * decrypts.
 */
static void probe_splice(struct gw_kcaps *k, const struct cipher *c)
{
	union crypto_info ci;
	const char *step;
	char buf[sizeof(msg1)];
	int pfd[2], err;
	struct pair p;

	dummy_key(&ci, c, 0x5a);
	err = ktls_pair(&p, c, &ci, &step);
	if (err) {
		cap_untried(&k->splice_rx, step, err);
		cap_untried(&k->splice_tx, step, err);
		return;
	}
	if (pipe2(pfd, O_NONBLOCK | O_CLOEXEC)) {
		err = -errno;
		cap_untried(&k->splice_rx, "pipe", err);
		cap_untried(&k->splice_tx, "pipe", err);
		goto out_close;
	}
	err = send_record(p.a, 0, msg1, sizeof(msg1));
	if (err)
		cap_untried(&k->splice_rx, "send", err);
	else if ((err = splice_all(p.b, pfd[1], sizeof(msg1))))
		cap_fail(&k->splice_rx, "splice socket -> pipe", err);
	else if (read(pfd[0], buf, sizeof(buf)) != (ssize_t)sizeof(buf) ||
		 memcmp(buf, msg1, sizeof(msg1)))
		cap_fail(&k->splice_rx, "pipe content", -EBADMSG);
	else
		cap_ok(&k->splice_rx);

	if (write(pfd[1], msg2, sizeof(msg2)) != (ssize_t)sizeof(msg2))
		cap_untried(&k->splice_tx, "write to pipe", -EIO);
	else if ((err = splice_all(pfd[0], p.a, sizeof(msg2))))
		cap_fail(&k->splice_tx, "splice pipe -> socket", err);
	else if ((err = recv_check(p.b, msg2, sizeof(msg2))))
		cap_fail(&k->splice_tx, "recv", err);
	else
		cap_ok(&k->splice_tx);
	close(pfd[0]);
	close(pfd[1]);
out_close:
	pair_close(&p);
}

/*
 * TLS 1.3 KeyUpdate in the kernel, as the daemon would drive it (DESIGN.md):
 * the sender sends the KeyUpdate handshake record under the old key, then
 * sets TLS_TX again with the next key. The receiver gets the KeyUpdate
 * record from recvmsg, then EKEYEXPIRED until it sets TLS_RX again; the
 * next record must then decrypt. Kernels without rekey answer the second
 * setsockopt with EBUSY.
 */
static void probe_rekey(struct gw_kcaps *k, const struct cipher *c)
{
	static const unsigned char key_update[] = { HS_KEY_UPDATE, 0, 0, 1, 0 };
	union crypto_info ci0, ci1;
	unsigned char buf[64], type;
	const char *step;
	bool expired;
	struct pair p;
	ssize_t n;
	int err;

	dummy_key(&ci0, c, 0x5a);
	dummy_key(&ci1, c, 0xa5);
	err = ktls_pair(&p, c, &ci0, &step);
	if (!err) {
		step = "first record";
		err = send_record(p.a, 0, msg1, sizeof(msg1));
		if (!err)
			err = recv_check(p.b, msg1, sizeof(msg1));
	}
	if (!err) {
		step = "KeyUpdate record";
		err = send_record(p.a, GW_TLS_RECORD_HANDSHAKE, key_update, sizeof(key_update));
	}
	if (err) {
		cap_untried(&k->rekey_tx, step, err);
		cap_untried(&k->rekey_rx, step, err);
		goto out_close;
	}

	err = set_key(p.a, TLS_TX, &ci1, c);
	if (err)
		cap_fail(&k->rekey_tx, "second TLS_TX", err);
	else if ((err = send_record(p.a, 0, msg2, sizeof(msg2))))
		cap_fail(&k->rekey_tx, "send with the new key", err);
	else
		cap_ok(&k->rekey_tx);

	n = recv_record(p.b, buf, sizeof(buf), &type);
	if (n < 0) {
		cap_fail(&k->rekey_rx, "recvmsg KeyUpdate", (int)n);
		goto out_close;
	}
	if (type != GW_TLS_RECORD_HANDSHAKE || (size_t)n != sizeof(key_update) ||
	    memcmp(buf, key_update, sizeof(key_update))) {
		cap_fail(&k->rekey_rx, "recvmsg KeyUpdate", -EBADMSG);
		goto out_close;
	}
	n = recv(p.b, buf, sizeof(buf), MSG_DONTWAIT);
	expired = n < 0 && errno == EKEYEXPIRED;
	err = n < 0 ? -errno : 0;
	if (set_key(p.b, TLS_RX, &ci1, c)) {
		cap_fail(&k->rekey_rx, "second TLS_RX", -errno);
	} else if (!expired) {
		/* The key was taken, but reads were not held back for it. */
		cap_fail(&k->rekey_rx, "no EKEYEXPIRED after KeyUpdate", err ? err : -EPROTO);
	} else if (!k->rekey_tx.ok) {
		cap_untried(&k->rekey_rx, "no new-key record (TX rekey failed)", 0);
	} else if ((err = recv_check(p.b, msg2, sizeof(msg2)))) {
		cap_fail(&k->rekey_rx, "recv with the new key", err);
	} else {
		cap_ok(&k->rekey_rx);
	}
out_close:
	pair_close(&p);
}

/* Insert fd into the sockmap at key: a psock without any program. */
static int sockmap_add(int map, __u32 key, int fd)
{
	__u32 val = (__u32)fd;

	return bpf_map_update_elem(map, &key, &val, BPF_ANY) ? -errno : 0;
}

/*
 * psock + kTLS on one socket, both orders. Both ends go into the map, so
 * the sender and the receiver each have a psock and kTLS; a record must
 * then cross byte-exact.
 */
static void probe_psock(struct gw_kcaps *k, const struct cipher *c)
{
	union crypto_info ci;
	const char *step;
	struct pair p;
	int map, err;

	map = bpf_map_create(BPF_MAP_TYPE_SOCKMAP, "gw_kcaps", sizeof(__u32), sizeof(__u32),
			     2, NULL);
	if (map < 0) {
		err = -errno;
		cap_untried(&k->psock_then_ktls, "BPF_MAP_CREATE sockmap", err);
		cap_untried(&k->ktls_then_psock, "BPF_MAP_CREATE sockmap", err);
		return;
	}
	dummy_key(&ci, c, 0x5a);

	/* sockmap first, then the ULP and the keys */
	err = pair_open(&p);
	if (err) {
		cap_untried(&k->psock_then_ktls, "loopback pair", err);
	} else if ((err = sockmap_add(map, 0, p.a)) || (err = sockmap_add(map, 1, p.b))) {
		/* A plain TCP socket that cannot join: no sockmap here. */
		cap_untried(&k->psock_then_ktls, "sockmap insert", err);
	} else if ((err = set_ulp(p.a)) || (err = set_ulp(p.b))) {
		cap_fail(&k->psock_then_ktls, "TCP_ULP", err);
	} else if ((err = set_key(p.a, TLS_TX, &ci, c))) {
		cap_fail(&k->psock_then_ktls, "TLS_TX", err);
	} else if ((err = set_key(p.b, TLS_RX, &ci, c))) {
		cap_fail(&k->psock_then_ktls, "TLS_RX", err);
	} else if ((err = send_record(p.a, 0, msg1, sizeof(msg1)))) {
		cap_fail(&k->psock_then_ktls, "send", err);
	} else if ((err = recv_check(p.b, msg1, sizeof(msg1)))) {
		cap_fail(&k->psock_then_ktls, "recv", err);
	} else {
		cap_ok(&k->psock_then_ktls);
	}
	pair_close(&p);

	/* kTLS first, then the sockmap */
	err = ktls_pair(&p, c, &ci, &step);
	if (err) {
		cap_untried(&k->ktls_then_psock, step, err);
	} else if ((err = sockmap_add(map, 0, p.a))) {
		cap_fail(&k->ktls_then_psock, "sockmap insert (kTLS TX socket)", err);
	} else if ((err = sockmap_add(map, 1, p.b))) {
		cap_fail(&k->ktls_then_psock, "sockmap insert (kTLS RX socket)", err);
	} else if ((err = send_record(p.a, 0, msg1, sizeof(msg1)))) {
		cap_fail(&k->ktls_then_psock, "send", err);
	} else if ((err = recv_check(p.b, msg1, sizeof(msg1)))) {
		cap_fail(&k->ktls_then_psock, "recv", err);
	} else {
		cap_ok(&k->ktls_then_psock);
	}
	pair_close(&p);
	close(map);
}

/* The first cipher (in report order) that works both ways; NULL if none. */
static const struct cipher *first_cipher(const struct gw_kcaps *k, bool tls13_only)
{
	unsigned int i;

	for (i = 0; i < GW_KCAPS_N_CIPHERS; i++)
		if (gw_kcaps_cipher_ok(k, i) &&
		    (!tls13_only || ciphers[i].version == TLS_1_3_VERSION))
			return &ciphers[i];
	return NULL;
}

/* Mark everything after the cipher probes as not probed, for why. */
static void untried_rest(struct gw_kcaps *k, const char *why)
{
	cap_untried(&k->splice_rx, why, 0);
	cap_untried(&k->splice_tx, why, 0);
	cap_untried(&k->rekey_tx, why, 0);
	cap_untried(&k->rekey_rx, why, 0);
	cap_untried(&k->psock_then_ktls, why, 0);
	cap_untried(&k->ktls_then_psock, why, 0);
}

int gw_kcaps_probe(struct gw_kcaps *k)
{
	const struct cipher *c;
	uint64_t start = gw_now_ms();
	unsigned int i;
	int err;

	memset(k, 0, sizeof(*k));
	for (i = 0; i < GW_KCAPS_N_CIPHERS; i++) {
		cap_untried(&k->tx[i], "no kTLS", 0);
		cap_untried(&k->rx[i], "no kTLS", 0);
	}
	untried_rest(k, "no kTLS");
	err = probe_ulp(k);
	if (err)
		return err;
	if (!k->ulp.ok)
		goto out;
	for (i = 0; i < GW_KCAPS_N_CIPHERS; i++)
		probe_cipher(k, i);
	c = first_cipher(k, false);
	if (!c) {
		untried_rest(k, "no cipher works");
		goto out;
	}
	probe_splice(k, c);
	probe_psock(k, c);
	c = first_cipher(k, true);
	if (c) {
		probe_rekey(k, c);
	} else {
		cap_untried(&k->rekey_tx, "no TLS 1.3 cipher works", 0);
		cap_untried(&k->rekey_rx, "no TLS 1.3 cipher works", 0);
	}
out:
	k->elapsed_ms = (unsigned int)(gw_now_ms() - start);
	return 0;
}

const char *gw_kcaps_cipher_name(enum gw_kcaps_cipher c)
{
	return (unsigned int)c < GW_KCAPS_N_CIPHERS ? ciphers[c].name : NULL;
}

const char *gw_kcaps_cipher_label(enum gw_kcaps_cipher c)
{
	return (unsigned int)c < GW_KCAPS_N_CIPHERS ? ciphers[c].label : NULL;
}

const char *gw_kcaps_cipher_config(enum gw_kcaps_cipher c)
{
	return (unsigned int)c < GW_KCAPS_N_CIPHERS ? ciphers[c].config : NULL;
}

bool gw_kcaps_cipher_ok(const struct gw_kcaps *k, enum gw_kcaps_cipher c)
{
	return (unsigned int)c < GW_KCAPS_N_CIPHERS && k->tx[c].ok && k->rx[c].ok;
}

unsigned int gw_kcaps_cipher_mask(const struct gw_kcaps *k)
{
	unsigned int i, mask = 0;

	for (i = 0; i < GW_KCAPS_N_CIPHERS; i++)
		if (gw_kcaps_cipher_ok(k, i))
			mask |= 1u << i;
	return mask;
}

int gw_kcaps_cipher_index(unsigned short version, unsigned short type)
{
	int i;

	for (i = 0; i < GW_KCAPS_N_CIPHERS; i++)
		if (ciphers[i].version == version && ciphers[i].type == type)
			return i;
	return -1;
}

bool gw_kcaps_splice_usable(const struct gw_kcaps *k)
{
	return first_cipher(k, false) && k->splice_rx.ok && k->splice_tx.ok;
}
