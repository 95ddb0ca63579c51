// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Stage 1: the source allowlist, as XDP and as tc ingress, one verdict
 * function for both (see gw_abi.h for the maps and the verdicts).
 *
 * Parsing: Ethernet, up to two VLAN tags (802.1Q, 802.1ad), IPv4 with
 * options, IPv6 with up to GW_S1_MAX_EXTHDR extension headers, then the
 * TCP ports. Every read is bounds-checked against data_end.
 * - Fragments: a non-first fragment carries no port; while any port is
 *   protected (the generation has the GW_S1_PROTECTING_PORT entry), TCP
 *   fragments are dropped (DROP_FRAGMENT). TCP does not fragment in
 *   practice.
 * - A TCP header cut short before the ports cannot be attributed to a
 *   port; it passes as "other" (the kernel drops it as malformed anyway).
 *   A protected port whose packet ends inside the fixed TCP header is
 *   counted DROP_MALFORMED and dropped.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "gw_abi.h"

#define GW_S1_MAX_EXTHDR 6

#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} s1_gen SEC(".maps");

struct s1_ports {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, GW_S1_MAX_LISTENERS);
	__type(key, struct gw_s1_port_key);
	__type(value, struct gw_s1_port);
};

struct s1_ports s1_ports_0 SEC(".maps");
struct s1_ports s1_ports_1 SEC(".maps");

struct s1_allow {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, GW_S1_MAX_PREFIXES);
	__type(key, struct gw_s1_lpm_key);
	__type(value, struct gw_s1_allow);
};

struct s1_allow s1_allow_0 SEC(".maps");
struct s1_allow s1_allow_1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, GW_S1_MAX_LISTENERS * GW_S1_NR_VERDICTS);
	__type(key, __u32);
	__type(value, struct gw_s1_counter);
} s1_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} s1_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} s1_event_ts SEC(".maps");

/* What the parser found out about a packet. */
struct pkt {
	__u8 family;		/* 4 or 6; 0 = not IP */
	__u8 is_tcp;
	__u8 fragment;		/* IPv4 MF/offset or IPv6 fragment header */
	__u8 ports_ok;		/* the TCP ports were readable */
	__u8 tcp_short;		/* ports readable, rest of the fixed header not */
	__u16 dport;		/* host order */
	__u8 saddr[16];
};

static __always_inline void *gen_map(__u32 gen, void *m0, void *m1)
{
	return gen ? m1 : m0;
}

static __always_inline int parse_tcp(void *l4, void *data_end, struct pkt *p)
{
	struct tcphdr *th = l4;

	/* source and dest ports: the first 4 bytes */
	if ((void *)th + 4 > data_end)
		return 0;
	p->ports_ok = 1;
	p->dport = bpf_ntohs(th->dest);
	if ((void *)(th + 1) > data_end)
		p->tcp_short = 1;
	return 0;
}

static __always_inline int parse_ipv4(void *l3, void *data_end, struct pkt *p)
{
	struct iphdr *iph = l3;
	__u32 ihl;

	if ((void *)(iph + 1) > data_end)
		return -1;
	ihl = iph->ihl * 4;
	if (ihl < sizeof(*iph) || l3 + ihl > data_end)
		return -1;
	p->family = 4;
	__builtin_memcpy(p->saddr, &iph->saddr, 4);
	if (iph->protocol != IPPROTO_TCP)
		return 0;
	p->is_tcp = 1;
	if (iph->frag_off & bpf_htons(0x3fff)) {	/* MF or an offset */
		p->fragment = 1;
		if (iph->frag_off & bpf_htons(0x1fff))
			return 0;		/* no TCP header here */
	}
	return parse_tcp(l3 + ihl, data_end, p);
}

static __always_inline int parse_ipv6(void *l3, void *data_end, struct pkt *p)
{
	struct ipv6hdr *ip6 = l3;
	void *cur = ip6 + 1;
	__u8 next;
	int i;

	if (cur > data_end)
		return -1;
	p->family = 6;
	__builtin_memcpy(p->saddr, &ip6->saddr, 16);
	next = ip6->nexthdr;
#pragma unroll
	for (i = 0; i < GW_S1_MAX_EXTHDR; i++) {
		__u8 *h = cur;

		if (next == IPPROTO_TCP)
			break;
		if (next == IPPROTO_FRAGMENT) {
			/* 8 bytes: next, reserved, offset+flags, id */
			if (cur + 8 > data_end)
				return -1;
			p->fragment = 1;
			next = h[0];
			/* A non-first fragment has no TCP header. */
			if ((((__u16)h[2] << 8 | h[3]) & 0xfff8) != 0) {
				p->is_tcp = next == IPPROTO_TCP;
				return 0;
			}
			cur += 8;
			continue;
		}
		if (next != IPPROTO_HOPOPTS && next != IPPROTO_ROUTING &&
		    next != IPPROTO_DSTOPTS)
			return 0;		/* not TCP (ICMPv6, UDP, ...) */
		if (cur + 2 > data_end)
			return -1;
		next = h[0];
		cur += ((__u32)h[1] + 1) * 8;
	}
	if (next != IPPROTO_TCP)
		return 0;
	p->is_tcp = 1;
	return parse_tcp(cur, data_end, p);
}

/* Fill p from the frame; -1 when the IP header itself is cut short. */
static __always_inline int parse(void *data, void *data_end, struct pkt *p)
{
	struct ethhdr *eth = data;
	void *cur = eth + 1;
	__u16 proto;
	int i;

	if (cur > data_end)
		return -1;
	proto = eth->h_proto;
#pragma unroll
	for (i = 0; i < 2; i++) {
		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		/* VLAN tag: TCI (2 bytes), then the encapsulated protocol */
		if (cur + 4 > data_end)
			return -1;
		proto = *(__u16 *)(cur + 2);
		cur += 4;
	}
	if (proto == bpf_htons(ETH_P_IP))
		return parse_ipv4(cur, data_end, p);
	if (proto == bpf_htons(ETH_P_IPV6))
		return parse_ipv6(cur, data_end, p);
	return 0;
}

static __always_inline void count(__u32 listener, __u32 verdict, __u64 len)
{
	__u32 key = listener * GW_S1_NR_VERDICTS + verdict;
	struct gw_s1_counter *c = bpf_map_lookup_elem(&s1_counters, &key);

	if (c) {
		c->packets++;
		c->bytes += len;
	}
}

/* At most one sample per CPU per GW_S1_EVENT_INTERVAL_NS. */
static __always_inline void sample(__u32 listener, __u32 verdict, const struct pkt *p)
{
	__u32 zero = 0;
	__u64 now = bpf_ktime_get_ns(), *last = bpf_map_lookup_elem(&s1_event_ts, &zero);
	struct gw_s1_event *e;

	if (!last || (*last && now - *last < GW_S1_EVENT_INTERVAL_NS))
		return;
	e = bpf_ringbuf_reserve(&s1_events, sizeof(*e), 0);
	if (!e)
		return;
	*last = now;
	e->listener = listener;
	e->family = p->family;
	e->verdict = verdict;
	e->port = p->dport;
	__builtin_memcpy(e->saddr, p->saddr, 16);
	bpf_ringbuf_submit(e, 0);
}

/* Non-zero = pass. Counts every packet exactly once. */
static __always_inline int verdict(void *data, void *data_end)
{
	struct gw_s1_lpm_key key = {};
	struct gw_s1_port_key pk = {};
	__u64 len = data_end - data;
	struct gw_s1_port *port;
	struct pkt p = {};
	__u32 zero = 0, gen, listener = GW_S1_NO_LISTENER, v;
	__u32 *genp;
	void *ports, *allow;

	genp = bpf_map_lookup_elem(&s1_gen, &zero);
	gen = genp ? *genp : 0;
	ports = gen_map(gen, &s1_ports_0, &s1_ports_1);
	allow = gen_map(gen, &s1_allow_0, &s1_allow_1);

	if (parse(data, data_end, &p) < 0 || !p.is_tcp) {
		v = GW_S1_PASS_OTHER;
		goto out;
	}
	if (p.fragment) {
		/* Drop TCP fragments while any port is protected. */
		pk.port = GW_S1_PROTECTING_PORT;
		v = bpf_map_lookup_elem(ports, &pk) ? GW_S1_DROP_FRAGMENT : GW_S1_PASS_OTHER;
		goto out;
	}
	if (!p.ports_ok) {
		v = GW_S1_PASS_OTHER;
		goto out;
	}
	pk.port = p.dport;
	port = bpf_map_lookup_elem(ports, &pk);
	if (!port) {
		v = GW_S1_PASS_OTHER;
		goto out;
	}
	listener = port->listener < GW_S1_NO_LISTENER ? port->listener : GW_S1_NO_LISTENER;
	if (p.tcp_short) {
		v = GW_S1_DROP_MALFORMED;
		goto out;
	}
	if (port->flags & GW_S1_F_ALLOW_ANY) {
		v = GW_S1_PASS_ALLOWED;
		goto out;
	}
	key.prefixlen = GW_S1_LPM_PREFIX_BASE + (p.family == 4 ? 32 : 128);
	key.family = p.family;
	key.port = bpf_htons(p.dport);
	__builtin_memcpy(key.addr, p.saddr, 16);
	if (bpf_map_lookup_elem(allow, &key)) {
		v = GW_S1_PASS_ALLOWED;
		goto out;
	}
	v = port->flags & GW_S1_F_AUDIT ? GW_S1_AUDIT_PASS : GW_S1_DROP;
	sample(listener, v, &p);
out:
	count(listener, v, len);
	return v == GW_S1_PASS_OTHER || v == GW_S1_PASS_ALLOWED || v == GW_S1_AUDIT_PASS;
}

SEC("xdp")
int gw_stage1_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;

	return verdict(data, data_end) ? XDP_PASS : XDP_DROP;
}

SEC("tc")
int gw_stage1_tc(struct __sk_buff *skb)
{
	void *data, *data_end;

	/* Make sure the headers we parse are in the linear part. */
	if (skb->data_end - skb->data < 128 && skb->len > skb->data_end - skb->data)
		bpf_skb_pull_data(skb, skb->len < 128 ? skb->len : 128);
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	return verdict(data, data_end) ? TC_ACT_OK : TC_ACT_SHOT;
}
