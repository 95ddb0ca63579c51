// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Stage 1: the source allowlist in front of the listeners, as an XDP
 * program and as a tc (clsact ingress) program. Both run s1_classify(),
 * the only copy of the logic, and leave through s1_account(), the one place
 * that counts and samples. Maps and verdict rules: gw_abi.h.
 *
 * Parsing (a bounds check against data_end before every header read):
 *  - Ethernet, then up to GW_S1_MAX_VLAN_TAGS 802.1Q / 802.1ad tags. A
 *    further tag is "unparsed": the kernel strips priority (VID 0) tags one
 *    after another and may deliver what is behind them.
 *  - IPv4 with options (ihl >= 5, the whole header inside the frame); a
 *    fragment is a packet with MF set or a non-zero offset.
 *  - IPv6 and up to GW_S1_MAX_IPV6_EXTHDRS extension headers: hop-by-hop,
 *    routing, destination options ((hdrlen + 1) * 8 bytes) and fragment
 *    (8 bytes). Behind the fragment header of a first fragment (offset 0,
 *    also an atomic one) we go on parsing; a later fragment counts as TCP
 *    when its next header is TCP or another extension header, since we
 *    cannot see further. A chain longer than the limit is "unparsed".
 *    Other protocols, ESP and AH included, are not TCP for us.
 *  - TCP: only the ports (the first 4 bytes); data offset is not checked.
 *
 * Fragments: while the live generation holds the GW_S1_PROTECTING_PORT
 * entry, every TCP fragment is dropped (DROP_FRAGMENT, no listener), first
 * or not and whatever its port. It costs one hash lookup and no state; the
 * kernel reassembles with the first fragment's headers, so no TCP datagram
 * can be completed around us. TCP sets DF; real clients do not fragment.
 *
 * Truncation: a frame that ends before the TCP ports passes as "other":
 * it cannot be attributed to a port and the kernel drops it anyway. With
 * the ports readable but the fixed TCP header cut short, a protected port
 * counts it DROP_MALFORMED. "Unparsed" packets (see above) are dropped as
 * DROP_MALFORMED while anything is protected: the kernel may accept them.
 *
 * At tc ingress the headers may continue in the skb's paged part. When a
 * parse runs into data_end while skb->len says there is more, the program
 * pulls S1_PULL_SHORT bytes (every header chain short of long IPv6
 * extension headers) into the linear part and classifies again, and if
 * that is still not enough, S1_PULL_MAX (the longest chain we parse). If
 * a pull fails the packet stays "unparsed" (fail closed). XDP sees the
 * whole frame (single buffer, no xdp.frags).
 *
 * Only features of Linux <= 5.15: bounded loops are unrolled, no bpf_loop,
 * kfuncs or dynptrs; ring buffer (5.8).
 */
#include <stdbool.h>
#include <linux/types.h>
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

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Not in the UAPI headers. */
struct s1_vlan_hdr {
	__be16 tci;
	__be16 proto;		/* the encapsulated EtherType */
};

struct s1_frag_hdr {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off;	/* offset << 3 | M */
	__be32 id;
};

#define S1_IP_MF_OFFSET		0x3fff	/* IPv4 frag_off: MF and the offset */
#define S1_IP6_OFFSET		0xfff8	/* IPv6 frag_off: the offset */
#define S1_IP6_EXTHDR_MAX	2048	/* (255 + 1) * 8 */

/* Linear bytes for IPv4 with options or IPv6 with some extension headers. */
#define S1_PULL_SHORT	256
/* Linear bytes the longest header chain we parse can need. */
#define S1_PULL_MAX	(ETH_HLEN + GW_S1_MAX_VLAN_TAGS * sizeof(struct s1_vlan_hdr) + \
			 sizeof(struct ipv6hdr) + GW_S1_MAX_IPV6_EXTHDRS * S1_IP6_EXTHDR_MAX + \
			 sizeof(struct tcphdr))

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} s1_gen SEC(".maps");

struct s1_ports_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, GW_S1_MAX_LISTENERS);
	__type(key, struct gw_s1_port_key);
	__type(value, struct gw_s1_port);
};

struct s1_ports_map s1_ports_0 SEC(".maps");
struct s1_ports_map s1_ports_1 SEC(".maps");

struct s1_allow_map {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, GW_S1_MAX_PREFIXES);
	__type(key, struct gw_s1_lpm_key);
	__type(value, struct gw_s1_allow);
};

struct s1_allow_map s1_allow_0 SEC(".maps");
struct s1_allow_map s1_allow_1 SEC(".maps");

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

/* When this CPU last submitted to s1_events (bpf_ktime_get_ns). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} s1_event_ts SEC(".maps");

/* What the parser concluded about a frame. */
enum s1_parse {
	S1_NOT_TCP,		/* not IP, or an IP protocol other than TCP */
	S1_TCP,			/* TCP, destination port read */
	S1_TCP_FRAGMENT,
	S1_TRUNCATED,		/* the data ends inside a header we need */
	S1_UNPARSED,		/* beyond the parser's limits */
};

struct s1_pkt {
	__u8 family;		/* 4 or 6, 0 when not IP */
	__u8 tcp_short;		/* ports read, fixed TCP header cut short */
	__u16 dport;		/* host byte order */
	__u8 saddr[16];		/* IPv4 in the first 4 bytes, rest zero */
};

struct s1_result {
	__u32 listener;
	__u32 verdict;		/* GW_S1_* */
	__u32 short_view;	/* hit data_end while the packet goes on */
	struct s1_pkt pkt;
};

static __always_inline bool s1_is_vlan(__be16 proto)
{
	return proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD);
}

static __always_inline bool s1_is_ip6_exthdr(__u8 next)
{
	return next == IPPROTO_HOPOPTS || next == IPPROTO_ROUTING ||
	       next == IPPROTO_DSTOPTS || next == IPPROTO_FRAGMENT;
}

static __always_inline enum s1_parse s1_parse_tcp(void *l4, void *data_end,
						  struct s1_pkt *p)
{
	struct tcphdr *th = l4;

	/* Source and destination port: the first 4 bytes. */
	if (l4 + 4 > data_end)
		return S1_TRUNCATED;
	p->dport = bpf_ntohs(th->dest);
	p->tcp_short = (void *)(th + 1) > data_end;
	return S1_TCP;
}

static __always_inline enum s1_parse s1_parse_ipv4(void *l3, void *data_end,
						   struct s1_pkt *p)
{
	struct iphdr *iph = l3;
	__u32 hlen;

	if ((void *)(iph + 1) > data_end)
		return S1_TRUNCATED;
	p->family = 4;
	__builtin_memcpy(p->saddr, &iph->saddr, 4);
	hlen = iph->ihl * 4;
	if (hlen < sizeof(*iph))
		return S1_NOT_TCP;	/* the kernel drops it */
	if (l3 + hlen > data_end)
		return S1_TRUNCATED;
	if (iph->protocol != IPPROTO_TCP)
		return S1_NOT_TCP;
	if (iph->frag_off & bpf_htons(S1_IP_MF_OFFSET))
		return S1_TCP_FRAGMENT;
	return s1_parse_tcp(l3 + hlen, data_end, p);
}

static __always_inline enum s1_parse s1_parse_ipv6(void *l3, void *data_end,
						   struct s1_pkt *p)
{
	struct ipv6hdr *ip6 = l3;
	void *cur = ip6 + 1;
	bool fragment = false;
	__u8 next;
	int i;

	if (cur > data_end)
		return S1_TRUNCATED;
	p->family = 6;
	__builtin_memcpy(p->saddr, &ip6->saddr, 16);
	next = ip6->nexthdr;
#pragma unroll
	for (i = 0; i < GW_S1_MAX_IPV6_EXTHDRS; i++) {
		if (next == IPPROTO_FRAGMENT) {
			struct s1_frag_hdr *fh = cur;

			if ((void *)(fh + 1) > data_end)
				return S1_TRUNCATED;
			fragment = true;
			next = fh->nexthdr;
			if (fh->frag_off & bpf_htons(S1_IP6_OFFSET))
				/* A later fragment: no upper-layer header here. */
				return next == IPPROTO_TCP || s1_is_ip6_exthdr(next) ?
				       S1_TCP_FRAGMENT : S1_NOT_TCP;
			cur = fh + 1;
		} else if (next == IPPROTO_HOPOPTS || next == IPPROTO_ROUTING ||
			   next == IPPROTO_DSTOPTS) {
			struct ipv6_opt_hdr *oh = cur;

			if ((void *)(oh + 1) > data_end)
				return S1_TRUNCATED;
			next = oh->nexthdr;
			cur += ((__u32)oh->hdrlen + 1) * 8;
		} else {
			break;
		}
	}
	if (next != IPPROTO_TCP)
		return s1_is_ip6_exthdr(next) ? S1_UNPARSED : S1_NOT_TCP;
	if (fragment)
		return S1_TCP_FRAGMENT;
	return s1_parse_tcp(cur, data_end, p);
}

static __always_inline enum s1_parse s1_parse(void *data, void *data_end,
					      struct s1_pkt *p)
{
	struct ethhdr *eth = data;
	void *cur = eth + 1;
	__be16 proto;
	int i;

	if (cur > data_end)
		return S1_TRUNCATED;
	proto = eth->h_proto;
#pragma unroll
	for (i = 0; i < GW_S1_MAX_VLAN_TAGS; i++) {
		struct s1_vlan_hdr *vh = cur;

		if (!s1_is_vlan(proto))
			break;
		if ((void *)(vh + 1) > data_end)
			return S1_TRUNCATED;
		proto = vh->proto;
		cur = vh + 1;
	}
	if (s1_is_vlan(proto))
		return S1_UNPARSED;
	if (proto == bpf_htons(ETH_P_IP))
		return s1_parse_ipv4(cur, data_end, p);
	if (proto == bpf_htons(ETH_P_IPV6))
		return s1_parse_ipv6(cur, data_end, p);
	return S1_NOT_TCP;
}

/*
 * The verdict for a source a protected port does not list: the one place
 * the default deny lives.
 */
static __always_inline __u32 s1_deny(__u32 port_flags)
{
	return port_flags & GW_S1_F_AUDIT ? GW_S1_AUDIT_PASS : GW_S1_DROP;
}

static __always_inline bool s1_passes(__u32 verdict)
{
	return verdict == GW_S1_PASS_OTHER || verdict == GW_S1_PASS_ALLOWED ||
	       verdict == GW_S1_AUDIT_PASS;
}

/*
 * Classify the frame in [data, data_end) of a packet of pkt_len bytes
 * (more than data_end - data when the rest is not linear): fills r with
 * the listener and the verdict, no side effects. The live generation is
 * read once; all lookups below use its maps.
 */
static __always_inline void s1_classify(void *data, void *data_end, __u64 pkt_len,
					struct s1_result *r)
{
	bool more = pkt_len > (__u64)(data_end - data);
	struct gw_s1_port_key pk = {};
	struct gw_s1_lpm_key key = {};
	struct gw_s1_port *port;
	__u32 zero = 0, *gen, flags;
	void *ports, *allow;
	enum s1_parse what;

	gen = bpf_map_lookup_elem(&s1_gen, &zero);
	if (gen && *gen == 1) {
		ports = &s1_ports_1;
		allow = &s1_allow_1;
	} else {
		ports = &s1_ports_0;
		allow = &s1_allow_0;
	}

	__builtin_memset(r, 0, sizeof(*r));
	r->listener = GW_S1_NO_LISTENER;
	r->verdict = GW_S1_PASS_OTHER;
	what = s1_parse(data, data_end, &r->pkt);
	if (what == S1_TRUNCATED && more) {
		/* Cut short by the linear view, not by the sender. */
		r->short_view = 1;
		what = S1_UNPARSED;
	}
	if (what == S1_NOT_TCP || what == S1_TRUNCATED)
		return;
	if (what != S1_TCP) {
		pk.port = GW_S1_PROTECTING_PORT;
		if (bpf_map_lookup_elem(ports, &pk))
			r->verdict = what == S1_TCP_FRAGMENT ? GW_S1_DROP_FRAGMENT :
							       GW_S1_DROP_MALFORMED;
		return;
	}

	if (r->pkt.dport == GW_S1_PROTECTING_PORT)
		return;			/* the marker entry is not a listener */
	pk.port = r->pkt.dport;
	port = bpf_map_lookup_elem(ports, &pk);
	if (!port)
		return;
	r->listener = port->listener < GW_S1_NO_LISTENER ? port->listener :
							   GW_S1_NO_LISTENER;
	flags = port->flags;
	if (r->pkt.tcp_short) {
		r->short_view = more;
		r->verdict = GW_S1_DROP_MALFORMED;
		return;
	}
	if (flags & GW_S1_F_ALLOW_ANY) {
		r->verdict = GW_S1_PASS_ALLOWED;
		return;
	}
	key.prefixlen = GW_S1_LPM_PREFIX_BASE + (r->pkt.family == 4 ? 32 : 128);
	key.family = r->pkt.family;
	key.port = bpf_htons(r->pkt.dport);
	__builtin_memcpy(key.addr, r->pkt.saddr, sizeof(key.addr));
	r->verdict = bpf_map_lookup_elem(allow, &key) ? GW_S1_PASS_ALLOWED :
							s1_deny(flags);
}

/* At most one sample per CPU per GW_S1_EVENT_INTERVAL_NS. */
static __always_inline void s1_sample(const struct s1_result *r)
{
	struct gw_s1_event *e;
	__u32 zero = 0;
	__u64 now, *last;

	last = bpf_map_lookup_elem(&s1_event_ts, &zero);
	if (!last)
		return;
	now = bpf_ktime_get_ns();
	if (*last && now - *last < GW_S1_EVENT_INTERVAL_NS)
		return;
	e = bpf_ringbuf_reserve(&s1_events, sizeof(*e), 0);
	if (!e)
		return;			/* full: the next drop tries again */
	*last = now;
	e->listener = r->listener;
	e->family = r->pkt.family;
	e->verdict = r->verdict;
	e->port = r->pkt.dport;
	__builtin_memcpy(e->saddr, r->pkt.saddr, sizeof(e->saddr));
	bpf_ringbuf_submit(e, 0);
}

/* The exit path of both programs: count, sample, say whether to pass. */
static __always_inline bool s1_account(const struct s1_result *r, __u64 len)
{
	__u32 key = r->listener * GW_S1_NR_VERDICTS + r->verdict;
	struct gw_s1_counter *c;

	c = bpf_map_lookup_elem(&s1_counters, &key);
	if (c) {
		c->packets++;
		c->bytes += len;
	}
	if (r->verdict == GW_S1_DROP || r->verdict == GW_S1_AUDIT_PASS)
		s1_sample(r);
	return s1_passes(r->verdict);
}

SEC("xdp")
int gw_stage1_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u64 len = data_end - data;
	struct s1_result r;

	s1_classify(data, data_end, len, &r);
	return s1_account(&r, len) ? XDP_PASS : XDP_DROP;
}

SEC("tc")
int gw_stage1_tc(struct __sk_buff *skb)
{
	__u32 len = skb->len;
	struct s1_result r;

	s1_classify((void *)(long)skb->data, (void *)(long)skb->data_end, len, &r);
	/*
	 * Headers in the paged part: make them linear and look again, the
	 * usual amount first. A pull invalidates the packet pointers.
	 */
	if (r.short_view &&
	    !bpf_skb_pull_data(skb, len < S1_PULL_SHORT ? len : S1_PULL_SHORT))
		s1_classify((void *)(long)skb->data, (void *)(long)skb->data_end,
			    len, &r);
	if (r.short_view &&
	    !bpf_skb_pull_data(skb, len < S1_PULL_MAX ? len : S1_PULL_MAX))
		s1_classify((void *)(long)skb->data, (void *)(long)skb->data_end,
			    len, &r);
	return s1_account(&r, len) ? TC_ACT_OK : TC_ACT_SHOT;
}
