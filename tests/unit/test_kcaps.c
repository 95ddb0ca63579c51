// SPDX-License-Identifier: GPL-2.0-only
/*
 * kcaps.c on the host: the probe closes what it opens and is quick; on a
 * kernel without the "tls" ULP (the 6.18 host: CONFIG_TLS unset) the
 * summary, the table and "mtlsgw --check-kernel" (exit 1) all name the
 * missing module. Those tests SKIP where the host has kTLS; the kernels
 * with kTLS are covered in QEMU by tests/vm/test_kcaps_vm.c. The summary
 * text is checked on hand-made results too.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "kcaps.h"
#include "kcaps_text.h"

#ifndef TCP_ULP
#define TCP_ULP 31
#endif

/*
 * The test's own answer to "does this kernel have the tls ULP": a blocking
 * loopback pair and one setsockopt. 0 (yes) or -errno.
 */
static int tls_ulp_errno(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int lfd, cfd, err = -EIO;

	lfd = socket(AF_INET, SOCK_STREAM, 0);
	cfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd >= 0 && cfd >= 0 && !bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) &&
	    !listen(lfd, 1) && !getsockname(lfd, (struct sockaddr *)&sa, &len) &&
	    !connect(cfd, (struct sockaddr *)&sa, sizeof(sa)))
		err = setsockopt(cfd, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls")) ? -errno : 0;
	if (lfd >= 0)
		close(lfd);
	if (cfd >= 0)
		close(cfd);
	return err;
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

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* $MTLSGW, else build/mtlsgw next to build/tests/ this binary is in. */
static const char *mtlsgw_path(void)
{
	static char path[PATH_MAX];
	char *slash;
	ssize_t n;

	if (getenv("MTLSGW"))
		return getenv("MTLSGW");
	n = readlink("/proc/self/exe", path, sizeof(path) - sizeof("/mtlsgw"));
	if (n <= 0)
		return NULL;
	path[n] = '\0';
	slash = strrchr(path, '/');
	if (!slash)
		return NULL;
	*slash = '\0';
	slash = strrchr(path, '/');
	if (!slash)
		return NULL;
	strcpy(slash, "/mtlsgw");
	return path;
}

/* Run "BIN --check-kernel": stdout into out, the exit status or -1. */
static int run_check_kernel(const char *bin, char *out, size_t len)
{
	size_t got = 0;
	int pfd[2], status;
	ssize_t n;
	pid_t pid;

	if (pipe(pfd))
		return -1;
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(pfd[1], 1);
		close(pfd[0]);
		close(pfd[1]);
		execl(bin, bin, "--check-kernel", (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	while (got + 1 < len && (n = read(pfd[0], out + got, len - 1 - got)) > 0)
		got += n;
	out[got] = '\0';
	close(pfd[0]);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

TEST(probe_closes_everything_and_is_quick)
{
	struct gw_kcaps k;
	int before = count_fds();
	uint64_t t0 = now_ms();

	ASSERT_LT(0, before);
	ASSERT_EQ(0, gw_kcaps_probe(&k));
	EXPECT_GT(100, now_ms() - t0);
	EXPECT_GT(100, k.elapsed_ms);
	EXPECT_EQ(before, count_fds());
}

TEST(no_tls_ulp_is_reported_with_the_modprobe_hint)
{
	char line[GW_KCAPS_SUMMARY_LEN], table[GW_KCAPS_REPORT_LEN];
	struct gw_kcaps k;
	unsigned int i;
	int err = tls_ulp_errno();

	if (!err)
		SKIP("this kernel has the tls ULP (kTLS); tests/vm/test_kcaps_vm.c covers it");
	ASSERT_EQ(-ENOENT, err);
	ASSERT_EQ(0, gw_kcaps_probe(&k));
	EXPECT_TRUE(k.ulp.tried);
	EXPECT_FALSE(k.ulp.ok);
	EXPECT_EQ(-ENOENT, k.ulp.err);
	for (i = 0; i < GW_KCAPS_N_CIPHERS; i++) {
		EXPECT_FALSE(gw_kcaps_cipher_ok(&k, i));
		EXPECT_FALSE(k.tx[i].tried);
		EXPECT_FALSE(k.rx[i].tried);
	}
	EXPECT_FALSE(k.splice_rx.ok);
	EXPECT_FALSE(k.rekey_tx.ok);
	EXPECT_FALSE(k.psock_then_ktls.tried);
	EXPECT_FALSE(gw_kcaps_splice_usable(&k));
	ASSERT_EQ(0, gw_kcaps_format(&k, line, sizeof(line)));
	EXPECT_STREQ("kTLS: no (\"tls\" ULP missing: modprobe tls)", line);
	ASSERT_EQ(0, gw_kcaps_report(&k, table, sizeof(table)));
	EXPECT_NOT_NULL(strstr(table, "TCP_ULP \"tls\"                no: the kernel has no \"tls\" ULP; modprobe tls (CONFIG_TLS)\n"));
	EXPECT_NOT_NULL(strstr(table, "splice datapath: NOT usable: no kTLS (\"tls\" ULP missing: modprobe tls, CONFIG_TLS)"));
}

TEST(check_kernel_exits_1_and_names_the_module)
{
	const char *bin = mtlsgw_path();
	char out[8192];

	if (!tls_ulp_errno())
		SKIP("this kernel has the tls ULP (kTLS); tests/vm/test_kcaps_vm.c covers it");
	if (!bin || access(bin, X_OK))
		SKIP("no mtlsgw binary at \"%s\" (make, or set MTLSGW)", bin ? bin : "?");
	ASSERT_EQ(1, run_check_kernel(bin, out, sizeof(out)));
	EXPECT_NOT_NULL(strstr(out, "modprobe tls"));
	EXPECT_NOT_NULL(strstr(out, "splice datapath: NOT usable"));
}

/* A result as a kernel with everything but rekey and psock would give. */
static void fake_caps(struct gw_kcaps *k)
{
	const struct gw_kcap yes = { .tried = true, .ok = true };
	unsigned int i;

	memset(k, 0, sizeof(*k));
	k->ulp = yes;
	for (i = 0; i < GW_KCAPS_N_CIPHERS; i++)
		k->tx[i] = k->rx[i] = yes;
	k->splice_rx = k->splice_tx = yes;
	k->rekey_tx = (struct gw_kcap){ .tried = true, .err = -EBUSY, .step = "second TLS_TX" };
	k->rekey_rx = (struct gw_kcap){ .tried = true, .err = -EBUSY, .step = "second TLS_RX" };
	k->psock_then_ktls = (struct gw_kcap){ .tried = true, .err = -EINVAL, .step = "TLS_TX" };
	k->ktls_then_psock = (struct gw_kcap){ .tried = true, .err = -EINVAL,
					       .step = "sockmap insert (kTLS TX socket)" };
}

TEST(summary_line_names_each_answer)
{
	char line[GW_KCAPS_SUMMARY_LEN];
	struct gw_kcaps k;

	fake_caps(&k);
	ASSERT_EQ(0, gw_kcaps_format(&k, line, sizeof(line)));
	EXPECT_STREQ("kTLS tx/rx: tls13-aes128gcm tls13-aes256gcm tls13-chacha20 tls12-aes128gcm "
		     "tls12-aes256gcm tls12-chacha20; splice: yes; rekey: no (second TLS_TX EBUSY); "
		     "psock+kTLS: no (psock first: TLS_TX EINVAL; kTLS first: sockmap insert "
		     "(kTLS TX socket) EINVAL)", line);
	EXPECT_TRUE(gw_kcaps_splice_usable(&k));

	k.rekey_tx = k.rekey_rx = k.psock_then_ktls = k.ktls_then_psock =
		(struct gw_kcap){ .tried = true, .ok = true };
	k.tx[GW_KCAPS_TLS12_CHACHA20] = (struct gw_kcap){ .tried = true, .err = -ENOENT,
							  .step = "TLS_TX" };
	k.splice_tx = (struct gw_kcap){ .tried = true, .err = -EINVAL, .step = "splice pipe -> socket" };
	ASSERT_EQ(0, gw_kcaps_format(&k, line, sizeof(line)));
	EXPECT_STREQ("kTLS tx/rx: tls13-aes128gcm tls13-aes256gcm tls13-chacha20 tls12-aes128gcm "
		     "tls12-aes256gcm (no: tls12-chacha20 TLS_TX ENOENT); splice: no (splice pipe -> "
		     "socket EINVAL); rekey: yes; psock+kTLS: yes", line);
	EXPECT_FALSE(gw_kcaps_splice_usable(&k));
}

/* Every answer failing with the longest step names still fits the buffer. */
TEST(worst_case_summary_fits_and_truncation_is_an_error)
{
	char line[GW_KCAPS_SUMMARY_LEN], table[GW_KCAPS_REPORT_LEN], small[40];
	struct gw_kcaps k;
	unsigned int i;

	static const int errs[GW_KCAPS_N_CIPHERS] = {
		-EPROTONOSUPPORT, -ESOCKTNOSUPPORT, -EAFNOSUPPORT, -EPFNOSUPPORT,
		-ENOTRECOVERABLE, -EADDRNOTAVAIL,
	};

	fake_caps(&k);
	/* Six different answers: nothing to group. */
	for (i = 0; i < GW_KCAPS_N_CIPHERS; i++) {
		k.tx[i] = (struct gw_kcap){ .tried = true, .ok = true };
		k.rx[i] = (struct gw_kcap){ .tried = true, .err = errs[i],
					    .step = "no record to decrypt (TX failed)" };
	}
	k.splice_rx = (struct gw_kcap){ .tried = true, .ok = true };
	k.splice_tx = (struct gw_kcap){ .err = -EPROTONOSUPPORT, .step = "splice pipe -> socket" };
	k.rekey_tx = (struct gw_kcap){ .tried = true, .ok = true };
	k.rekey_rx = (struct gw_kcap){ .tried = true, .err = -EPROTONOSUPPORT,
				       .step = "no EKEYEXPIRED after KeyUpdate" };
	k.psock_then_ktls.step = "sockmap insert (kTLS RX socket)";
	k.psock_then_ktls.err = -EPROTONOSUPPORT;
	k.ktls_then_psock.step = "sockmap insert (kTLS RX socket)";
	k.ktls_then_psock.err = -EPROTONOSUPPORT;
	ASSERT_EQ(0, gw_kcaps_format(&k, line, sizeof(line)));
	TH_LOG("%zu bytes: %s", strlen(line), line);
	/* The table's longest rows: a hint on every cipher line. */
	for (i = 0; i < GW_KCAPS_N_CIPHERS; i++) {
		k.tx[i] = (struct gw_kcap){ .tried = true, .err = -ENOENT, .step = "TLS_TX" };
		k.rx[i] = (struct gw_kcap){ .tried = true, .err = -ENOENT, .step = "TLS_RX" };
	}
	ASSERT_EQ(0, gw_kcaps_report(&k, table, sizeof(table)));
	TH_LOG("table: %zu bytes", strlen(table));

	EXPECT_EQ(-ENOSPC, gw_kcaps_format(&k, small, sizeof(small)));
	EXPECT_EQ(sizeof(small) - 1, strlen(small));
}

TEST_HARNESS_MAIN
