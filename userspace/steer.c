// SPDX-License-Identifier: GPL-2.0-only
/*
 * Steering loader. The destination table is compiled so that the BPF side
 * needs one LPM lookup: for every distinct prefix we store its own port
 * ranges and those of every less specific prefix containing it, most
 * specific first, so the longest match always carries all candidates.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "steer.h"
#include "steer.skel.h"
#include "util.h"

struct gw_steer_prog {
	struct steer_bpf *skel;
	struct bpf_link *link;
	unsigned int gen;
	int ncpus;
};

int gw_steer_load(struct gw_steer_prog **out, char *err, size_t len)
{
	struct gw_steer_prog *s = calloc(1, sizeof(*s));
	int ret;

	if (!s)
		return -ENOMEM;
	s->ncpus = libbpf_num_possible_cpus();
	s->skel = steer_bpf__open();
	if (!s->skel) {
		ret = -errno;
		gw_snprintf(err, len, "cannot open the steering BPF object: %s", strerror(-ret));
		goto out_free;
	}
	ret = steer_bpf__load(s->skel);
	if (ret) {
		gw_snprintf(err, len, "the kernel refused the steering program: %s%s",
			    strerror(-ret), ret == -EPERM ? " (needs CAP_BPF and CAP_NET_ADMIN)" : "");
		goto out_free;
	}
	*out = s;
	return 0;
out_free:
	gw_steer_free(s);
	return ret;
}

static struct bpf_map *dst_map(struct gw_steer_prog *s, unsigned int gen)
{
	return gen ? s->skel->maps.steer_dst_1 : s->skel->maps.steer_dst_0;
}

static void key_of(const struct gw_cidr *c, struct gw_steer_key *k)
{
	memset(k, 0, sizeof(*k));
	k->prefixlen = GW_STEER_PREFIX_BASE + c->prefix_len;
	k->family = c->family == AF_INET ? 4 : 6;
	memcpy(k->addr, c->addr, c->family == AF_INET ? 4 : 16);
}

int gw_steer_update(struct gw_steer_prog *s, const struct gw_steer_entry *e,
		    unsigned int n, char *err, size_t len)
{
	unsigned int idle = !s->gen, i, j;
	int fd = bpf_map__fd(dst_map(s, idle));
	struct gw_steer_key k, next;
	struct gw_steer_val *vals;
	__u32 zero = 0, gen = idle;

	/* Compile everything first: a table that does not fit changes nothing. */
	vals = calloc(n ? n : 1, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		struct gw_steer_val *v = &vals[i];
		unsigned int plen;

		/* Most specific first: walk prefix lengths from this one down. */
		for (plen = e[i].dst.dst.prefix_len + 1; plen-- > 0;) {
			for (j = 0; j < n; j++) {
				if (e[j].dst.dst.prefix_len != plen ||
				    !gw_cidr_contains(&e[j].dst.dst, &e[i].dst.dst))
					continue;
				if (v->n == GW_STEER_MAX_RANGES) {
					gw_snprintf(err, len, "listener \"%s\": more than %d port ranges apply to one steered prefix",
						    e[i].listener, GW_STEER_MAX_RANGES);
					free(vals);
					return -E2BIG;
				}
				v->r[v->n].lo = e[j].dst.lo;
				v->r[v->n].hi = e[j].dst.hi;
				v->r[v->n].slot = e[j].slot;
				v->n++;
			}
		}
	}
	while (!bpf_map_get_next_key(fd, NULL, &next))
		if (bpf_map_delete_elem(fd, &next))
			goto out_errno;
	for (i = 0; i < n; i++) {
		key_of(&e[i].dst.dst, &k);
		if (bpf_map_update_elem(fd, &k, &vals[i], BPF_ANY))
			goto out_errno;
	}
	if (bpf_map_update_elem(bpf_map__fd(s->skel->maps.steer_gen), &zero, &gen, BPF_ANY))
		goto out_errno;
	s->gen = idle;
	free(vals);
	return 0;
out_errno:
	gw_snprintf(err, len, "cannot fill the steering table: %s", strerror(errno));
	free(vals);
	return -errno;
}

int gw_steer_set_socket(struct gw_steer_prog *s, unsigned int slot, int fd)
{
	__u32 key = slot;
	__u64 val = (__u64)fd;

	if (bpf_map_update_elem(bpf_map__fd(s->skel->maps.steer_socks), &key, &val, BPF_ANY))
		return -errno;
	return 0;
}

void gw_steer_clear_socket(struct gw_steer_prog *s, unsigned int slot)
{
	__u32 key = slot;

	bpf_map_delete_elem(bpf_map__fd(s->skel->maps.steer_socks), &key);
}

int gw_steer_attach(struct gw_steer_prog *s)
{
	int nsfd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	int err;

	if (nsfd < 0)
		return -errno;
	s->link = bpf_program__attach_netns(s->skel->progs.gw_steer, nsfd);
	err = s->link ? 0 : -errno;
	close(nsfd);
	return err;
}

int gw_steer_hits(const struct gw_steer_prog *s, unsigned int slot, struct gw_steer_hits *out)
{
	struct gw_steer_hits *percpu = calloc(s->ncpus, sizeof(*percpu));
	__u32 key = slot;
	int i;

	memset(out, 0, sizeof(*out));
	if (!percpu)
		return -ENOMEM;
	if (bpf_map_lookup_elem(bpf_map__fd(s->skel->maps.steer_hits), &key, percpu)) {
		free(percpu);
		return -errno;
	}
	for (i = 0; i < s->ncpus; i++) {
		out->assigned += percpu[i].assigned;
		out->no_socket += percpu[i].no_socket;
	}
	free(percpu);
	return 0;
}

void gw_steer_free(struct gw_steer_prog *s)
{
	if (!s)
		return;
	bpf_link__destroy(s->link);
	steer_bpf__destroy(s->skel);
	free(s);
}
