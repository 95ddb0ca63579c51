// SPDX-License-Identifier: GPL-2.0-only
/*
 * Fuzz target: the configuration loader (config*.c), YAML text -> a
 * validated struct gw_config or the error report, through
 * gw_cfg_load_text(): no file is written per input.
 *
 * The configuration "lives" in a scratch directory that holds the files
 * the test configurations name (cert.pem, key.pem mode 0600, ...; their
 * contents do not matter to the loader), so fuzzed configurations get past
 * the file checks into validation. The loader's open() is wrapped (the
 * Makefile links this target with --wrap=open): it may open only what is
 * inside that directory, whatever path a fuzzed file names.
 *
 * FUZZ_VERBOSE=1 prints what each input gave (loaded, or the messages).
 *
 * Invariants: either a configuration and no message, or no configuration
 * and at least one; every message names the file and, where it has a
 * line, a line of the text; a configuration that loads holds only values
 * the loader promises (docs/configuration.md): at least one listener, each
 * with a valid unique name, its own address, at least one rule with a
 * criterion, its files inside the directory, values in their ranges.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/ssl.h>

#include "fuzz.h"
#include "config.h"

static char dir[PATH_MAX];		/* the scratch directory, real path */
static char cfg_path[PATH_MAX + 16];	/* dir/mtlsgw.yaml (never written) */
static size_t dir_len;
static bool verbose;			/* FUZZ_VERBOSE=1: print what each input gave */

static const struct {
	const char *name;
	mode_t mode;
} files[] = {
	{ "cert.pem", 0644 }, { "key.pem", 0600 }, { "ca.pem", 0644 },
	{ "server-chain.pem", 0644 }, { "server-key.pem", 0600 },
	{ "clients-root.pem", 0644 }, { "issuing.crl", 0644 },
	{ "intermediate.crl", 0644 }, { "gw-client-chain.pem", 0644 },
	{ "gw-client-key.pem", 0600 }, { "backend-root.pem", 0644 },
	{ "open-key.pem", 0644 }, { "backend.crl", 0644 },
};

int __real_open(const char *path, int flags, ...);
int __wrap_open(const char *path, int flags, ...);

/* open() for the loader: inside dir, no "..", never creating anything. */
int __wrap_open(const char *path, int flags, ...)
{
	if (strncmp(path, dir, dir_len) || path[dir_len] != '/' || strstr(path, "/..") ||
	    (flags & (O_CREAT | O_WRONLY | O_RDWR))) {
		errno = EACCES;
		return -1;
	}
	return __real_open(path, flags);
}

static int rm_entry(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(p);
}

static void cleanup(void)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char tmpl[] = "/tmp/mtlsgw-fuzz-config.XXXXXX", p[PATH_MAX + 64];
	unsigned int i;
	int fd;

	(void)argc;
	(void)argv;
	verbose = getenv("FUZZ_VERBOSE") && atoi(getenv("FUZZ_VERBOSE"));
	if (!mkdtemp(tmpl) || !realpath(tmpl, dir))
		abort();
	dir_len = strlen(dir);
	atexit(cleanup);
	snprintf(cfg_path, sizeof(cfg_path), "%s/mtlsgw.yaml", dir);
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, files[i].name);
		fd = __real_open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, files[i].mode);
		if (fd < 0 || write(fd, "dummy\n", 6) != 6 || fchmod(fd, files[i].mode))
			abort();
		close(fd);
	}
	snprintf(p, sizeof(p), "%s/logs", dir);
	if (mkdir(p, 0755))
		abort();
	return 0;
}

/* "FILE:" then "LINE: " with a line of the text, or " " for a file-wide message. */
FZ_NO_COVERAGE static void check_message(const char *m, size_t size)
{
	size_t plen = strlen(cfg_path);
	unsigned long line;
	char *end;

	FZ_CHECK(!strncmp(m, cfg_path, plen) && m[plen] == ':');
	m += plen + 1;
	if (*m == ' ')
		return;
	line = strtoul(m, &end, 10);
	FZ_CHECK(end != m && *end == ':');
	FZ_CHECK(line >= 1 && line <= size + 1);
}

FZ_NO_COVERAGE static bool in_dir(const char *p)
{
	return p && !strncmp(p, dir, dir_len) && p[dir_len] == '/';
}

FZ_NO_COVERAGE static bool valid_name(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	return n >= 1 && n <= 64 &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

FZ_NO_COVERAGE static void check_rule(const struct gw_authz_rule *r)
{
	const struct gw_subject_match *s = &r->subject;
	unsigned int i;

	FZ_CHECK(r->name && r->name[0]);
	FZ_CHECK(r->n_spiffe_id || r->n_san_dns || r->n_fingerprint_sha256 ||
		 s->CN || s->O || s->OU || s->C || s->ST || s->L);
	for (i = 0; i < r->n_spiffe_id; i++)
		FZ_CHECK(!strncmp(r->spiffe_id[i], "spiffe://", 9));
	for (i = 0; i < r->n_san_dns; i++)
		FZ_CHECK(r->san_dns[i][0]);
}

FZ_NO_COVERAGE static void check_listener(const struct gw_config *cfg, unsigned int i)
{
	const struct gw_cfg_listener *l = &cfg->listeners[i];
	unsigned int j;

	FZ_CHECK(valid_name(l->name));
	FZ_CHECK(l->listen_len && (l->listen.ss_family == AF_INET || l->listen.ss_family == AF_INET6));
	FZ_CHECK(l->upstream.addr_len && l->upstream.address_str);
	FZ_CHECK(l->allow_any || l->n_allow_sources);
	FZ_CHECK(l->tls.n_certs >= 1 && l->tls.n_certs <= GW_CFG_MAX_CERTS && in_dir(l->tls.client_ca));
	for (j = 0; j < l->tls.n_certs; j++)
		FZ_CHECK(in_dir(l->tls.certs[j].cert) && in_dir(l->tls.certs[j].key));
	for (j = 0; j < l->tls.n_crl; j++)
		FZ_CHECK(in_dir(l->tls.crl[j]));
	FZ_CHECK(l->tls.crl_check == GW_CRL_OFF || l->tls.n_crl);
	FZ_CHECK(l->tls.verify_depth >= 1 && l->tls.verify_depth <= 16);
	FZ_CHECK(l->tls.min_version == TLS1_2_VERSION || l->tls.min_version == TLS1_3_VERSION);
	FZ_CHECK(l->tls.handshake_timeout_ms > 0 && l->upstream.connect_timeout_ms > 0);
	FZ_CHECK(l->max_connections >= 1 && l->max_connections <= 1000000);
	FZ_CHECK(l->max_handshakes >= 1 && l->max_handshakes <= 100000);
	FZ_CHECK(l->n_rules >= 1);
	for (j = 0; j < l->n_rules; j++) {
		unsigned int k;

		check_rule(&l->rules[j]);
		for (k = 0; k < j; k++)
			FZ_CHECK(strcmp(l->rules[j].name, l->rules[k].name));
	}
	for (j = 0; j < i; j++) {
		const struct gw_cfg_listener *o = &cfg->listeners[j];

		FZ_CHECK(strcmp(l->name, o->name));
		FZ_CHECK(l->listen_len != o->listen_len || memcmp(&l->listen, &o->listen, l->listen_len));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gw_diag diag = { 0 };
	struct gw_config *cfg;
	unsigned int i;

	cfg = gw_cfg_load_text(cfg_path, (const char *)data, size, &diag);
	if (verbose) {
		fprintf(stderr, "%s, %u messages\n", cfg ? "loaded" : "refused", gw_diag_count(&diag));
		for (i = 0; i < diag.n; i++)
			fprintf(stderr, "  %s\n", diag.msgs[i]);
	}
	FZ_CHECK(!cfg == (gw_diag_count(&diag) > 0));
	for (i = 0; i < diag.n; i++)
		check_message(diag.msgs[i], size);
	if (cfg) {
		FZ_CHECK(!strcmp(cfg->path, cfg_path));
		FZ_CHECK(cfg->n_listeners >= 1 && cfg->workers <= GW_MAX_WORKERS);
		FZ_CHECK(cfg->audit && (!strcmp(cfg->audit, "-") || cfg->audit[0] == '/'));
		FZ_CHECK(cfg->control_socket && cfg->control_socket[0] == '/');
		FZ_CHECK(cfg->bpf_pin_dir && cfg->bpf_pin_dir[0] == '/');
		FZ_CHECK(cfg->stage1_summary_ms > 0);
		for (i = 0; i < cfg->n_listeners; i++)
			check_listener(cfg, i);
		/* metrics.tls: only with an endpoint, with rules and its files in the directory. */
		if (cfg->metrics_tls) {
			const struct gw_cfg_listener *m = cfg->metrics_tls;

			FZ_CHECK(cfg->metrics_listen && m->n_rules >= 1 && m->tls.n_certs >= 1);
			FZ_CHECK(in_dir(m->tls.certs[0].cert) && in_dir(m->tls.client_ca));
			FZ_CHECK(m->tls.crl_check == GW_CRL_OFF || m->tls.n_crl);
		}
	}
	gw_cfg_free(cfg);
	gw_diag_free(&diag);
	return 0;
}
