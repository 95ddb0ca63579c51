/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Helpers for the integration tests: run the real daemon with a generated
 * configuration, a backend in a child process that checksums what reaches
 * it, and OpenSSL clients that record the alerts they receive.
 *
 * Everything waits on events with deadlines (the daemon's sd_notify READY,
 * sockets, the audit file); nothing sleeps for readiness.
 */
#ifndef GWTEST_H
#define GWTEST_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <openssl/ssl.h>

/* ---- paths from the environment (set by make test) ---- */
const char *gwt_pki(void);		/* $PKI: output of tools/mkpki */
const char *gwt_mtlsgw(void);		/* $MTLSGW: the daemon binary */
/* "$PKI/name" in a static rotating buffer */
const char *gwt_pki_path(const char *name);

int gwt_free_port(void);
int gwt_mkdtemp(char *dir, size_t len);	/* /tmp/mtlsgw-test.XXXXXX */
void gwt_rmtree(const char *dir);
int gwt_write_file(const char *path, const char *text);
char *gwt_read_file(const char *path);	/* malloc'd, NUL-terminated */
/* nkeys (1..4) random 80-byte session ticket keys (nginx's form) at path, mode 0600. 0 or -1. */
int gwt_write_ticket_keys(const char *path, unsigned int nkeys);

/* ---- deterministic payload ---- */
void gwt_pattern(uint64_t *state, unsigned char *buf, size_t len);
/* SHA-256 of len bytes of the pattern stream seeded with seed. */
void gwt_pattern_sha256(uint64_t seed, uint64_t len, unsigned char out[32]);

/* ---- backend ---- */
enum gwt_send_when {
	GWT_SEND_IMMEDIATELY,		/* send while receiving */
	GWT_SEND_AFTER_EOF,		/* send once the gateway's FIN arrived */
};

struct gwt_backend_opts {
	bool echo;			/* echo what arrives (overrides send_*) */
	uint64_t send_bytes;		/* pattern bytes to send per connection */
	uint64_t send_seed;
	enum gwt_send_when send_when;
	bool fin_after_send;		/* shutdown(SHUT_WR) when all sent */
	uint64_t rst_after_bytes;	/* 0 = never; reset after this many received */
	unsigned int read_delay_ms;	/* slow reader: sleep between reads */
	/*
	 * Never read what the gateway sends; only once it ends the connection
	 * (FIN or RST) read it all, to record which (fin_seen, rst_seen).
	 */
	bool never_read;
};

#define GWT_BACKEND_CONNS 64
#define GWT_BACKEND_HEAD 1024

struct gwt_backend_conn {
	uint64_t rx_bytes;
	unsigned char rx_sha256[32];	/* valid once done */
	uint64_t tx_bytes;
	int fin_seen;			/* the gateway sent FIN (TLS backend: close_notify) */
	int rst_seen;			/* the gateway reset the connection */
	int done;
	unsigned int head_len;
	unsigned char head[GWT_BACKEND_HEAD];	/* first bytes received */
};

/* Shared with the backend process; read with __atomic loads or after done. */
struct gwt_backend_stats {
	uint64_t accepted;
	uint64_t rx_total;
	struct gwt_backend_conn conn[GWT_BACKEND_CONNS];
};

struct gwt_backend {
	pid_t pid;
	int port;
	struct gwt_backend_stats *st;
};

int gwt_backend_start(struct gwt_backend *b, const struct gwt_backend_opts *o);
void gwt_backend_stop(struct gwt_backend *b);
/* Wait until connection i is done (both directions ended). */
bool gwt_backend_wait_done(struct gwt_backend *b, unsigned int i, int timeout_ms);

/* ---- the daemon ---- */
struct gwt_gw_opts {
	int upstream_port;
	const char *mode;		/* NULL = enforce */
	const char *allow_sources;	/* YAML flow list, e.g. "[127.0.0.0/8]" */
	const char *authorize;		/* YAML block lines at indent 6, NULL = default */
	const char *tls_extra;		/* more "      key: value\n" lines under tls */
	const char *min_version;	/* NULL = "1.2" */
	const char *handshake_timeout;	/* NULL = "5s" */
	const char *crl;		/* YAML value for tls.crl, NULL = all CRLs */
	const char *crl_check;		/* NULL = chain */
	const char *metrics_extra;	/* more lines under metrics (indent 2): its tls */
	const char *listener_extra;	/* more lines at listener level (indent 4) */
	const char *server_cert;	/* NULL = "server" (base name in the PKI) */
	const char *server_certs;	/* "        - {cert: …, key: …}\n" lines: tls.certs instead */
	const char *upstream_extra;	/* more lines under upstream (indent 6) */
	const char *listen_host;	/* NULL = "127.0.0.1"; "[::1]" for IPv6 */
	const char *top_extra;		/* more top-level lines */
	const char *log_extra;		/* more "  key: value\n" lines under log */
	const char *upstream_host;	/* NULL = "127.0.0.1" */
	const char *extra_listeners;	/* more "  - name: ..." listener blocks */
	const char *client_ca;		/* path; NULL = the PKI's ca-bundle.pem */
};

struct gwt_gw {
	pid_t pid;
	int port;
	char dir[64];
	char cfg[96];
	char audit[96];
	char log[96];
	char notify[96];
	char ctl[96];			/* control socket */
	int metrics_port;
	int notify_fd;
	const char *extra_arg;		/* one more daemon argument, e.g. "--takeover" */
};

/*
 * upstream.tls lines for gwt_gw_opts.upstream_extra: the gateway presents
 * the PKI's "gateway" certificate and verifies backend.corp.test under
 * ca-bundle.pem; extra: more lines under tls (indent 8), or NULL. Returns buf.
 */
const char *gwt_upstream_tls(char *buf, size_t len, const char *extra);

/*
 * Replace to with a copy of from: a new file renamed over the old, the way
 * cert-manager or a CRL distribution job writes. 0 or -errno.
 */
int gwt_replace_file(const char *from, const char *to);

/* Write the config into a fresh temporary directory. 0 or -errno. */
int gwt_gw_config(struct gwt_gw *g, const struct gwt_gw_opts *o);
/* Rewrite g->cfg in place (write + rename) with other options. */
int gwt_gw_rewrite(struct gwt_gw *g, const struct gwt_gw_opts *o);
int gwt_gw_signal(struct gwt_gw *g, int sig);
/* Start mtlsgw on g->cfg and wait for READY=1 (10 s). 0, or -1 with the log printed. */
int gwt_gw_start(struct gwt_gw *g);
/* Wait up to timeout_ms for the daemon to exit by itself; its status or -1. */
int gwt_gw_wait_exit(struct gwt_gw *g, int timeout_ms);
/* SIGTERM, wait; returns the exit status (or -1). */
int gwt_gw_stop(struct gwt_gw *g);
/*
 * Stop with SIGTERM if running (0 when it exits 0, else -1 with its log
 * printed) and remove the temporary directory.
 */
int gwt_gw_cleanup(struct gwt_gw *g);
/* Run "mtlsgwctl -s g->ctl ARGS"; returns the exit status, output in *out. */
int gwt_ctl(struct gwt_gw *g, char **out, const char *args);
/* Run a shell command; its exit status, stdout+stderr in *out (malloc'd). */
int gwt_sh_capture(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* GET /metrics; the body (malloc'd) or NULL. */
char *gwt_metrics(struct gwt_gw *g);
/* GET target from 127.0.0.1:port over plain HTTP: the body of a 200 (malloc'd) or NULL. */
char *gwt_http_get(int port, const char *target);

/* The value of one metric series ("name{labels}" exactly as exposed); -1 if absent. */
double gwt_metric_value(struct gwt_gw *g, const char *series);
/*
 * Poll the series until it has the value want (timeout_ms at most): with
 * several workers a connection's counters may be updated by one worker
 * just after another answered the scrape. The last value seen, -1 if none.
 */
double gwt_metric_wait(struct gwt_gw *g, const char *series, double want, int timeout_ms);

/* Run "mtlsgw -c cfg --check"; returns the exit status, output in *out. */
int gwt_gw_check(const char *cfg, char **out);

/*
 * Wait for an audit line containing every needle (NULL-terminated list).
 * Returns a malloc'd copy of the line, or NULL after timeout_ms.
 */
char *gwt_audit_wait(struct gwt_gw *g, int timeout_ms, ...) __attribute__((sentinel));
/* Number of audit lines containing needle. */
int gwt_audit_count(struct gwt_gw *g, const char *needle);
/* The "ts" of an audit line in milliseconds since the epoch (UTC); 0 if it has none. */
uint64_t gwt_audit_ts_ms(const char *line);

/*
 * Wait until the daemon stopped accepting after why ("SIGTERM"): the
 * primary worker's drain line in its log, written once every worker has
 * closed its listening sockets. true when seen within timeout_ms.
 */
bool gwt_gw_wait_stopped_accepting(struct gwt_gw *g, const char *why, int timeout_ms);

/* ---- TLS client ---- */
struct gwt_client_opts {
	const char *cert;		/* base name in the PKI ("client-ecdsa"); NULL = none */
	const char *cert_dir;		/* where cert's files are; NULL = the PKI */
	int min_version;		/* 0 = TLS1_2_VERSION */
	int max_version;		/* 0 = TLS1_3_VERSION */
	const char *ciphers;		/* TLS 1.2 list, NULL = default */
	const char *ciphersuites;	/* TLS 1.3 list, NULL = default */
	const char *groups;		/* key exchange groups "a:b", NULL = OpenSSL's default */
	const char *sigalgs;		/* signature algorithms offered "a:b", NULL = default */
	int family;			/* AF_INET (default) or AF_INET6 */
	bool no_server_check;		/* don't check the server's name (netns addresses) */
	/* SNI, and the name checked: NULL = "localhost"; "" = none sent (and none checked) */
	const char *server_name;
	SSL_SESSION *session;		/* offer to resume this session */
};

struct gwt_client {
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
	int alert;			/* last alert received from the gateway, -1 none */
	bool got_close_notify;
};

/*
 * Connect to 127.0.0.1:port (or [::1]) and complete the handshake.
 * 0 on success; -1 when the handshake failed (c->alert tells why).
 */
int gwt_client_connect(struct gwt_client *c, int port, const struct gwt_client_opts *o);
void gwt_client_close(struct gwt_client *c);
/* The same over an already connected socket (it takes the fd). */
int gwt_client_handshake(struct gwt_client *c, int fd, const struct gwt_client_opts *o);

/*
 * What a client experiences when it tries to talk through the gateway:
 * handshake, send msg, read whatever comes back until close or timeout.
 */
struct gwt_outcome {
	bool handshake_ok;		/* SSL_connect returned 1 */
	int alert;			/* alert received at any point, -1 none */
	size_t rx;			/* application bytes received */
	char data[256];
	bool closed;			/* the gateway closed (close_notify, FIN or RST) */
};

void gwt_client_try(int port, const struct gwt_client_opts *o, const char *msg,
		    size_t expect, struct gwt_outcome *out);

void gwt_client_try_fd(int fd, const struct gwt_client_opts *o, const char *msg,
		       size_t expect, struct gwt_outcome *out);

/*
 * Send send_bytes of pattern(seed) and close_notify, while reading until the
 * gateway's close_notify; fills rx_bytes and rx_sha256. 0 or -1.
 */
int gwt_client_bulk(struct gwt_client *c, uint64_t send_bytes, uint64_t seed,
		    uint64_t *rx_bytes, unsigned char rx_sha256[32], int timeout_ms);

/*
 * The usual test environment: an echo backend and a gateway in front of
 * it (go->upstream_port is set here), started when start is true.
 * Returns 0 or -1. gwt_env_stop stops both and returns 0 when the
 * gateway exited cleanly on SIGTERM.
 */
int gwt_env_start(struct gwt_backend *be, struct gwt_gw *gw, struct gwt_gw_opts *go,
		  bool start);
int gwt_env_stop(struct gwt_backend *be, struct gwt_gw *gw);

/*
 * "\"datapath\":\"splice\"" where this kernel has kTLS, else userspace's.
 * GWT_DATAPATH=userspace in the environment makes every gateway a test
 * starts run the userspace tier ("datapath: userspace"), kTLS or not.
 */
const char *gwt_expected_datapath(void);

/*
 * Whether the gateway follows a TLS 1.3 KeyUpdate on this machine: always
 * on the userspace datapath, on the splice datapath only where the kernel
 * can rekey a kTLS socket.
 */
bool gwt_expect_key_update_followed(void);

/* rchar and wchar of /proc/PID/io: bytes the process moved with read/write. 0 or -1. */
int gwt_proc_io(pid_t pid, uint64_t *rchar, uint64_t *wchar);

/* CPU time (user + system) of a process so far, in milliseconds; -1 if unknown. */
long gwt_proc_cpu_ms(pid_t pid);
/* Open file descriptors of a process; -1 if unknown. */
int gwt_proc_fds(pid_t pid);
/* A "Name:  N kB" field of /proc/PID/status (VmRSS:, VmHWM:) in KiB; 0 if unknown. */
uint64_t gwt_proc_status_kib(pid_t pid, const char *field);
/* How many times needle occurs in the daemon's own log (stderr). */
int gwt_log_count(struct gwt_gw *g, const char *needle);

/* Monotonic milliseconds. */
uint64_t gwt_now_ms(void);

/* A full mTLS round trip of msg through the gateway with cert; true if echoed. */
bool gwt_echo_ok(int port, const char *cert, const char *msg);

/*
 * A session to resume: one round trip of msg on the connected client c
 * (TLS 1.3 tickets arrive after the handshake), then a clean close (OpenSSL
 * marks the session of an aborted connection unusable). The session, or
 * NULL when the round trip failed or it cannot be resumed; c is closed
 * either way.
 */
SSL_SESSION *gwt_client_ticket(struct gwt_client *c, const char *msg);

/* Send msg on a connected client and read the same number of bytes back. */
bool gwt_roundtrip(struct gwt_client *c, const char *msg);

/* Milliseconds until the gateway ends c (a read returns <= 0), or -1. */
long gwt_wait_closed(struct gwt_client *c, int timeout_ms);

/*
 * A PROXY v2 header as a load balancer sends it: command PROXY (LOCAL
 * when local), TCP over IPv4 or IPv6 after the form of src (numeric), and
 * tlv_len bytes (0, or at least 3) of one TLV of an undefined type after
 * the addresses. Built from the protocol's text, not with the gateway's
 * encoder. buf needs 52 + tlv_len bytes; returns the header's length.
 */
size_t gwt_proxy_v2_header(unsigned char *buf, const char *src, int sport, const char *dst,
			   int dport, size_t tlv_len, bool local);

/*
 * HAProxy in front, as an operator would run it: "haproxy -db" in TCP
 * mode on 127.0.0.1:fe_port, round robin over the gateways at
 * 127.0.0.1:ports[0..n) with send-proxy-v2, redispatching a connection
 * a dead gateway refused; its configuration in dir. The pid once it
 * listens, or -1. gwt_haproxy_stop: SIGTERM and wait, 0 when it exited.
 */
pid_t gwt_haproxy_start(const char *dir, int fe_port, const int *ports, unsigned int n);
int gwt_haproxy_stop(pid_t pid);

/*
 * A TCP connection from src (any 127/8 address on loopback; NULL: the
 * kernel's choice) to 127.0.0.1:port, with a 10 s receive timeout; fd or -1.
 */
int gwt_connect_from(const char *src, int port);

/* Plain TCP connection to 127.0.0.1:port with a 10 s receive timeout. */
int gwt_raw_connect(int port);

/* Hex of a certificate's SHA-256 fingerprint, "AB:CD:..." */
int gwt_cert_fingerprint(const char *pem_path, char *out, size_t len);

#endif
