// SPDX-License-Identifier: GPL-2.0-only
/*
 * Steering loader. The destination table is compiled so that the BPF side
 * needs one LPM lookup: for every distinct prefix we store its own port
 * ranges and those of every less specific prefix containing it, most
 * specific first, so the longest match always carries all candidates.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpfmap.h"
#include "steer.h"
#include "steer.skel.h"
#include "util.h"

struct gw_steer_prog {
	struct steer_bpf *skel;
	struct bpf_link *link;
	unsigned int gen;
	int ncpus;
	char *pin_dir;			/* NULL: nothing pinned */
	bool handed_over;
};

/* Pinned objects, by file name under the pin directory. */
static const char *const pinned_maps[] = {
	"steer_gen", "steer_dst_0", "steer_dst_1", "steer_socks", "steer_hits",
};
#define PINNED_LINK "steer_link"

static struct bpf_map *map_by_name(struct gw_steer_prog *s, const char *name)
{
	return bpf_object__find_map_by_name(s->skel->obj, name);
}

static int pin_path(const struct gw_steer_prog *s, const char *name, char *buf, size_t len)
{
	return gw_snprintf(buf, len, "%s/%s", s->pin_dir, name);
}

static void unpin_all(struct gw_steer_prog *s)
{
	char path[PATH_MAX];
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(pinned_maps); i++)
		if (!pin_path(s, pinned_maps[i], path, sizeof(path)))
			unlink(path);
	if (!pin_path(s, PINNED_LINK, path, sizeof(path)))
		unlink(path);
}

/* Reuse every pinned map; -ENOENT when there is nothing to take over. */
static int reuse_pinned(struct gw_steer_prog *s, char *err, size_t len)
{
	char path[PATH_MAX];
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(pinned_maps); i++) {
		int fd, ret;

		if (pin_path(s, pinned_maps[i], path, sizeof(path)))
			return -ENAMETOOLONG;
		fd = bpf_obj_get(path);
		if (fd < 0) {
			ret = -errno;
			gw_snprintf(err, len, "--takeover: no pinned steering state at \"%s\": %s",
				    path, strerror(-ret));
			return ret;
		}
		ret = bpf_map__reuse_fd(map_by_name(s, pinned_maps[i]), fd);
		close(fd);
		if (ret) {
			gw_snprintf(err, len, "--takeover: pinned map \"%s\" does not fit this version: %s",
				    path, strerror(-ret));
			return ret;
		}
	}
	return 0;
}

int gw_steer_load(struct gw_steer_prog **out, const char *pin_dir, bool takeover,
		  char *err, size_t len)
{
	struct gw_steer_prog *s = calloc(1, sizeof(*s));
	int ret;

	if (!s)
		return -ENOMEM;
	s->ncpus = libbpf_num_possible_cpus();
	s->pin_dir = pin_dir ? strdup(pin_dir) : NULL;
	s->skel = steer_bpf__open();
	if (!s->skel) {
		ret = -errno;
		gw_snprintf(err, len, "cannot open the steering BPF object: %s", strerror(-ret));
		goto out_free;
	}
	if (s->pin_dir) {
		if (mkdir(s->pin_dir, 0700) && errno != EEXIST) {
			ret = -errno;
			gw_snprintf(err, len, "bpf_pin_dir \"%s\": %s (is bpffs mounted? mount -t bpf bpf /sys/fs/bpf)",
				    s->pin_dir, strerror(-ret));
			goto out_free;
		}
		if (takeover) {
			ret = reuse_pinned(s, err, len);
			if (ret)
				goto out_free;
		} else {
			/* A crashed daemon's state: remove it, start afresh. */
			unpin_all(s);
		}
	}
	ret = steer_bpf__load(s->skel);
	if (ret) {
		gw_snprintf(err, len, "the kernel refused the steering program: %s%s",
			    strerror(-ret), ret == -EPERM ? " (needs CAP_BPF and CAP_NET_ADMIN)" : "");
		goto out_free;
	}
	if (takeover) {
		__u32 zero = 0, gen = 0;

		/* Continue from the generation the previous daemon left live. */
		if (!bpf_map_lookup_elem(bpf_map__fd(s->skel->maps.steer_gen), &zero, &gen))
			s->gen = gen ? 1 : 0;
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

/*
 * Attach to this network namespace. With a pin directory: take over the
 * pinned link when there is one (swap in our program, atomically), else
 * create a link and pin it with the maps.
 */
int gw_steer_attach(struct gw_steer_prog *s)
{
	char path[PATH_MAX];
	unsigned int i;
	int nsfd, err;

	if (s->pin_dir && !pin_path(s, PINNED_LINK, path, sizeof(path)) && !access(path, F_OK)) {
		s->link = bpf_link__open(path);
		if (s->link) {
			err = bpf_link__update_program(s->link, s->skel->progs.gw_steer);
			return err;
		}
	}
	nsfd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (nsfd < 0)
		return -errno;
	s->link = bpf_program__attach_netns(s->skel->progs.gw_steer, nsfd);
	err = s->link ? 0 : -errno;
	close(nsfd);
	if (err || !s->pin_dir)
		return err;
	for (i = 0; i < ARRAY_SIZE(pinned_maps); i++) {
		if (pin_path(s, pinned_maps[i], path, sizeof(path)))
			return -ENAMETOOLONG;
		err = bpf_map__pin(map_by_name(s, pinned_maps[i]), path);
		if (err)
			return err;
	}
	if (pin_path(s, PINNED_LINK, path, sizeof(path)))
		return -ENAMETOOLONG;
	return bpf_link__pin(s->link, path);
}

void gw_steer_set_handed_over(struct gw_steer_prog *s)
{
	s->handed_over = true;
}

int gw_steer_hits(const struct gw_steer_prog *s, unsigned int slot, struct gw_steer_hits *out)
{
	__u32 key = slot;
	__u64 sum[2];
	int err;

	_Static_assert(sizeof(*out) == sizeof(sum), "gw_steer_hits: two __u64");
	memset(out, 0, sizeof(*out));
	err = gw_bpfmap_percpu_sum(bpf_map__fd(s->skel->maps.steer_hits), &key, s->ncpus, sum, 2);
	if (err)
		return err;
	out->assigned = sum[0];
	out->no_socket = sum[1];
	return 0;
}

void gw_steer_free(struct gw_steer_prog *s)
{
	if (!s)
		return;
	/* A normal stop cleans up; a daemon that handed over leaves the pins. */
	if (s->pin_dir && !s->handed_over) {
		unpin_all(s);
		rmdir(s->pin_dir);
	}
	free(s->pin_dir);
	if (s->link && s->handed_over)
		bpf_link__disconnect(s->link);
	bpf_link__destroy(s->link);
	steer_bpf__destroy(s->skel);
	free(s);
}
