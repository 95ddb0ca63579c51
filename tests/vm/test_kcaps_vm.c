// SPDX-License-Identifier: GPL-2.0-only
/*
 * The kernel capability check (userspace/kcaps.c) on kernels with kTLS,
 * inside the QEMU guests (make vm-test): all six ciphers pass TX and RX,
 * splice works both ways, "mtlsgw --check-kernel" exits 0, and the rekey
 * and psock + kTLS answers agree with what the kernel does when this test
 * tries the same operations itself, written independently (blocking
 * sockets) so that a bug in the probe cannot hide behind itself. SKIPs
 * where the kernel has no "tls" ULP (tests/unit/test_kcaps.c covers that).
 */
#include <dirent.h>
#include <errno.h>
#include <linux/bpf.h>
#include <linux/tls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "harness.h"
#include "kcaps.h"
#include "kcaps_text.h"

FIXTURE(kc) {
	struct gw_kcaps k;
	char line[GW_KCAPS_SUMMARY_LEN];
	int a, b;		/* the test's own pair: a sends, b receives */
	int map;
};

/* A blocking loopback pair whose reads and writes give up after 10 s. */
static int tcp_pair(int *a, int *b)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = 10 };
	socklen_t len = sizeof(sa);
	int lfd, err = -EIO;

	lfd = socket(AF_INET, SOCK_STREAM, 0);
	*a = socket(AF_INET, SOCK_STREAM, 0);
	*b = -1;
	if (lfd >= 0 && *a >= 0 && !bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) &&
	    !listen(lfd, 1) && !getsockname(lfd, (struct sockaddr *)&sa, &len) &&
	    !connect(*a, (struct sockaddr *)&sa, sizeof(sa)))
		*b = accept(lfd, NULL, NULL);
	if (*b >= 0) {
		setsockopt(*a, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		setsockopt(*b, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		err = 0;
	}
	if (lfd >= 0)
		close(lfd);
	return err;
}

static int ulp_errno(int fd)
{
	return setsockopt(fd, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls")) ? -errno : 0;
}

/* TLS 1.3 AES-128-GCM, every byte of key material = fill. */
static int key_errno(int fd, int dir, unsigned char fill)
{
	struct tls12_crypto_info_aes_gcm_128 ci;

	memset(&ci, fill, sizeof(ci));
	ci.info.version = TLS_1_3_VERSION;
	ci.info.cipher_type = TLS_CIPHER_AES_GCM_128;
	return setsockopt(fd, SOL_TLS, dir, &ci, sizeof(ci)) ? -errno : 0;
}

/* Send "hello <n>", read it back on the other end: true when byte-exact. */
static bool record_through(int a, int b, int n)
{
	char want[32], got[32];
	ssize_t len = snprintf(want, sizeof(want), "hello %d", n);

	return write(a, want, len) == len && recv(b, got, len, MSG_WAITALL) == len &&
	       !memcmp(got, want, len);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void close_pair(FIXTURE_DATA(kc) *self)
{
	if (self->a >= 0)
		close(self->a);
	if (self->b >= 0)
		close(self->b);
	self->a = self->b = -1;
}

FIXTURE_SETUP(kc)
{
	int err;

	self->a = self->b = self->map = -1;
	ASSERT_EQ(0, tcp_pair(&self->a, &self->b));
	err = ulp_errno(self->a);
	close_pair(self);
	if (err)
		SKIP("no \"tls\" ULP in this kernel (%s); tests/unit/test_kcaps.c covers that",
		     strerror(-err));
	ASSERT_EQ(0, gw_kcaps_probe(&self->k));
	ASSERT_EQ(0, gw_kcaps_format(&self->k, self->line, sizeof(self->line)));
}

FIXTURE_TEARDOWN(kc)
{
	close_pair(self);
	if (self->map >= 0)
		close(self->map);
}

TEST_F_TIMEOUT(kc, all_ciphers_and_splice, 60)
{
	static const char want[] = "kTLS tx/rx: tls13-aes128gcm tls13-aes256gcm tls13-chacha20 "
				   "tls12-aes128gcm tls12-aes256gcm tls12-chacha20; splice: yes; ";
	const struct gw_kcaps *k = &self->k;
	unsigned int i;

	TH_LOG("kernel: %s", self->line);
	ASSERT_TRUE(k->ulp.ok);
	for (i = 0; i < GW_KCAPS_N_CIPHERS; i++) {
		if (!gw_kcaps_cipher_ok(k, i))
			TH_LOG("%s: tx %s %d, rx %s %d", gw_kcaps_cipher_name(i),
			       k->tx[i].step, k->tx[i].err, k->rx[i].step, k->rx[i].err);
		EXPECT_TRUE(k->tx[i].ok);
		EXPECT_TRUE(k->rx[i].ok);
	}
	EXPECT_TRUE(k->splice_rx.ok);
	EXPECT_TRUE(k->splice_tx.ok);
	EXPECT_TRUE(gw_kcaps_splice_usable(k));
	EXPECT_EQ(0, strncmp(self->line, want, strlen(want)));
}

/*
 * TLS 1.3 KeyUpdate done by hand: KeyUpdate record and second TLS_TX on
 * the sender; on the receiver the KeyUpdate record, then (where the kernel
 * rekeys) EKEYEXPIRED, a second TLS_RX and the new-key record.
 */
TEST_F_TIMEOUT(kc, rekey_answer_matches_the_kernel, 60)
{
	static const unsigned char key_update[] = { 24, 0, 0, 1, 0 };
	char cbuf[CMSG_SPACE(1)] = { 0 }, buf[64];
	struct iovec iov = { .iov_base = (void *)key_update, .iov_len = sizeof(key_update) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	const struct gw_kcaps *k = &self->k;
	int tx_err, rx_err, read_err;
	bool rx_ok = false;
	ssize_t n;

	ASSERT_EQ(0, tcp_pair(&self->a, &self->b));
	ASSERT_EQ(0, ulp_errno(self->a));
	ASSERT_EQ(0, ulp_errno(self->b));
	ASSERT_EQ(0, key_errno(self->a, TLS_TX, 1));
	ASSERT_EQ(0, key_errno(self->b, TLS_RX, 1));
	ASSERT_TRUE(record_through(self->a, self->b, 1));

	cm->cmsg_level = SOL_TLS;
	cm->cmsg_type = TLS_SET_RECORD_TYPE;
	cm->cmsg_len = CMSG_LEN(1);
	*CMSG_DATA(cm) = 22;
	ASSERT_EQ((ssize_t)sizeof(key_update), sendmsg(self->a, &mh, 0));
	tx_err = key_errno(self->a, TLS_TX, 2);
	if (!tx_err)
		ASSERT_EQ(7, write(self->a, "hello 2", 7));

	iov.iov_base = buf;
	iov.iov_len = sizeof(buf);
	mh.msg_controllen = sizeof(cbuf);
	ASSERT_EQ((ssize_t)sizeof(key_update), recvmsg(self->b, &mh, 0));
	ASSERT_MEMEQ(key_update, buf, sizeof(key_update));
	cm = CMSG_FIRSTHDR(&mh);
	ASSERT_NOT_NULL(cm);
	ASSERT_EQ(22, *CMSG_DATA(cm));
	n = recv(self->b, buf, sizeof(buf), MSG_DONTWAIT);
	read_err = n < 0 ? -errno : 0;
	rx_err = key_errno(self->b, TLS_RX, 2);
	if (!tx_err && !rx_err)
		rx_ok = recv(self->b, buf, 7, MSG_WAITALL) == 7 && !memcmp(buf, "hello 2", 7);
	TH_LOG("by hand: second TLS_TX %d, read after KeyUpdate %d, second TLS_RX %d, new-key record %s",
	       tx_err, read_err, rx_err, rx_ok ? "ok" : "not read");

	EXPECT_EQ(!tx_err, k->rekey_tx.ok);
	if (tx_err) {
		EXPECT_TRUE(k->rekey_tx.tried);
		EXPECT_EQ(tx_err, k->rekey_tx.err);
		EXPECT_STREQ("second TLS_TX", k->rekey_tx.step);
	}
	EXPECT_EQ(rx_ok, k->rekey_rx.ok);
	if (rx_ok)
		EXPECT_EQ(-EKEYEXPIRED, read_err);
	if (rx_err) {
		EXPECT_TRUE(k->rekey_rx.tried);
		EXPECT_EQ(rx_err, k->rekey_rx.err);
		EXPECT_STREQ("second TLS_RX", k->rekey_rx.step);
	}
	if (rx_ok && !tx_err)
		EXPECT_NOT_NULL(strstr(self->line, "; rekey: yes;"));
	else if (tx_err)
		EXPECT_NOT_NULL(strstr(self->line, "; rekey: no (second TLS_TX "));
}

/* The sockmap for the test's own tries; both ends of a pair go in. */
static int sockmap_insert(FIXTURE_DATA(kc) *self)
{
	__u32 key = 0, fd = self->a;

	if (bpf_map_update_elem(self->map, &key, &fd, BPF_ANY))
		return -errno;
	key = 1;
	fd = self->b;
	return bpf_map_update_elem(self->map, &key, &fd, BPF_ANY) ? -errno : 0;
}

/* The first step of a psock + kTLS try that failed, as kcaps names them. */
struct attempt {
	bool ok;
	int err;
	const char *step;
};

TEST_F_TIMEOUT(kc, psock_answers_match_the_kernel, 60)
{
	const struct gw_kcaps *k = &self->k;
	struct attempt first = { 0 }, second = { 0 };
	int err;

	self->map = bpf_map_create(BPF_MAP_TYPE_SOCKMAP, "kcaps_test", 4, 4, 2, NULL);
	ASSERT_LE(0, self->map);

	/* sockmap first, then the ULP and the keys */
	ASSERT_EQ(0, tcp_pair(&self->a, &self->b));
	ASSERT_EQ(0, sockmap_insert(self));
	if ((err = ulp_errno(self->a)) || (err = ulp_errno(self->b)))
		first = (struct attempt){ .err = err, .step = "TCP_ULP" };
	else if ((err = key_errno(self->a, TLS_TX, 1)))
		first = (struct attempt){ .err = err, .step = "TLS_TX" };
	else if ((err = key_errno(self->b, TLS_RX, 1)))
		first = (struct attempt){ .err = err, .step = "TLS_RX" };
	else
		first.ok = record_through(self->a, self->b, 1);
	close_pair(self);

	/* kTLS first, then the sockmap */
	ASSERT_EQ(0, tcp_pair(&self->a, &self->b));
	ASSERT_EQ(0, ulp_errno(self->a));
	ASSERT_EQ(0, ulp_errno(self->b));
	ASSERT_EQ(0, key_errno(self->a, TLS_TX, 1));
	ASSERT_EQ(0, key_errno(self->b, TLS_RX, 1));
	err = sockmap_insert(self);
	if (err)
		second = (struct attempt){ .err = err, .step = "sockmap insert" };
	else
		second.ok = record_through(self->a, self->b, 1);
	TH_LOG("by hand: sockmap then kTLS: %s %s %d; kTLS then sockmap: %s %s %d",
	       first.ok ? "ok" : "no", first.step ? first.step : "-", first.err,
	       second.ok ? "ok" : "no", second.step ? second.step : "-", second.err);

	EXPECT_EQ(first.ok, k->psock_then_ktls.ok);
	if (first.err) {
		EXPECT_TRUE(k->psock_then_ktls.tried);
		EXPECT_EQ(first.err, k->psock_then_ktls.err);
		EXPECT_STREQ(first.step, k->psock_then_ktls.step);
	}
	EXPECT_EQ(second.ok, k->ktls_then_psock.ok);
	if (second.err) {
		EXPECT_TRUE(k->ktls_then_psock.tried);
		EXPECT_EQ(second.err, k->ktls_then_psock.err);
		EXPECT_EQ(0, strncmp(k->ktls_then_psock.step, "sockmap insert", 14));
	}
	if (first.ok && second.ok)
		EXPECT_NOT_NULL(strstr(self->line, "; psock+kTLS: yes"));
	else if (!first.ok && !second.ok)
		EXPECT_NOT_NULL(strstr(self->line, "; psock+kTLS: no (psock first: "));
	else
		EXPECT_NOT_NULL(strstr(self->line, "; psock+kTLS: partly (psock first: "));
}

TEST_F_TIMEOUT(kc, probe_closes_everything, 60)
{
	struct gw_kcaps again;
	int before = count_fds();

	ASSERT_LT(0, before);
	ASSERT_EQ(0, gw_kcaps_probe(&again));
	EXPECT_EQ(before, count_fds());
	/* TCG is slow; on hardware this is a few milliseconds. */
	EXPECT_GT(3000, again.elapsed_ms);
	TH_LOG("probe took %u ms", again.elapsed_ms);
}

TEST_F_TIMEOUT(kc, check_kernel_exits_0, 60)
{
	const char *bin = getenv("MTLSGW");
	char out[8192], *line, *save;
	size_t got = 0;
	int pfd[2], status;
	ssize_t n;
	pid_t pid;

	if (!bin || access(bin, X_OK))
		SKIP("MTLSGW (the daemon binary) not set or not executable: \"%s\"",
		     bin ? bin : "");
	ASSERT_EQ(0, pipe(pfd));
	fflush(NULL);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		dup2(pfd[1], 1);
		close(pfd[0]);
		close(pfd[1]);
		execl(bin, bin, "--check-kernel", (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	while (got + 1 < sizeof(out) && (n = read(pfd[0], out + got, sizeof(out) - 1 - got)) > 0)
		got += n;
	out[got] = '\0';
	close(pfd[0]);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_NOT_NULL(strstr(out, "\nsplice datapath: usable (kTLS + splice)\n"));
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		TH_LOG("| %s", line);
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
}

TEST_HARNESS_MAIN
