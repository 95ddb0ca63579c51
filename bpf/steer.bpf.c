// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Steering: an sk_lookup program that delivers connections for configured
 * destination prefixes and port ranges to a listener's socket, whatever
 * address that socket is bound to (one listener for a subnet of service
 * addresses or a port range). Everything else falls through to the
 * kernel's normal socket lookup. See gw_abi.h for the maps.
 *
 * Stage 1 (XDP/tc) has run before this: only allowed sources get here.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "gw_abi.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} steer_gen SEC(".maps");

struct steer_dst {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, GW_STEER_MAX_PREFIXES);
	__type(key, struct gw_steer_key);
	__type(value, struct gw_steer_val);
};

struct steer_dst steer_dst_0 SEC(".maps");
struct steer_dst steer_dst_1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, GW_STEER_MAX_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} steer_socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, GW_STEER_MAX_SLOTS);
	__type(key, __u32);
	__type(value, struct gw_steer_hits);
} steer_hits SEC(".maps");

SEC("sk_lookup")
int gw_steer(struct bpf_sk_lookup *ctx)
{
	struct gw_steer_key key = {};
	struct gw_steer_val *v;
	struct gw_steer_hits *hits;
	struct bpf_sock *sk;
	__u32 zero = 0, *genp, slot = GW_STEER_MAX_SLOTS;
	__u16 port = ctx->local_port;	/* host order */
	int i;

	if (ctx->protocol != IPPROTO_TCP)
		return SK_PASS;
	if (ctx->family == 2 /* AF_INET */) {
		key.family = 4;
		key.prefixlen = GW_STEER_PREFIX_BASE + 32;
		__builtin_memcpy(key.addr, &ctx->local_ip4, 4);
	} else if (ctx->family == 10 /* AF_INET6 */) {
		key.family = 6;
		key.prefixlen = GW_STEER_PREFIX_BASE + 128;
		__builtin_memcpy(key.addr, ctx->local_ip6, 16);
	} else {
		return SK_PASS;
	}
	genp = bpf_map_lookup_elem(&steer_gen, &zero);
	if (genp && *genp)
		v = bpf_map_lookup_elem(&steer_dst_1, &key);
	else
		v = bpf_map_lookup_elem(&steer_dst_0, &key);
	if (!v)
		return SK_PASS;
#pragma unroll
	for (i = 0; i < GW_STEER_MAX_RANGES; i++) {
		if (i >= v->n)
			break;
		if (port >= v->r[i].lo && port <= v->r[i].hi) {
			slot = v->r[i].slot;
			break;
		}
	}
	if (slot >= GW_STEER_MAX_SLOTS)
		return SK_PASS;
	hits = bpf_map_lookup_elem(&steer_hits, &slot);
	sk = bpf_map_lookup_elem(&steer_socks, &slot);
	if (!sk) {
		if (hits)
			hits->no_socket++;
		return SK_PASS;
	}
	/*
	 * The map's choice is final. Without NO_REUSEPORT the kernel picks
	 * again by hash within the socket's SO_REUSEPORT group, and during a
	 * takeover that group holds the old daemon's socket too: SYNs would
	 * keep landing there after the switch and be reset when it closes.
	 */
	if (!bpf_sk_assign(ctx, sk, BPF_SK_LOOKUP_F_NO_REUSEPORT) && hits)
		hits->assigned++;
	bpf_sk_release(sk);
	return SK_PASS;
}
