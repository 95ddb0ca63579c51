// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "gwtest.h"
#include "netns.h"

static char *vcmd(const char *fmt, va_list ap)
{
	char *cmd;

	if (vasprintf(&cmd, fmt, ap) < 0)
		return NULL;
	return cmd;
}

int gwt_sh(const char *fmt, ...)
{
	va_list ap;
	char *cmd;
	int rc;

	va_start(ap, fmt);
	cmd = vcmd(fmt, ap);
	va_end(ap);
	if (!cmd)
		return -1;
	fflush(NULL);
	rc = system(cmd);
	if (rc)
		printf("# command failed (%d): %s\n", rc, cmd);
	free(cmd);
	return rc ? -1 : 0;
}

char *gwt_sh_out(const char *fmt, ...)
{
	size_t len = 0, cap = 4096, n;
	char *cmd, *out;
	va_list ap;
	FILE *p;

	va_start(ap, fmt);
	cmd = vcmd(fmt, ap);
	va_end(ap);
	out = malloc(cap);
	if (!cmd || !out) {
		free(cmd);
		free(out);
		return NULL;
	}
	fflush(NULL);
	p = popen(cmd, "r");
	free(cmd);
	if (!p) {
		free(out);
		return NULL;
	}
	while ((n = fread(out + len, 1, cap - len - 1, p)) > 0) {
		len += n;
		if (cap - len < 2) {
			char *nb = realloc(out, cap * 2);

			if (!nb)
				break;
			out = nb;
			cap *= 2;
		}
	}
	out[len] = '\0';
	pclose(p);
	return out;
}

int gwt_topo_create(struct gwt_topo *t)
{
	int id = getpid() % 100000;

	memset(t, 0, sizeof(*t));
	snprintf(t->gw_ns, sizeof(t->gw_ns), "mtlsgw-gw-%d", id);
	snprintf(t->cl_ns, sizeof(t->cl_ns), "mtlsgw-cl-%d", id);
	snprintf(t->gw_if, sizeof(t->gw_if), "mgw%d", id);
	snprintf(t->cl_if, sizeof(t->cl_if), "mcl%d", id);
	t->created = true;
	if (gwt_sh("ip netns add %s && ip netns add %s", t->gw_ns, t->cl_ns) ||
	    gwt_sh("ip link add %s netns %s type veth peer name %s netns %s",
		   t->gw_if, t->gw_ns, t->cl_if, t->cl_ns) ||
	    gwt_sh("ip -n %s link set lo up && ip -n %s link set lo up", t->gw_ns, t->cl_ns) ||
	    gwt_sh("ip -n %s addr add %s/24 dev %s && ip -n %s addr add %s/64 dev %s nodad",
		   t->gw_ns, GWT_GW_V4, t->gw_if, t->gw_ns, GWT_GW_V6, t->gw_if) ||
	    gwt_sh("ip -n %s addr add %s/24 dev %s && ip -n %s addr add %s/24 dev %s",
		   t->cl_ns, GWT_CL_V4_ALLOWED, t->cl_if, t->cl_ns, GWT_CL_V4_DENIED, t->cl_if) ||
	    gwt_sh("ip -n %s addr add %s/64 dev %s nodad && ip -n %s addr add %s/64 dev %s nodad",
		   t->cl_ns, GWT_CL_V6_ALLOWED, t->cl_if, t->cl_ns, GWT_CL_V6_DENIED, t->cl_if) ||
	    gwt_sh("ip -n %s link set %s up && ip -n %s link set %s up",
		   t->gw_ns, t->gw_if, t->cl_ns, t->cl_if))
		return -1;
	return 0;
}

void gwt_topo_destroy(struct gwt_topo *t)
{
	if (!t->created)
		return;
	/* Deleting the namespaces removes the veth pair and everything on it. */
	gwt_sh("ip netns del %s 2>/dev/null; ip netns del %s 2>/dev/null; true",
	       t->gw_ns, t->cl_ns);
	t->created = false;
}

int gwt_netns_enter(const char *ns)
{
	char path[128];
	int saved, fd;

	saved = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (saved < 0 || fd < 0 || setns(fd, CLONE_NEWNET)) {
		printf("# cannot enter network namespace %s: %s\n", ns, strerror(errno));
		if (fd >= 0)
			close(fd);
		if (saved >= 0)
			close(saved);
		return -1;
	}
	close(fd);
	return saved;
}

void gwt_netns_leave(int saved)
{
	if (saved < 0)
		return;
	if (setns(saved, CLONE_NEWNET))
		printf("# cannot return to the test's network namespace: %s\n", strerror(errno));
	close(saved);
}

int gwt_tcp_connect_from(const char *src, const char *dst, int port, int timeout_ms)
{
	struct sockaddr_storage s = { 0 }, d = { 0 };
	socklen_t len;
	int fd, err = 0, family = strchr(dst, ':') ? AF_INET6 : AF_INET;
	struct pollfd p;

	if (family == AF_INET) {
		struct sockaddr_in *s4 = (void *)&s, *d4 = (void *)&d;

		s4->sin_family = d4->sin_family = AF_INET;
		inet_pton(AF_INET, src, &s4->sin_addr);
		inet_pton(AF_INET, dst, &d4->sin_addr);
		d4->sin_port = htons(port);
		len = sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (void *)&s, *d6 = (void *)&d;

		s6->sin6_family = d6->sin6_family = AF_INET6;
		inet_pton(AF_INET6, src, &s6->sin6_addr);
		inet_pton(AF_INET6, dst, &d6->sin6_addr);
		d6->sin6_port = htons(port);
		len = sizeof(*s6);
	}
	fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&s, len))
		goto out_errno;
	if (connect(fd, (struct sockaddr *)&d, len) && errno != EINPROGRESS)
		goto out_errno;
	p = (struct pollfd){ .fd = fd, .events = POLLOUT };
	if (poll(&p, 1, timeout_ms) == 0) {
		close(fd);
		return -ETIMEDOUT;
	}
	len = sizeof(err);
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
	if (err) {
		close(fd);
		return -err;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return fd;
out_errno:
	err = -errno;
	close(fd);
	return err;
}

int gwt_gw_start_in(struct gwt_gw *g, const char *ns)
{
	int saved = gwt_netns_enter(ns), err;

	if (saved < 0)
		return -1;
	err = gwt_gw_start(g);
	gwt_netns_leave(saved);
	return err;
}

int gwt_connect_in(const char *ns, const char *src, const char *dst, int port, int timeout_ms)
{
	int saved = gwt_netns_enter(ns), fd;

	if (saved < 0)
		return -EINVAL;
	fd = gwt_tcp_connect_from(src, dst, port, timeout_ms);
	gwt_netns_leave(saved);
	return fd;
}

int gwt_topo_env_start(struct gwt_topo *t, struct gwt_backend *be)
{
	struct gwt_backend_opts bo = { .echo = true };
	int saved, err;

	be->pid = -1;
	if (gwt_topo_create(t))
		return -1;
	saved = gwt_netns_enter(t->gw_ns);
	if (saved < 0)
		return -1;
	err = gwt_backend_start(be, &bo);
	gwt_netns_leave(saved);
	return err ? -1 : 0;
}

int gwt_topo_env_stop(struct gwt_topo *t, struct gwt_backend *be, struct gwt_gw *gw)
{
	int ret;

	gwt_backend_stop(be);
	ret = gwt_gw_cleanup(gw);
	gwt_topo_destroy(t);
	return ret;
}
