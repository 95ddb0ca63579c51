// SPDX-License-Identifier: GPL-2.0-only
/*
 * mtls-load: the load generator of mtlsgw's benchmarks, and the plain-TCP
 * backend it talks to through the gateway.
 *
 *   mtls-load handshake --connect HOST:PORT --cert F --key F --ca F [-c N] [-j N]
 *             [-n COUNT] [-d SECONDS] [--resume] [--no-request] [--size BYTES]
 *   mtls-load bulk  ... [--up BYTES] [--down BYTES]   one checked transfer per op
 *   mtls-load rr    ... [--size BYTES]                ping-pong, latency percentiles
 *   mtls-load idle  ... -c N [--hold SECONDS] [--ramp N]
 *   mtls-load backend --listen ADDR:PORT [--json] [--cert F --key F --ca F]
 *
 * Client options: --sni NAME, --tls1.2 | --tls1.3, --ciphers LIST,
 * --ciphersuites LIST, --no-verify-server, --op-timeout SECONDS, --seed N,
 * --json. A run ends after -n ops or -d seconds, whichever comes first;
 * every op has --op-timeout, so a wedged run always ends. Exit status: 0
 * every op succeeded and nothing mismatched, 1 otherwise, 2 usage error.
 * ("backend --corrupt-every N" flips a bit every N down bytes: tests only.)
 * The backend speaks plain TCP, or with --cert it is a TLS server that
 * demands a client certificate chaining to --ca (a backend behind a
 * gateway with upstream.tls; sessions resume by ticket or ID), and the
 * same protocol runs inside its TLS.
 *
 * Wire protocol inside TLS, client to backend, integers big endian:
 *   header (40 bytes), the first bytes the client sends:
 *      0 magic "MTLD"   4 version 1   5 mode (1 handshake, 2 bulk, 3 rr, 4 idle)
 *      6 flags 0        8 size (rr message, handshake request)   12 reserved 0
 *     16 seed          24 up bytes    32 down bytes
 *   then the client sends up bytes of stream S(seed) (rr: size per request)
 *   and the backend answers down bytes of S(seed ^ ML_DOWN_KEY) (rr: size
 *   bytes once each request has arrived); except in rr the backend then
 *   sends a trailer (16 bytes) when every up byte arrived and matched:
 *      0 magic "MTLE"   4 status 0     8 up bytes verified
 *   In idle mode the trailer follows the header at once (the path works).
 *   S(k) is counter-based: byte i is byte i % 8 (little endian) of
 *   splitmix64(k + (i / 8 + 1) * golden), so either side checks any chunk.
 *   A mismatch is reported on stderr, counted, and fails the op; the
 *   backend resets a connection whose up stream mismatched.
 *
 * Concurrency: every process runs one single-threaded epoll loop. The
 * client forks -j workers after checking the options; each builds its own
 * SSL_CTX and runs its share of -c and -n, then writes its result (counters
 * and latency histogram) to its pipe and exits; the parent only merges and
 * forwards SIGINT/SIGTERM. Nothing is shared between processes after fork.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define ML_HDR_LEN	40
#define ML_TRL_LEN	16
#define ML_VERSION	1
#define ML_MAX_SIZE	(1u << 20)	/* rr message, handshake request */
#define ML_TX_CHUNK	16384		/* client writes: one TLS record */
#define ML_RX_BUF	65536
#define ML_BE_CHUNK	65536		/* backend writes */
#define ML_RR_OWED_MAX	(4u << 20)	/* backend: unanswered rr bytes before it stops reading */
#define ML_MAX_CONNS	1000000
#define ML_MAX_WORKERS	256
#define ML_SWEEP_NS	(20 * 1000 * 1000ULL)
#define ML_MSGS_MAX	10		/* mismatch messages per process */
#define NS_PER_S	1000000000ULL

#define ML_GOLDEN	0x9e3779b97f4a7c15ULL
#define ML_DOWN_KEY	0xa0761d6478bd642fULL

static const unsigned char ml_magic[4] = { 'M', 'T', 'L', 'D' };
static const unsigned char ml_trl_magic[4] = { 'M', 'T', 'L', 'E' };

/* Wire modes are 1..4; backend is a command only. */
enum ml_mode { ML_NONE, ML_HANDSHAKE, ML_BULK, ML_RR, ML_IDLE, ML_BACKEND, ML_NR_MODES };
static const char *const ml_mode_names[ML_NR_MODES] = {
	"none", "handshake", "bulk", "rr", "idle", "backend",
};

/* Why an op failed: stable tokens. Received alerts count apart ("alert_*"). */
enum ml_reason {
	ML_R_CONNECT_REFUSED, ML_R_CONNECT_ERROR, ML_R_LOCAL_ERROR,
	ML_R_TIMEOUT_CONNECT, ML_R_TIMEOUT_HANDSHAKE, ML_R_TIMEOUT_DATA,
	ML_R_SERVER_VERIFY, ML_R_HANDSHAKE_EOF, ML_R_HANDSHAKE_ERROR,
	ML_R_RESET, ML_R_EOF, ML_R_CLOSED, ML_R_TLS_ERROR, ML_R_MISMATCH,
	ML_R_PROTOCOL, ML_R_DROPPED, ML_R_STOPPED, ML_R_WORKER_LOST,
	ML_R_NR,
};
static const char *const ml_reason_names[ML_R_NR] = {
	"connect_refused", "connect_error", "local_error",
	"timeout_connect", "timeout_handshake", "timeout_data",
	"server_verify", "handshake_eof", "handshake_error",
	"reset", "eof", "closed", "tls_error", "mismatch",
	"protocol", "dropped", "stopped", "worker_lost",
};
#define ML_R_ALERT(desc) (ML_R_NR + (desc))

struct ml_opts {
	enum ml_mode mode;
	unsigned int conns, workers, ramp;
	uint64_t count;			/* 0: no limit */
	double duration, hold, op_timeout;
	uint64_t up, down, size, seed, corrupt_every;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	char host[300];			/* from --connect, for verification */
	const char *target, *sni, *cert, *key, *ca, *ciphers, *suites;
	const char *leaves;		/* --leaves: "CHAIN:KEY" lines, one leaf per connection */
	int min_version, max_version;
	bool resume, no_request, no_verify, json, count_set, duration_set;
};

static void __attribute__((format(printf, 1, 2))) pr_err(const char *fmt, ...)
{
	va_list ap;

	fputs("mtls-load: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

#define pr_info pr_err

static void __attribute__((noreturn, format(printf, 1, 2))) ml_usage_err(const char *fmt, ...)
{
	va_list ap;

	fputs("mtls-load: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'mtls-load --help'.\n", stderr);
	exit(2);
}

/* Drain the OpenSSL error queue into one message. */
static const char *ml_ssl_errors(void)
{
	static char buf[512];
	unsigned long e;
	size_t off = 0;

	buf[0] = '\0';
	while ((e = ERR_get_error()) && off + 3 < sizeof(buf)) {
		if (off)
			off += snprintf(buf + off, sizeof(buf) - off, "; ");
		ERR_error_string_n(e, buf + off, sizeof(buf) - off);
		off += strlen(buf + off);
	}
	ERR_clear_error();
	return buf[0] ? buf : "no OpenSSL error";
}

static uint64_t ml_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

/* ---- the checked stream ---- */

static inline uint64_t ml_mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static inline uint64_t ml_word(uint64_t key, uint64_t i)
{
	return htole64(ml_mix64(key + (i + 1) * ML_GOLDEN));
}

/* Bytes [off, off + len) of stream key. */
static void ml_stream_fill(uint64_t key, uint64_t off, unsigned char *buf, size_t len)
{
	uint64_t i = off / 8, w;
	size_t skip = off % 8, n;

	if (skip && len) {
		w = ml_word(key, i++);
		n = 8 - skip < len ? 8 - skip : len;
		memcpy(buf, (unsigned char *)&w + skip, n);
		buf += n;
		len -= n;
	}
	for (; len >= 8; buf += 8, len -= 8) {
		w = ml_word(key, i++);
		memcpy(buf, &w, 8);
	}
	if (len) {
		w = ml_word(key, i);
		memcpy(buf, &w, len);
	}
}

/* Index of the first byte of buf that is not stream key at off, or len. */
static size_t ml_stream_check(uint64_t key, uint64_t off, const unsigned char *buf, size_t len)
{
	unsigned char want[4096];
	size_t done = 0, n, i;

	while (done < len) {
		n = len - done < sizeof(want) ? len - done : sizeof(want);
		ml_stream_fill(key, off + done, want, n);
		if (memcmp(want, buf + done, n)) {
			for (i = 0; want[i] == buf[done + i]; i++)
				;
			return done + i;
		}
		done += n;
	}
	return len;
}

static void ml_mismatch_msg(unsigned int *budget, const char *who, const char *dir,
			    uint64_t key, uint64_t off, unsigned char seen)
{
	unsigned char want;

	if (*budget >= ML_MSGS_MAX)
		return;
	if (++*budget == ML_MSGS_MAX)
		pr_err("MISMATCH: (further mismatch messages suppressed)");
	ml_stream_fill(key, off, &want, 1);
	pr_err("MISMATCH: %s: %s byte %" PRIu64 " of stream 0x%016" PRIx64 " is 0x%02x, expected 0x%02x",
	       who, dir, off, key, seen, want);
}

static void ml_put_be32(unsigned char *p, uint32_t v)
{
	v = htobe32(v);
	memcpy(p, &v, 4);
}

static void ml_put_be64(unsigned char *p, uint64_t v)
{
	v = htobe64(v);
	memcpy(p, &v, 8);
}

static uint32_t ml_get_be32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return be32toh(v);
}

static uint64_t ml_get_be64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return be64toh(v);
}

static void ml_hdr_put(unsigned char *p, enum ml_mode mode, uint32_t size, uint64_t seed,
		       uint64_t up, uint64_t down)
{
	memset(p, 0, ML_HDR_LEN);
	memcpy(p, ml_magic, 4);
	p[4] = ML_VERSION;
	p[5] = mode;
	ml_put_be32(p + 8, size);
	ml_put_be64(p + 16, seed);
	ml_put_be64(p + 24, up);
	ml_put_be64(p + 32, down);
}

static void ml_trl_put(unsigned char *p, uint64_t verified)
{
	memcpy(p, ml_trl_magic, 4);
	ml_put_be32(p + 4, 0);
	ml_put_be64(p + 8, verified);
}

/* ---- latency: log-linear buckets, 32 per power of two (<= 3.1% error) ---- */

#define ML_HIST_SUB_BITS 5
#define ML_HIST_SUB (1u << ML_HIST_SUB_BITS)
#define ML_HIST_BUCKETS ((64 - ML_HIST_SUB_BITS + 1) * ML_HIST_SUB)
#define ML_HIST_ERR_PCT (100.0 / ML_HIST_SUB)

static unsigned int ml_hist_index(uint64_t v)
{
	unsigned int e;

	if (v < ML_HIST_SUB)
		return v;
	e = 63 - __builtin_clzll(v);
	return (e - ML_HIST_SUB_BITS + 1) * ML_HIST_SUB +
	       ((v >> (e - ML_HIST_SUB_BITS)) & (ML_HIST_SUB - 1));
}

/* The highest value that lands in bucket i. */
static uint64_t ml_hist_high(unsigned int i)
{
	unsigned int b = i / ML_HIST_SUB, s = i % ML_HIST_SUB, shift;

	if (!b)
		return i;
	shift = b - 1;
	return (((uint64_t)(ML_HIST_SUB + s) << shift) - 1) + ((uint64_t)1 << shift);
}

/* ---- what a worker reports ---- */

struct ml_result {
	uint64_t ops, failed, started;
	uint64_t bytes_up, bytes_down, mismatches;
	uint64_t resumed, resume_offered;
	uint64_t start_ns, end_ns, established_ns;
	uint64_t lat_max;
	uint64_t reason[ML_R_NR];
	uint64_t alert[256];
	uint64_t hist[ML_HIST_BUCKETS];
};

enum ml_msg_type { ML_MSG_ESTABLISHED = 1, ML_MSG_RESULT };

struct ml_msg {
	uint32_t type;
	uint32_t worker;
	struct ml_result r;
};

static void ml_count_fail(struct ml_result *r, int reason)
{
	if (reason >= ML_R_NR)
		r->alert[(reason - ML_R_NR) & 0xff]++;
	else
		r->reason[reason]++;
	r->failed++;
}

/* ---- client worker ---- */

enum ml_state { CS_FREE, CS_CONNECTING, CS_HANDSHAKE, CS_RUN, CS_HOLD };

struct ml_conn {
	int fd;
	enum ml_state state;
	SSL *ssl;
	int alert;			/* alert received from the peer, -1 none */
	bool op_counted;		/* this op took its share of -n */
	bool hdr_sent;
	uint64_t op_start, op_deadline;	/* ns; deadline 0: none (held) */
	uint64_t seed;
	unsigned char *tx;
	size_t tx_cap, tx_len, tx_off;
	uint64_t up_off, up_left;	/* stream bytes generated, still to generate this op */
	uint64_t down_off, down_left;	/* stream bytes checked, still expected this op */
	unsigned char trl[ML_TRL_LEN];
	unsigned int trl_len, trl_want;
};

struct ml_worker {
	const struct ml_opts *o;
	unsigned int id;
	int ep, sfd, out_fd;
	SSL_CTX *ctx;
	SSL_SESSION *sess;		/* --resume: the latest session the server gave */
	struct ml_conn *conns;
	unsigned int n_conns;
	unsigned int active;		/* slots not CS_FREE */
	unsigned int inflight;		/* idle: connecting or handshaking */
	unsigned int next_open;		/* idle: next slot to open */
	unsigned int resolved;		/* idle: established or failed */
	bool est_reported, stopping;
	uint64_t budget;		/* share of -n, UINT64_MAX without */
	uint64_t now, stop_at, hold_until, op_seq;
	unsigned int msgs, verify_msg;
	struct ml_result r;
	unsigned char rx[ML_RX_BUF];
};

static void ml_info_cb(const SSL *ssl, int where, int ret)
{
	struct ml_conn *c = SSL_get_app_data(ssl);

	if (c && (where & SSL_CB_READ_ALERT) == SSL_CB_READ_ALERT &&
	    (ret & 0xff) != SSL_AD_CLOSE_NOTIFY)
		c->alert = ret & 0xff;
}

/* --resume: keep the newest session (TLS 1.3 ticket or TLS 1.2 session ID). */
static int ml_new_session_cb(SSL *ssl, SSL_SESSION *sess)
{
	struct ml_worker *w = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));

	SSL_SESSION_free(w->sess);
	w->sess = sess;
	return 1;	/* we keep the reference */
}

static bool ml_is_ip(const char *s)
{
	unsigned char a[16];

	return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

/* --leaves, loaded once per worker process: one client identity each. */
struct ml_leaf {
	X509 *cert;
	STACK_OF(X509) *chain;		/* the intermediates after it */
	EVP_PKEY *key;
};

static struct ml_leaf *ml_leaves;
static unsigned int ml_n_leaves, ml_next_leaf;

static int ml_leaf_load(struct ml_leaf *l, const char *chain, const char *key)
{
	BIO *b = BIO_new_file(chain, "r");
	X509 *x;

	if (!b)
		return -1;
	l->cert = PEM_read_bio_X509(b, NULL, NULL, NULL);
	l->chain = sk_X509_new_null();
	while (l->chain && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)))
		if (!sk_X509_push(l->chain, x))
			X509_free(x);
	BIO_free(b);
	ERR_clear_error();	/* the end of the file */
	b = BIO_new_file(key, "r");
	if (b)
		l->key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	BIO_free(b);
	if (!l->cert || !l->chain || !l->key || X509_check_private_key(l->cert, l->key) != 1)
		return -1;
	return 0;
}

static bool ml_leaves_load(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[2 * PATH_MAX + 2], *colon;
	unsigned int lineno = 0;
	size_t n;

	if (!f) {
		pr_err("--leaves \"%s\": %s", path, strerror(errno));
		return false;
	}
	while (fgets(line, sizeof(line), f)) {
		struct ml_leaf *grown;

		lineno++;
		n = strcspn(line, "\r\n");
		line[n] = 0;
		if (!n)
			continue;
		colon = strchr(line, ':');
		grown = colon ? realloc(ml_leaves, (ml_n_leaves + 1) * sizeof(*ml_leaves)) : NULL;
		if (!grown) {
			pr_err("--leaves \"%s\" line %u: %s", path, lineno,
			       colon ? "out of memory" : "not CHAIN:KEY");
			fclose(f);
			return false;
		}
		ml_leaves = grown;
		*colon = 0;
		memset(&ml_leaves[ml_n_leaves], 0, sizeof(*ml_leaves));
		if (ml_leaf_load(&ml_leaves[ml_n_leaves++], line, colon + 1)) {
			pr_err("--leaves \"%s\" line %u: cannot load \"%s\" with key \"%s\": %s",
			       path, lineno, line, colon + 1, ml_ssl_errors());
			fclose(f);
			return false;
		}
	}
	fclose(f);
	if (!ml_n_leaves)
		pr_err("--leaves \"%s\": no CHAIN:KEY line", path);
	return ml_n_leaves > 0;
}

/* The next --leaves identity on ssl; workers take every -j-th from their own. */
static int ml_use_next_leaf(SSL *ssl, const struct ml_worker *w)
{
	const struct ml_leaf *l;

	if (!ml_n_leaves)
		return 0;
	l = &ml_leaves[(w->id + ml_next_leaf++ * w->o->workers) % ml_n_leaves];
	return SSL_use_cert_and_key(ssl, l->cert, l->key, l->chain, 1) == 1 ? 0 : -1;
}

/*
 * The client context: the only place the client's TLS is configured.
 * Returns NULL with a message naming the option at fault.
 */
static SSL_CTX *ml_ctx_new(const struct ml_opts *o)
{
	X509_VERIFY_PARAM *vp;
	SSL_CTX *ctx;
	long mode = SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER;
	const char *name = o->sni ? o->sni : o->host;
	bool ip = ml_is_ip(name);

	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx) {
		pr_err("SSL_CTX_new: %s", ml_ssl_errors());
		return NULL;
	}
	/* Idle connections hold thousands of SSL objects: no idle buffers. */
	if (o->mode == ML_IDLE)
		mode |= SSL_MODE_RELEASE_BUFFERS;
	SSL_CTX_set_mode(ctx, mode);
	SSL_CTX_set_min_proto_version(ctx, o->min_version);
	SSL_CTX_set_max_proto_version(ctx, o->max_version);
	if (o->ciphers && SSL_CTX_set_cipher_list(ctx, o->ciphers) != 1) {
		pr_err("--ciphers \"%s\": %s", o->ciphers, ml_ssl_errors());
		goto out_free_ctx;
	}
	if (o->suites && SSL_CTX_set_ciphersuites(ctx, o->suites) != 1) {
		pr_err("--ciphersuites \"%s\": %s", o->suites, ml_ssl_errors());
		goto out_free_ctx;
	}
	if (o->cert && SSL_CTX_use_certificate_chain_file(ctx, o->cert) != 1) {
		pr_err("--cert \"%s\": %s", o->cert, ml_ssl_errors());
		goto out_free_ctx;
	}
	if (o->key && SSL_CTX_use_PrivateKey_file(ctx, o->key, SSL_FILETYPE_PEM) != 1) {
		pr_err("--key \"%s\": %s", o->key, ml_ssl_errors());
		goto out_free_ctx;
	}
	if (o->cert && o->key && SSL_CTX_check_private_key(ctx) != 1) {
		pr_err("--key \"%s\" does not match --cert \"%s\"", o->key, o->cert);
		goto out_free_ctx;
	}
	if (o->ca && SSL_CTX_load_verify_locations(ctx, o->ca, NULL) != 1) {
		pr_err("--ca \"%s\": %s", o->ca, ml_ssl_errors());
		goto out_free_ctx;
	}
	if (o->leaves && !ml_n_leaves && !ml_leaves_load(o->leaves))
		goto out_free_ctx;
	if (!o->no_verify) {
		/* The gateway's certificate must chain to --ca and name the target. */
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		vp = SSL_CTX_get0_param(ctx);
		if ((ip && X509_VERIFY_PARAM_set1_ip_asc(vp, name) != 1) ||
		    (!ip && X509_VERIFY_PARAM_set1_host(vp, name, 0) != 1)) {
			pr_err("cannot verify the server as \"%s\": %s", name, ml_ssl_errors());
			goto out_free_ctx;
		}
	}
	SSL_CTX_set_info_callback(ctx, ml_info_cb);
	if (o->resume) {
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT |
					       SSL_SESS_CACHE_NO_INTERNAL_STORE);
		SSL_CTX_sess_set_new_cb(ctx, ml_new_session_cb);
	}
	return ctx;

out_free_ctx:
	SSL_CTX_free(ctx);
	return NULL;
}

static bool ml_may_start(const struct ml_worker *w)
{
	return !w->stopping && w->r.started < w->budget && w->now < w->stop_at;
}

static void ml_record(struct ml_worker *w, uint64_t ns)
{
	w->r.hist[ml_hist_index(ns)]++;
	if (ns > w->r.lat_max)
		w->r.lat_max = ns;
	w->r.ops++;
}

/* Close a connection: close_notify when graceful (one nonblocking try). */
static void ml_conn_close(struct ml_worker *w, struct ml_conn *c, bool graceful)
{
	/*
	 * A client that is done does not wait for the peer's close_notify
	 * (the gateway sends none until its backend closed); the one record
	 * fits an empty socket buffer, and if not the close goes on anyway.
	 */
	if (graceful && c->ssl && SSL_shutdown(c->ssl) < 0)
		ERR_clear_error();
	SSL_free(c->ssl);
	c->ssl = NULL;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->tx);
	c->tx = NULL;
	if (w->o->mode == ML_IDLE && (c->state == CS_CONNECTING || c->state == CS_HANDSHAKE ||
				      c->state == CS_RUN)) {
		w->inflight--;
		w->resolved++;
	}
	c->state = CS_FREE;
	w->active--;
}

static void ml_conn_fail(struct ml_worker *w, struct ml_conn *c, int reason)
{
	if (!c->op_counted)
		w->r.started++;		/* an rr connection failing takes one op */
	ml_count_fail(&w->r, reason);
	ml_conn_close(w, c, false);
}

/* Open slot c: socket, nonblocking connect, SSL object. */
static void ml_conn_open(struct ml_worker *w, struct ml_conn *c)
{
	const struct ml_opts *o = w->o;
	int one = 1, fd;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = c };

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->alert = -1;
	c->state = CS_CONNECTING;
	w->active++;
	if (o->mode == ML_IDLE)
		w->inflight++;
	c->op_start = w->now;
	c->op_deadline = w->now + (uint64_t)(o->op_timeout * NS_PER_S);
	c->seed = ml_mix64(o->seed ^ ((uint64_t)w->id << 48) ^ ++w->op_seq);
	if (o->mode != ML_RR) {
		c->op_counted = true;
		w->r.started++;
	}
	fd = socket(o->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ml_conn_fail(w, c, ML_R_LOCAL_ERROR);
		return;
	}
	c->fd = fd;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&o->addr, o->addr_len) && errno != EINPROGRESS) {
		ml_conn_fail(w, c, errno == ECONNREFUSED ? ML_R_CONNECT_REFUSED :
							  ML_R_CONNECT_ERROR);
		return;
	}
	c->ssl = SSL_new(w->ctx);
	if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1 || ml_use_next_leaf(c->ssl, w) ||
	    epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev)) {
		ERR_clear_error();
		ml_conn_fail(w, c, ML_R_LOCAL_ERROR);
		return;
	}
	SSL_set_app_data(c->ssl, c);
	SSL_set_connect_state(c->ssl);
	/* SNI is a host name (RFC 6066): none for an address literal. */
	if (o->sni)
		SSL_set_tlsext_host_name(c->ssl, o->sni);
	else if (!ml_is_ip(o->host))
		SSL_set_tlsext_host_name(c->ssl, o->host);
	/*
	 * Each connection offers its own copy: OpenSSL's client marks the
	 * session object a connection resumed with as not resumable when a
	 * new ticket arrives on it, which would spoil the offer of every
	 * other connection set up with the same object meanwhile.
	 */
	if (w->sess) {
		SSL_SESSION *s = SSL_SESSION_dup(w->sess);

		if (s && SSL_set_session(c->ssl, s) == 1)
			w->r.resume_offered++;
		SSL_SESSION_free(s);
	}
}

/* Start the next slot in the background: idle ramps up, others refill. */
static void ml_slot_next(struct ml_worker *w, struct ml_conn *c)
{
	if (w->o->mode == ML_IDLE) {
		while (!w->stopping && w->inflight < w->o->ramp && w->next_open < w->n_conns)
			ml_conn_open(w, &w->conns[w->next_open++]);
	} else if (c && ml_may_start(w)) {
		ml_conn_open(w, c);
	}
}

/* Failure reason of a failed SSL call; drains the error queue. */
static int ml_ssl_reason(struct ml_conn *c, int ret, bool handshake)
{
	int e = SSL_get_error(c->ssl, ret), err = errno;
	unsigned long ee = ERR_peek_error();
	int reason;

	if (c->alert >= 0)
		reason = ML_R_ALERT(c->alert);
	else if (handshake && SSL_get_verify_result(c->ssl) != X509_V_OK)
		reason = ML_R_SERVER_VERIFY;
	else if (e == SSL_ERROR_ZERO_RETURN)
		reason = ML_R_CLOSED;
	else if (e == SSL_ERROR_SYSCALL && (err == ECONNRESET || err == EPIPE))
		reason = ML_R_RESET;
	else if (e == SSL_ERROR_SYSCALL ||
		 (e == SSL_ERROR_SSL && ERR_GET_REASON(ee) == SSL_R_UNEXPECTED_EOF_WHILE_READING))
		reason = handshake ? ML_R_HANDSHAKE_EOF : ML_R_EOF;
	else
		reason = handshake ? ML_R_HANDSHAKE_ERROR : ML_R_TLS_ERROR;
	ERR_clear_error();
	return reason;
}

/* Set up what the next op (or rr request) sends and expects. 0 or -ENOMEM. */
static int ml_op_begin(struct ml_worker *w, struct ml_conn *c)
{
	const struct ml_opts *o = w->o;

	if (!c->tx) {
		c->tx_cap = o->mode == ML_BULK ? ML_TX_CHUNK :
			    ML_HDR_LEN + o->size < ML_TX_CHUNK ? ML_HDR_LEN + o->size : ML_TX_CHUNK;
		c->tx = malloc(c->tx_cap);
		if (!c->tx)
			return -ENOMEM;
	}
	c->tx_len = c->tx_off = 0;
	c->trl_len = 0;
	switch (o->mode) {
	case ML_HANDSHAKE:
		c->up_left = c->down_left = o->size;
		c->trl_want = ML_TRL_LEN;
		break;
	case ML_BULK:
		c->up_left = o->up;
		c->down_left = o->down;
		c->trl_want = ML_TRL_LEN;
		break;
	case ML_RR:
		c->op_start = w->now;
		c->op_deadline = w->now + (uint64_t)(o->op_timeout * NS_PER_S);
		c->op_counted = true;
		w->r.started++;
		c->up_left = c->down_left = o->size;
		c->trl_want = 0;
		break;
	default:
		c->up_left = c->down_left = 0;
		c->trl_want = ML_TRL_LEN;
		break;
	}
	return 0;
}

/* Refill the send buffer: the header first, then the up stream. */
static bool ml_tx_refill(struct ml_worker *w, struct ml_conn *c)
{
	const struct ml_opts *o = w->o;
	size_t len = 0, k;

	if (c->tx_off < c->tx_len)
		return true;
	if (c->hdr_sent && !c->up_left)
		return false;
	if (!c->hdr_sent) {
		bool xfer = o->mode == ML_HANDSHAKE || o->mode == ML_BULK;

		ml_hdr_put(c->tx, o->mode, o->size, c->seed, xfer ? c->up_left : 0,
			   xfer ? c->down_left : 0);
		len = ML_HDR_LEN;
		c->hdr_sent = true;
	}
	k = c->up_left < c->tx_cap - len ? c->up_left : c->tx_cap - len;
	ml_stream_fill(c->seed, c->up_off, c->tx + len, k);
	c->up_off += k;
	c->up_left -= k;
	c->tx_len = len + k;
	c->tx_off = 0;
	return c->tx_len > 0;
}

/* Check received bytes: the down stream, then the trailer. 0 or a reason. */
static int ml_rx_consume(struct ml_worker *w, struct ml_conn *c, const unsigned char *buf,
			 size_t n)
{
	uint64_t key = c->seed ^ ML_DOWN_KEY;
	size_t k = n < c->down_left ? n : c->down_left, pos;
	char who[64];

	if (k) {
		pos = ml_stream_check(key, c->down_off, buf, k);
		if (pos < k) {
			snprintf(who, sizeof(who), "worker %u %s", w->id, ml_mode_names[w->o->mode]);
			ml_mismatch_msg(&w->msgs, who, "down", key, c->down_off + pos, buf[pos]);
			w->r.mismatches++;
			return ML_R_MISMATCH;
		}
		c->down_off += k;
		c->down_left -= k;
		buf += k;
		n -= k;
	}
	k = n < c->trl_want - c->trl_len ? n : c->trl_want - c->trl_len;
	memcpy(c->trl + c->trl_len, buf, k);
	c->trl_len += k;
	if (n > k)
		return ML_R_PROTOCOL;	/* more than the backend owes */
	if (c->trl_want && c->trl_len == c->trl_want) {
		uint64_t expect = w->o->mode == ML_IDLE ? 0 : c->up_off;

		if (memcmp(c->trl, ml_trl_magic, 4) || ml_get_be32(c->trl + 4))
			return ML_R_PROTOCOL;
		if (ml_get_be64(c->trl + 8) != expect)
			return ML_R_MISMATCH;
	}
	return 0;
}

/* The op on c completed. True if c goes on running (next rr request). */
static bool ml_op_done(struct ml_worker *w, struct ml_conn *c)
{
	const struct ml_opts *o = w->o;

	ml_record(w, w->now - c->op_start);
	switch (o->mode) {
	case ML_RR:
		w->r.bytes_up += o->size;
		w->r.bytes_down += o->size;
		if (!ml_may_start(w)) {
			ml_conn_close(w, c, true);
			return false;
		}
		if (ml_op_begin(w, c)) {
			ml_conn_fail(w, c, ML_R_LOCAL_ERROR);
			return false;
		}
		return true;
	case ML_IDLE:
		c->state = CS_HOLD;
		c->op_deadline = 0;
		free(c->tx);
		c->tx = NULL;
		w->inflight--;
		w->resolved++;
		return false;
	default:
		w->r.bytes_up += c->up_off;
		w->r.bytes_down += c->down_off;
		ml_conn_close(w, c, true);
		return false;
	}
}

static bool ml_op_complete(const struct ml_conn *c)
{
	return c->tx_off == c->tx_len && !c->up_left && c->hdr_sent && !c->down_left &&
	       c->trl_len == c->trl_want;
}

/* Move data both ways until both directions would block. */
static void ml_conn_run(struct ml_worker *w, struct ml_conn *c)
{
	int n, reason;

	for (;;) {
		bool moved = false;

		while (ml_tx_refill(w, c)) {
			n = SSL_write(c->ssl, c->tx + c->tx_off, c->tx_len - c->tx_off);
			if (n <= 0) {
				int e = SSL_get_error(c->ssl, n);

				if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
					break;
				ml_conn_fail(w, c, ml_ssl_reason(c, n, false));
				return;
			}
			c->tx_off += n;
			moved = true;
		}
		while (c->down_left || c->trl_len < c->trl_want) {
			n = SSL_read(c->ssl, w->rx, sizeof(w->rx));
			if (n <= 0) {
				int e = SSL_get_error(c->ssl, n);

				if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
					break;
				ml_conn_fail(w, c, ml_ssl_reason(c, n, false));
				return;
			}
			reason = ml_rx_consume(w, c, w->rx, n);
			if (reason) {
				ml_conn_fail(w, c, reason);
				return;
			}
			moved = true;
		}
		if (ml_op_complete(c)) {
			if (!ml_op_done(w, c))
				return;
			continue;
		}
		if (!moved)
			return;
	}
}

/* An established idle connection had an event: anything but quiet is a loss. */
static void ml_conn_hold(struct ml_worker *w, struct ml_conn *c)
{
	int n = SSL_read(c->ssl, w->rx, sizeof(w->rx)), e;

	if (n > 0) {
		ml_conn_fail(w, c, ML_R_PROTOCOL);
		return;
	}
	e = SSL_get_error(c->ssl, n);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return;
	ERR_clear_error();
	ml_conn_fail(w, c, ML_R_DROPPED);
}

static void ml_conn_advance(struct ml_worker *w, struct ml_conn *c)
{
	socklen_t len = sizeof(int);
	int err = 0, n;

	switch (c->state) {
	case CS_CONNECTING:
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) || err) {
			ml_conn_fail(w, c, err == ECONNREFUSED ? ML_R_CONNECT_REFUSED :
								 ML_R_CONNECT_ERROR);
			return;
		}
		c->state = CS_HANDSHAKE;
		/* fall through */
	case CS_HANDSHAKE:
		n = SSL_connect(c->ssl);
		if (n != 1) {
			int e = SSL_get_error(c->ssl, n);

			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
				return;
			e = ml_ssl_reason(c, n, true);
			if (e == ML_R_SERVER_VERIFY && !w->verify_msg++)
				pr_err("the gateway's certificate did not verify as \"%s\": %s "
				       "(check --ca and --sni)", w->o->sni ? w->o->sni : w->o->host,
				       X509_verify_cert_error_string(SSL_get_verify_result(c->ssl)));
			ml_conn_fail(w, c, e);
			return;
		}
		if (SSL_session_reused(c->ssl))
			w->r.resumed++;
		c->state = CS_RUN;
		if (w->o->mode == ML_HANDSHAKE && w->o->no_request) {
			ml_record(w, w->now - c->op_start);
			ml_conn_close(w, c, true);
			return;
		}
		/* rr: the connection is up, but -n or -d may have run out meanwhile. */
		if (w->o->mode == ML_RR && !ml_may_start(w)) {
			ml_conn_close(w, c, true);
			return;
		}
		if (ml_op_begin(w, c)) {
			ml_conn_fail(w, c, ML_R_LOCAL_ERROR);
			return;
		}
		/* fall through */
	case CS_RUN:
		ml_conn_run(w, c);
		return;
	case CS_HOLD:
		ml_conn_hold(w, c);
		return;
	case CS_FREE:
		return;
	}
}

/* Drive c after an event; a slot that freed up starts the next op. */
static void ml_conn_step(struct ml_worker *w, struct ml_conn *c)
{
	ml_conn_advance(w, c);
	if (c->state == CS_FREE || w->o->mode == ML_IDLE)
		ml_slot_next(w, c);
}

/* Timeouts, the end of the run, refilling slots whose open failed at once. */
static void ml_sweep(struct ml_worker *w)
{
	const struct ml_opts *o = w->o;
	unsigned int i;

	if (o->mode != ML_IDLE && w->now >= w->stop_at)
		w->stopping = true;
	if (o->mode == ML_IDLE && w->est_reported && w->hold_until && w->now >= w->hold_until)
		w->stopping = true;
	for (i = 0; i < w->n_conns; i++) {
		struct ml_conn *c = &w->conns[i];

		if (c->state == CS_FREE) {
			/* only an open that failed at once leaves a slot free here */
		} else if (o->mode == ML_IDLE && w->stopping) {
			if (c->state == CS_HOLD)
				ml_conn_close(w, c, true);
			else
				ml_conn_fail(w, c, ML_R_STOPPED);
		} else if (c->op_deadline && w->now >= c->op_deadline) {
			ml_conn_fail(w, c, c->state == CS_CONNECTING ? ML_R_TIMEOUT_CONNECT :
					   c->state == CS_HANDSHAKE ? ML_R_TIMEOUT_HANDSHAKE :
					   ML_R_TIMEOUT_DATA);
		}
		if (o->mode != ML_IDLE && c->state == CS_FREE && ml_may_start(w))
			ml_conn_open(w, c);
	}
	if (o->mode == ML_IDLE)
		ml_slot_next(w, NULL);
}

static int ml_write_all(int fd, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -errno;
		p += n;
		len -= n;
	}
	return 0;
}

static int ml_report(struct ml_worker *w, enum ml_msg_type type)
{
	static struct ml_msg msg;

	msg.type = type;
	msg.worker = w->id;
	msg.r = w->r;
	return ml_write_all(w->out_fd, &msg, sizeof(msg));
}

/* One worker: conns slots, budget ops. Returns the process exit status. */
static int ml_worker_main(const struct ml_opts *o, unsigned int id, unsigned int conns,
			  uint64_t budget, int out_fd)
{
	struct epoll_event evs[512];
	struct ml_worker *w;
	sigset_t sigs;
	uint64_t next_sweep;
	int i, n, ret = 1;

	w = calloc(1, sizeof(*w));
	if (!w)
		return 1;
	w->o = o;
	w->id = id;
	w->out_fd = out_fd;
	w->n_conns = conns;
	w->budget = budget;
	w->conns = calloc(conns, sizeof(*w->conns));
	w->ep = epoll_create1(EPOLL_CLOEXEC);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	w->sfd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
	w->ctx = ml_ctx_new(o);
	if (!w->conns || w->ep < 0 || w->sfd < 0 || !w->ctx)
		goto out_free;
	SSL_CTX_set_app_data(w->ctx, w);
	epoll_ctl(w->ep, EPOLL_CTL_ADD, w->sfd,
		  &(struct epoll_event){ .events = EPOLLIN, .data.ptr = NULL });
	for (i = 0; i < (int)conns; i++)
		w->conns[i].fd = -1;

	w->now = w->r.start_ns = ml_now();
	w->stop_at = o->mode == ML_IDLE ? UINT64_MAX :
		     w->now + (uint64_t)(o->duration * NS_PER_S);
	next_sweep = w->now + ML_SWEEP_NS;
	if (o->mode == ML_IDLE)
		ml_slot_next(w, NULL);
	else
		for (i = 0; i < (int)conns && ml_may_start(w); i++)
			ml_conn_open(w, &w->conns[i]);

	for (;;) {
		if (o->mode == ML_IDLE && !w->est_reported && w->resolved == w->n_conns) {
			w->est_reported = true;
			w->r.established_ns = w->now;
			if (o->hold > 0)
				w->hold_until = w->now + (uint64_t)(o->hold * NS_PER_S);
			ml_report(w, ML_MSG_ESTABLISHED);
		}
		if (!w->active && (w->stopping || (o->mode == ML_IDLE ?
				   w->next_open == w->n_conns : !ml_may_start(w))))
			break;
		n = epoll_wait(w->ep, evs, 512, ML_SWEEP_NS / 1000000);
		if (n < 0 && errno != EINTR)
			goto out_free;
		w->now = ml_now();
		for (i = 0; i < n; i++) {
			if (!evs[i].data.ptr) {
				struct signalfd_siginfo si;

				while (read(w->sfd, &si, sizeof(si)) == sizeof(si))
					w->stopping = true;
				next_sweep = 0;
				continue;
			}
			/* Latency is taken when the event is handled, not when the batch arrived. */
			w->now = ml_now();
			ml_conn_step(w, evs[i].data.ptr);
		}
		if (w->now >= next_sweep) {
			ml_sweep(w);
			next_sweep = w->now + ML_SWEEP_NS;
		}
	}
	w->r.end_ns = ml_now();
	ret = ml_report(w, ML_MSG_RESULT) ? 1 : 0;

out_free:
	if (w->conns)
		for (i = 0; i < (int)conns; i++)
			if (w->conns[i].state != CS_FREE)
				ml_conn_close(w, &w->conns[i], false);
	SSL_SESSION_free(w->sess);
	SSL_CTX_free(w->ctx);
	if (w->sfd >= 0)
		close(w->sfd);
	if (w->ep >= 0)
		close(w->ep);
	free(w->conns);
	free(w);
	return ret;
}

/* ---- client parent: fork, merge, report ---- */

static void ml_merge(struct ml_result *t, const struct ml_result *r, bool first)
{
	unsigned int i;

	t->ops += r->ops;
	t->failed += r->failed;
	t->started += r->started;
	t->bytes_up += r->bytes_up;
	t->bytes_down += r->bytes_down;
	t->mismatches += r->mismatches;
	t->resumed += r->resumed;
	t->resume_offered += r->resume_offered;
	if (first || r->start_ns < t->start_ns)
		t->start_ns = r->start_ns;
	if (r->end_ns > t->end_ns)
		t->end_ns = r->end_ns;
	if (r->established_ns > t->established_ns)
		t->established_ns = r->established_ns;
	if (r->lat_max > t->lat_max)
		t->lat_max = r->lat_max;
	for (i = 0; i < ML_R_NR; i++)
		t->reason[i] += r->reason[i];
	for (i = 0; i < 256; i++)
		t->alert[i] += r->alert[i];
	for (i = 0; i < ML_HIST_BUCKETS; i++)
		t->hist[i] += r->hist[i];
}

/* Percentile q (0..1) in microseconds: the top of its bucket, at most the max. */
static double ml_percentile_us(const struct ml_result *r, double q)
{
	uint64_t total = 0, rank, seen = 0, v = 0;
	unsigned int i;

	for (i = 0; i < ML_HIST_BUCKETS; i++)
		total += r->hist[i];
	if (!total)
		return 0;
	rank = (uint64_t)(q * total);
	if ((double)rank < q * total)
		rank++;
	if (!rank)
		rank = 1;
	for (i = 0; i < ML_HIST_BUCKETS; i++) {
		seen += r->hist[i];
		if (seen >= rank) {
			v = ml_hist_high(i);
			break;
		}
	}
	if (v > r->lat_max)
		v = r->lat_max;
	return v / 1000.0;
}

static const char *ml_alert_token(unsigned int desc)
{
	static char buf[64];
	const char *s = SSL_alert_desc_string_long(desc);
	size_t i, o = snprintf(buf, sizeof(buf), "alert_");

	/* OpenSSL 3.0 has no names for the alerts TLS 1.3 added. */
	if (!strcmp(s, "unknown"))
		s = desc == 109 ? "missing extension" : desc == 116 ? "certificate required" :
		    desc == 120 ? "no application protocol" : "unknown";

	for (i = 0; s[i] && o + 1 < sizeof(buf); i++) {
		char ch = s[i];

		buf[o++] = (ch >= 'A' && ch <= 'Z') ? ch - 'A' + 'a' :
			   ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')) ? ch : '_';
	}
	buf[o] = '\0';
	return buf;
}

static const char *ml_resume_note(const struct ml_opts *o, const struct ml_result *t)
{
	if (!o->resume || t->resumed)
		return NULL;
	if (!t->resume_offered)
		return "the gateway issued no session ticket or session ID: every handshake was full";
	return "sessions were offered but the gateway resumed none";
}

static void ml_print_human(const struct ml_opts *o, const struct ml_result *t, double dur,
			   double cpu_user, double cpu_sys)
{
	const char *note = ml_resume_note(o, t);
	unsigned int i;
	bool any = false;

	printf("mtls-load %s: %u workers, %u connections, %.3f s, seed %" PRIu64 "\n",
	       ml_mode_names[o->mode], o->workers, o->conns, dur, o->seed);
	printf("  ops          %" PRIu64 " ok, %" PRIu64 " failed, %.1f ok/s\n",
	       t->ops, t->failed, dur > 0 ? t->ops / dur : 0.0);
	if (o->mode == ML_IDLE && t->established_ns)
		printf("  established  %" PRIu64 " in %.3f s\n", t->ops,
		       (t->established_ns - t->start_ns) / 1e9);
	if (t->ops)
		printf("  latency us   p50 %.1f  p99 %.1f  p99.9 %.1f  max %.1f"
		       "  (log buckets, +%.1f%%)\n",
		       ml_percentile_us(t, 0.50), ml_percentile_us(t, 0.99),
		       ml_percentile_us(t, 0.999), t->lat_max / 1000.0, ML_HIST_ERR_PCT);
	if (t->bytes_up || t->bytes_down)
		printf("  bytes        up %" PRIu64 " (%.1f MiB/s), down %" PRIu64 " (%.1f MiB/s)\n",
		       t->bytes_up, dur > 0 ? t->bytes_up / dur / 1048576 : 0.0,
		       t->bytes_down, dur > 0 ? t->bytes_down / dur / 1048576 : 0.0);
	if (o->resume)
		printf("  resumed      %" PRIu64 " of %" PRIu64 " handshakes%s%s\n",
		       t->resumed, t->ops + t->failed, note ? ": " : "", note ? note : "");
	for (i = 0; i < ML_R_NR + 256; i++) {
		uint64_t n = i < ML_R_NR ? t->reason[i] : t->alert[i - ML_R_NR];

		if (!n)
			continue;
		printf("%s %s %" PRIu64, any ? "," : "  failures    ",
		       i < ML_R_NR ? ml_reason_names[i] : ml_alert_token(i - ML_R_NR), n);
		any = true;
	}
	if (any)
		printf("\n");
	printf("  mismatches   %" PRIu64 "%s\n", t->mismatches,
	       t->mismatches ? "   <-- DATA CORRUPTED" : "");
	printf("  client cpu   %.2f s user, %.2f s sys\n", cpu_user, cpu_sys);
}

static void ml_print_json(const struct ml_opts *o, const struct ml_result *t, double dur,
			  double cpu_user, double cpu_sys)
{
	const char *note = ml_resume_note(o, t);
	unsigned int i;
	bool any = false;

	printf("{\"mode\":\"%s\",\"workers\":%u,\"concurrency\":%u,\"duration_s\":%.6f,"
	       "\"seed\":%" PRIu64 ",\"ops\":%" PRIu64 ",\"ops_per_s\":%.3f,\"failed\":%" PRIu64
	       ",\"failures\":{", ml_mode_names[o->mode], o->workers, o->conns, dur, o->seed,
	       t->ops, dur > 0 ? t->ops / dur : 0.0, t->failed);
	for (i = 0; i < ML_R_NR + 256; i++) {
		uint64_t n = i < ML_R_NR ? t->reason[i] : t->alert[i - ML_R_NR];

		if (!n)
			continue;
		printf("%s\"%s\":%" PRIu64, any ? "," : "",
		       i < ML_R_NR ? ml_reason_names[i] : ml_alert_token(i - ML_R_NR), n);
		any = true;
	}
	printf("},\"bytes_up\":%" PRIu64 ",\"bytes_down\":%" PRIu64
	       ",\"up_Bps\":%.1f,\"down_Bps\":%.1f,"
	       "\"latency_us\":{\"p50\":%.3f,\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f,"
	       "\"samples\":%" PRIu64 ",\"resolution_pct\":%.2f},\"mismatches\":%" PRIu64 ","
	       "\"resumed\":%" PRIu64 ",\"resume_offered\":%" PRIu64 ",",
	       t->bytes_up, t->bytes_down, dur > 0 ? t->bytes_up / dur : 0.0,
	       dur > 0 ? t->bytes_down / dur : 0.0, ml_percentile_us(t, 0.50),
	       ml_percentile_us(t, 0.99), ml_percentile_us(t, 0.999), t->lat_max / 1000.0,
	       t->ops, ML_HIST_ERR_PCT, t->mismatches, t->resumed, t->resume_offered);
	if (o->mode == ML_IDLE)
		printf("\"establish_s\":%.6f,", t->established_ns ?
		       (t->established_ns - t->start_ns) / 1e9 : 0.0);
	if (note)
		printf("\"note\":\"%s\",", note);
	printf("\"cpu_s\":{\"user\":%.3f,\"sys\":%.3f}}\n", cpu_user, cpu_sys);
}

/* Enough descriptors for the largest worker; root may raise the hard limit. */
static void ml_raise_nofile(uint64_t need, bool usage_on_fail)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return;
	if (rl.rlim_cur >= need)
		return;
	if (rl.rlim_max < need) {
		struct rlimit hi = { need, need };

		if (!setrlimit(RLIMIT_NOFILE, &hi))
			return;
		if (usage_on_fail)
			ml_usage_err("-c: %" PRIu64 " descriptors per worker needed, the hard "
				     "RLIMIT_NOFILE is %llu: raise it (ulimit -Hn) or use more -j",
				     need, (unsigned long long)rl.rlim_max);
		need = rl.rlim_max;
	}
	rl.rlim_cur = need;
	setrlimit(RLIMIT_NOFILE, &rl);
}

struct ml_child {
	pid_t pid;
	int fd;
	size_t got;
	bool done;
	struct ml_msg msg;
};

static int ml_client_main(struct ml_opts *o)
{
	struct ml_child *ch;
	struct ml_result *t;
	struct rusage ru;
	uint64_t ceiling, established = 0, est_workers = 0, est_start = UINT64_MAX, est_end = 0;
	unsigned int i, open_pipes = 0, reported = 0;
	sigset_t sigs;
	double dur;
	bool lost = false, forwarded = false;
	int sfd, ret = 1;
	SSL_CTX *probe;

	/* Fail on bad files here, once, not in every worker. */
	probe = ml_ctx_new(o);
	if (!probe)
		exit(2);
	SSL_CTX_free(probe);
	ml_raise_nofile((o->conns + o->workers - 1) / o->workers + 64, true);
	signal(SIGPIPE, SIG_IGN);

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	sfd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sfd < 0) {
		pr_err("signalfd: %s", strerror(errno));
		return 1;
	}
	ch = calloc(o->workers, sizeof(*ch));
	t = calloc(1, sizeof(*t));
	if (!ch || !t) {
		pr_err("out of memory");
		goto out_free;
	}
	fflush(NULL);
	for (i = 0; i < o->workers; i++) {
		unsigned int conns = o->conns / o->workers + (i < o->conns % o->workers);
		uint64_t budget = !o->count ? UINT64_MAX :
				  o->count / o->workers + (i < o->count % o->workers);
		int p[2];

		if (pipe2(p, O_CLOEXEC)) {
			pr_err("pipe: %s", strerror(errno));
			goto out_kill;
		}
		ch[i].pid = fork();
		if (ch[i].pid < 0) {
			pr_err("fork: %s", strerror(errno));
			close(p[0]);
			close(p[1]);
			goto out_kill;
		}
		if (ch[i].pid == 0) {
			unsigned int k;

			for (k = 0; k < i; k++)
				close(ch[k].fd);
			close(p[0]);
			close(sfd);
			free(t);
			free(ch);
			exit(ml_worker_main(o, i, conns, budget, p[1]));
		}
		close(p[1]);
		ch[i].fd = p[0];
		open_pipes++;
	}

	/*
	 * Every op ends by its timeout; the workers get a margin on top. Idle
	 * connections are bounded by their op timeout while they open, and
	 * held for --hold (or until a signal) once all are.
	 */
	ceiling = o->mode == ML_IDLE ? UINT64_MAX :
		  ml_now() + (uint64_t)((o->duration + o->op_timeout) * NS_PER_S) + 10 * NS_PER_S;
	while (open_pipes) {
		struct pollfd pfd[ML_MAX_WORKERS + 1];
		unsigned int map[ML_MAX_WORKERS], np = 0;

		for (i = 0; i < o->workers; i++) {
			if (ch[i].fd < 0)
				continue;
			map[np] = i;
			pfd[np++] = (struct pollfd){ .fd = ch[i].fd, .events = POLLIN };
		}
		pfd[np] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		if (poll(pfd, np + 1, 100) < 0 && errno != EINTR)
			break;
		if (pfd[np].revents & POLLIN) {
			struct signalfd_siginfo si;

			while (read(sfd, &si, sizeof(si)) == sizeof(si))
				;
			for (i = 0; i < o->workers && !forwarded; i++)
				kill(ch[i].pid, SIGTERM);
			forwarded = true;
		}
		if (ml_now() > ceiling) {
			pr_err("workers did not finish in time: killing them");
			for (i = 0; i < o->workers; i++)
				if (ch[i].fd >= 0)
					kill(ch[i].pid, SIGKILL);
			ceiling = UINT64_MAX;
		}
		for (i = 0; i < np; i++) {
			struct ml_child *c = &ch[map[i]];
			ssize_t n;

			if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			n = read(c->fd, (char *)&c->msg + c->got, sizeof(c->msg) - c->got);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				close(c->fd);
				c->fd = -1;
				open_pipes--;
				continue;
			}
			c->got += n;
			if (c->got < sizeof(c->msg))
				continue;
			c->got = 0;
			if (c->msg.type == ML_MSG_ESTABLISHED) {
				established += c->msg.r.ops;
				if (c->msg.r.start_ns < est_start)
					est_start = c->msg.r.start_ns;
				if (c->msg.r.established_ns > est_end)
					est_end = c->msg.r.established_ns;
				if (++est_workers < o->workers)
					continue;
				pr_info("idle: %" PRIu64 " of %u connections established in %.3f s; "
					"holding %s", established, o->conns, (est_end - est_start) / 1e9,
					o->hold > 0 ? "for --hold" : "until SIGTERM");
				if (o->hold > 0)
					ceiling = ml_now() + (uint64_t)(o->hold * NS_PER_S) +
						  10 * NS_PER_S;
			} else if (c->msg.type == ML_MSG_RESULT && !c->done) {
				ml_merge(t, &c->msg.r, !reported++);
				c->done = true;
			}
		}
	}
	for (i = 0; i < o->workers; i++) {
		int status;

		waitpid(ch[i].pid, &status, 0);
		if (!ch[i].done || !WIFEXITED(status) || WEXITSTATUS(status)) {
			pr_err("worker %u (pid %d) ended without a result", i, (int)ch[i].pid);
			ml_count_fail(t, ML_R_WORKER_LOST);
			lost = true;
		}
	}
	getrusage(RUSAGE_CHILDREN, &ru);
	dur = t->end_ns > t->start_ns ? (t->end_ns - t->start_ns) / 1e9 : 0;
	if (o->json)
		ml_print_json(o, t, dur, ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6,
			      ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
	else
		ml_print_human(o, t, dur, ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6,
			       ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
	if (t->mismatches)
		pr_err("%" PRIu64 " MISMATCHES: the data that arrived is not the data sent",
		       t->mismatches);
	ret = t->failed || t->mismatches || lost || !t->ops ? 1 : 0;
	fflush(stdout);
	goto out_free;

out_kill:
	/* Not all workers could start: stop the ones that did. */
	while (i--) {
		kill(ch[i].pid, SIGKILL);
		waitpid(ch[i].pid, NULL, 0);
		close(ch[i].fd);
	}
out_free:
	close(sfd);
	free(ch);
	free(t);
	return ret;
}

/* ---- backend ---- */

struct mb_conn {
	struct mb_conn *prev, *next;	/* every live connection, for the exit */
	int fd;
	SSL *ssl;			/* --cert: TLS, NULL plain */
	bool hs_done;
	unsigned char hdr[ML_HDR_LEN];
	unsigned int hdr_len;
	unsigned char mode;
	uint32_t size;
	uint64_t seed, up_total, down_total, up_off, down_off, owed;
	unsigned char *buf;		/* down stream being sent */
	unsigned char trl[ML_TRL_LEN];
	const unsigned char *tx;
	size_t tx_len, tx_off;
	bool trl_queued, rx_eof;
};

struct mb_stats {
	uint64_t accepted, active, max_active, completed;
	uint64_t by_mode[ML_NR_MODES];
	uint64_t verified, sent, mismatches, protocol, truncated, resets;
	uint64_t empty;			/* closed before a header: handshake --no-request */
	uint64_t tls_failed, tls_resumed;	/* --cert: handshakes failed, resumed */
};

struct mb {
	const struct ml_opts *o;
	SSL_CTX *ctx;			/* --cert: the TLS server, NULL plain */
	int ep, lfd, sfd;
	bool accepting;
	unsigned int msgs;
	struct mb_stats st;
	struct mb_conn *conns;
	unsigned char rx[ML_RX_BUF];
};

static int mb_listen_tag, mb_signal_tag;

static void mb_close(struct mb *b, struct mb_conn *c, bool reset)
{
	if (reset) {
		struct linger l = { 1, 0 };

		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	} else if (c->ssl && c->hs_done) {
		SSL_shutdown(c->ssl);	/* close_notify, best effort */
	}
	SSL_free(c->ssl);
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		b->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c->buf);
	free(c);
	b->st.active--;
	/* A descriptor is free again: accept what waited (EMFILE). */
	if (!b->accepting) {
		b->accepting = true;
		epoll_ctl(b->ep, EPOLL_CTL_MOD, b->lfd,
			  &(struct epoll_event){ .events = EPOLLIN, .data.ptr = &mb_listen_tag });
	}
}

static bool mb_hdr_parse(struct mb_conn *c)
{
	const unsigned char *h = c->hdr;

	if (memcmp(h, ml_magic, 4) || h[4] != ML_VERSION || h[5] < ML_HANDSHAKE ||
	    h[5] > ML_IDLE || h[6] || h[7])
		return false;
	c->mode = h[5];
	c->size = ml_get_be32(h + 8);
	c->seed = ml_get_be64(h + 16);
	c->up_total = ml_get_be64(h + 24);
	c->down_total = ml_get_be64(h + 32);
	if (c->size > ML_MAX_SIZE || (c->mode == ML_RR && !c->size))
		return false;
	if ((c->mode == ML_RR || c->mode == ML_IDLE) && (c->up_total || c->down_total))
		return false;
	if (c->mode == ML_IDLE) {
		ml_trl_put(c->trl, 0);
		c->trl_queued = true;
	}
	return true;
}

/* Check what arrived. false: the connection must be reset. */
static bool mb_consume(struct mb *b, struct mb_conn *c, const unsigned char *buf, size_t n)
{
	size_t k, pos;
	char who[64];

	if (c->hdr_len < ML_HDR_LEN) {
		k = ML_HDR_LEN - c->hdr_len < n ? ML_HDR_LEN - c->hdr_len : n;
		memcpy(c->hdr + c->hdr_len, buf, k);
		c->hdr_len += k;
		buf += k;
		n -= k;
		if (c->hdr_len < ML_HDR_LEN)
			return true;
		if (!mb_hdr_parse(c)) {
			b->st.protocol++;
			pr_err("backend: bad header: not an mtls-load client (or a proxy header?)");
			return false;
		}
		b->st.by_mode[c->mode]++;
	}
	if (!n)
		return true;
	if (c->mode == ML_IDLE || (c->mode != ML_RR && n > c->up_total - c->up_off)) {
		b->st.protocol++;
		return false;
	}
	pos = ml_stream_check(c->seed, c->up_off, buf, n);
	if (pos < n) {
		snprintf(who, sizeof(who), "backend %s", ml_mode_names[c->mode]);
		ml_mismatch_msg(&b->msgs, who, "up", c->seed, c->up_off + pos, buf[pos]);
		b->st.mismatches++;
		return false;
	}
	if (c->mode == ML_RR)
		c->owed += ((c->up_off + n) / c->size - c->up_off / c->size) * c->size;
	c->up_off += n;
	b->st.verified += n;
	return true;
}

/* Queue the next bytes to send; false when nothing is due. */
static bool mb_tx_refill(struct mb *b, struct mb_conn *c)
{
	uint64_t left, n = b->o->corrupt_every, i;
	size_t k;

	if (c->tx_off < c->tx_len)
		return true;
	if (c->hdr_len < ML_HDR_LEN)
		return false;
	left = c->mode == ML_RR ? c->owed : c->down_total - c->down_off;
	if (left) {
		if (!c->buf) {
			c->buf = malloc(ML_BE_CHUNK);
			if (!c->buf)
				return false;
		}
		k = left < ML_BE_CHUNK ? left : ML_BE_CHUNK;
		ml_stream_fill(c->seed ^ ML_DOWN_KEY, c->down_off, c->buf, k);
		/* --corrupt-every: flip the low bit of every n-th byte (tests). */
		for (i = n ? n - 1 - c->down_off % n : k; i < k; i += n)
			c->buf[i] ^= 1;
		c->down_off += k;
		if (c->mode == ML_RR)
			c->owed -= k;
		c->tx = c->buf;
		c->tx_len = k;
		c->tx_off = 0;
		return true;
	}
	if (!c->trl_queued && c->mode != ML_RR && c->up_off == c->up_total) {
		ml_trl_put(c->trl, c->up_off);
		c->trl_queued = true;
	}
	if (c->trl_queued && c->tx != c->trl) {
		c->tx = c->trl;
		c->tx_len = ML_TRL_LEN;
		c->tx_off = 0;
		return true;
	}
	return false;
}

/* recv() or SSL_read(): > 0 bytes, 0 the end (FIN or close_notify), -EAGAIN, -EIO. */
static ssize_t mb_recv(struct mb_conn *c, unsigned char *buf, size_t len)
{
	ssize_t n;
	int r, e;

	if (!c->ssl) {
		n = recv(c->fd, buf, len, 0);
		return n >= 0 ? n : errno == EAGAIN || errno == EINTR ? -EAGAIN : -EIO;
	}
	r = SSL_read(c->ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
	if (r > 0)
		return r;
	e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return -EAGAIN;
	ERR_clear_error();
	/* close_notify, or a FIN without one: the end either way. */
	return e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && !errno) ? 0 : -EIO;
}

/* send() or SSL_write(): > 0 bytes, -EAGAIN, -EIO. */
static ssize_t mb_send(struct mb_conn *c, const unsigned char *buf, size_t len)
{
	ssize_t n;
	int r, e;

	if (!c->ssl) {
		n = send(c->fd, buf, len, MSG_NOSIGNAL);
		return n > 0 ? n : n < 0 && (errno == EAGAIN || errno == EINTR) ? -EAGAIN : -EIO;
	}
	r = SSL_write(c->ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
	if (r > 0)
		return r;
	e = SSL_get_error(c->ssl, r);
	ERR_clear_error();
	return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? -EAGAIN : -EIO;
}

/* --cert: the server handshake, nonblocking. true once it is done. */
static bool mb_tls_accept(struct mb *b, struct mb_conn *c)
{
	int r, e;

	if (!c->ssl || c->hs_done)
		return true;
	r = SSL_accept(c->ssl);
	if (r == 1) {
		c->hs_done = true;
		b->st.tls_resumed += SSL_session_reused(c->ssl);
		return true;
	}
	e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return false;
	b->st.tls_failed++;
	ERR_clear_error();
	mb_close(b, c, false);
	return false;
}

static void mb_step(struct mb *b, struct mb_conn *c)
{
	ssize_t n;

	if (!mb_tls_accept(b, c))
		return;
	for (;;) {
		bool moved = false;

		/* rr: stop reading while many answers are unsent (backpressure). */
		while (!c->rx_eof && c->owed < ML_RR_OWED_MAX) {
			n = mb_recv(c, b->rx, sizeof(b->rx));
			if (n > 0) {
				if (!mb_consume(b, c, b->rx, n)) {
					mb_close(b, c, true);
					return;
				}
				moved = true;
			} else if (n == 0) {
				c->rx_eof = true;
				moved = true;
			} else if (n == -EAGAIN) {
				break;
			} else {
				b->st.resets++;
				mb_close(b, c, false);
				return;
			}
		}
		while (mb_tx_refill(b, c)) {
			n = mb_send(c, c->tx + c->tx_off, c->tx_len - c->tx_off);
			if (n > 0) {
				if (c->tx != c->trl)
					b->st.sent += n;
				c->tx_off += n;
				moved = true;
			} else if (n == -EAGAIN) {
				break;
			} else {
				b->st.resets++;
				mb_close(b, c, false);
				return;
			}
		}
		if (c->rx_eof && c->tx_off == c->tx_len) {
			bool whole = c->hdr_len == ML_HDR_LEN &&
				     (c->mode == ML_RR ? !(c->up_off % c->size) && !c->owed :
				      c->mode == ML_IDLE || (c->up_off == c->up_total &&
							     c->down_off == c->down_total &&
							     c->tx == c->trl));

			if (whole)
				b->st.completed++;
			else if (!c->hdr_len)
				b->st.empty++;
			else
				b->st.truncated++;
			mb_close(b, c, false);
			return;
		}
		if (!moved)
			return;
	}
}

static void mb_accept(struct mb *b)
{
	for (;;) {
		struct mb_conn *c;
		int fd, one = 1;

		fd = accept4(b->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE) {
				pr_err("backend: out of file descriptors at %" PRIu64
				       " connections: raise RLIMIT_NOFILE", b->st.active);
				b->accepting = false;
				epoll_ctl(b->ep, EPOLL_CTL_MOD, b->lfd,
					  &(struct epoll_event){ .data.ptr = &mb_listen_tag });
			}
			return;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			return;
		}
		c->fd = fd;
		if (b->ctx && (!(c->ssl = SSL_new(b->ctx)) || SSL_set_fd(c->ssl, fd) != 1)) {
			SSL_free(c->ssl);
			close(fd);
			free(c);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (epoll_ctl(b->ep, EPOLL_CTL_ADD, fd,
			      &(struct epoll_event){ .events = EPOLLIN | EPOLLOUT | EPOLLET,
						     .data.ptr = c })) {
			close(fd);
			free(c);
			continue;
		}
		c->next = b->conns;
		if (c->next)
			c->next->prev = c;
		b->conns = c;
		b->st.accepted++;
		if (++b->st.active > b->st.max_active)
			b->st.max_active = b->st.active;
	}
}

static void mb_print(const struct mb *b, bool json)
{
	const struct mb_stats *s = &b->st;

	if (json) {
		printf("{\"mode\":\"backend\",\"connections\":%" PRIu64 ",\"max_active\":%" PRIu64
		       ",\"active\":%" PRIu64 ",\"completed\":%" PRIu64 ",\"by_mode\":{\"handshake\":%"
		       PRIu64 ",\"bulk\":%" PRIu64 ",\"rr\":%" PRIu64 ",\"idle\":%" PRIu64 "},"
		       "\"bytes_verified\":%" PRIu64 ",\"bytes_sent\":%" PRIu64 ",\"mismatches\":%"
		       PRIu64 ",\"protocol_errors\":%" PRIu64 ",\"truncated\":%" PRIu64
		       ",\"resets\":%" PRIu64 ",\"empty\":%" PRIu64 ",\"tls_failed\":%" PRIu64
		       ",\"tls_resumed\":%" PRIu64 "}\n",
		       s->accepted, s->max_active, s->active, s->completed,
		       s->by_mode[ML_HANDSHAKE], s->by_mode[ML_BULK], s->by_mode[ML_RR],
		       s->by_mode[ML_IDLE], s->verified, s->sent, s->mismatches, s->protocol,
		       s->truncated, s->resets, s->empty, s->tls_failed, s->tls_resumed);
		return;
	}
	printf("mtls-load backend: %" PRIu64 " connections (handshake %" PRIu64 ", bulk %" PRIu64
	       ", rr %" PRIu64 ", idle %" PRIu64 ", empty %" PRIu64 "), %" PRIu64
	       " completed, max %" PRIu64 " at once\n", s->accepted, s->by_mode[ML_HANDSHAKE],
	       s->by_mode[ML_BULK], s->by_mode[ML_RR], s->by_mode[ML_IDLE], s->empty,
	       s->completed, s->max_active);
	printf("  bytes        %" PRIu64 " verified up, %" PRIu64 " sent down\n",
	       s->verified, s->sent);
	printf("  errors       %" PRIu64 " mismatches, %" PRIu64 " protocol, %" PRIu64
	       " truncated, %" PRIu64 " resets\n", s->mismatches, s->protocol, s->truncated,
	       s->resets);
	if (b->ctx)
		printf("  tls          %" PRIu64 " handshakes failed, %" PRIu64 " resumed\n",
		       s->tls_failed, s->tls_resumed);
}

static int mb_listen(const struct ml_opts *o)
{
	char host[INET6_ADDRSTRLEN], serv[16];
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd, one = 1;

	fd = socket(o->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&o->addr, o->addr_len) || listen(fd, 4096) ||
	    getsockname(fd, (struct sockaddr *)&ss, &len)) {
		int err = -errno;

		close(fd);
		return err;
	}
	if (getnameinfo((struct sockaddr *)&ss, len, host, sizeof(host), serv, sizeof(serv),
			NI_NUMERICHOST | NI_NUMERICSERV))
		snprintf(serv, sizeof(serv), "?");
	/* The ready line: tests and scripts wait for it. */
	fprintf(stderr, ss.ss_family == AF_INET6 ? "mtls-load backend: listening on [%s]:%s\n" :
			"mtls-load backend: listening on %s:%s\n", host, serv);
	return fd;
}

/* --cert: a TLS server demanding a client certificate under --ca. */
static SSL_CTX *mb_ctx_new(const struct ml_opts *o)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (!ctx || SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_use_certificate_chain_file(ctx, o->cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, o->key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1 ||
	    SSL_CTX_load_verify_locations(ctx, o->ca, NULL) != 1) {
		pr_err("backend: TLS setup (--cert %s --key %s --ca %s): %s", o->cert, o->key,
		       o->ca, ml_ssl_errors());
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	/* Resumption of a verified client needs a session ID context. */
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"mtls-load", 9);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE);
	return ctx;
}

static int mb_main(const struct ml_opts *o)
{
	struct epoll_event evs[512];
	struct rlimit rl;
	sigset_t sigs;
	struct mb *b;
	int i, n, ret = 1;

	/* Every idle connection of a run is one descriptor here. */
	if (!getrlimit(RLIMIT_NOFILE, &rl)) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
	b = calloc(1, sizeof(*b));
	if (!b)
		return 1;
	b->o = o;
	b->accepting = true;
	b->sfd = b->ep = -1;
	if (o->cert && !(b->ctx = mb_ctx_new(o))) {
		free(b);
		return 1;
	}
	b->lfd = mb_listen(o);
	if (b->lfd < 0) {
		pr_err("backend: cannot listen on \"%s\": %s", o->target, strerror(-b->lfd));
		SSL_CTX_free(b->ctx);
		free(b);
		return 1;
	}
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	b->sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
	b->ep = epoll_create1(EPOLL_CLOEXEC);
	if (b->sfd < 0 || b->ep < 0 ||
	    epoll_ctl(b->ep, EPOLL_CTL_ADD, b->lfd,
		      &(struct epoll_event){ .events = EPOLLIN, .data.ptr = &mb_listen_tag }) ||
	    epoll_ctl(b->ep, EPOLL_CTL_ADD, b->sfd,
		      &(struct epoll_event){ .events = EPOLLIN, .data.ptr = &mb_signal_tag })) {
		pr_err("backend: epoll/signalfd: %s", strerror(errno));
		goto out;
	}
	for (;;) {
		n = epoll_wait(b->ep, evs, 512, -1);
		if (n < 0 && errno != EINTR)
			goto out;
		for (i = 0; i < n; i++) {
			if (evs[i].data.ptr == &mb_signal_tag)
				goto done;
			if (evs[i].data.ptr == &mb_listen_tag)
				mb_accept(b);
			else
				mb_step(b, evs[i].data.ptr);
		}
	}
done:
	mb_print(b, o->json);
	fflush(stdout);
	if (b->st.mismatches)
		pr_err("backend: %" PRIu64 " MISMATCHES: the data that arrived is not the data sent",
		       b->st.mismatches);
	ret = b->st.mismatches || b->st.protocol ? 1 : 0;
out:
	while (b->conns)
		mb_close(b, b->conns, false);
	if (b->sfd >= 0)
		close(b->sfd);
	if (b->ep >= 0)
		close(b->ep);
	close(b->lfd);
	SSL_CTX_free(b->ctx);
	free(b);
	return ret;
}

/* ---- options ---- */

static void ml_usage(FILE *f)
{
	fprintf(f,
"Usage: mtls-load MODE [options]\n"
"Modes:\n"
"  handshake   mTLS handshakes per second (connect, handshake, tiny request, close)\n"
"  bulk        one checksummed transfer per connection: --up/--down bytes\n"
"  rr          request/response latency (--size bytes each way)\n"
"  idle        open and hold -c connections (--hold SECONDS or until SIGTERM)\n"
"  backend     the backend the other modes need (--listen ADDR:PORT); with\n"
"              --cert F --key F --ca F a TLS server demanding a client certificate\n"
"Target and TLS:\n"
"  --connect HOST:PORT   the gateway ([v6addr]:port for IPv6)\n"
"  --cert FILE --key FILE --ca FILE   client chain, its key, the gateway's CA\n"
"  --leaves FILE         instead of --cert: \"CHAIN:KEY\" per line (tests/bench/mkleaves.py),\n"
"                        each new connection presents the next one (round robin)\n"
"  --sni NAME            SNI and the name the server certificate must have\n"
"  --tls1.2 | --tls1.3   only this version\n"
"  --ciphers LIST  --ciphersuites LIST   TLS 1.2 / TLS 1.3 suites\n"
"  --no-verify-server    don't verify the gateway's certificate\n"
"  --resume              resume sessions (TLS 1.3 tickets, TLS 1.2 session IDs)\n"
"Load:\n"
"  -c, --concurrency N   connections in flight (default 1)\n"
"  -j, --workers N       worker processes (default 1)\n"
"  -n, --count N         total ops (bulk: default -c transfers)\n"
"  -d, --duration S      seconds (default 10 without -n, else at most 600)\n"
"  --op-timeout S        one op's time limit (default 30)\n"
"  --size BYTES          rr message and handshake request (default 64)\n"
"  --no-request          handshake: close right after the handshake (TLS 1.3: the\n"
"                        gateway's verdict on the client certificate is not seen)\n"
"  --up BYTES --down BYTES   bulk bytes per connection (K, M, G: binary; default 1M)\n"
"  --hold S  --ramp N    idle: hold time, connections opening at once (default 256)\n"
"  --seed N              stream seed (default: random, printed)\n"
"  --json                one JSON object on stdout\n"
"Exit status: 0 every op succeeded, 1 failures or mismatches, 2 usage error.\n");
}

static uint64_t ml_parse_u64(const char *opt, const char *s, uint64_t min, uint64_t max,
			     bool bytes)
{
	unsigned long long v;
	char *end;
	int shift = 0;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (end == s || *s == '-' || errno)
		ml_usage_err("%s: \"%s\" is not a number", opt, s);
	if (bytes && *end) {
		switch (*end++) {
		case 'k': case 'K':
			shift = 10;
			break;
		case 'm': case 'M':
			shift = 20;
			break;
		case 'g': case 'G':
			shift = 30;
			break;
		default:
			end--;
			break;
		}
		if (shift && !strcmp(end, "iB"))
			end += 2;
	}
	if (*end)
		ml_usage_err("%s: \"%s\" is not a %s", opt, s,
			     bytes ? "byte count (e.g. 4096, 64K, 256M, 1G)" : "number");
	if (shift && v > (UINT64_MAX >> shift))
		ml_usage_err("%s: \"%s\" is too large", opt, s);
	v <<= shift;
	if (v < min || v > max)
		ml_usage_err("%s: %s is out of range (%" PRIu64 "..%" PRIu64 ")", opt, s, min, max);
	return v;
}

static double ml_parse_secs(const char *opt, const char *s, double min)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end || errno || !(v >= min) || v > 86400 * 365)
		ml_usage_err("%s: \"%s\" is not a number of seconds (>= %g)", opt, s, min);
	return v;
}

/* "host:port" or "[v6]:port" into o->addr; host kept for verification. */
static void ml_parse_addr(struct ml_opts *o, const char *opt, const char *s, bool passive)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	char buf[300], *host = buf, *port;
	int err;

	if (snprintf(buf, sizeof(buf), "%s", s) >= (int)sizeof(buf))
		ml_usage_err("%s: \"%s\" is too long", opt, s);
	if (*host == '[') {
		host++;
		port = strchr(host, ']');
		if (!port || port[1] != ':')
			ml_usage_err("%s: \"%s\": expected [ADDR]:PORT", opt, s);
		*port = '\0';
		port += 2;
	} else {
		port = strrchr(host, ':');
		if (!port || strchr(host, ':') != port)
			ml_usage_err("%s: \"%s\": expected HOST:PORT (IPv6: [ADDR]:PORT)", opt, s);
		*port++ = '\0';
	}
	if (!*host || !*port)
		ml_usage_err("%s: \"%s\": expected HOST:PORT", opt, s);
	if (passive)
		hints.ai_flags = AI_PASSIVE;
	err = getaddrinfo(host, port, &hints, &ai);
	if (err)
		ml_usage_err("%s: \"%s\": %s", opt, s, gai_strerror(err));
	memcpy(&o->addr, ai->ai_addr, ai->ai_addrlen);
	o->addr_len = ai->ai_addrlen;
	freeaddrinfo(ai);
	snprintf(o->host, sizeof(o->host), "%s", host);
	o->target = s;
}

enum {
	OPT_CONNECT = 256, OPT_LISTEN, OPT_SNI, OPT_CERT, OPT_KEY, OPT_CA, OPT_TLS12,
	OPT_TLS13, OPT_CIPHERS, OPT_SUITES, OPT_NO_VERIFY, OPT_RESUME, OPT_NO_REQUEST,
	OPT_UP, OPT_DOWN, OPT_SIZE, OPT_HOLD, OPT_RAMP, OPT_OP_TIMEOUT, OPT_SEED, OPT_JSON,
	OPT_CORRUPT, OPT_LEAVES,
};

static const struct option ml_longopts[] = {
	{ "concurrency", required_argument, NULL, 'c' },
	{ "workers", required_argument, NULL, 'j' },
	{ "count", required_argument, NULL, 'n' },
	{ "duration", required_argument, NULL, 'd' },
	{ "connect", required_argument, NULL, OPT_CONNECT },
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ "sni", required_argument, NULL, OPT_SNI },
	{ "cert", required_argument, NULL, OPT_CERT },
	{ "key", required_argument, NULL, OPT_KEY },
	{ "leaves", required_argument, NULL, OPT_LEAVES },
	{ "ca", required_argument, NULL, OPT_CA },
	{ "tls1.2", no_argument, NULL, OPT_TLS12 },
	{ "tls1.3", no_argument, NULL, OPT_TLS13 },
	{ "ciphers", required_argument, NULL, OPT_CIPHERS },
	{ "ciphersuites", required_argument, NULL, OPT_SUITES },
	{ "no-verify-server", no_argument, NULL, OPT_NO_VERIFY },
	{ "resume", no_argument, NULL, OPT_RESUME },
	{ "no-request", no_argument, NULL, OPT_NO_REQUEST },
	{ "up", required_argument, NULL, OPT_UP },
	{ "down", required_argument, NULL, OPT_DOWN },
	{ "size", required_argument, NULL, OPT_SIZE },
	{ "hold", required_argument, NULL, OPT_HOLD },
	{ "ramp", required_argument, NULL, OPT_RAMP },
	{ "op-timeout", required_argument, NULL, OPT_OP_TIMEOUT },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "corrupt-every", required_argument, NULL, OPT_CORRUPT },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* An option that the mode does not use is refused, not ignored. */
static void ml_only(const struct ml_opts *o, const char *opt, unsigned int modes)
{
	if (!(modes & (1u << o->mode)))
		ml_usage_err("%s does not apply to mode \"%s\"", opt, ml_mode_names[o->mode]);
}

#define M(x) (1u << (x))
#define M_CLIENT (M(ML_HANDSHAKE) | M(ML_BULK) | M(ML_RR) | M(ML_IDLE))

static void ml_parse(struct ml_opts *o, int argc, char **argv)
{
	const char *connect_s = NULL, *listen_s = NULL;
	unsigned int i;
	int opt;

	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		ml_usage(argc < 2 ? stderr : stdout);
		exit(argc < 2 ? 2 : 0);
	}
	for (i = ML_HANDSHAKE; i < ML_NR_MODES; i++)
		if (!strcmp(argv[1], ml_mode_names[i]))
			o->mode = i;
	if (o->mode == ML_NONE)
		ml_usage_err("unknown mode \"%s\": handshake, bulk, rr, idle or backend", argv[1]);

	o->conns = 1;
	o->workers = 1;
	o->ramp = 256;
	o->op_timeout = 30;
	o->size = 64;
	o->up = o->down = 1 << 20;
	o->min_version = TLS1_2_VERSION;
	o->max_version = TLS1_3_VERSION;
	o->seed = ml_mix64(ml_now() ^ ((uint64_t)getpid() << 32));
	opterr = 0;
	while ((opt = getopt_long(argc - 1, argv + 1, ":c:j:n:d:h", ml_longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			ml_only(o, "-c", M_CLIENT);
			o->conns = ml_parse_u64("-c", optarg, 1, ML_MAX_CONNS, false);
			break;
		case 'j':
			ml_only(o, "-j", M_CLIENT);
			o->workers = ml_parse_u64("-j", optarg, 1, ML_MAX_WORKERS, false);
			break;
		case 'n':
			ml_only(o, "-n", M(ML_HANDSHAKE) | M(ML_BULK) | M(ML_RR));
			o->count = ml_parse_u64("-n", optarg, 1, UINT64_MAX / 2, false);
			o->count_set = true;
			break;
		case 'd':
			ml_only(o, "-d", M(ML_HANDSHAKE) | M(ML_BULK) | M(ML_RR));
			o->duration = ml_parse_secs("-d", optarg, 0.001);
			o->duration_set = true;
			break;
		case OPT_CONNECT:
			ml_only(o, "--connect", M_CLIENT);
			connect_s = optarg;
			break;
		case OPT_LISTEN:
			ml_only(o, "--listen", M(ML_BACKEND));
			listen_s = optarg;
			break;
		case OPT_SNI:
			o->sni = optarg;
			break;
		case OPT_CERT:
			o->cert = optarg;
			break;
		case OPT_KEY:
			o->key = optarg;
			break;
		case OPT_LEAVES:
			ml_only(o, "--leaves", M_CLIENT);
			o->leaves = optarg;
			break;
		case OPT_CA:
			o->ca = optarg;
			break;
		case OPT_TLS12:
			o->min_version = o->max_version = TLS1_2_VERSION;
			break;
		case OPT_TLS13:
			o->min_version = o->max_version = TLS1_3_VERSION;
			break;
		case OPT_CIPHERS:
			o->ciphers = optarg;
			break;
		case OPT_SUITES:
			o->suites = optarg;
			break;
		case OPT_NO_VERIFY:
			o->no_verify = true;
			break;
		case OPT_RESUME:
			ml_only(o, "--resume", M(ML_HANDSHAKE));
			o->resume = true;
			break;
		case OPT_NO_REQUEST:
			ml_only(o, "--no-request", M(ML_HANDSHAKE));
			o->no_request = true;
			break;
		case OPT_UP:
			ml_only(o, "--up", M(ML_BULK));
			o->up = ml_parse_u64("--up", optarg, 0, UINT64_MAX / 4, true);
			break;
		case OPT_DOWN:
			ml_only(o, "--down", M(ML_BULK));
			o->down = ml_parse_u64("--down", optarg, 0, UINT64_MAX / 4, true);
			break;
		case OPT_SIZE:
			ml_only(o, "--size", M(ML_HANDSHAKE) | M(ML_RR));
			o->size = ml_parse_u64("--size", optarg, 1, ML_MAX_SIZE, true);
			break;
		case OPT_HOLD:
			ml_only(o, "--hold", M(ML_IDLE));
			o->hold = ml_parse_secs("--hold", optarg, 0);
			break;
		case OPT_RAMP:
			ml_only(o, "--ramp", M(ML_IDLE));
			o->ramp = ml_parse_u64("--ramp", optarg, 1, ML_MAX_CONNS, false);
			break;
		case OPT_OP_TIMEOUT:
			ml_only(o, "--op-timeout", M_CLIENT);
			o->op_timeout = ml_parse_secs("--op-timeout", optarg, 0.001);
			break;
		case OPT_SEED:
			o->seed = ml_parse_u64("--seed", optarg, 0, UINT64_MAX, false);
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case OPT_CORRUPT:
			ml_only(o, "--corrupt-every", M(ML_BACKEND));
			o->corrupt_every = ml_parse_u64("--corrupt-every", optarg, 1, 1ULL << 40, false);
			break;
		case 'h':
			ml_usage(stdout);
			exit(0);
		case ':':
			ml_usage_err("%s needs a value", argv[optind]);
		default:
			ml_usage_err("unknown option \"%s\" for mode \"%s\"", argv[optind],
				     ml_mode_names[o->mode]);
		}
	}
	if (optind != argc - 1)
		ml_usage_err("unexpected argument \"%s\"", argv[optind + 1]);

	if (o->mode == ML_BACKEND) {
		if (!listen_s)
			ml_usage_err("backend needs --listen ADDR:PORT");
		ml_parse_addr(o, "--listen", listen_s, true);
		if ((o->key || o->ca) && !o->cert)
			ml_usage_err("backend: --key and --ca go with --cert (TLS)");
		if (o->cert && !o->ca)
			ml_usage_err("backend --cert needs --ca FILE: the CA the gateway's certificate must chain to");
		if (o->cert && !o->key)
			o->key = o->cert;	/* one PEM with both */
		return;
	}
	if (!connect_s)
		ml_usage_err("%s needs --connect HOST:PORT", ml_mode_names[o->mode]);
	ml_parse_addr(o, "--connect", connect_s, false);
	if (!o->ca && !o->no_verify)
		ml_usage_err("--ca FILE is needed to verify the gateway (or --no-verify-server)");
	if (o->key && !o->cert)
		ml_usage_err("--key without --cert");
	if (o->leaves && o->cert)
		ml_usage_err("--leaves or --cert, not both");
	if (o->cert && !o->key)
		o->key = o->cert;	/* one PEM with both */
	if (o->workers > o->conns)
		ml_usage_err("-j %u is more than -c %u: each worker needs a connection",
			     o->workers, o->conns);
	if (o->mode == ML_BULK && !o->count_set)
		o->count = o->conns;
	if (!o->duration_set)
		o->duration = o->count ? 600 : 10;
}

int main(int argc, char **argv)
{
	struct ml_opts o = { 0 };

	ml_parse(&o, argc, argv);
	if (o.mode == ML_BACKEND)
		return mb_main(&o);
	return ml_client_main(&o);
}
