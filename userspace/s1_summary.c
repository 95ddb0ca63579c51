// SPDX-License-Identifier: GPL-2.0-only
/*
 * Stage 1 summaries (s1_summary.h): count sampled drops per source
 * prefix from the ring buffer, and once a period audit one stage1_drops
 * line per listener whose program dropped (or would have), with the
 * counter deltas and the top prefixes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "audit.h"
#include "log.h"
#include "s1_summary.h"
#include "stage1.h"

struct gw_s1_summary {
	struct gw_worker *w;
	struct gw_stage1 *s1;
	struct gw_ev ring_ev;		/* the ring buffer of sampled drops */
	struct gw_ev timer_ev;		/* the period */
	struct gw_s1_top top[GW_S1_MAX_LISTENERS];
	struct gw_s1_counter last[GW_S1_MAX_LISTENERS][GW_S1_NR_VERDICTS];
};

void gw_s1_prefix_of(const struct gw_s1_event *e, struct gw_cidr *p)
{
	memset(p, 0, sizeof(*p));
	if (e->family == 4) {
		p->family = AF_INET;
		p->prefix_len = 24;
		memcpy(p->addr, e->saddr, 3);
	} else {
		p->family = AF_INET6;
		p->prefix_len = 64;
		memcpy(p->addr, e->saddr, 8);
	}
}

void gw_s1_top_add(struct gw_s1_top *t, const struct gw_cidr *p, uint8_t verdict)
{
	struct gw_s1_source *min = &t->v[0];
	unsigned int i;

	for (i = 0; i < GW_S1_TOP; i++) {
		if (t->v[i].samples && !memcmp(&t->v[i].prefix, p, sizeof(*p)) &&
		    t->v[i].verdict == verdict) {
			t->v[i].samples++;
			return;
		}
		if (t->v[i].samples < min->samples)
			min = &t->v[i];
	}
	min->prefix = *p;
	min->verdict = verdict;
	min->samples = 1;
}

void gw_s1_top_json(struct gw_s1_top *t, char *buf, size_t len)
{
	size_t o = 0;
	unsigned int i;

	buf[0] = '\0';
	for (i = 0; i < GW_S1_TOP; i++) {
		char pfx[64];
		int n;

		if (!t->v[i].samples || gw_cidr_fmt(&t->v[i].prefix, pfx, sizeof(pfx)))
			continue;
		n = snprintf(buf + o, len - o, "%s{\"prefix\":\"%s\",\"samples\":%llu}",
			     o ? "," : "", pfx, (unsigned long long)t->v[i].samples);
		if (n < 0 || (size_t)n >= len - o) {
			buf[o] = '\0';
			break;
		}
		o += n;
	}
	memset(t, 0, sizeof(*t));
}

static void on_sample(const struct gw_s1_event *e, void *ctx)
{
	struct gw_s1_summary *s = ctx;
	struct gw_cidr p;

	if (e->listener >= GW_S1_MAX_LISTENERS)
		return;
	gw_s1_prefix_of(e, &p);
	gw_s1_top_add(&s->top[e->listener], &p, e->verdict);
}

static void ring_event(struct gw_ev *ev, uint32_t events)
{
	struct gw_s1_summary *s = gw_container_of(ev, struct gw_s1_summary, ring_ev);

	(void)events;
	gw_stage1_events_consume(s->s1, on_sample, s);
}

/* One stage1_drops line per listener whose program dropped (or would have). */
static void period_event(struct gw_ev *ev, uint32_t events)
{
	static const unsigned int verdicts[] = { GW_S1_DROP, GW_S1_DROP_FRAGMENT,
						 GW_S1_DROP_MALFORMED, GW_S1_AUDIT_PASS };
	struct gw_s1_summary *s = gw_container_of(ev, struct gw_s1_summary, timer_ev);
	const struct gw_config *cfg = s->w->gen->cfg;
	uint64_t expirations;
	unsigned int i, k;

	(void)events;
	if (read(ev->fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		return;
	gw_stage1_events_consume(s->s1, on_sample, s);
	for (i = 0; i < cfg->n_listeners && i < GW_S1_MAX_LISTENERS; i++) {
		uint64_t pkts[4], bytes = 0, total = 0;
		char top[1536], extra[2048];

		for (k = 0; k < ARRAY_SIZE(verdicts); k++) {
			struct gw_s1_counter now, *last = &s->last[i][verdicts[k]];

			if (gw_stage1_counter(s->s1, i, verdicts[k], &now))
				now = *last;
			pkts[k] = now.packets - last->packets;
			bytes += now.bytes - last->bytes;
			total += pkts[k];
			*last = now;
		}
		gw_s1_top_json(&s->top[i], top, sizeof(top));
		if (!total)
			continue;
		if (gw_snprintf(extra, sizeof(extra),
				",\"packets\":%llu,\"bytes\":%llu,\"dropped\":%llu,\"fragments\":%llu,\"malformed\":%llu,\"would_drop\":%llu,\"top_sources\":[%s]",
				(unsigned long long)total, (unsigned long long)bytes,
				(unsigned long long)pkts[0], (unsigned long long)pkts[1],
				(unsigned long long)pkts[2], (unsigned long long)pkts[3], top))
			continue;
		gw_audit_emit(&GW_AUDIT_EVENT(.event = "stage1_drops",
			.listener = cfg->listeners[i].name,
			.decision = pkts[3] == total ? "would_drop" : "drop",
			.extra_json = extra));
	}
}

struct gw_s1_summary *gw_s1_summary_start(struct gw_worker *w, struct gw_stage1 *s1,
					  uint64_t period_ms)
{
	struct itimerspec its = { 0 };
	struct gw_s1_summary *s;

	s = calloc(1, sizeof(*s));
	if (!s) {
		pr_err("Stage 1: out of memory");
		return NULL;
	}
	s->w = w;
	s->s1 = s1;
	s->timer_ev.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (s->timer_ev.fd < 0) {
		pr_err("Stage 1: summaries: %s", strerror(errno));
		free(s);
		return NULL;
	}
	its.it_value.tv_sec = period_ms / 1000;
	its.it_value.tv_nsec = (period_ms % 1000) * 1000000;
	its.it_interval = its.it_value;
	timerfd_settime(s->timer_ev.fd, 0, &its, NULL);
	s->timer_ev.fn = period_event;
	s->ring_ev.fd = gw_stage1_events_fd(s1);
	s->ring_ev.fn = ring_event;
	gw_loop_set(&w->loop, &s->timer_ev, EPOLLIN);
	gw_loop_set(&w->loop, &s->ring_ev, EPOLLIN);
	return s;
}

void gw_s1_summary_free(struct gw_s1_summary *s)
{
	if (!s)
		return;
	gw_loop_set(&s->w->loop, &s->timer_ev, 0);
	gw_loop_set(&s->w->loop, &s->ring_ev, 0);
	close(s->timer_ev.fd);
	free(s);
}
