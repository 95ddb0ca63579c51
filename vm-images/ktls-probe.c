// SPDX-License-Identifier: GPL-2.0-only
/*
 * ktls-probe: prove that this kernel runs kTLS, for vm-images/selftest.
 *
 * For each cipher the gateway may hand to the kernel, open a loopback TCP
 * pair, install the same dummy key as TLS_TX on one end and TLS_RX on the
 * other, send a record and check that it decrypts to what was sent. That
 * needs tls.ko and the cipher's crypto (gcm(aes), rfc7539(chacha20,poly1305))
 * to be loadable, which is what the VM images must provide.
 *
 * Prints one line per cipher, then "ktls ok <uname -r>" and exits 0 when all
 * passed, or "ktls FAIL <uname -r>" and exits 1.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/tls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <unistd.h>

#ifndef TCP_ULP
#define TCP_ULP 31
#endif
#ifndef SOL_TLS
#define SOL_TLS 282
#endif

struct probe {
	const char *name;
	unsigned short version;
	unsigned short cipher;
	size_t info_len;	/* sizeof the tls12_crypto_info_* struct */
};

static const struct probe probes[] = {
	{ "aes-gcm-128 tls1.2", TLS_1_2_VERSION, TLS_CIPHER_AES_GCM_128,
	  sizeof(struct tls12_crypto_info_aes_gcm_128) },
	{ "aes-gcm-128 tls1.3", TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_128,
	  sizeof(struct tls12_crypto_info_aes_gcm_128) },
	{ "aes-gcm-256 tls1.3", TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_256,
	  sizeof(struct tls12_crypto_info_aes_gcm_256) },
	{ "chacha20-poly1305 tls1.3", TLS_1_3_VERSION, TLS_CIPHER_CHACHA20_POLY1305,
	  sizeof(struct tls12_crypto_info_chacha20_poly1305) },
};

/*
 * Fill a crypto_info of the probe's cipher (key, salt, iv, rec_seq) with a
 * fixed dummy pattern. Both ends get the same bytes, so what one end
 * encrypts the other decrypts.
 */
static void fill_info(const struct probe *p, unsigned char *buf)
{
	struct tls_crypto_info *info = (struct tls_crypto_info *)buf;

	memset(buf, 0x5a, p->info_len);
	info->version = p->version;
	info->cipher_type = p->cipher;
}

/* A connected loopback TCP pair: *a is the client, *b the accepted end. */
static int tcp_pair(int *a, int *b)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct timeval tv = { .tv_sec = 10 };
	socklen_t len = sizeof(sin);
	int lfd, err;

	*a = *b = -1;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0)
		return -errno;
	if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) ||
	    listen(lfd, 1) ||
	    getsockname(lfd, (struct sockaddr *)&sin, &len)) {
		err = -errno;
		goto out_close_listener;
	}
	*a = socket(AF_INET, SOCK_STREAM, 0);
	if (*a < 0 || connect(*a, (struct sockaddr *)&sin, sizeof(sin))) {
		err = -errno;
		goto out_close_a;
	}
	*b = accept(lfd, NULL, NULL);
	if (*b < 0) {
		err = -errno;
		goto out_close_a;
	}
	/* Never hang the VM: a lost record fails the probe after 10 s. */
	setsockopt(*b, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	close(lfd);
	return 0;

out_close_a:
	if (*a >= 0)
		close(*a);
	*a = -1;
out_close_listener:
	close(lfd);
	return err;
}

/*
 * Run one probe. Returns 0 or -errno; *what names the step that failed.
 * Order matters: TCP_ULP needs an ESTABLISHED socket, keys come after it.
 */
static int run_probe(const struct probe *p, const char **what)
{
	static const char msg[] = "ktls probe record";
	unsigned char info[sizeof(struct tls12_crypto_info_chacha20_poly1305) +
			   sizeof(struct tls12_crypto_info_aes_gcm_256)];
	char buf[sizeof(msg)];
	int tx, rx, err;
	ssize_t n;

	*what = "loopback pair";
	err = tcp_pair(&tx, &rx);
	if (err)
		return err;
	fill_info(p, info);

	*what = "setsockopt(TCP_ULP, \"tls\")";
	if (setsockopt(tx, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls")) ||
	    setsockopt(rx, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls")))
		goto out_errno;
	*what = "setsockopt(TLS_TX)";
	if (setsockopt(tx, SOL_TLS, TLS_TX, info, p->info_len))
		goto out_errno;
	*what = "setsockopt(TLS_RX)";
	if (setsockopt(rx, SOL_TLS, TLS_RX, info, p->info_len))
		goto out_errno;
	*what = "send";
	n = send(tx, msg, sizeof(msg), 0);
	if (n < 0)
		goto out_errno;
	*what = "recv";
	n = recv(rx, buf, sizeof(buf), MSG_WAITALL);
	if (n < 0)
		goto out_errno;
	*what = "decrypted record differs";
	err = (n == (ssize_t)sizeof(msg) && !memcmp(buf, msg, sizeof(msg))) ? 0 : -EBADMSG;
	goto out_close;

out_errno:
	err = -errno;
out_close:
	close(tx);
	close(rx);
	return err;
}

int main(void)
{
	struct utsname uts;
	bool ok = true;
	size_t i;

	if (uname(&uts))
		strcpy(uts.release, "?");
	for (i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		const char *what;
		int err = run_probe(&probes[i], &what);

		if (err) {
			printf("%s: FAIL %s: %s\n", probes[i].name, what, strerror(-err));
			ok = false;
		} else {
			printf("%s: ok\n", probes[i].name);
		}
	}
	printf("ktls %s %s\n", ok ? "ok" : "FAIL", uts.release);
	return ok ? 0 : 1;
}
