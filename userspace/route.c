// SPDX-License-Identifier: GPL-2.0-only
/*
 * The ClientHello's server name and the route it picks (route.h). Run
 * inside OpenSSL's ClientHello callback, on bytes the client chose: every
 * length is checked against what is there before it is used.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "route.h"

static size_t get16(const unsigned char *p)
{
	return (size_t)p[0] << 8 | p[1];
}

int gw_sni_parse(const unsigned char *ext, size_t len, char out[GW_SNI_BUF])
{
	const unsigned char *p, *end;
	size_t i, n;

	out[0] = '\0';
	if (len < 2 || get16(ext) != len - 2)
		return -EINVAL;
	for (p = ext + 2, end = ext + len; p < end; p += 3 + n) {
		if (end - p < 3)
			return -EINVAL;
		n = get16(p + 1);
		if ((size_t)(end - p - 3) < n)
			return -EINVAL;
		if (p[0] != 0)		/* host_name; no other type is defined */
			continue;
		if (n && p[3 + n - 1] == '.')
			n--;
		if (!n || n > GW_SNI_MAX)
			return -EINVAL;
		for (i = 0; i < n; i++) {
			unsigned char ch = p[3 + i];

			if (ch <= 0x20 || ch >= 0x7f)
				return -EINVAL;
			out[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
		}
		out[n] = '\0';
		return 0;
	}
	return -ENOENT;
}

int gw_route_find(const struct gw_cfg_listener *l, const char *name)
{
	const char *dot = strchr(name, '.');
	unsigned int j, i;

	for (j = 0; j < l->n_routes; j++)
		for (i = 0; i < l->routes[j].n_server_names; i++)
			if (l->routes[j].server_names[i][0] != '*' &&
			    !strcmp(l->routes[j].server_names[i], name))
				return (int)j;
	/* "*.example.com" covers "a.example.com": one label, not "example.com". */
	if (!dot || dot == name)
		return -1;
	for (j = 0; j < l->n_routes; j++)
		for (i = 0; i < l->routes[j].n_server_names; i++) {
			const char *s = l->routes[j].server_names[i];

			if (s[0] == '*' && s[1] == '.' && !strcmp(s + 1, dot))
				return (int)j;
		}
	return -1;
}
