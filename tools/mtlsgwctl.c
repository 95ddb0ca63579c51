// SPDX-License-Identifier: GPL-2.0-only
/*
 * mtlsgwctl: talk to a running mtlsgw over its control socket.
 *
 *   mtlsgwctl [-s SOCKET] status
 *   mtlsgwctl [-s SOCKET] conns [--json]
 *   mtlsgwctl [-s SOCKET] top [--json]
 *   mtlsgwctl [-s SOCKET] reload
 *   mtlsgwctl [-s SOCKET] kill --serial HEX | --spiffe-id ID | --conn ID
 *
 * Exit status: 0 done, 1 the daemon refused (the reply says why), 2 usage,
 * 3 the daemon could not be reached.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define DEFAULT_SOCKET "/run/mtlsgw/control.sock"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: mtlsgwctl [-s SOCKET] COMMAND\n"
		"  status                          version, uptime, kernel, listeners, counters\n"
		"  conns [--json]                  live connections\n"
		"  top [--json]                    identities with the most connections (limits.per_identity)\n"
		"  reload                          re-read the configuration (like SIGHUP)\n"
		"  kill --serial HEX | --spiffe-id ID | --conn ID\n"
		"                                  close matching live connections now\n"
		"  -s SOCKET  control socket (default %s)\n", DEFAULT_SOCKET);
}

/*
 * Send one command line and copy the answer to stdout. empty_ok: a clean
 * end of stream without data is a valid answer ("conns --json" with no
 * connections is zero JSON lines).
 */
static int request(const char *path, const char *line, bool empty_ok)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char buf[65536];
	bool refused = false, first = true;
	ssize_t n;
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "mtlsgwctl: socket path too long: %s\n", path);
		return 2;
	}
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun))) {
		fprintf(stderr, "mtlsgwctl: cannot reach mtlsgw at %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return 3;
	}
	if (write(fd, line, strlen(line)) != (ssize_t)strlen(line)) {
		fprintf(stderr, "mtlsgwctl: write: %s\n", strerror(errno));
		close(fd);
		return 3;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		if (first && n >= 6 && !strncmp(buf, "error:", 6))
			refused = true;
		first = false;
		fwrite(buf, 1, n, stdout);
	}
	close(fd);
	if (first && !(empty_ok && n == 0)) {
		fprintf(stderr, "mtlsgwctl: no answer from mtlsgw\n");
		return 3;
	}
	return refused ? 1 : 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "serial", required_argument, NULL, 'S' },
		{ "spiffe-id", required_argument, NULL, 'I' },
		{ "conn", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *sock = DEFAULT_SOCKET, *kill_what = NULL, *kill_val = NULL, *cmd;
	char line[1024];
	bool json = false;
	int opt;

	while ((opt = getopt_long(argc, argv, "s:h", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			sock = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'S':
		case 'I':
		case 'C':
			if (kill_what) {
				fprintf(stderr, "mtlsgwctl: give one of --serial, --spiffe-id, --conn\n");
				return 2;
			}
			kill_what = opt == 'S' ? "serial" : opt == 'I' ? "spiffe-id" : "conn";
			kill_val = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind + 1 != argc) {
		usage(stderr);
		return 2;
	}
	cmd = argv[optind];
	if (!strcmp(cmd, "status") || !strcmp(cmd, "reload")) {
		snprintf(line, sizeof(line), "%s\n", cmd);
	} else if (!strcmp(cmd, "conns") || !strcmp(cmd, "top")) {
		snprintf(line, sizeof(line), "%s%s\n", cmd, json ? " json" : "");
	} else if (!strcmp(cmd, "kill")) {
		if (!kill_what || strpbrk(kill_val, " \r\n") || !*kill_val) {
			fprintf(stderr, "mtlsgwctl: kill needs --serial HEX, --spiffe-id ID or --conn ID\n");
			return 2;
		}
		if ((size_t)snprintf(line, sizeof(line), "kill %s %s\n", kill_what, kill_val) >=
		    sizeof(line)) {
			fprintf(stderr, "mtlsgwctl: value too long\n");
			return 2;
		}
	} else {
		fprintf(stderr, "mtlsgwctl: unknown command \"%s\"\n", cmd);
		usage(stderr);
		return 2;
	}
	return request(sock, line, json && (!strcmp(cmd, "conns") || !strcmp(cmd, "top")));
}
