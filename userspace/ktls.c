// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ktls.h"
#include "util.h"

#ifndef TCP_ULP
#define TCP_ULP 31
#endif

/* A connected TCP pair on 127.0.0.1: ULP needs an established socket. */
static int loopback_pair(int *cfd, int *sfd)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int lfd, err = 0;

	*cfd = *sfd = -1;
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		return -errno;
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 1) ||
	    getsockname(lfd, (struct sockaddr *)&sa, &len))
		goto out_errno;
	*cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*cfd < 0 || connect(*cfd, (struct sockaddr *)&sa, sizeof(sa)))
		goto out_errno;
	*sfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (*sfd < 0)
		goto out_errno;
	close(lfd);
	return 0;
out_errno:
	err = -errno;
	if (*cfd >= 0)
		close(*cfd);
	*cfd = -1;
	close(lfd);
	return err;
}

int gw_ktls_probe(char *why, size_t len)
{
	int cfd, sfd, err;

	err = loopback_pair(&cfd, &sfd);
	if (err) {
		gw_snprintf(why, len, "cannot open a loopback TCP pair to probe: %s",
			    strerror(-err));
		return err;
	}
	err = 0;
	if (setsockopt(sfd, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls")))
		err = -errno;
	close(cfd);
	close(sfd);
	if (!err)
		gw_snprintf(why, len, "kTLS available");
	else if (err == -ENOENT)
		gw_snprintf(why, len, "kTLS not available: the kernel has no \"tls\" ULP (modprobe tls; CONFIG_TLS)");
	else
		gw_snprintf(why, len, "kTLS not available: TCP_ULP \"tls\": %s",
			    strerror(-err));
	return err;
}
