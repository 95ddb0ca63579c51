// SPDX-License-Identifier: GPL-2.0-only
/*
 * synflood: load generator for the Stage 1 benchmark (tests/bench/bench-stage1).
 * Not a test; run it only inside a network namespace made for it.
 *
 * SYN mode (default): crafted Ethernet + IPv4 + TCP SYN frames from --src
 * (random source ports and sequence numbers, valid checksums) to --dst-mac,
 * --dst and --port, written with sendmmsg() on an AF_PACKET socket bound to
 * --ifname. Nothing answers them when the Stage 1 program drops them.
 *
 * Connect mode (--connect): full TCP connections from --src to --dst:--port,
 * --concurrency of them in flight (nonblocking, one epoll loop). Each one
 * waits for the peer to close it (FIN or RST) and is closed then; this is the
 * work the daemon's userspace allowlist check does per denied client.
 *
 * Both stop at --count packets/attempts or after --seconds, whichever comes
 * first, hard-capped at SF_MAX_COUNT and SF_MAX_SECONDS, and print one JSON
 * line on stdout. Exit 0 on a completed run, 1 on a setup error, 2 on usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <linux/if_packet.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SF_MAX_COUNT		50000000ULL
#define SF_MAX_SECONDS		30.0
#define SF_MAX_BATCH		1024	/* UIO_MAXIOV: sendmmsg's vlen limit */
#define SF_MAX_CONCURRENCY	4096
#define SF_FRAME_LEN		(ETH_HLEN + 20 + 20)

struct sf_opts {
	const char *ifname;
	const char *dst_mac;
	const char *src;
	const char *dst;
	int port;
	unsigned long long count;
	double seconds;
	unsigned int batch;
	bool connect;
	unsigned int concurrency;
	unsigned int timeout_ms;	/* connect and peer-close wait, per connection */
};

static volatile sig_atomic_t sf_stop;	/* the signal that ended the run, or 0 */

static void sf_on_signal(int sig)
{
	sf_stop = sig;
}

static double sf_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* xorshift64*: fast and good enough for ports and sequence numbers. */
static uint64_t sf_rand(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static uint32_t sf_csum_add(uint32_t sum, const void *data, size_t len)
{
	const uint8_t *p = data;

	while (len > 1) {
		sum += (uint32_t)p[0] << 8 | p[1];
		p += 2;
		len -= 2;
	}
	if (len)
		sum += (uint32_t)p[0] << 8;
	return sum;
}

static uint16_t sf_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((uint16_t)~sum);
}

/*
 * CPU time this process used, user + system. Without IRQ time accounting
 * that includes the softirq work that ran on its behalf: for SYN mode on a
 * veth, the receiving side's XDP program.
 */
static double sf_cpu_seconds(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		return 0;
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static int sf_parse_mac(const char *s, uint8_t mac[ETH_ALEN])
{
	unsigned int b[ETH_ALEN];
	char tail;
	int i;

	if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
		   &tail) != ETH_ALEN)
		return -EINVAL;
	for (i = 0; i < ETH_ALEN; i++) {
		if (b[i] > 0xff)
			return -EINVAL;
		mac[i] = (uint8_t)b[i];
	}
	return 0;
}

/*
 * The fixed part of every frame: Ethernet, IPv4 (DF, TTL 64, checksum
 * done), TCP SYN with a 64 KiB window. sf_frame_vary() fills in the rest.
 */
static void sf_frame_template(uint8_t *f, const uint8_t dmac[ETH_ALEN],
			      const uint8_t smac[ETH_ALEN], struct in_addr src,
			      struct in_addr dst, int port)
{
	struct ether_header *eth = (struct ether_header *)f;
	struct iphdr *ip = (struct iphdr *)(f + ETH_HLEN);
	struct tcphdr *tcp = (struct tcphdr *)(f + ETH_HLEN + sizeof(*ip));

	memset(f, 0, SF_FRAME_LEN);
	memcpy(eth->ether_dhost, dmac, ETH_ALEN);
	memcpy(eth->ether_shost, smac, ETH_ALEN);
	eth->ether_type = htons(ETHERTYPE_IP);
	ip->version = 4;
	ip->ihl = 5;
	ip->tot_len = htons(20 + 20);
	ip->frag_off = htons(IP_DF);
	ip->ttl = 64;
	ip->protocol = IPPROTO_TCP;
	ip->saddr = src.s_addr;
	ip->daddr = dst.s_addr;
	ip->check = sf_csum_fold(sf_csum_add(0, ip, sizeof(*ip)));
	tcp->dest = htons(port);
	tcp->doff = 5;
	tcp->syn = 1;
	tcp->window = htons(65535);
}

/* A new source port and sequence number, and the TCP checksum over them. */
static void sf_frame_vary(uint8_t *f, uint64_t *rnd)
{
	struct iphdr *ip = (struct iphdr *)(f + ETH_HLEN);
	struct tcphdr *tcp = (struct tcphdr *)(f + ETH_HLEN + sizeof(*ip));
	uint64_t r = sf_rand(rnd);
	uint32_t sum;

	tcp->source = htons((uint16_t)(1024 + r % (65536 - 1024)));
	tcp->seq = (uint32_t)(r >> 32);
	tcp->check = 0;
	/* Pseudo header: addresses, protocol, TCP length. */
	sum = sf_csum_add(0, &ip->saddr, 8);
	sum += IPPROTO_TCP + 20;
	sum = sf_csum_add(sum, tcp, 20);
	tcp->check = sf_csum_fold(sum);
}

static int sf_ifmac(int fd, const char *ifname, uint8_t mac[ETH_ALEN])
{
	struct ifreq ifr = { 0 };

	if (strlen(ifname) >= sizeof(ifr.ifr_name))
		return -ENAMETOOLONG;
	strcpy(ifr.ifr_name, ifname);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr))
		return -errno;
	memcpy(mac, ifr.ifr_hwaddr.sa_data, ETH_ALEN);
	return 0;
}

/* SYN mode; 0 or -errno (reported here: this is a program, not a library). */
static int sf_syn_flood(const struct sf_opts *o)
{
	static uint8_t frames[SF_MAX_BATCH][SF_FRAME_LEN];
	static struct mmsghdr msgs[SF_MAX_BATCH];
	static struct iovec iov[SF_MAX_BATCH];
	struct sockaddr_ll sll = { .sll_family = AF_PACKET };
	unsigned long long sent = 0, errors = 0, calls = 0;
	uint8_t dmac[ETH_ALEN], smac[ETH_ALEN];
	struct in_addr src, dst;
	uint64_t rnd;
	double start, end, now;
	unsigned int i;
	int fd, err, one = 1;

	if (!o->ifname || !o->dst_mac || sf_parse_mac(o->dst_mac, dmac) ||
	    inet_pton(AF_INET, o->src, &src) != 1 || inet_pton(AF_INET, o->dst, &dst) != 1) {
		fprintf(stderr, "synflood: SYN mode needs --ifname, --dst-mac, IPv4 --src and --dst\n");
		return -EINVAL;
	}
	sll.sll_protocol = htons(ETH_P_IP);
	sll.sll_ifindex = (int)if_nametoindex(o->ifname);
	if (!sll.sll_ifindex) {
		err = -errno;
		fprintf(stderr, "synflood: interface \"%s\": %s\n", o->ifname, strerror(-err));
		return err;
	}
	/* Protocol 0: this socket only sends, it never sees received frames. */
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err = -errno;
		fprintf(stderr, "synflood: AF_PACKET socket: %s (needs CAP_NET_RAW)\n",
			strerror(-err));
		return err;
	}
	err = sf_ifmac(fd, o->ifname, smac);
	if (err) {
		fprintf(stderr, "synflood: MAC address of \"%s\": %s\n", o->ifname, strerror(-err));
		goto out_close;
	}
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll))) {
		err = -errno;
		fprintf(stderr, "synflood: bind to \"%s\": %s\n", o->ifname, strerror(-err));
		goto out_close;
	}
	/* Straight to the driver: the qdisc layer is not what we measure. */
	setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));

	rnd = ((uint64_t)getpid() << 32) ^ (uint64_t)time(NULL) ^ 0x9e3779b97f4a7c15ULL;
	for (i = 0; i < o->batch; i++) {
		sf_frame_template(frames[i], dmac, smac, src, dst, o->port);
		iov[i].iov_base = frames[i];
		iov[i].iov_len = SF_FRAME_LEN;
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	start = sf_now();
	end = start + o->seconds;
	now = start;
	while (!sf_stop && sent < o->count) {
		unsigned long long left = o->count - sent;
		unsigned int n = left < o->batch ? (unsigned int)left : o->batch;
		int r;

		/* The clock is cheap (vDSO) but not free: look every 16 batches. */
		if (!(calls++ & 15)) {
			now = sf_now();
			if (now >= end)
				break;
		}
		for (i = 0; i < n; i++)
			sf_frame_vary(frames[i], &rnd);
		r = sendmmsg(fd, msgs, n, 0);
		if (r > 0) {
			sent += (unsigned int)r;
		} else if (r < 0 && errno != EINTR) {
			/* ENOBUFS and the like: the device is full, go on. */
			errors++;
			if (errno != ENOBUFS && errno != EAGAIN) {
				err = -errno;
				fprintf(stderr, "synflood: sendmmsg: %s\n", strerror(-err));
				goto out_close;
			}
		}
	}
	now = sf_now();
	printf("{\"mode\":\"syn\",\"ifname\":\"%s\",\"src\":\"%s\",\"dst\":\"%s\",\"port\":%d,"
	       "\"frame_bytes\":%d,\"batch\":%u,\"sent\":%llu,\"send_errors\":%llu,"
	       "\"seconds\":%.3f,\"pps\":%.0f,\"cpu_seconds\":%.3f}\n",
	       o->ifname, o->src, o->dst, o->port, SF_FRAME_LEN, o->batch, sent, errors,
	       now - start, now > start ? sent / (now - start) : 0.0, sf_cpu_seconds());
	err = 0;
out_close:
	close(fd);
	return err;
}

/* ---- connect mode ---- */

enum sf_state { SF_IDLE, SF_CONNECTING, SF_WAIT_PEER };

struct sf_slot {
	int fd;
	enum sf_state state;
	double deadline;
};

struct sf_connect_stats {
	unsigned long long attempted;
	unsigned long long completed;		/* handshake done */
	unsigned long long closed_by_peer;	/* then FIN or RST from the peer */
	unsigned long long peer_silent;		/* established, peer never closed */
	unsigned long long refused;		/* RST to the SYN */
	unsigned long long timeouts;		/* no SYN-ACK in time */
	unsigned long long addr_busy;		/* EADDRNOTAVAIL: out of ports */
	unsigned long long other_errors;
};

static void sf_slot_close(int ep, struct sf_slot *s)
{
	if (s->fd >= 0) {
		epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
		close(s->fd);
	}
	s->fd = -1;
	s->state = SF_IDLE;
}

static void sf_count_error(struct sf_connect_stats *st, int err)
{
	if (err == ECONNREFUSED)
		st->refused++;
	else if (err == ETIMEDOUT)
		st->timeouts++;
	else if (err == EADDRNOTAVAIL || err == EADDRINUSE)
		st->addr_busy++;
	else
		st->other_errors++;
}

/* Start one connection in slot s; false when it failed at once (counted). */
static bool sf_slot_start(int ep, struct sf_slot *s, const struct sockaddr_in *src,
			  const struct sockaddr_in *dst, unsigned int timeout_ms,
			  struct sf_connect_stats *st)
{
	struct epoll_event ev = { .events = EPOLLOUT | EPOLLIN | EPOLLRDHUP };
	int one = 1;

	st->attempted++;
	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0) {
		sf_count_error(st, errno);
		return false;
	}
	/* Let connect() pick the port per 4-tuple: more than 28k in flight. */
	setsockopt(s->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
	if (bind(s->fd, (const struct sockaddr *)src, sizeof(*src)) ||
	    (connect(s->fd, (const struct sockaddr *)dst, sizeof(*dst)) &&
	     errno != EINPROGRESS)) {
		sf_count_error(st, errno);
		close(s->fd);
		s->fd = -1;
		return false;
	}
	ev.data.ptr = s;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, s->fd, &ev)) {
		sf_count_error(st, errno);
		close(s->fd);
		s->fd = -1;
		return false;
	}
	s->state = SF_CONNECTING;
	s->deadline = sf_now() + timeout_ms / 1000.0;
	return true;
}

/* Something happened on s: the handshake finished, or the peer closed. */
static void sf_slot_event(int ep, struct sf_slot *s, uint32_t events, double now,
			  unsigned int timeout_ms, struct sf_connect_stats *st)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.ptr = s };
	socklen_t len = sizeof(int);
	int err = 0;
	char buf[64];
	ssize_t n;

	if (s->state == SF_CONNECTING) {
		getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err) {
			sf_count_error(st, err);
			sf_slot_close(ep, s);
			return;
		}
		if (!(events & (EPOLLOUT | EPOLLIN | EPOLLRDHUP | EPOLLHUP)))
			return;
		st->completed++;
		s->state = SF_WAIT_PEER;
		s->deadline = now + timeout_ms / 1000.0;
		/* Only the peer's close matters from here on. */
		epoll_ctl(ep, EPOLL_CTL_MOD, s->fd, &ev);
	}
	if (s->state != SF_WAIT_PEER || !(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
		return;
	n = read(s->fd, buf, sizeof(buf));
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		st->closed_by_peer++;
		sf_slot_close(ep, s);
	} else if (n > 0) {
		/* The peer talks to a denied source: not what we expect; still its close counts. */
		st->other_errors++;
	}
}

static int sf_connect_flood(const struct sf_opts *o)
{
	struct sockaddr_in src = { .sin_family = AF_INET };
	struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(o->port) };
	struct epoll_event evs[256];
	struct sf_connect_stats st = { 0 };
	struct sf_slot *slots;
	double start, end, now;
	unsigned int i, busy = 0;
	int ep, err = 0;

	if (inet_pton(AF_INET, o->src, &src.sin_addr) != 1 ||
	    inet_pton(AF_INET, o->dst, &dst.sin_addr) != 1) {
		fprintf(stderr, "synflood: --connect needs IPv4 --src and --dst\n");
		return -EINVAL;
	}
	slots = calloc(o->concurrency, sizeof(*slots));
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (!slots || ep < 0) {
		err = slots ? -errno : -ENOMEM;
		fprintf(stderr, "synflood: %s\n", strerror(-err));
		goto out_free;
	}
	for (i = 0; i < o->concurrency; i++)
		slots[i].fd = -1;
	start = sf_now();
	end = start + o->seconds;
	now = start;
	for (;;) {
		int n, k;

		/* Refill idle slots while attempts and time are left. */
		busy = 0;
		for (i = 0; i < o->concurrency; i++) {
			struct sf_slot *s = &slots[i];

			if (s->state != SF_IDLE && now >= s->deadline) {
				if (s->state == SF_CONNECTING)
					st.timeouts++;
				else
					st.peer_silent++;
				sf_slot_close(ep, s);
			}
			if (s->state == SF_IDLE && !sf_stop && now < end && st.attempted < o->count)
				sf_slot_start(ep, s, &src, &dst, o->timeout_ms, &st);
			busy += s->state != SF_IDLE;
		}
		if (!busy && (sf_stop || now >= end || st.attempted >= o->count))
			break;
		/* The time bound is hard: what is still in flight then is dropped. */
		if (now >= end || sf_stop)
			break;
		n = epoll_wait(ep, evs, 256, 10);
		if (n < 0 && errno != EINTR) {
			err = -errno;
			fprintf(stderr, "synflood: epoll_wait: %s\n", strerror(-err));
			goto out_close;
		}
		now = sf_now();
		for (k = 0; k < n; k++)
			sf_slot_event(ep, evs[k].data.ptr, evs[k].events, now, o->timeout_ms, &st);
	}
	now = sf_now();
	printf("{\"mode\":\"connect\",\"src\":\"%s\",\"dst\":\"%s\",\"port\":%d,"
	       "\"concurrency\":%u,\"attempted\":%llu,\"completed\":%llu,"
	       "\"closed_by_peer\":%llu,\"peer_silent\":%llu,\"refused\":%llu,"
	       "\"timeouts\":%llu,\"addr_busy\":%llu,\"other_errors\":%llu,\"in_flight_at_end\":%u,"
	       "\"seconds\":%.3f,\"completed_per_s\":%.0f,\"closed_by_peer_per_s\":%.0f,"
	       "\"cpu_seconds\":%.3f}\n",
	       o->src, o->dst, o->port, o->concurrency, st.attempted, st.completed,
	       st.closed_by_peer, st.peer_silent, st.refused, st.timeouts, st.addr_busy,
	       st.other_errors, busy, now - start,
	       now > start ? st.completed / (now - start) : 0.0,
	       now > start ? st.closed_by_peer / (now - start) : 0.0, sf_cpu_seconds());
out_close:
	for (i = 0; i < o->concurrency; i++)
		sf_slot_close(ep, &slots[i]);
	close(ep);
out_free:
	free(slots);
	return err;
}

static void sf_usage(FILE *f)
{
	fprintf(f,
		"usage: synflood --ifname IF --dst-mac MAC [options]     SYN frames (AF_PACKET)\n"
		"       synflood --connect [options]                     full TCP connects\n"
		"  --src ADDR          source IPv4 address (default 10.213.0.3)\n"
		"  --dst ADDR          destination IPv4 address (default 10.213.0.1)\n"
		"  --port N            destination port (required)\n"
		"  --count N           packets (SYN) or attempts (connect); at most %llu\n"
		"  --seconds S         time bound; at most %.0f (default 5)\n"
		"  --batch N           frames per sendmmsg, 1..%d (default 256)\n"
		"  --concurrency N     connections in flight, 1..%d (default 64)\n"
		"  --timeout-ms N      connect and peer-close wait per connection (default 1000)\n",
		SF_MAX_COUNT, SF_MAX_SECONDS, SF_MAX_BATCH, SF_MAX_CONCURRENCY);
}

/* A decimal number within [min, max], or false. */
static bool sf_parse_ull(const char *s, unsigned long long min, unsigned long long max,
			 unsigned long long *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "ifname", required_argument, NULL, 'i' },
		{ "dst-mac", required_argument, NULL, 'm' },
		{ "src", required_argument, NULL, 's' },
		{ "dst", required_argument, NULL, 'd' },
		{ "port", required_argument, NULL, 'p' },
		{ "count", required_argument, NULL, 'n' },
		{ "seconds", required_argument, NULL, 't' },
		{ "batch", required_argument, NULL, 'b' },
		{ "connect", no_argument, NULL, 'c' },
		{ "concurrency", required_argument, NULL, 'C' },
		{ "timeout-ms", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct sf_opts o = {
		.src = "10.213.0.3",
		.dst = "10.213.0.1",
		.count = SF_MAX_COUNT,
		.seconds = 5,
		.batch = 256,
		.concurrency = 64,
		.timeout_ms = 1000,
	};
	struct sigaction sa = { .sa_handler = sf_on_signal };
	unsigned long long v;
	char *end;
	int c;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'i':
			o.ifname = optarg;
			break;
		case 'm':
			o.dst_mac = optarg;
			break;
		case 's':
			o.src = optarg;
			break;
		case 'd':
			o.dst = optarg;
			break;
		case 'p':
			if (!sf_parse_ull(optarg, 1, 65535, &v))
				goto bad_value;
			o.port = (int)v;
			break;
		case 'n':
			if (!sf_parse_ull(optarg, 1, SF_MAX_COUNT, &o.count))
				goto bad_value;
			break;
		case 't':
			errno = 0;
			o.seconds = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(o.seconds > 0) ||
			    o.seconds > SF_MAX_SECONDS)
				goto bad_value;
			break;
		case 'b':
			if (!sf_parse_ull(optarg, 1, SF_MAX_BATCH, &v))
				goto bad_value;
			o.batch = (unsigned int)v;
			break;
		case 'c':
			o.connect = true;
			break;
		case 'C':
			if (!sf_parse_ull(optarg, 1, SF_MAX_CONCURRENCY, &v))
				goto bad_value;
			o.concurrency = (unsigned int)v;
			break;
		case 'T':
			if (!sf_parse_ull(optarg, 1, 60000, &v))
				goto bad_value;
			o.timeout_ms = (unsigned int)v;
			break;
		case 'h':
			sf_usage(stdout);
			return 0;
		default:
			sf_usage(stderr);
			return 2;
		}
	}
	if (optind != argc || !o.port) {
		sf_usage(stderr);
		return 2;
	}
	/* SIGINT/SIGTERM end the run early; the JSON line is still printed. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	c = (o.connect ? sf_connect_flood(&o) : sf_syn_flood(&o)) ? 1 : 0;
	if (sf_stop) {
		/*
		 * Die of the signal after all, so that a calling shell sees it
		 * and stops too (bash ignores a Ctrl-C its child survived).
		 */
		fflush(stdout);
		signal(sf_stop, SIG_DFL);
		raise(sf_stop);
	}
	return c;

bad_value:
	for (v = 0; longopts[v].name && longopts[v].val != c; v++)
		;
	fprintf(stderr, "synflood: --%s: \"%s\" is out of range\n",
		longopts[v].name ? longopts[v].name : "?", optarg);
	sf_usage(stderr);
	return 2;
}
