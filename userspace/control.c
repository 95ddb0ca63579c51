// SPDX-License-Identifier: GPL-2.0-only
/*
 * The control socket's and the metrics endpoint's transport (control.h):
 * listen, read one bounded request, reply and close; and the parser of
 * control request lines.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "addr.h"
#include "control.h"
#include "util.h"

int gw_ctl_listen_unix(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	mode_t old;
	int fd, err;

	if (gw_snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path))
		return -ENAMETOOLONG;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	unlink(path);
	/* Created 0600 from the start: no window where others can connect. */
	old = umask(0177);
	err = bind(fd, (struct sockaddr *)&sun, sizeof(sun)) ? -errno : 0;
	umask(old);
	if (!err && listen(fd, 16))
		err = -errno;
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

int gw_ctl_listen_tcp(const char *addr, bool reuseport)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd, one = 1, err;

	if (gw_sockaddr_parse(addr, &ss, &len))
		return -EINVAL;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one))) ||
	    bind(fd, (struct sockaddr *)&ss, len) || listen(fd, 16)) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

static bool request_complete(const char *buf, size_t n)
{
	/* An HTTP request ends with an empty line; a command with its newline. */
	if (n >= 4 && !strncmp(buf, "GET ", 4))
		return strstr(buf, "\r\n\r\n") || strstr(buf, "\n\n");
	return memchr(buf, '\n', n) != NULL;
}

int gw_ctl_accept(int lfd, char *buf, size_t len)
{
	uint64_t end = gw_now_ms() + GW_CTL_TIMEOUT_MS;
	size_t n = 0;
	int cfd;

	cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (cfd < 0)
		return -errno;
	buf[0] = '\0';
	while (n + 1 < len && !request_complete(buf, n)) {
		struct pollfd p = { .fd = cfd, .events = POLLIN };
		int left = (int)(end - gw_now_ms());
		ssize_t r;

		if (left <= 0 || poll(&p, 1, left) <= 0)
			break;
		r = recv(cfd, buf + n, len - 1 - n, 0);
		if (r <= 0)
			break;
		n += r;
		buf[n] = '\0';
	}
	return cfd;
}

void gw_ctl_reply(int cfd, const char *data, size_t len)
{
	uint64_t end = gw_now_ms() + GW_CTL_TIMEOUT_MS;
	size_t off = 0;

	while (off < len) {
		struct pollfd p = { .fd = cfd, .events = POLLOUT };
		int left = (int)(end - gw_now_ms());
		ssize_t w;

		w = send(cfd, data + off, len - off, MSG_NOSIGNAL);
		if (w > 0) {
			off += w;
			continue;
		}
		if (w < 0 && errno != EAGAIN)
			break;
		if (left <= 0 || poll(&p, 1, left) <= 0)
			break;
	}
	close(cfd);
}

void gw_ctl_parse(char *line, struct gw_ctl_req *req)
{
	static const struct {
		const char *name;
		enum gw_ctl_kill_by by;
	} kills[] = {
		{ "conn", GW_KILL_CONN },
		{ "serial", GW_KILL_SERIAL },
		{ "spiffe-id", GW_KILL_SPIFFE_ID },
	};
	char *arg, *arg2;
	unsigned int i;

	memset(req, 0, sizeof(*req));
	line[strcspn(line, "\r\n")] = '\0';
	arg = strchr(line, ' ');
	if (arg)
		*arg++ = '\0';
	arg2 = arg ? strchr(arg, ' ') : NULL;
	if (arg2)
		*arg2++ = '\0';
	req->word = line;
	if (!strcmp(line, "status")) {
		req->cmd = GW_CTL_STATUS;
	} else if (!strcmp(line, "conns")) {
		req->cmd = GW_CTL_CONNS;
		req->json = arg && !strcmp(arg, "json");
	} else if (!strcmp(line, "reload")) {
		req->cmd = GW_CTL_RELOAD;
	} else if (!strcmp(line, "handover")) {
		req->cmd = GW_CTL_HANDOVER;
	} else if (!strcmp(line, "kill") && arg && arg2 && *arg2) {
		for (i = 0; i < ARRAY_SIZE(kills); i++) {
			if (!strcmp(arg, kills[i].name)) {
				req->cmd = GW_CTL_KILL;
				req->kill_by = kills[i].by;
				req->value = arg2;
			}
		}
	}
}
