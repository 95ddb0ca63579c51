// SPDX-License-Identifier: GPL-2.0-only
/*
 * The admin protocols (control.h): the control socket's and the metrics
 * endpoint's listening sockets, and the parsers of a control request
 * line and of an HTTP request head.
 */
#include <errno.h>
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

/* Copy the token buf[0, n) into out (size len) if it fits; false if not. */
static bool token(const char *buf, size_t n, char *out, size_t len)
{
	if (!n || n >= len)
		return false;
	memcpy(out, buf, n);
	out[n] = '\0';
	return true;
}

enum gw_http_parse gw_http_parse(const char *buf, size_t n, struct gw_http_req *req)
{
	const char *eol = memchr(buf, '\n', n), *sp1, *sp2, *end;
	size_t i, line;

	if (memchr(buf, '\0', n))
		return GW_HTTP_BAD;
	/* The method so far: upper-case letters only. */
	for (i = 0; i < n && buf[i] != ' ' && buf[i] != '\n'; i++)
		if (buf[i] < 'A' || buf[i] > 'Z' || i + 1 >= sizeof(req->method))
			return GW_HTTP_BAD;
	if (!eol)
		return n > sizeof(req->method) + sizeof(req->target) + 10 ?
		       GW_HTTP_BAD : GW_HTTP_INCOMPLETE;
	line = (size_t)(eol - buf);
	if (line && buf[line - 1] == '\r')
		line--;
	sp1 = memchr(buf, ' ', line);
	sp2 = sp1 ? memchr(sp1 + 1, ' ', line - (size_t)(sp1 + 1 - buf)) : NULL;
	if (!sp2 || !token(buf, (size_t)(sp1 - buf), req->method, sizeof(req->method)) ||
	    !token(sp1 + 1, (size_t)(sp2 - sp1 - 1), req->target, sizeof(req->target)) ||
	    buf + line - (sp2 + 1) != 8 || strncmp(sp2 + 1, "HTTP/1.", 7) ||
	    (sp2[8] != '0' && sp2[8] != '1'))
		return GW_HTTP_BAD;
	for (i = 0; req->target[i]; i++)
		if ((unsigned char)req->target[i] <= ' ' || (unsigned char)req->target[i] >= 0x7f)
			return GW_HTTP_BAD;
	/* The head ends with an empty line. */
	end = eol + 1;
	while ((eol = memchr(end, '\n', n - (size_t)(end - buf)))) {
		if (eol == end || (eol == end + 1 && *end == '\r'))
			return GW_HTTP_DONE;
		end = eol + 1;
	}
	return GW_HTTP_INCOMPLETE;
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
	} else if (!strcmp(line, "top")) {
		req->cmd = GW_CTL_TOP;
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
