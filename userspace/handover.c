// SPDX-License-Identifier: GPL-2.0-only
/*
 * Steering table and takeover (handover.h). The old daemon's side of a
 * takeover (the "handover" control command) is in daemon.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "handover.h"
#include "listener.h"
#include "log.h"
#include "steer.h"

/* A listener's own address as a steering entry (/32 or /128, its port). */
static int own_steer(const struct gw_cfg_listener *lc, struct gw_steer *st)
{
	memset(st, 0, sizeof(*st));
	if (lc->listen.ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)&lc->listen;

		if (s4->sin_addr.s_addr == htonl(INADDR_ANY))
			return -EINVAL;	/* a wildcard address: not a prefix to steer */
		st->dst.family = AF_INET;
		st->dst.prefix_len = 32;
		memcpy(st->dst.addr, &s4->sin_addr, 4);
		st->lo = st->hi = ntohs(s4->sin_port);
	} else {
		const struct sockaddr_in6 *s6 = (const void *)&lc->listen;

		if (IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr))
			return -EINVAL;
		st->dst.family = AF_INET6;
		st->dst.prefix_len = 128;
		memcpy(st->dst.addr, &s6->sin6_addr, 16);
		st->lo = st->hi = ntohs(s6->sin6_port);
	}
	return 0;
}

/* Append one entry; false without memory (then *e is freed). */
static bool entry_add(struct gw_steer_entry **e, unsigned int *n, const struct gw_steer *dst,
		      const struct gw_listener *ls)
{
	struct gw_steer_entry *grown = realloc(*e, (*n + 1) * sizeof(**e));

	if (!grown) {
		free(*e);
		*e = NULL;
		return false;
	}
	*e = grown;
	grown[*n].dst = *dst;
	grown[*n].slot = ls->slot;
	grown[*n].listener = ls->cfg->name;
	(*n)++;
	return true;
}

int gw_handover_steer_apply(struct gw_worker *w, struct gw_steer_prog *steer, bool takeover)
{
	struct gw_steer_entry *e = NULL;
	struct gw_listener *ls;
	unsigned int n = 0, k;
	struct gw_steer own;
	char err[256];
	int ret;

	if (!steer)
		return 0;
	for (ls = w->listeners; ls; ls = ls->next) {
		if (ls->removed)
			continue;
		if (takeover && !own_steer(ls->cfg, &own) && !entry_add(&e, &n, &own, ls))
			return -ENOMEM;
		for (k = 0; k < ls->cfg->n_steer; k++)
			if (!entry_add(&e, &n, &ls->cfg->steer[k], ls))
				return -ENOMEM;
	}
	ret = gw_steer_update(steer, e, n, err, sizeof(err));
	if (ret)
		pr_err("steering: %s; the previous table stays", err);
	free(e);
	return ret;
}

int gw_handover_steer_start(struct gw_worker *w, struct gw_steer_prog *steer, bool takeover)
{
	int err;

	if (!steer)
		return 0;
	err = gw_handover_steer_apply(w, steer, takeover);
	if (!err)
		err = gw_steer_attach(steer);
	if (err) {
		pr_err("steering: cannot attach the sk_lookup program: %s", strerror(-err));
		return err;
	}
	pr_info("steering: sk_lookup attached to the network namespace");
	return 0;
}

void gw_handover_notify(const char *ctl_path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char reply[64] = "";
	ssize_t n;
	int fd;

	if (gw_snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", ctl_path))
		return;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun))) {
		pr_info("takeover: no running mtlsgw at %s (%s); starting on our own",
			sun.sun_path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	if (write(fd, "handover\n", 9) == 9) {
		n = read(fd, reply, sizeof(reply) - 1);
		reply[n > 0 ? n : 0] = '\0';
	}
	close(fd);
	pr_info("takeover: the previous mtlsgw answered \"%.*s\"", (int)strcspn(reply, "\n"), reply);
}
