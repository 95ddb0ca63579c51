/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The ABI between mtlsgw's eBPF programs and the daemon: map keys, values
 * and constants both sides use. Fixed-width fields only, flag bits as
 * 1 << n; no pointers, bool or long. Include <linux/types.h> first.
 *
 * Stage 1 (stage1.bpf.c, XDP and tc ingress):
 *
 *   s1_gen[0]          which generation (0 or 1) of the two maps below is
 *                      live; the daemon fills the other one completely and
 *                      then flips this, so a reload is one atomic switch
 *   s1_ports_{0,1}     HASH  struct gw_s1_port_key -> struct gw_s1_port
 *                      a protected destination port (one per listener)
 *   s1_allow_{0,1}     LPM_TRIE struct gw_s1_lpm_key -> struct gw_s1_allow
 *                      allowed source prefixes, scoped by family and port
 *   s1_counters        PERCPU_ARRAY, index listener * GW_S1_NR_VERDICTS +
 *                      verdict -> struct gw_s1_counter
 *   s1_events          RINGBUF of struct gw_s1_event, a sample of dropped
 *                      (or would-drop) packets for the per-prefix summaries
 *
 * Verdict for a packet: not TCP, or TCP to a port without an entry -> pass
 * untouched. TCP to a protected port: source in that port's allowlist (or
 * the port allows any source) -> pass; else drop (GW_S1_F_AUDIT: count as
 * would-drop and pass). A TCP IP fragment while any port is protected is
 * dropped: a non-first fragment has no port to check.
 *
 * What the parser cannot see:
 *  - a frame that ends before the TCP ports, or an IPv4 header with IHL < 5,
 *    is one the kernel drops as well, and it names no port: pass,
 *    GW_S1_PASS_OTHER;
 *  - TCP to a protected port whose frame ends inside the fixed 20-byte TCP
 *    header: GW_S1_DROP_MALFORMED under that port's listener (also in
 *    audit mode: it is not an allowlist decision);
 *  - headers beyond the parser's limits (more than GW_S1_MAX_VLAN_TAGS
 *    tags, more than GW_S1_MAX_IPV6_EXTHDRS IPv6 extension headers): the
 *    kernel may still deliver such a packet, so while any port is
 *    protected it is dropped, GW_S1_DROP_MALFORMED under GW_S1_NO_LISTENER;
 *  - TCP to port 0 (GW_S1_PROTECTING_PORT) is never a listener's traffic:
 *    pass, GW_S1_PASS_OTHER (no socket accepts it).
 * Drops without a port (fragments, unparsed headers) are counted under
 * GW_S1_NO_LISTENER and produce no s1_events sample.
 */
#ifndef GW_ABI_H
#define GW_ABI_H

#define GW_S1_MAX_LISTENERS	64
#define GW_S1_MAX_PREFIXES	65536

/* s1_counters verdict index */
enum {
	GW_S1_PASS_OTHER = 0,	/* not for a protected port */
	GW_S1_PASS_ALLOWED = 1,	/* protected port, source allowed */
	GW_S1_DROP = 2,		/* protected port, source denied */
	GW_S1_AUDIT_PASS = 3,	/* would have been dropped; audit mode */
	GW_S1_DROP_FRAGMENT = 4,
	GW_S1_DROP_MALFORMED = 5, /* truncated headers to a protected port */
	GW_S1_NR_VERDICTS = 6,
};

/* Parser limits (see the verdict rules above). */
#define GW_S1_MAX_VLAN_TAGS	2	/* 802.1Q / 802.1ad tags in the frame */
#define GW_S1_MAX_IPV6_EXTHDRS	6	/* hop-by-hop, routing, dest. options, fragment */

/* Counters of traffic that belongs to no listener use this listener index. */
#define GW_S1_NO_LISTENER	(GW_S1_MAX_LISTENERS - 1)

#define GW_S1_F_AUDIT		(1U << 0)	/* count, never drop */
#define GW_S1_F_ALLOW_ANY	(1U << 1)	/* no allowlist for this port */

/*
 * Port 0 in s1_ports_N is not a listener: its presence means "this
 * generation protects at least one port" (TCP fragments are then dropped).
 */
#define GW_S1_PROTECTING_PORT	0

struct gw_s1_port_key {
	__u16 port;		/* host byte order */
	__u16 pad;		/* 0 */
};

struct gw_s1_port {
	__u32 listener;		/* index into the config's listeners */
	__u32 flags;		/* GW_S1_F_* */
};

/*
 * LPM key: the first 32 bits (family, pad, port) are always part of the
 * prefix, so prefixlen = 32 + CIDR length; IPv4 addresses sit in the
 * first 4 bytes of addr, the rest zero.
 */
struct gw_s1_lpm_key {
	__u32 prefixlen;
	__u8 family;		/* 4 or 6 */
	__u8 pad;		/* 0 */
	__u16 port;		/* network byte order */
	__u8 addr[16];
};

#define GW_S1_LPM_PREFIX_BASE	32

struct gw_s1_allow {
	__u32 listener;
	__u32 pad;
};

struct gw_s1_counter {
	__u64 packets;
	__u64 bytes;
};

struct gw_s1_event {
	__u32 listener;
	__u8 family;		/* 4 or 6 */
	__u8 verdict;		/* GW_S1_DROP or GW_S1_AUDIT_PASS */
	__u16 port;		/* host byte order */
	__u8 saddr[16];
};

/* At most one event per CPU per this many nanoseconds. */
#define GW_S1_EVENT_INTERVAL_NS	(10 * 1000 * 1000ULL)

/*
 * Steering (steer.bpf.c, sk_lookup): destinations besides a listener's own
 * address that are delivered to its socket.
 *
 *   steer_gen[0]        live generation of steer_dst (0 or 1)
 *   steer_dst_{0,1}     LPM_TRIE struct gw_steer_key -> struct gw_steer_val:
 *                       for the longest matching destination prefix, the
 *                       port ranges that apply there (the daemon copies the
 *                       ranges of every less specific prefix in, so one
 *                       lookup is enough), each with a socket slot
 *   steer_socks         SOCKMAP slot -> the listening socket
 *   steer_hits          PERCPU_ARRAY slot -> struct gw_steer_hits
 */
#define GW_STEER_MAX_SLOTS	64
#define GW_STEER_MAX_RANGES	8
#define GW_STEER_MAX_PREFIXES	4096

struct gw_steer_key {
	__u32 prefixlen;	/* 8 + CIDR length */
	__u8 family;		/* 4 or 6 */
	__u8 addr[16];
};

#define GW_STEER_PREFIX_BASE	8

struct gw_steer_range {
	__u16 lo;		/* host order, inclusive */
	__u16 hi;
	__u32 slot;
};

struct gw_steer_val {
	__u32 n;
	__u32 pad;
	struct gw_steer_range r[GW_STEER_MAX_RANGES];
};

struct gw_steer_hits {
	__u64 assigned;		/* SYNs handed to the slot's socket */
	__u64 no_socket;	/* matched, but the slot had no socket */
};

#endif
