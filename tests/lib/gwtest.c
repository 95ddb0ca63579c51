// SPDX-License-Identifier: GPL-2.0-only
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "gwtest.h"
#include "kcaps.h"
#include "util.h"

uint64_t gwt_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#define now_ms gwt_now_ms

static const char *env_or_die(const char *name)
{
	const char *v = getenv(name);

	if (!v || !*v) {
		fprintf(stderr, "# %s is not set: run the tests through 'make test'\n", name);
		exit(1);
	}
	return v;
}

const char *gwt_pki(void)
{
	return env_or_die("PKI");
}

const char *gwt_mtlsgw(void)
{
	return env_or_die("MTLSGW");
}

const char *gwt_pki_path(const char *name)
{
	static char bufs[8][PATH_MAX];
	static unsigned int next;
	char *b = bufs[next++ % 8];

	snprintf(b, PATH_MAX, "%s/%s", gwt_pki(), name);
	return b;
}

/*
 * A port nobody listens on now. The kernel may hand out the same
 * ephemeral port twice in a row once the probe socket is closed, so
 * remember what this process handed out and never repeat it.
 */
int gwt_free_port(void)
{
	static int given[256];
	static unsigned int n_given;
	unsigned int tries, i;

	for (tries = 0; tries < 100; tries++) {
		struct sockaddr_in sa = { .sin_family = AF_INET,
					  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		socklen_t len = sizeof(sa);
		int fd, port = -1;
		bool seen = false;

		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -1;
		if (!bind(fd, (struct sockaddr *)&sa, sizeof(sa)) &&
		    !getsockname(fd, (struct sockaddr *)&sa, &len))
			port = ntohs(sa.sin_port);
		close(fd);
		for (i = 0; i < n_given && i < 256; i++)
			seen |= given[i] == port;
		if (port > 0 && !seen) {
			given[n_given++ % 256] = port;
			return port;
		}
	}
	return -1;
}

int gwt_mkdtemp(char *dir, size_t len)
{
	if (snprintf(dir, len, "/tmp/mtlsgw-test.XXXXXX") >= (int)len)
		return -ENOSPC;
	return mkdtemp(dir) ? 0 : -errno;
}

void gwt_rmtree(const char *dir)
{
	struct dirent *de;
	char p[PATH_MAX];
	DIR *d;

	if (!dir || !*dir)
		return;
	d = opendir(dir);
	if (d) {
		while ((de = readdir(d))) {
			struct stat st;

			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
			if (!lstat(p, &st) && S_ISDIR(st.st_mode))
				gwt_rmtree(p);
			else
				unlink(p);
		}
		closedir(d);
	}
	rmdir(dir);
}

int gwt_write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -errno;
	fputs(text, f);
	return fclose(f) ? -errno : 0;
}

int gwt_write_ticket_keys(const char *path, unsigned int nkeys)
{
	unsigned char k[4 * 80];
	size_t n = 80 * (size_t)nkeys;
	FILE *f;

	if (!nkeys || nkeys > 4 || RAND_bytes(k, (int)n) != 1)
		return -1;
	f = fopen(path, "wb");
	if (!f)
		return -1;
	if (fwrite(k, 1, n, f) != n) {
		fclose(f);
		return -1;
	}
	if (fclose(f))
		return -1;
	return chmod(path, 0600);
}

char *gwt_read_file(const char *path)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	FILE *f;
	size_t n;

	if (!buf)
		return NULL;
	f = fopen(path, "r");
	if (!f) {
		buf[0] = '\0';
		return buf;
	}
	while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
		len += n;
		if (cap - len < 2) {
			char *nb = realloc(buf, cap * 2);

			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
	}
	fclose(f);
	buf[len] = '\0';
	return buf;
}

/* ---- deterministic payload: xorshift64* ---- */

void gwt_pattern(uint64_t *state, unsigned char *buf, size_t len)
{
	uint64_t x = *state ? *state : 0x9e3779b97f4a7c15ULL;
	size_t i;

	for (i = 0; i < len; i++) {
		if (!(i & 7)) {
			x ^= x >> 12;
			x ^= x << 25;
			x ^= x >> 27;
		}
		buf[i] = (unsigned char)((x * 0x2545F4914F6CDD1DULL) >> (8 * (i & 7)));
	}
	*state = x;
}

/*
 * The stream must not depend on how it is chunked: generate in whole
 * 8-byte words, keep the leftover of the last word for the next call.
 */
struct pstream {
	uint64_t state;
	unsigned char word[8];
	unsigned int used;	/* bytes of word already handed out; 8 = none left */
};

static void pstream_init(struct pstream *p, uint64_t seed)
{
	p->state = seed;
	p->used = 8;
}

static void pstream_fill(struct pstream *p, unsigned char *buf, size_t len)
{
	size_t off = 0;

	while (off < len) {
		if (p->used == 8) {
			gwt_pattern(&p->state, p->word, 8);
			p->used = 0;
		}
		while (p->used < 8 && off < len)
			buf[off++] = p->word[p->used++];
	}
}

void gwt_pattern_sha256(uint64_t seed, uint64_t len, unsigned char out[32])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char buf[65536];
	struct pstream ps;

	pstream_init(&ps, seed);
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	while (len) {
		size_t n = len < sizeof(buf) ? len : sizeof(buf);

		pstream_fill(&ps, buf, n);
		EVP_DigestUpdate(md, buf, n);
		len -= n;
	}
	EVP_DigestFinal_ex(md, out, NULL);
	EVP_MD_CTX_free(md);
}

/* ---- backend ---- */

struct bconn {
	int fd;
	struct gwt_backend_conn *rec;
	EVP_MD_CTX *md;
	struct pstream ps;
	unsigned char out[65536];
	size_t out_len, out_off;
	bool rx_eof, tx_done, sending;
	bool hangup;			/* never_read: the gateway ended, read now */
	unsigned char echo[65536];
	size_t echo_len, echo_off;
};

static void bconn_finish(struct bconn *bc)
{
	if (bc->md) {
		EVP_DigestFinal_ex(bc->md, bc->rec->rx_sha256, NULL);
		EVP_MD_CTX_free(bc->md);
		bc->md = NULL;
	}
	__atomic_store_n(&bc->rec->done, 1, __ATOMIC_SEQ_CST);
	close(bc->fd);
	bc->fd = -1;
}

static void backend_loop(int lfd, const struct gwt_backend_opts *o,
			 struct gwt_backend_stats *st)
{
	struct bconn *conns = calloc(GWT_BACKEND_CONNS, sizeof(*conns));
	struct pollfd pfd[GWT_BACKEND_CONNS + 1];
	unsigned int n_conns = 0, i;

	if (!conns)
		_exit(1);
	for (;;) {
		unsigned int np = 0, slot = n_conns;

		/*
		 * A free slot: a new one, or, once all are used, the first
		 * finished connection's (its record is then overwritten; the
		 * tests that read records use fewer connections than slots).
		 */
		for (i = 0; slot == GWT_BACKEND_CONNS && i < n_conns; i++)
			if (conns[i].fd < 0)
				slot = i;
		pfd[np++] = (struct pollfd){ .fd = slot < GWT_BACKEND_CONNS ? lfd : -1,
					     .events = POLLIN };
		for (i = 0; i < n_conns; i++) {
			struct bconn *bc = &conns[i];
			short ev = 0;

			if (bc->fd >= 0) {
				if (o->never_read && !bc->hangup)
					ev |= POLLRDHUP;
				else if (!bc->rx_eof && (!o->echo || bc->echo_len == bc->echo_off))
					ev |= POLLIN;
				if ((bc->sending && !bc->tx_done) ||
				    (o->echo && bc->echo_len > bc->echo_off))
					ev |= POLLOUT;
			}
			pfd[np++] = (struct pollfd){ .fd = bc->fd, .events = ev };
		}
		if (poll(pfd, np, -1) < 0 && errno != EINTR)
			_exit(1);
		if (pfd[0].revents & POLLIN) {
			int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

			if (fd >= 0) {
				struct bconn *bc = &conns[slot];

				memset(bc, 0, sizeof(*bc));
				bc->fd = fd;
				bc->rec = &st->conn[slot];
				memset(bc->rec, 0, sizeof(*bc->rec));
				bc->md = EVP_MD_CTX_new();
				EVP_DigestInit_ex(bc->md, EVP_sha256(), NULL);
				pstream_init(&bc->ps, o->send_seed);
				bc->sending = !o->echo && o->send_bytes &&
					      o->send_when == GWT_SEND_IMMEDIATELY;
				bc->tx_done = !o->echo && !o->send_bytes;
				if (bc->tx_done && o->fin_after_send && o->send_when == GWT_SEND_IMMEDIATELY)
					shutdown(fd, SHUT_WR);
				if (slot == n_conns)
					n_conns++;
				__atomic_add_fetch(&st->accepted, 1, __ATOMIC_SEQ_CST);
			}
		}
		for (i = 0; i < n_conns; i++) {
			struct bconn *bc = &conns[i];
			short re = pfd[i + 1].revents;

			if (bc->fd < 0 || !re)
				continue;
			if (o->never_read && (re & (POLLRDHUP | POLLHUP | POLLERR)))
				bc->hangup = true;
			if ((re & (POLLIN | POLLHUP | POLLERR | POLLRDHUP)) &&
			    (!o->never_read || bc->hangup)) {
				unsigned char buf[65536];
				ssize_t n;

				if (o->read_delay_ms)
					usleep(o->read_delay_ms * 1000);
				n = recv(bc->fd, buf, o->read_delay_ms ? 4096 : sizeof(buf), 0);
				if (n > 0) {
					struct gwt_backend_conn *r = bc->rec;

					if (r->head_len < GWT_BACKEND_HEAD) {
						size_t k = GWT_BACKEND_HEAD - r->head_len;

						k = (size_t)n < k ? (size_t)n : k;
						memcpy(r->head + r->head_len, buf, k);
						r->head_len += k;
					}
					EVP_DigestUpdate(bc->md, buf, n);
					__atomic_add_fetch(&r->rx_bytes, n, __ATOMIC_SEQ_CST);
					__atomic_add_fetch(&st->rx_total, n, __ATOMIC_SEQ_CST);
					if (o->echo) {
						memcpy(bc->echo, buf, n);
						bc->echo_len = n;
						bc->echo_off = 0;
					}
					if (o->rst_after_bytes && r->rx_bytes >= o->rst_after_bytes) {
						struct linger l = { 1, 0 };

						setsockopt(bc->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
						bconn_finish(bc);
						continue;
					}
				} else if (n == 0) {
					bc->rx_eof = true;
					bc->rec->fin_seen = 1;
					if (o->echo) {
						shutdown(bc->fd, SHUT_WR);
						bc->tx_done = true;
					} else if (o->send_when == GWT_SEND_AFTER_EOF && o->send_bytes) {
						bc->sending = true;
					} else if (o->send_when == GWT_SEND_AFTER_EOF && o->fin_after_send) {
						shutdown(bc->fd, SHUT_WR);
					}
				} else if (errno != EAGAIN && errno != EINTR) {
					bc->rec->rst_seen = errno == ECONNRESET;
					bconn_finish(bc);
					continue;
				}
			}
			if (bc->fd >= 0 && (re & POLLOUT)) {
				if (o->echo && bc->echo_len > bc->echo_off) {
					ssize_t n = send(bc->fd, bc->echo + bc->echo_off,
							 bc->echo_len - bc->echo_off, MSG_NOSIGNAL);
					if (n > 0) {
						bc->echo_off += n;
						bc->rec->tx_bytes += n;
					}
				} else if (bc->sending && !bc->tx_done) {
					ssize_t n;

					if (bc->out_off == bc->out_len) {
						uint64_t left = o->send_bytes - bc->rec->tx_bytes;

						bc->out_len = left < sizeof(bc->out) ? left : sizeof(bc->out);
						bc->out_off = 0;
						pstream_fill(&bc->ps, bc->out, bc->out_len);
					}
					n = send(bc->fd, bc->out + bc->out_off,
						 bc->out_len - bc->out_off, MSG_NOSIGNAL);
					if (n > 0) {
						bc->out_off += n;
						bc->rec->tx_bytes += n;
						if (bc->rec->tx_bytes == o->send_bytes) {
							bc->tx_done = true;
							if (o->fin_after_send)
								shutdown(bc->fd, SHUT_WR);
						}
					} else if (n < 0 && errno != EAGAIN) {
						bc->rec->rst_seen = errno == ECONNRESET;
						bconn_finish(bc);
						continue;
					}
				}
			}
			if (bc->fd >= 0 && bc->rx_eof && (bc->tx_done || !o->fin_after_send) &&
			    !(o->echo && bc->echo_len > bc->echo_off))
				bconn_finish(bc);
		}
	}
}

int gwt_backend_start(struct gwt_backend *b, const struct gwt_backend_opts *o)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int lfd;

	memset(b, 0, sizeof(*b));
	b->pid = -1;
	b->st = mmap(NULL, sizeof(*b->st), PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (b->st == MAP_FAILED) {
		b->st = NULL;
		return -errno;
	}
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(lfd, 128) || getsockname(lfd, (struct sockaddr *)&sa, &len))
		return -errno;
	b->port = ntohs(sa.sin_port);
	fflush(NULL);
	b->pid = fork();
	if (b->pid < 0)
		return -errno;
	if (b->pid == 0) {
		signal(SIGPIPE, SIG_IGN);
		backend_loop(lfd, o, b->st);
		_exit(0);
	}
	close(lfd);
	return 0;
}

void gwt_backend_stop(struct gwt_backend *b)
{
	if (b->pid > 0) {
		kill(b->pid, SIGKILL);
		waitpid(b->pid, NULL, 0);
		b->pid = -1;
	}
	if (b->st)
		munmap(b->st, sizeof(*b->st));
	b->st = NULL;
}

bool gwt_backend_wait_done(struct gwt_backend *b, unsigned int i, int timeout_ms)
{
	uint64_t end = now_ms() + timeout_ms;

	while (!__atomic_load_n(&b->st->conn[i].done, __ATOMIC_SEQ_CST)) {
		if (now_ms() > end)
			return false;
		poll(NULL, 0, 5);
	}
	return true;
}

/* ---- daemon ---- */

const char *gwt_upstream_tls(char *buf, size_t len, const char *extra)
{
	char chain[PATH_MAX], key[PATH_MAX];

	snprintf(chain, sizeof(chain), "%s", gwt_pki_path("gateway-chain.pem"));
	snprintf(key, sizeof(key), "%s", gwt_pki_path("gateway.key"));
	snprintf(buf, len,
		 "      tls:\n"
		 "        cert: %s\n"
		 "        key: %s\n"
		 "        ca: %s\n"
		 "        server_name: backend.corp.test\n"
		 "        verify_name: backend.corp.test\n"
		 "%s",
		 chain, key, gwt_pki_path("ca-bundle.pem"), extra ? extra : "");
	return buf;
}

static bool forced_userspace(void);

static const char default_authorize[] =
	"      - name: prod-callers\n"
	"        spiffe_id: [\"spiffe://corp.test/prod/*\"]\n"
	"      - name: api-dns\n"
	"        san_dns: [\"api.corp.test\"]\n";

int gwt_gw_config(struct gwt_gw *g, const struct gwt_gw_opts *o)
{
	int err;

	memset(g, 0, sizeof(*g));
	g->pid = -1;
	g->notify_fd = -1;
	err = gwt_mkdtemp(g->dir, sizeof(g->dir));
	if (err)
		return err;
	g->port = gwt_free_port();
	snprintf(g->cfg, sizeof(g->cfg), "%s/mtlsgw.yaml", g->dir);
	snprintf(g->audit, sizeof(g->audit), "%s/audit.jsonl", g->dir);
	snprintf(g->log, sizeof(g->log), "%s/mtlsgw.log", g->dir);
	snprintf(g->notify, sizeof(g->notify), "%s/notify.sock", g->dir);
	snprintf(g->ctl, sizeof(g->ctl), "%s/control.sock", g->dir);
	g->metrics_port = gwt_free_port();
	return gwt_gw_rewrite(g, o);
}

int gwt_gw_rewrite(struct gwt_gw *g, const struct gwt_gw_opts *o)
{
	const char *pki = gwt_pki();
	char *text = NULL, *crl_all = NULL, tmp[128], listen[96], certs[1024];
	int err;

	if (o->server_certs)
		snprintf(certs, sizeof(certs), "      certs:\n%s", o->server_certs);
	else
		snprintf(certs, sizeof(certs), "      cert: %s/%s-chain.pem\n      key: %s/%s.key\n",
			 pki, o->server_cert ? o->server_cert : "server",
			 pki, o->server_cert ? o->server_cert : "server");

	snprintf(listen, sizeof(listen), "%s:%d",
		 o->listen_host ? o->listen_host : "127.0.0.1", g->port);
	/* Default: every CA's CRL, as an operator with crl_check: chain needs. */
	if (!o->crl && asprintf(&crl_all, "[%s/crls-all.pem]", pki) < 0)
		return -ENOMEM;
	if (asprintf(&text,
		     "log:\n"
		     "  level: debug\n"
		     "  audit: %s\n"
		     "%s"
		     "drain_timeout: 2s\n"
		     "control:\n"
		     "  socket: %s\n"
		     "metrics:\n"
		     "  listen: 127.0.0.1:%d\n"
		     "%s"
		     "%s%s"
		     "listeners:\n"
		     "  - name: test\n"
		     "    listen: \"%s\"\n"
		     "    mode: %s\n"
		     "%s%s%s"
		     "%s"
		     "    tls:\n"
		     "%s"
		     "      client_ca: %s\n"
		     "      crl: %s\n"
		     "      crl_check: %s\n"
		     "      verify_depth: 3\n"
		     "      min_version: \"%s\"\n"
		     "      handshake_timeout: %s\n"
		     "%s"
		     "    authorize:\n"
		     "%s"
		     "    upstream:\n"
		     "      address: \"%s:%d\"\n"
		     "%s%s",
		     g->audit, o->log_extra ? o->log_extra : "", g->ctl, g->metrics_port,
		     o->metrics_extra ? o->metrics_extra : "",
		     forced_userspace() ? "datapath: userspace\n" : "",
		     o->top_extra ? o->top_extra : "", listen, o->mode ? o->mode : "enforce",
		     o->allow_sources ? "    allow_sources: " : "",
		     o->allow_sources ? o->allow_sources : "",
		     o->allow_sources ? "\n" : "",
		     o->listener_extra ? o->listener_extra : "",
		     certs,
		     o->client_ca ? o->client_ca : gwt_pki_path("ca-bundle.pem"),
		     o->crl ? o->crl : crl_all,
		     o->crl_check ? o->crl_check : "chain",
		     o->min_version ? o->min_version : "1.2",
		     o->handshake_timeout ? o->handshake_timeout : "5s",
		     o->tls_extra ? o->tls_extra : "",
		     o->authorize ? o->authorize : default_authorize,
		     o->upstream_host ? o->upstream_host : "127.0.0.1",
		     o->upstream_port, o->upstream_extra ? o->upstream_extra : "",
		     o->extra_listeners ? o->extra_listeners : "") < 0)
		text = NULL;
	free(crl_all);
	if (!text)
		return -ENOMEM;
	/* Write and rename, as configuration management tools do. */
	snprintf(tmp, sizeof(tmp), "%s.tmp", g->cfg);
	err = gwt_write_file(tmp, text);
	free(text);
	if (!err && rename(tmp, g->cfg))
		err = -errno;
	return err;
}

int gwt_gw_signal(struct gwt_gw *g, int sig)
{
	if (g->pid <= 0)
		return -ESRCH;
	return kill(g->pid, sig) ? -errno : 0;
}

static void dump_log(struct gwt_gw *g)
{
	char *log = gwt_read_file(g->log);
	char *line, *save = NULL;

	for (line = strtok_r(log, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		printf("# %s\n", line);
	free(log);
}

int gwt_gw_start(struct gwt_gw *g)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	uint64_t end = now_ms() + 10000;
	char buf[256];

	/* A restart of the same gateway binds the notify socket anew. */
	if (g->notify_fd >= 0)
		close(g->notify_fd);
	unlink(g->notify);
	g->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", g->notify);
	if (g->notify_fd < 0 || bind(g->notify_fd, (struct sockaddr *)&sun, sizeof(sun)))
		return -1;
	/* As systemd's: reachable after the daemon dropped to another user. */
	chmod(g->dir, 0711);
	chmod(g->notify, 0666);
	fflush(NULL);
	g->pid = fork();
	if (g->pid < 0)
		return -1;
	if (g->pid == 0) {
		int fd = open(g->log, O_WRONLY | O_CREAT | O_APPEND, 0644);

		if (fd >= 0) {
			dup2(fd, STDERR_FILENO);
			dup2(fd, STDOUT_FILENO);
		}
		setenv("NOTIFY_SOCKET", g->notify, 1);
		execl(gwt_mtlsgw(), "mtlsgw", "-c", g->cfg, g->extra_arg, (char *)NULL);
		_exit(127);
	}
	for (;;) {
		struct pollfd p = { .fd = g->notify_fd, .events = POLLIN };
		int left = (int)(end - now_ms()), status;
		ssize_t n;

		if (left <= 0 || waitpid(g->pid, &status, WNOHANG) == g->pid) {
			printf("# mtlsgw did not become ready\n");
			dump_log(g);
			g->pid = -1;
			return -1;
		}
		if (poll(&p, 1, left < 100 ? left : 100) <= 0)
			continue;
		n = recv(g->notify_fd, buf, sizeof(buf) - 1, 0);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		if (strstr(buf, "READY=1")) {
			/*
			 * Nobody reads later notifications (RELOADING, STOPPING):
			 * close the socket so they fail at once instead of
			 * filling its queue and blocking the daemon.
			 */
			close(g->notify_fd);
			g->notify_fd = -1;
			unlink(g->notify);
			return 0;
		}
	}
}

int gwt_gw_wait_exit(struct gwt_gw *g, int timeout_ms)
{
	uint64_t end = now_ms() + timeout_ms;
	int status;

	if (g->pid <= 0)
		return -1;
	while (waitpid(g->pid, &status, WNOHANG) != g->pid) {
		if (now_ms() > end)
			return -1;
		poll(NULL, 0, 5);
	}
	g->pid = -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int gwt_gw_stop(struct gwt_gw *g)
{
	uint64_t end = now_ms() + 10000;
	int status;

	if (g->pid <= 0)
		return -1;
	kill(g->pid, SIGTERM);
	while (waitpid(g->pid, &status, WNOHANG) != g->pid) {
		if (now_ms() > end) {
			kill(g->pid, SIGKILL);
			waitpid(g->pid, &status, 0);
			g->pid = -1;
			return -1;
		}
		poll(NULL, 0, 5);
	}
	g->pid = -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int gwt_gw_cleanup(struct gwt_gw *g)
{
	int ret = 0, status;

	if (g->pid > 0) {
		/* A clean SIGTERM stop is part of every test (and, under ASan, no leaks). */
		status = gwt_gw_stop(g);
		if (status != 0) {
			printf("# mtlsgw exited with status %d on SIGTERM\n", status);
			dump_log(g);
			ret = -1;
		}
	}
	if (g->notify_fd >= 0)
		close(g->notify_fd);
	g->notify_fd = -1;
	if (getenv("GWT_KEEP"))
		printf("# kept %s\n", g->dir);
	else if (g->dir[0])
		gwt_rmtree(g->dir);
	g->dir[0] = '\0';
	return ret;
}

static int run_capture(const char *cmd, char **out);

int gwt_gw_check(const char *cfg, char **out)
{
	char *cmd;
	int rc;

	if (asprintf(&cmd, "'%s' -c '%s' --check 2>&1", gwt_mtlsgw(), cfg) < 0)
		return -1;
	rc = run_capture(cmd, out);
	free(cmd);
	return rc;
}

int gwt_ctl(struct gwt_gw *g, char **out, const char *args)
{
	const char *ctl = getenv("MTLSGWCTL");
	char *cmd;
	int rc;

	if (!ctl || asprintf(&cmd, "'%s' -s '%s' %s 2>&1", ctl, g->ctl, args) < 0) {
		*out = strdup("MTLSGWCTL is not set: run the tests through 'make test'");
		return -1;
	}
	rc = run_capture(cmd, out);
	free(cmd);
	return rc;
}

/*
 * GET /metrics over a plain socket (HTTP/1.0: the daemon closes after the
 * answer), so it works in the QEMU guests too, which have no HTTP client.
 */
char *gwt_http_get(int port, const char *target)
{
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap), *body, req[512];
	int fd = gwt_raw_connect(port), n_req;
	ssize_t n;

	n_req = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", target);
	if (!buf || fd < 0 || n_req <= 0 || (size_t)n_req >= sizeof(req) ||
	    send(fd, req, (size_t)n_req, MSG_NOSIGNAL) != n_req)
		goto fail;
	while ((n = recv(fd, buf + len, cap - len - 1, 0)) > 0) {
		len += (size_t)n;
		if (len + 1 == cap) {
			char *more = realloc(buf, cap * 2);

			if (!more)
				goto fail;
			buf = more;
			cap *= 2;
		}
	}
	close(fd);
	buf[len] = '\0';
	body = strstr(buf, "\r\n\r\n");
	if (strncmp(buf, "HTTP/1.", 7) || !strstr(buf, " 200 ") || !body) {
		free(buf);
		return NULL;
	}
	memmove(buf, body + 4, strlen(body + 4) + 1);
	return buf;
fail:
	if (fd >= 0)
		close(fd);
	free(buf);
	return NULL;
}

char *gwt_metrics(struct gwt_gw *g)
{
	return gwt_http_get(g->metrics_port, "/metrics");
}

int gwt_sh_capture(char **out, const char *fmt, ...)
{
	va_list ap;
	char *cmd, *full;
	int rc;

	va_start(ap, fmt);
	rc = vasprintf(&cmd, fmt, ap);
	va_end(ap);
	if (rc < 0)
		return -1;
	if (asprintf(&full, "%s 2>&1", cmd) < 0) {
		free(cmd);
		return -1;
	}
	free(cmd);
	rc = run_capture(full, out);
	free(full);
	return rc;
}

static int run_capture(const char *cmd, char **out)
{
	FILE *p;
	size_t len = 0, cap = 4096;
	int status;

	*out = calloc(1, cap);
	if (!*out)
		return -1;
	fflush(NULL);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	for (;;) {
		size_t n = fread(*out + len, 1, cap - len - 1, p);

		if (!n)
			break;
		len += n;
		if (cap - len < 2) {
			char *nb = realloc(*out, cap * 2);

			if (!nb)
				break;
			*out = nb;
			cap *= 2;
		}
	}
	(*out)[len] = '\0';
	status = pclose(p);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The first line of the file at path that contains every needle, malloc'd; or NULL. */
static char *file_find(const char *path, const char **needles, unsigned int n)
{
	char *all = gwt_read_file(path), *line, *save = NULL, *found = NULL;
	unsigned int i;

	for (line = strtok_r(all, "\n", &save); line && !found;
	     line = strtok_r(NULL, "\n", &save)) {
		for (i = 0; i < n && strstr(line, needles[i]); i++)
			;
		if (i == n)
			found = strdup(line);
	}
	free(all);
	return found;
}

char *gwt_audit_wait(struct gwt_gw *g, int timeout_ms, ...)
{
	const char *needles[16];
	uint64_t end = now_ms() + timeout_ms;
	unsigned int n = 0;
	va_list ap;
	char *line;

	va_start(ap, timeout_ms);
	while (n < 16 && (needles[n] = va_arg(ap, const char *)))
		n++;
	va_end(ap);
	for (;;) {
		line = file_find(g->audit, needles, n);
		if (line || now_ms() > end)
			return line;
		poll(NULL, 0, 10);
	}
}

/*
 * The primary worker stops last (daemon.c, begin_stop: its own listeners,
 * then every peer's through a call that returns when the peer is done,
 * then its drain) and always logs one of these lines: once one is there,
 * no listening socket of the daemon is left.
 */
bool gwt_gw_wait_stopped_accepting(struct gwt_gw *g, const char *why, int timeout_ms)
{
	static const char *const forms[] = {
		": stopped accepting, draining ",		/* one worker */
		": worker 0: stopped accepting, draining ",	/* several */
		": no connections, stopping",			/* nothing to drain */
	};
	uint64_t end = now_ms() + timeout_ms;
	char needle[3][128];
	unsigned int i;

	for (i = 0; i < 3; i++)
		snprintf(needle[i], sizeof(needle[i]), "%s%s", why, forms[i]);
	for (;;) {
		for (i = 0; i < 3; i++) {
			const char *one = needle[i];
			char *line = file_find(g->log, &one, 1);

			if (line) {
				free(line);
				return true;
			}
		}
		if (now_ms() > end)
			return false;
		poll(NULL, 0, 10);
	}
}

uint64_t gwt_audit_ts_ms(const char *line)
{
	const char *p = line ? strstr(line, "\"ts\":\"") : NULL;
	struct tm tm = { 0 };
	char *rest;

	if (!p)
		return 0;
	rest = strptime(p + 6, "%Y-%m-%dT%H:%M:%S", &tm);
	/* ".mmmZ" */
	if (!rest || rest[0] != '.' || !isdigit((unsigned char)rest[1]) ||
	    !isdigit((unsigned char)rest[2]) || !isdigit((unsigned char)rest[3]) ||
	    rest[4] != 'Z')
		return 0;
	return (uint64_t)timegm(&tm) * 1000 + strtoul(rest + 1, NULL, 10);
}

int gwt_audit_count(struct gwt_gw *g, const char *needle)
{
	char *all = gwt_read_file(g->audit), *p = all;
	int n = 0;

	while (p && (p = strstr(p, needle))) {
		n++;
		p++;
	}
	free(all);
	return n;
}

/* ---- TLS client ---- */

static void info_cb(const SSL *ssl, int where, int ret)
{
	struct gwt_client *c = SSL_get_app_data(ssl);

	/* SSL_CB_READ_ALERT is two bits: ALERT|READ; a written alert has ALERT too. */
	if (c && (where & SSL_CB_ALERT) && (where & SSL_CB_READ)) {
		c->alert = ret & 0xff;
		if ((ret & 0xff) == SSL_AD_CLOSE_NOTIFY)
			c->got_close_notify = true;
	}
}

static int tcp_connect(int port, int family)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	int fd;

	if (family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_addr = in6addr_loopback;
		s6->sin6_port = htons(port);
		len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		s4->sin_port = htons(port);
		len = sizeof(*s4);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&ss, len)) {
		close(fd);
		return -1;
	}
	return fd;
}

int gwt_client_connect(struct gwt_client *c, int port, const struct gwt_client_opts *o)
{
	int fd = tcp_connect(port, o->family);

	if (fd < 0) {
		memset(c, 0, sizeof(*c));
		c->fd = -1;
		c->alert = -1;
		return -1;
	}
	return gwt_client_handshake(c, fd, o);
}

int gwt_client_handshake(struct gwt_client *c, int fd, const struct gwt_client_opts *o)
{
	struct timeval tv = { .tv_sec = 10 };
	char path[PATH_MAX];
	const char *name;

	/* A gateway that closes on us must fail the write, not kill the test. */
	signal(SIGPIPE, SIG_IGN);
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->alert = -1;
	c->ctx = SSL_CTX_new(TLS_client_method());
	if (!c->ctx)
		return -1;
	SSL_CTX_set_min_proto_version(c->ctx, o->min_version ? o->min_version : TLS1_2_VERSION);
	SSL_CTX_set_max_proto_version(c->ctx, o->max_version ? o->max_version : TLS1_3_VERSION);
	if (o->ciphers)
		SSL_CTX_set_cipher_list(c->ctx, o->ciphers);
	if (o->ciphersuites)
		SSL_CTX_set_ciphersuites(c->ctx, o->ciphersuites);
	if ((o->groups && SSL_CTX_set1_groups_list(c->ctx, o->groups) != 1) ||
	    (o->sigalgs && SSL_CTX_set1_sigalgs_list(c->ctx, o->sigalgs) != 1)) {
		SSL_CTX_free(c->ctx);
		c->ctx = NULL;
		return -1;
	}
	/* Our test certificates include deliberately weak ones: send them anyway. */
	SSL_CTX_set_security_level(c->ctx, 0);
	SSL_CTX_load_verify_file(c->ctx, gwt_pki_path("root-ca.crt"));
	SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_info_callback(c->ctx, info_cb);
	if (o->cert) {
		const char *dir = o->cert_dir ? o->cert_dir : gwt_pki();

		snprintf(path, sizeof(path), "%s/%s-chain.pem", dir, o->cert);
		if (SSL_CTX_use_certificate_chain_file(c->ctx, path) != 1)
			return -1;
		snprintf(path, sizeof(path), "%s/%s.key", dir, o->cert);
		if (SSL_CTX_use_PrivateKey_file(c->ctx, path, SSL_FILETYPE_PEM) != 1)
			return -1;
	}
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	c->ssl = SSL_new(c->ctx);
	SSL_set_app_data(c->ssl, c);
	SSL_set_fd(c->ssl, c->fd);
	/* The server certificate names localhost, 127.0.0.1 and ::1 only. */
	name = o->server_name ? o->server_name : "localhost";
	if (*name)
		SSL_set_tlsext_host_name(c->ssl, name);
	if (!o->no_server_check && *name)
		SSL_set1_host(c->ssl, name);
	if (o->session)
		SSL_set_session(c->ssl, o->session);
	if (SSL_connect(c->ssl) != 1) {
		ERR_clear_error();
		return -1;
	}
	return 0;
}

void gwt_client_close(struct gwt_client *c)
{
	SSL_free(c->ssl);
	SSL_CTX_free(c->ctx);
	if (c->fd >= 0)
		close(c->fd);
	c->ssl = NULL;
	c->ctx = NULL;
	c->fd = -1;
	ERR_clear_error();
}

static void client_try(struct gwt_client *c, bool connected, const char *msg,
		       size_t expect, struct gwt_outcome *out)
{
	memset(out, 0, sizeof(*out));
	out->handshake_ok = connected;
	if (out->handshake_ok && msg && SSL_write(c->ssl, msg, strlen(msg)) <= 0)
		ERR_clear_error();
	while (out->handshake_ok && out->rx < expect) {
		int n = SSL_read(c->ssl, out->data + out->rx,
				 sizeof(out->data) - 1 - out->rx);

		if (n <= 0) {
			out->closed = true;
			break;
		}
		out->rx += n;
	}
	if (out->handshake_ok && out->rx >= expect && !out->closed) {
		/* Everything expected arrived: say goodbye. */
		SSL_shutdown(c->ssl);
	}
	if (!out->handshake_ok)
		out->closed = true;
	out->alert = c->alert;
	gwt_client_close(c);
}

void gwt_client_try(int port, const struct gwt_client_opts *o, const char *msg,
		    size_t expect, struct gwt_outcome *out)
{
	struct gwt_client c;
	bool ok = gwt_client_connect(&c, port, o) == 0;

	client_try(&c, ok, msg, expect, out);
}

void gwt_client_try_fd(int fd, const struct gwt_client_opts *o, const char *msg,
		       size_t expect, struct gwt_outcome *out)
{
	struct gwt_client c;
	bool ok = gwt_client_handshake(&c, fd, o) == 0;

	client_try(&c, ok, msg, expect, out);
}

int gwt_client_bulk(struct gwt_client *c, uint64_t send_bytes, uint64_t seed,
		    uint64_t *rx_bytes, unsigned char rx_sha256[32], int timeout_ms)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char out[16384], in[16384];
	size_t out_len = 0, out_off = 0;
	uint64_t sent = 0, end = now_ms() + timeout_ms;
	bool rx_done = false, shut = false;
	struct pstream ps;
	int ret = -1, fl;

	pstream_init(&ps, seed);
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	*rx_bytes = 0;
	fl = fcntl(c->fd, F_GETFL);
	fcntl(c->fd, F_SETFL, fl | O_NONBLOCK);
	while (!rx_done || !shut) {
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		bool moved = false;
		int n, e;

		if (now_ms() > end)
			goto out;
		/* read */
		if (!rx_done) {
			n = SSL_read(c->ssl, in, sizeof(in));
			if (n > 0) {
				EVP_DigestUpdate(md, in, n);
				*rx_bytes += n;
				moved = true;
			} else {
				e = SSL_get_error(c->ssl, n);
				if (e == SSL_ERROR_ZERO_RETURN) {
					rx_done = true;
				} else if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
					ERR_clear_error();
					goto out;
				}
			}
		}
		/* write */
		if (sent < send_bytes || out_off < out_len) {
			if (out_off == out_len) {
				uint64_t left = send_bytes - sent;

				out_len = left < sizeof(out) ? left : sizeof(out);
				out_off = 0;
				pstream_fill(&ps, out, out_len);
				sent += out_len;
			}
			n = SSL_write(c->ssl, out + out_off, out_len - out_off);
			if (n > 0) {
				out_off += n;
				moved = true;
			} else {
				e = SSL_get_error(c->ssl, n);
				if (e == SSL_ERROR_WANT_WRITE)
					p.events |= POLLOUT;
				else if (e != SSL_ERROR_WANT_READ) {
					ERR_clear_error();
					goto out;
				}
			}
		} else if (!shut) {
			n = SSL_shutdown(c->ssl);
			if (n >= 0) {
				shut = true;
				moved = true;
			} else if (SSL_get_error(c->ssl, n) == SSL_ERROR_WANT_WRITE) {
				p.events |= POLLOUT;
			} else {
				ERR_clear_error();
				goto out;
			}
		}
		if (!moved)
			poll(&p, 1, 100);
	}
	ret = 0;
out:
	EVP_DigestFinal_ex(md, rx_sha256, NULL);
	EVP_MD_CTX_free(md);
	fcntl(c->fd, F_SETFL, fl);
	return ret;
}

int gwt_cert_fingerprint(const char *pem_path, char *out, size_t len)
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	FILE *f = fopen(pem_path, "r");
	X509 *x;
	int err;

	if (!f)
		return -errno;
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (!x || !X509_digest(x, EVP_sha256(), md, &mdlen)) {
		X509_free(x);
		return -EINVAL;
	}
	X509_free(x);
	err = gw_hex(md, mdlen, true, out, len);
	return err;
}

bool gwt_echo_ok(int port, const char *cert, const char *msg)
{
	struct gwt_client_opts co = { .cert = cert };
	struct gwt_outcome out;
	size_t n = strlen(msg);

	gwt_client_try(port, &co, msg, n, &out);
	return out.handshake_ok && out.rx == n && !memcmp(out.data, msg, n);
}

bool gwt_roundtrip(struct gwt_client *c, const char *msg)
{
	char buf[256];
	int n = (int)strlen(msg);

	return n < (int)sizeof(buf) && SSL_write(c->ssl, msg, n) == n &&
	       SSL_read(c->ssl, buf, sizeof(buf)) == n && !memcmp(buf, msg, n);
}

SSL_SESSION *gwt_client_ticket(struct gwt_client *c, const char *msg)
{
	SSL_SESSION *sess = gwt_roundtrip(c, msg) ? SSL_get1_session(c->ssl) : NULL;

	SSL_shutdown(c->ssl);
	gwt_client_close(c);
	if (sess && !SSL_SESSION_is_resumable(sess)) {
		SSL_SESSION_free(sess);
		sess = NULL;
	}
	return sess;
}

long gwt_wait_closed(struct gwt_client *c, int timeout_ms)
{
	uint64_t start = now_ms();
	struct pollfd p = { .fd = c->fd, .events = POLLIN };
	char buf[64];

	while (now_ms() - start < (uint64_t)timeout_ms) {
		if (poll(&p, 1, 10) > 0 && SSL_read(c->ssl, buf, sizeof(buf)) <= 0)
			return (long)(now_ms() - start);
	}
	return -1;
}

int gwt_replace_file(const char *from, const char *to)
{
	char tmp[PATH_MAX], *data = gwt_read_file(from);
	int err;

	if (!data)
		return -ENOMEM;
	snprintf(tmp, sizeof(tmp), "%s.new", to);
	err = gwt_write_file(tmp, data);
	free(data);
	if (!err && rename(tmp, to))
		err = -errno;
	return err;
}

int gwt_connect_from(const char *src, int port)
{
	struct sockaddr_in s = { .sin_family = AF_INET }, d = {
		.sin_family = AF_INET, .sin_port = htons(port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = 10 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if ((src && (inet_pton(AF_INET, src, &s.sin_addr) != 1 ||
		     bind(fd, (struct sockaddr *)&s, sizeof(s)))) ||
	    connect(fd, (struct sockaddr *)&d, sizeof(d))) {
		close(fd);
		return -1;
	}
	return fd;
}

pid_t gwt_haproxy_start(const char *dir, int fe_port, const int *ports, unsigned int n)
{
	char cfg[160], text[2048];
	size_t off;
	unsigned int i;
	pid_t pid;
	int fd;

	snprintf(cfg, sizeof(cfg), "%s/haproxy.cfg", dir);
	off = (size_t)snprintf(text, sizeof(text),
		"global\n  maxconn 200\n"
		"defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 30s\n"
		"  timeout server 30s\n  retries 2\n  option redispatch\n"
		"frontend fe\n  bind 127.0.0.1:%d\n  default_backend gateways\n"
		"backend gateways\n  balance roundrobin\n", fe_port);
	for (i = 0; i < n && off < sizeof(text); i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off,
					"  server gw%u 127.0.0.1:%d send-proxy-v2\n", i, ports[i]);
	if (off >= sizeof(text) || gwt_write_file(cfg, text))
		return -1;
	pid = fork();
	if (pid == 0) {
		execlp("haproxy", "haproxy", "-db", "-q", "-f", cfg, (char *)NULL);
		_exit(127);
	}
	for (i = 0; pid > 0 && i < 100; i++) {
		fd = gwt_connect_from("127.0.0.1", fe_port);
		if (fd >= 0) {
			close(fd);
			return pid;
		}
		usleep(50000);
	}
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	return -1;
}

int gwt_haproxy_stop(pid_t pid)
{
	int status;

	if (pid <= 0)
		return 0;
	kill(pid, SIGTERM);
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) || WIFSIGNALED(status) ? 0 : -1;
}

size_t gwt_proxy_v2_header(unsigned char *buf, const char *src, int sport, const char *dst,
			   int dport, size_t tlv_len, bool local)
{
	static const unsigned char sig[12] = { 0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
					       0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A };
	int fam = strchr(src, ':') ? AF_INET6 : AF_INET;
	size_t alen = fam == AF_INET ? 4 : 16, off = 16, body;
	uint16_t p;

	memcpy(buf, sig, sizeof(sig));
	buf[12] = local ? 0x20 : 0x21;		/* version 2, LOCAL or PROXY */
	buf[13] = fam == AF_INET ? 0x11 : 0x21;	/* TCP over IPv4 or IPv6 */
	inet_pton(fam, src, buf + off);
	inet_pton(fam, dst, buf + off + alen);
	off += 2 * alen;
	p = htons(sport);
	memcpy(buf + off, &p, 2);
	p = htons(dport);
	memcpy(buf + off + 2, &p, 2);
	off += 4;
	if (tlv_len >= 3) {
		buf[off] = 0xEE;
		buf[off + 1] = (tlv_len - 3) >> 8;
		buf[off + 2] = (tlv_len - 3) & 0xff;
		memset(buf + off + 3, 'T', tlv_len - 3);
		off += tlv_len;
	}
	body = off - 16;
	buf[14] = body >> 8;
	buf[15] = body & 0xff;
	return off;
}

int gwt_raw_connect(int port)
{
	return gwt_connect_from(NULL, port);
}

int gwt_env_start(struct gwt_backend *be, struct gwt_gw *gw, struct gwt_gw_opts *go,
		  bool start)
{
	struct gwt_backend_opts bo = { .echo = true };

	gw->pid = -1;
	gw->notify_fd = -1;
	if (gwt_backend_start(be, &bo))
		return -1;
	go->upstream_port = be->port;
	if (gwt_gw_config(gw, go))
		return -1;
	return start ? gwt_gw_start(gw) : 0;
}

int gwt_env_stop(struct gwt_backend *be, struct gwt_gw *gw)
{
	gwt_backend_stop(be);
	return gwt_gw_cleanup(gw);
}

/* What the daemon's own probe finds on this kernel (probed once). */
static const struct gw_kcaps *kcaps(void)
{
	static struct gw_kcaps k;
	static bool done;

	if (!done && gw_kcaps_probe(&k))
		memset(&k, 0, sizeof(k));
	done = true;
	return &k;
}

/* GWT_DATAPATH=userspace: every gateway a test starts runs that tier. */
static bool forced_userspace(void)
{
	const char *e = getenv("GWT_DATAPATH");

	return e && !strcmp(e, "userspace");
}

/* The daemon's rule (main.c): splice where TLS 1.3 AES-128-GCM and splice work. */
static bool splice_tier(void)
{
	return !forced_userspace() &&
	       gw_kcaps_cipher_ok(kcaps(), GW_KCAPS_TLS13_AES128GCM) &&
	       gw_kcaps_splice_usable(kcaps());
}

const char *gwt_expected_datapath(void)
{
	return splice_tier() ? "\"datapath\":\"splice\"" : "\"datapath\":\"userspace\"";
}

bool gwt_expect_key_update_followed(void)
{
	return !splice_tier() || (kcaps()->rekey_rx.ok && kcaps()->rekey_tx.ok);
}

int gwt_proc_io(pid_t pid, uint64_t *rchar, uint64_t *wchar)
{
	char path[64], *text, *r, *w;
	int ret = -1;

	snprintf(path, sizeof(path), "/proc/%d/io", (int)pid);
	text = gwt_read_file(path);
	if (!text)
		return -1;
	r = strstr(text, "rchar: ");
	w = strstr(text, "wchar: ");
	if (r && w) {
		*rchar = strtoull(r + 7, NULL, 10);
		*wchar = strtoull(w + 7, NULL, 10);
		ret = 0;
	}
	free(text);
	return ret;
}

long gwt_proc_cpu_ms(pid_t pid)
{
	unsigned long ut, st;
	char path[64], *text, *p;
	long ret = -1;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	text = gwt_read_file(path);
	/* After "(comm) ": state is field 3, utime and stime are 14 and 15. */
	p = text ? strrchr(text, ')') : NULL;
	if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
			&ut, &st) == 2)
		ret = (long)((ut + st) * 1000 / (unsigned long)sysconf(_SC_CLK_TCK));
	free(text);
	return ret;
}

uint64_t gwt_proc_status_kib(pid_t pid, const char *field)
{
	char path[64], *text, *p;
	uint64_t kib = 0;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	text = gwt_read_file(path);
	p = text ? strstr(text, field) : NULL;
	if (p)
		kib = strtoull(p + strlen(field), NULL, 10);
	free(text);
	return kib;
}

int gwt_log_count(struct gwt_gw *g, const char *needle)
{
	char *text = gwt_read_file(g->log), *p;
	int n = 0;

	for (p = text; p && (p = strstr(p, needle)); p++)
		n++;
	free(text);
	return n;
}

int gwt_proc_fds(pid_t pid)
{
	char path[64];
	struct dirent *de;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

double gwt_metric_value(struct gwt_gw *g, const char *series)
{
	char *text = gwt_metrics(g), *p;
	size_t len = strlen(series);
	double v = -1;

	for (p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (!strncmp(p, series, len) && p[len] == ' ') {
			v = strtod(p + len + 1, NULL);
			break;
		}
	}
	free(text);
	return v;
}

double gwt_metric_wait(struct gwt_gw *g, const char *series, double want, int timeout_ms)
{
	uint64_t t0 = gwt_now_ms();
	double v;

	while ((v = gwt_metric_value(g, series)) != want &&
	       gwt_now_ms() - t0 < (uint64_t)timeout_ms)
		usleep(10 * 1000);
	return v;
}
