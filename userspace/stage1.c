// SPDX-License-Identifier: GPL-2.0-only
/*
 * Stage 1 loader: skeleton lifecycle (open -> load -> fill maps -> attach
 * -> run -> destroy), generation switch, attachments, counters, events.
 *
 * Concurrency: called from the worker's thread only. The BPF side reads
 * s1_gen once per packet and then only the maps of that generation; we
 * only ever write the idle generation, then flip s1_gen with one update.
 */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpfmap.h"
#include "log.h"
#include "stage1.h"
#include "stage1.skel.h"

/* BPF_TCX_INGRESS, for libbpf/UAPI headers older than Linux 6.6. */
#define GW_BPF_TCX_INGRESS 46

enum attach_mode {
	ATTACH_NONE,
	ATTACH_XDP,
	ATTACH_XDP_GENERIC,
	ATTACH_TCX,
	ATTACH_TC,
};

static const char *const mode_names[] = {
	[ATTACH_NONE] = NULL,
	[ATTACH_XDP] = "xdp",
	[ATTACH_XDP_GENERIC] = "xdp-generic",
	[ATTACH_TCX] = "tcx",
	[ATTACH_TC] = "tc",
};

struct s1_attachment {
	char ifname[IF_NAMESIZE];
	int ifindex;
	enum attach_mode mode;
	int link_fd;			/* XDP and tcx */
	bool tc_qdisc_created;		/* netlink tc: remove clsact on detach */
};

struct gw_stage1 {
	struct stage1_bpf *skel;
	unsigned int gen;		/* live generation */
	int ncpus;
	struct ring_buffer *rb;
	struct s1_attachment *att;
	unsigned int n_att;
	gw_stage1_event_fn ev_fn;
	void *ev_ctx;
};

/* libbpf's own messages go one level down, as debug. */
static int __attribute__((format(printf, 2, 0)))
libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	gw_vlog(GW_LOG_DEBUG, fmt, ap);
	return 0;
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct gw_stage1 *s = ctx;

	if (size >= sizeof(struct gw_s1_event) && s->ev_fn)
		s->ev_fn(data, s->ev_ctx);
	return 0;
}

int gw_stage1_load(struct gw_stage1 **out, char *err, size_t len)
{
	struct gw_stage1 *s;
	int ret;

	libbpf_set_print(libbpf_print);
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->ncpus = libbpf_num_possible_cpus();
	s->skel = stage1_bpf__open();
	if (!s->skel) {
		ret = -errno;
		gw_snprintf(err, len, "cannot open the Stage 1 BPF object: %s", strerror(-ret));
		goto out_free;
	}
	ret = stage1_bpf__load(s->skel);
	if (ret) {
		if (ret == -EPERM)
			gw_snprintf(err, len, "no permission to load BPF programs (EPERM): run as root or with CAP_BPF and CAP_NET_ADMIN");
		else
			gw_snprintf(err, len, "the kernel refused the Stage 1 BPF programs: %s (run with log.level: debug for the verifier log)",
				    strerror(-ret));
		goto out_free;
	}
	s->rb = ring_buffer__new(bpf_map__fd(s->skel->maps.s1_events), on_event, s, NULL);
	if (!s->rb) {
		ret = -errno;
		gw_snprintf(err, len, "cannot map the Stage 1 event ring: %s", strerror(-ret));
		goto out_free;
	}
	*out = s;
	return 0;
out_free:
	gw_stage1_free(s);
	return ret;
}

static struct bpf_map *ports_map(struct gw_stage1 *s, unsigned int gen)
{
	return gen ? s->skel->maps.s1_ports_1 : s->skel->maps.s1_ports_0;
}

static struct bpf_map *allow_map(struct gw_stage1 *s, unsigned int gen)
{
	return gen ? s->skel->maps.s1_allow_1 : s->skel->maps.s1_allow_0;
}

/* Empty a hash or LPM map (the idle generation) before refilling it. */
static int map_clear(struct bpf_map *map, size_t key_size)
{
	unsigned char key[64], next[64];
	int fd = bpf_map__fd(map);
	int err;

	if (key_size > sizeof(key))
		return -EINVAL;
	while (!bpf_map_get_next_key(fd, NULL, next)) {
		memcpy(key, next, key_size);
		err = bpf_map_delete_elem(fd, key);
		if (err)
			return -errno;
	}
	return 0;
}

static uint16_t listen_port(const struct gw_cfg_listener *l)
{
	if (l->listen.ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)&l->listen)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)&l->listen)->sin6_port);
}

int gw_stage1_update(struct gw_stage1 *s, const struct gw_config *cfg,
		     char *err, size_t len)
{
	unsigned int idle = !s->gen, i, j;
	struct bpf_map *ports = ports_map(s, idle), *allow = allow_map(s, idle);
	__u32 zero = 0, gen = idle;
	int ret;

	if (cfg->n_listeners >= GW_S1_NO_LISTENER) {
		gw_snprintf(err, len, "Stage 1 supports at most %d listeners", GW_S1_NO_LISTENER);
		return -E2BIG;
	}
	ret = map_clear(ports, sizeof(struct gw_s1_port_key));
	ret = ret ?: map_clear(allow, sizeof(struct gw_s1_lpm_key));
	if (ret) {
		gw_snprintf(err, len, "cannot clear the idle Stage 1 maps: %s", strerror(-ret));
		return ret;
	}
	for (i = 0; i < cfg->n_listeners; i++) {
		const struct gw_cfg_listener *l = &cfg->listeners[i];
		struct gw_s1_port_key pk = { .port = listen_port(l) };
		struct gw_s1_port pv = { .listener = i };
		const struct gw_cidr *srcs;
		unsigned int n_srcs;

		/* The program scopes allowlists by destination port. */
		for (j = 0; j < i; j++)
			if (listen_port(&cfg->listeners[j]) == pk.port) {
				gw_snprintf(err, len, "listeners \"%s\" and \"%s\" share port %u; Stage 1 scopes allowlists by port",
					    cfg->listeners[j].name, l->name, pk.port);
				return -EINVAL;
			}
		if (l->mode == GW_MODE_AUDIT)
			pv.flags |= GW_S1_F_AUDIT;
		/*
		 * Behind balancers the packets come from them: the program
		 * admits their addresses, and allow_sources applies in
		 * userspace to the client each PROXY header names.
		 */
		if (l->proxy_accept) {
			srcs = l->proxy_from;
			n_srcs = l->n_proxy_from;
		} else {
			srcs = l->allow_sources;
			n_srcs = l->n_allow_sources;
			if (l->allow_any)
				pv.flags |= GW_S1_F_ALLOW_ANY;
		}
		if (bpf_map_update_elem(bpf_map__fd(ports), &pk, &pv, BPF_ANY))
			goto out_errno;
		for (j = 0; j < n_srcs; j++) {
			const struct gw_cidr *c = &srcs[j];
			struct gw_s1_lpm_key k = {
				.prefixlen = GW_S1_LPM_PREFIX_BASE + c->prefix_len,
				.family = c->family == AF_INET ? 4 : 6,
				.port = htons(pk.port),
			};
			struct gw_s1_allow v = { .listener = i };

			memcpy(k.addr, c->addr, c->family == AF_INET ? 4 : 16);
			if (bpf_map_update_elem(bpf_map__fd(allow), &k, &v, BPF_ANY))
				goto out_errno;
		}
	}
	if (cfg->n_listeners) {
		struct gw_s1_port_key pk = { .port = GW_S1_PROTECTING_PORT };
		struct gw_s1_port pv = { .listener = GW_S1_NO_LISTENER };

		if (bpf_map_update_elem(bpf_map__fd(ports), &pk, &pv, BPF_ANY))
			goto out_errno;
	}
	/* One store makes the new generation live for the next packet. */
	if (bpf_map_update_elem(bpf_map__fd(s->skel->maps.s1_gen), &zero, &gen, BPF_ANY))
		goto out_errno;
	s->gen = idle;
	return 0;
out_errno:
	ret = -errno;
	gw_snprintf(err, len, "cannot fill the Stage 1 maps: %s", strerror(-ret));
	return ret;
}

/* ---- attachments ---- */

static int attach_xdp(struct gw_stage1 *s, struct s1_attachment *a, __u32 flags)
{
	LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = flags);
	int fd;

	fd = bpf_link_create(bpf_program__fd(s->skel->progs.gw_stage1_xdp),
			     a->ifindex, BPF_XDP, &opts);
	if (fd < 0)
		return -errno;
	a->link_fd = fd;
	return 0;
}

static int attach_tcx(struct gw_stage1 *s, struct s1_attachment *a)
{
	int fd;

	fd = bpf_link_create(bpf_program__fd(s->skel->progs.gw_stage1_tc),
			     a->ifindex, GW_BPF_TCX_INGRESS, NULL);
	if (fd < 0)
		return -errno;
	a->link_fd = fd;
	return 0;
}

static int attach_tc(struct gw_stage1 *s, struct s1_attachment *a)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = a->ifindex,
		    .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = 1, .priority = 1,
		    .prog_fd = bpf_program__fd(s->skel->progs.gw_stage1_tc));
	int err;

	err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST)
		return err;
	/* A clsact qdisc we did not create is never removed by us. */
	a->tc_qdisc_created = !err;
	err = bpf_tc_attach(&hook, &opts);
	if (err && a->tc_qdisc_created) {
		hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
		bpf_tc_hook_destroy(&hook);
		a->tc_qdisc_created = false;
	}
	return err;
}

static void detach(struct s1_attachment *a)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = a->ifindex,
		    .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = 1, .priority = 1);

	switch (a->mode) {
	case ATTACH_XDP:
	case ATTACH_XDP_GENERIC:
	case ATTACH_TCX:
		close(a->link_fd);
		break;
	case ATTACH_TC:
		bpf_tc_detach(&hook, &opts);
		if (a->tc_qdisc_created) {
			hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
			bpf_tc_hook_destroy(&hook);
		}
		break;
	case ATTACH_NONE:
		break;
	}
	a->mode = ATTACH_NONE;
	a->link_fd = -1;
}

/* Try the modes allowed by want in order; the first that works wins. */
static int attach_one(struct gw_stage1 *s, struct s1_attachment *a,
		      enum gw_s1_attach want)
{
	int err = -EOPNOTSUPP, e;

	if (want == GW_S1_ATTACH_AUTO || want == GW_S1_ATTACH_XDP) {
		e = attach_xdp(s, a, XDP_FLAGS_DRV_MODE);
		if (!e) {
			a->mode = ATTACH_XDP;
			return 0;
		}
		pr_debug("Stage 1: %s: native XDP: %s", a->ifname, strerror(-e));
		err = e;
	}
	if (want == GW_S1_ATTACH_AUTO || want == GW_S1_ATTACH_XDP_GENERIC) {
		e = attach_xdp(s, a, XDP_FLAGS_SKB_MODE);
		if (!e) {
			a->mode = ATTACH_XDP_GENERIC;
			return 0;
		}
		pr_debug("Stage 1: %s: generic XDP: %s", a->ifname, strerror(-e));
		err = e;
	}
	if (want == GW_S1_ATTACH_AUTO || want == GW_S1_ATTACH_TC) {
		e = attach_tcx(s, a);
		if (!e) {
			a->mode = ATTACH_TCX;
			return 0;
		}
		pr_debug("Stage 1: %s: tcx: %s", a->ifname, strerror(-e));
		e = attach_tc(s, a);
		if (!e) {
			a->mode = ATTACH_TC;
			return 0;
		}
		pr_debug("Stage 1: %s: tc: %s", a->ifname, strerror(-e));
		err = e;
	}
	return err;
}

static bool cfg_names_interface(const struct gw_config *cfg, const char *ifname)
{
	unsigned int i, j;

	for (i = 0; i < cfg->n_listeners; i++)
		for (j = 0; j < cfg->listeners[i].n_interfaces; j++)
			if (!strcmp(cfg->listeners[i].interfaces[j], ifname))
				return true;
	return false;
}

static struct s1_attachment *find_att(const struct gw_stage1 *s, const char *ifname)
{
	unsigned int i;

	for (i = 0; i < s->n_att; i++)
		if (!strcmp(s->att[i].ifname, ifname))
			return &s->att[i];
	return NULL;
}

int gw_stage1_attach(struct gw_stage1 *s, const struct gw_config *cfg)
{
	unsigned int i, j, k, n = 0;

	/* Interfaces no longer named: detach. */
	for (k = 0; k < s->n_att; k++)
		if (s->att[k].mode != ATTACH_NONE &&
		    !cfg_names_interface(cfg, s->att[k].ifname)) {
			pr_info("Stage 1: detached from %s", s->att[k].ifname);
			detach(&s->att[k]);
		}
	for (i = 0; i < cfg->n_listeners; i++) {
		for (j = 0; j < cfg->listeners[i].n_interfaces; j++) {
			const char *ifname = cfg->listeners[i].interfaces[j];
			struct s1_attachment *a = find_att(s, ifname), *grown;
			int err;

			if (a && a->mode != ATTACH_NONE)
				continue;
			if (!a) {
				grown = realloc(s->att, (s->n_att + 1) * sizeof(*grown));
				if (!grown)
					return -ENOMEM;
				s->att = grown;
				a = &s->att[s->n_att++];
				memset(a, 0, sizeof(*a));
				a->link_fd = -1;
				gw_snprintf(a->ifname, sizeof(a->ifname), "%s", ifname);
			}
			a->ifindex = (int)if_nametoindex(ifname);
			if (!a->ifindex) {
				pr_err("Stage 1: interface \"%s\" (listener \"%s\"): %s; only the userspace check applies there",
				       ifname, cfg->listeners[i].name, strerror(errno));
				continue;
			}
			err = attach_one(s, a, cfg->stage1_attach);
			if (err) {
				pr_err("Stage 1: cannot attach to \"%s\": %s; only the userspace check applies there",
				       ifname, strerror(-err));
				continue;
			}
			pr_info("Stage 1: attached to %s (%s)", ifname, mode_names[a->mode]);
		}
	}
	for (k = 0; k < s->n_att; k++)
		n += s->att[k].mode != ATTACH_NONE;
	return (int)n;
}

const char *gw_stage1_mode(const struct gw_stage1 *s, const char *ifname)
{
	const struct s1_attachment *a = s ? find_att(s, ifname) : NULL;

	return a ? mode_names[a->mode] : NULL;
}

int gw_stage1_counter(const struct gw_stage1 *s, unsigned int listener,
		      unsigned int verdict, struct gw_s1_counter *out)
{
	__u32 key = listener * GW_S1_NR_VERDICTS + verdict;
	__u64 sum[2];
	int err;

	_Static_assert(sizeof(*out) == sizeof(sum), "gw_s1_counter: two __u64");
	memset(out, 0, sizeof(*out));
	if (listener >= GW_S1_MAX_LISTENERS || verdict >= GW_S1_NR_VERDICTS)
		return -EINVAL;
	err = gw_bpfmap_percpu_sum(bpf_map__fd(s->skel->maps.s1_counters), &key, s->ncpus,
				   sum, 2);
	if (err)
		return err;
	out->packets = sum[0];
	out->bytes = sum[1];
	return 0;
}

int gw_stage1_events_fd(const struct gw_stage1 *s)
{
	return ring_buffer__epoll_fd(s->rb);
}

int gw_stage1_events_consume(struct gw_stage1 *s, gw_stage1_event_fn fn, void *ctx)
{
	int n;

	s->ev_fn = fn;
	s->ev_ctx = ctx;
	n = ring_buffer__consume(s->rb);
	s->ev_fn = NULL;
	return n;
}

void gw_stage1_free(struct gw_stage1 *s)
{
	unsigned int i;

	if (!s)
		return;
	for (i = 0; i < s->n_att; i++)
		detach(&s->att[i]);
	free(s->att);
	ring_buffer__free(s->rb);
	stage1_bpf__destroy(s->skel);
	free(s);
}
