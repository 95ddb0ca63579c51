// SPDX-License-Identifier: GPL-2.0-only
/*
 * Fuzz target: the metrics endpoint's request head parser, gw_http_parse
 * (control.c), on any bytes a client on the metrics port can send (at most
 * GW_CTL_MAX_REQUEST - 1, what the server buffers).
 *
 * Invariants: it reads only the n bytes it is given (an exact-size copy
 * for ASan); a NUL anywhere is BAD; a DONE request has an upper-case
 * method and a printable target that both fit, a request line of exactly
 * "METHOD SP target SP HTTP/1.x" and an empty line after it; a request
 * that is DONE was never BAD on the way: the parse of a shorter prefix
 * is INCOMPLETE or, once the head has ended, DONE.
 */
#include "fuzz.h"
#include "control.h"

FZ_NO_COVERAGE static enum gw_http_parse parse_copy(const uint8_t *data, size_t n, struct gw_http_req *req)
{
	char *copy = malloc(n ? n : 1);
	enum gw_http_parse p;

	FZ_CHECK(copy);
	memcpy(copy, data, n);
	p = gw_http_parse(copy, n, req);
	free(copy);
	return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t n = size < GW_CTL_MAX_REQUEST - 1 ? size : GW_CTL_MAX_REQUEST - 1, i, k;
	struct gw_http_req req, again;
	enum gw_http_parse p;
	char line[600];

	memset(&req, 0xA5, sizeof(req));
	p = parse_copy(data, n, &req);
	FZ_CHECK(p == GW_HTTP_INCOMPLETE || p == GW_HTTP_BAD || p == GW_HTTP_DONE);
	if (memchr(data, '\0', n))
		FZ_CHECK(p == GW_HTTP_BAD);
	if (p != GW_HTTP_DONE)
		return 0;

	FZ_CHECK(memchr(req.method, '\0', sizeof(req.method)));
	FZ_CHECK(memchr(req.target, '\0', sizeof(req.target)));
	FZ_CHECK(req.method[0] && req.target[0]);
	for (i = 0; req.method[i]; i++)
		FZ_CHECK(req.method[i] >= 'A' && req.method[i] <= 'Z');
	for (i = 0; req.target[i]; i++)
		FZ_CHECK((unsigned char)req.target[i] > ' ' && (unsigned char)req.target[i] < 0x7f);
	/* The request line as it was sent. */
	k = (size_t)snprintf(line, sizeof(line), "%s %s HTTP/1.", req.method, req.target);
	FZ_CHECK(k < sizeof(line) && k + 1 < n && !memcmp(data, line, k));
	FZ_CHECK(data[k] == '0' || data[k] == '1');
	FZ_CHECK(data[k + 1] == '\n' || (data[k + 1] == '\r' && k + 2 < n && data[k + 2] == '\n'));

	/*
	 * Never BAD on the way to DONE: 16 prefixes spread over the request,
	 * and the one just before its last byte (every prefix would make an
	 * execution quadratic in the input's length).
	 */
	for (k = 0; k <= 16; k++) {
		i = k < 16 ? n * k / 16 : n - 1;
		FZ_CHECK(parse_copy(data, i, &again) != GW_HTTP_BAD);
	}
	return 0;
}
