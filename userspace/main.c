// SPDX-License-Identifier: GPL-2.0-only
/*
 * mtlsgw: arguments, configuration check, privileges, lifecycle.
 *
 * Exit status: 0 clean stop (or valid configuration with --check),
 * 1 runtime failure, 2 invalid configuration.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <cap-ng.h>
#include <linux/capability.h>
#include <openssl/ssl.h>

#include "audit.h"
#include "bufcache.h"
#include "config.h"
#include "daemon.h"
#include "gen.h"
#include "handshake.h"
#include "idlimit.h"
#include "kcaps.h"
#include "kcaps_text.h"
#include "log.h"
#include "stage1.h"
#include "steer.h"
#include "tcache.h"

#define EXIT_INVALID 2


static void usage(FILE *f)
{
	fprintf(f,
		"Usage: mtlsgw -c FILE [--check]\n"
		"       mtlsgw --check-kernel\n"
		"  -c, --config FILE  configuration file (YAML)\n"
		"  -t, --check        validate configuration, certificates, keys and CRLs; exit 0 valid, 2 invalid\n"
		"      --takeover     take the listening sockets over from a running mtlsgw (takeover: true),\n"
		"                     which then drains and exits: a restart that refuses no connection\n"
		"      --check-kernel try what this kernel's TLS offload can do (kTLS per cipher, splice,\n"
		"                     rekey, sockmap); exit 0 when the splice datapath can run, else 1\n"
		"  -V, --version      print the version\n"
		"  -h, --help         this help\n");
}

static void print_diag(const struct gw_diag *d, const char *prefix)
{
	unsigned int i;

	for (i = 0; i < d->n; i++)
		fprintf(stderr, "%s%s\n", prefix, d->msgs[i]);
	if (d->dropped)
		fprintf(stderr, "%s(%u more problems could not be recorded: out of memory)\n",
			prefix, d->dropped);
}

/*
 * Drop to cfg->user after everything privileged at start is done (bind,
 * BPF load and attach, audit log open). Kept, and why:
 *   CAP_NET_BIND_SERVICE  a reload may add a listener on a port < 1024
 *   CAP_NET_ADMIN, CAP_BPF, CAP_PERFMON
 *                         a reload may attach Stage 1 to a new interface
 *                         (CAP_SYS_ADMIN where the kernel predates CAP_BPF)
 * Everything else, the bounding set and supplementary groups are dropped.
 * Certificates, keys and CRLs must then be readable by that user for
 * reloads: make the key files owned by it (mode 0600).
 */
static int drop_privileges(const char *user, const char *ctl_socket)
{
	struct passwd *pw;

	errno = 0;
	pw = getpwnam(user);
	if (!pw) {
		pr_err("user: \"%s\": %s", user, errno ? strerror(errno) : "no such user");
		return -ENOENT;
	}
	/*
	 * The control socket goes to the user where root may give it away; a
	 * bounding set without CAP_CHOWN (kmod-config/mtlsgw.service) keeps it
	 * root's, for root's mtlsgwctl and a --takeover successor.
	 */
	capng_get_caps_process();
	if (capng_have_capability(CAPNG_EFFECTIVE, CAP_CHOWN) &&
	    chown(ctl_socket, pw->pw_uid, pw->pw_gid))
		pr_warn("control.socket: cannot give \"%s\" to \"%s\": %s", ctl_socket, user,
			strerror(errno));
	capng_clear(CAPNG_SELECT_BOTH);
	if (capng_updatev(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED,
			  CAP_NET_BIND_SERVICE, CAP_NET_ADMIN, CAP_BPF, CAP_PERFMON, -1) ||
	    capng_change_id((int)pw->pw_uid, (int)pw->pw_gid,
			    CAPNG_DROP_SUPP_GRP | CAPNG_CLEAR_BOUNDING)) {
		pr_err("user: cannot switch to \"%s\" with reduced capabilities", user);
		return -EPERM;
	}
	pr_info("running as user \"%s\" (uid %u) with CAP_NET_BIND_SERVICE, CAP_NET_ADMIN, CAP_BPF, CAP_PERFMON",
		user, (unsigned int)pw->pw_uid);
	return 0;
}

/*
 * The first build reads the files as every reload will: with "user:" and
 * started as root, under that user's uid, gid and no other group, so a key
 * only root can read is refused now (not at the first reload), and root
 * needs no CAP_DAC_READ_SEARCH for the keys the user owns. Everything
 * privileged (bind, BPF, the audit log) still runs as root afterwards.
 */
static struct gw_gen *build_as_user(const char *path, unsigned int n_workers,
				    struct gw_diag *diag, struct gw_diag *warn)
{
	char *user = geteuid() ? NULL : gw_cfg_user(path);
	struct passwd *pw = NULL;
	gid_t *groups = NULL;
	struct gw_gen *gen;
	int n_groups = 0;

	/* No such user: drop_privileges says so, after the build. */
	if (user)
		pw = getpwnam(user);
	free(user);
	if (pw) {
		/* Root's groups, to return to them. */
		n_groups = getgroups(0, NULL);
		groups = calloc(n_groups > 0 ? (size_t)n_groups : 1, sizeof(*groups));
		if (groups && n_groups > 0)
			n_groups = getgroups(n_groups, groups);
		if (!groups || n_groups < 0 || setgroups(1, &pw->pw_gid) ||
		    setegid(pw->pw_gid) || seteuid(pw->pw_uid)) {
			gw_diag_add(diag, "%s: user: cannot read the files as \"%s\": %s", path,
				    pw->pw_name, strerror(groups ? errno : ENOMEM));
			free(groups);
			return NULL;
		}
	}
	gen = gw_gen_build(path, n_workers, diag, warn);
	if (pw && (seteuid(0) || setegid(0) || setgroups((size_t)n_groups, groups))) {
		/* Half switched: nothing privileged may run on. */
		fprintf(stderr, "mtlsgw: cannot return to root after reading the files: %s\n",
			strerror(errno));
		exit(1);
	}
	free(groups);
	if (pw && !gen)
		gw_diag_add(diag, "%s: user: the files were read as \"%s\", as every reload will: give it its key files (owner, mode 0600) and read access to the rest",
			    path, pw->pw_name);
	return gen;
}

static bool wants_stage1(const struct gw_config *cfg)
{
	unsigned int i;

	for (i = 0; i < cfg->n_listeners; i++)
		if (cfg->listeners[i].n_interfaces)
			return true;
	return false;
}

/*
 * Load the Stage 1 programs when some listener names interfaces. Without
 * them (no permission, an old kernel) the daemon keeps running with the
 * userspace check after accept, and says so.
 */
static struct gw_stage1 *stage1_start(const struct gw_config *cfg)
{
	struct gw_stage1 *s1 = NULL;
	char err[256];

	if (!wants_stage1(cfg)) {
		pr_info("Stage 1: no listener names interfaces; allow_sources is enforced in userspace after accept");
		return NULL;
	}
	if (gw_stage1_load(&s1, err, sizeof(err))) {
		pr_warn("Stage 1: eBPF unavailable: %s; allow_sources is enforced in userspace after accept only",
			err);
		return NULL;
	}
	return s1;
}

/*
 * The steering program, when some listener has steer: entries or the
 * configuration asks for takeover restarts (then its state is pinned).
 */
static int steer_start(const struct gw_config *cfg, struct gw_daemon_opts *o)
{
	struct gw_steer_prog *sp = NULL;
	bool takeover = o->takeover;
	unsigned int i;
	char err[256];

	for (i = 0; i < cfg->n_listeners && !cfg->listeners[i].n_steer; i++)
		;
	if (i == cfg->n_listeners && !cfg->takeover)
		return 0;
	if (takeover && !cfg->takeover) {
		pr_err("--takeover needs \"takeover: true\" in the configuration");
		return -EINVAL;
	}
	if (gw_steer_load(&sp, cfg->takeover ? cfg->bpf_pin_dir : NULL, takeover,
			  err, sizeof(err))) {
		pr_err("steering: %s", err);
		return -EPERM;
	}
	o->steer = sp;
	return 0;
}

/* --check: run the verifier on the programs without attaching them. */
static int stage1_check(const struct gw_config *cfg)
{
	struct gw_stage1 *s1 = NULL;
	char err[256];
	int ret;

	if (!wants_stage1(cfg))
		return 0;
	ret = gw_stage1_load(&s1, err, sizeof(err));
	if (ret == -EPERM) {
		fprintf(stderr, "mtlsgw: warning: Stage 1: %s; the BPF programs were not verified\n", err);
		return 0;
	}
	if (ret) {
		fprintf(stderr, "mtlsgw: Stage 1: %s\n", err);
		return ret;
	}
	ret = gw_stage1_update(s1, cfg, err, sizeof(err));
	if (ret)
		fprintf(stderr, "mtlsgw: %s: Stage 1: %s\n", cfg->path, err);
	gw_stage1_free(s1);
	return ret;
}

/* --check-kernel: the capability table on stdout; 0 when splice can run. */
static int check_kernel(void)
{
	char report[GW_KCAPS_REPORT_LEN];
	struct gw_kcaps k;
	int err;

	err = gw_kcaps_probe(&k);
	if (err) {
		fprintf(stderr, "mtlsgw: cannot probe the kernel: no loopback TCP pair: %s\n",
			strerror(-err));
		return 1;
	}
	err = gw_kcaps_report(&k, report, sizeof(report));
	fputs(report, stdout);
	if (err)
		fprintf(stderr, "mtlsgw: the table above is cut short: %s\n", strerror(-err));
	return gw_kcaps_splice_usable(&k) ? 0 : 1;
}

/*
 * Decide the datapath for the whole process; -errno when impossible. The
 * splice datapath needs kTLS both ways for the cipher every TLS 1.3 peer
 * has (AES-128-GCM) and splice both ways; a connection whose cipher the
 * kernel does not take stays in userspace.
 */
static int choose_datapath(const struct gw_config *cfg, struct gw_daemon_opts *o,
			   char *why, size_t why_len)
{
	struct gw_kcaps k;
	bool ktls;
	int err;

	err = gw_kcaps_probe(&k);
	if (err)
		gw_snprintf(why, why_len, "kTLS: not probed (no loopback TCP pair: %s)",
			    strerror(-err));
	else
		gw_kcaps_format(&k, why, why_len);
	ktls = !err && gw_kcaps_cipher_ok(&k, GW_KCAPS_TLS13_AES128GCM) &&
	       gw_kcaps_splice_usable(&k);
	o->kernel_info = why;
	o->ktls = ktls ? gw_kcaps_cipher_mask(&k) : 0;
	switch (cfg->datapath) {
	case GW_DATAPATH_USERSPACE:
		pr_info("datapath: userspace (configured); kernel: %s", why);
		o->ktls = 0;
		return 0;
	case GW_DATAPATH_AUTO:
		if (!ktls)
			pr_info("datapath: auto -> userspace; kernel: %s", why);
		else
			pr_info("datapath: auto -> splice (kTLS + splice) for every connection whose cipher the kernel takes; kernel: %s",
				why);
		return 0;
	case GW_DATAPATH_SPLICE:
		if (!ktls) {
			pr_err("datapath: splice: the kernel cannot run it (mtlsgw --check-kernel says why); kernel: %s",
			       why);
			return -EOPNOTSUPP;
		}
		pr_info("datapath: splice (kTLS + splice); kernel: %s", why);
		return 0;
	}
	return -EINVAL;
}

/*
 * Descriptors: a connection holds 2 (client, backend), 6 on the splice
 * datapath (and its two pipes). A soft limit of 1024, the usual default
 * outside systemd units, would cap a splice gateway at about 160
 * connections: raise the soft limit to the hard one, as Go's runtime and
 * HAProxy do, and say so when even the hard one is short of what
 * max_connections asks. The unit file's LimitNOFILE leaves nothing to do
 * (and forbids setrlimit).
 */
static void raise_nofile(const struct gw_config *cfg, bool splice)
{
	unsigned int i, per = splice ? 6 : 2;
	unsigned long long need = 64;
	struct rlimit rl;

	for (i = 0; i < cfg->n_listeners; i++)
		need += (unsigned long long)cfg->listeners[i].max_connections * per;
	if (getrlimit(RLIMIT_NOFILE, &rl))
		return;
	if (rl.rlim_cur < need && rl.rlim_cur < rl.rlim_max) {
		struct rlimit want = { rl.rlim_max, rl.rlim_max };

		if (rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need)
			want.rlim_cur = need;
		if (!setrlimit(RLIMIT_NOFILE, &want))
			rl = want;
		else
			pr_warn("RLIMIT_NOFILE: cannot raise %llu to %llu: %s",
				(unsigned long long)rl.rlim_cur, (unsigned long long)want.rlim_cur,
				strerror(errno));
	}
	if (rl.rlim_cur < need)
		pr_warn("RLIMIT_NOFILE %llu: max_connections needs %llu descriptors (%u per connection); raise the hard limit (LimitNOFILE=, ulimit -Hn)",
			(unsigned long long)rl.rlim_cur, need, per);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, 't' },
		{ "takeover", no_argument, NULL, 'T' },
		{ "check-kernel", no_argument, NULL, 'K' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct gw_diag diag = { 0 }, warn = { 0 };
	char kernel_info[GW_KCAPS_SUMMARY_LEN];
	struct gw_daemon_opts o = { 0 };
	const struct gw_config *cfg;
	struct gw_daemon *d = NULL;
	struct gw_gen *gen = NULL;
	const char *path = NULL;
	bool check = false, takeover = false, kernel = false, bufcache;
	int opt, err, ret = 1;

	/* Before OpenSSL allocates anything: its record buffers are cached. */
	bufcache = !gw_bufcache_install();
	while ((opt = getopt_long(argc, argv, "c:tVh", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 't':
			check = true;
			break;
		case 'T':
			takeover = true;
			break;
		case 'K':
			kernel = true;
			break;
		case 'V':
			printf("mtlsgw %s (%s)\n", GW_VERSION, OpenSSL_version(OPENSSL_VERSION));
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_INVALID;
		}
	}
	if (kernel && optind == argc)
		return check_kernel();
	if (!path || optind != argc) {
		usage(stderr);
		return EXIT_INVALID;
	}

	if (gw_tls_init(gw_handshake_authz)) {
		fprintf(stderr, "mtlsgw: cannot initialise OpenSSL\n");
		return 1;
	}
	gen = build_as_user(path, check ? 1 : 0, &diag, &warn);
	print_diag(&warn, "mtlsgw: warning: ");
	if (!gen) {
		print_diag(&diag, "mtlsgw: ");
		fprintf(stderr, "mtlsgw: configuration \"%s\" is invalid (%u problem%s)\n",
			path, gw_diag_count(&diag), gw_diag_count(&diag) == 1 ? "" : "s");
		ret = EXIT_INVALID;
		goto out_free;
	}
	if (check) {
		if (stage1_check(gw_gen_config(gen))) {
			ret = EXIT_INVALID;
			goto out_free;
		}
		fprintf(stderr, "mtlsgw: configuration \"%s\" is valid\n", path);
		ret = 0;
		goto out_free;
	}
	cfg = gw_gen_config(gen);
	gw_log_set_level(cfg->log_level);
	if (!bufcache)
		pr_debug("OpenSSL allocated before main(): its record buffers go to malloc uncached");
	err = gw_audit_open(cfg->audit);
	if (err) {
		pr_err("log.audit: cannot open \"%s\": %s", cfg->audit, strerror(-err));
		goto out_free;
	}
	gw_audit_set_refuse(cfg->audit_failure == GW_AUDIT_REFUSE);
	o.takeover = takeover;
	if (choose_datapath(cfg, &o, kernel_info, sizeof(kernel_info)))
		goto out_audit;
	raise_nofile(cfg, o.ktls != 0);
	o.stage1 = stage1_start(cfg);
	if (steer_start(cfg, &o)) {
		gw_stage1_free(o.stage1);
		goto out_audit;
	}
	/* The daemon takes gen and the programs. */
	d = gw_daemon_new(gen, &o);
	gen = NULL;
	if (!d || gw_daemon_listen(d))
		goto out_audit;
	if (cfg->user && drop_privileges(cfg->user, cfg->control_socket))
		goto out_audit;
	pr_info("mtlsgw %s ready: %u listener%s", GW_VERSION, cfg->n_listeners,
		cfg->n_listeners == 1 ? "" : "s");
	ret = gw_daemon_run(d) ? 1 : 0;
out_audit:
	gw_daemon_free(d);
	gw_idlimit_free_all();
	gw_audit_close();
out_free:
	gw_gen_put(gen);
	gw_tcache_flush();
	gw_diag_free(&diag);
	gw_diag_free(&warn);
	return ret;
}
