// SPDX-License-Identifier: GPL-2.0-only
/*
 * Fuzz target: the control request parser, gw_ctl_parse (control.c), on
 * any line a local client can send (at most GW_CTL_MAX_REQUEST bytes).
 *
 * Invariants: the parser writes only inside the line it cuts (before its
 * first CR, LF or NUL) and only NULs where spaces were; the command word,
 * its argument and the rest put back together with spaces give that line
 * exactly; the command follows from the word alone, json only for "conns
 * json", and a kill has a known selector and a non-empty value that is
 * the rest of the line.
 */
#include "fuzz.h"
#include "control.h"

#define CANARY 0xA5

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char buf[GW_CTL_MAX_REQUEST + 64], orig[sizeof(buf)], again[sizeof(buf)];
	const char *arg = NULL, *rest = NULL;
	struct gw_ctl_req req;
	size_t n, len, cut, i;

	/* gw_ctl_accept() leaves room for the NUL it adds. */
	n = size < GW_CTL_MAX_REQUEST - 1 ? size : GW_CTL_MAX_REQUEST - 1;
	memset(buf, CANARY, sizeof(buf));
	memcpy(buf, data, n);
	buf[n] = '\0';
	memcpy(orig, buf, sizeof(buf));
	len = strlen(buf);
	cut = strcspn(buf, "\r\n");

	gw_ctl_parse(buf, &req);

	/* Writes: only NULs, over spaces or at the cut, inside the line. */
	FZ_CHECK(!memcmp(buf + cut + 1, orig + cut + 1, sizeof(buf) - cut - 1));
	FZ_CHECK(buf[cut] == orig[cut] || (!buf[cut] && cut < len));
	for (i = 0; i < cut; i++)
		FZ_CHECK(buf[i] == orig[i] || (!buf[i] && orig[i] == ' '));
	FZ_CHECK(req.word == buf);
	FZ_CHECK(strlen(req.word) <= cut);

	/* The pieces, found where the parser put its NULs, rebuild the line. */
	if (strlen(buf) < cut) {
		arg = buf + strlen(buf) + 1;
		if ((size_t)(arg - buf) + strlen(arg) < cut)
			rest = arg + strlen(arg) + 1;
	}
	FZ_CHECK(!strchr(req.word, ' '));
	FZ_CHECK(!arg || !strchr(arg, ' '));
	i = (size_t)snprintf(again, sizeof(again), "%s%s%s%s%s", req.word,
			     arg ? " " : "", arg ? arg : "", rest ? " " : "", rest ? rest : "");
	FZ_CHECK(i == cut && !memcmp(again, orig, cut));

	switch (req.cmd) {
	case GW_CTL_STATUS:
		FZ_CHECK(!strcmp(req.word, "status"));
		break;
	case GW_CTL_CONNS:
		FZ_CHECK(!strcmp(req.word, "conns"));
		break;
	case GW_CTL_RELOAD:
		FZ_CHECK(!strcmp(req.word, "reload"));
		break;
	case GW_CTL_HANDOVER:
		FZ_CHECK(!strcmp(req.word, "handover"));
		break;
	case GW_CTL_KILL:
		FZ_CHECK(!strcmp(req.word, "kill") && arg && rest);
		FZ_CHECK(req.value == rest && *req.value);
		FZ_CHECK((req.kill_by == GW_KILL_CONN && !strcmp(arg, "conn")) ||
			 (req.kill_by == GW_KILL_SERIAL && !strcmp(arg, "serial")) ||
			 (req.kill_by == GW_KILL_SPIFFE_ID && !strcmp(arg, "spiffe-id")));
		break;
	case GW_CTL_TOP:
		FZ_CHECK(!strcmp(req.word, "top"));
		break;
	case GW_CTL_UNKNOWN:
		FZ_CHECK(strcmp(req.word, "status") && strcmp(req.word, "conns") &&
			 strcmp(req.word, "reload") && strcmp(req.word, "handover") &&
			 strcmp(req.word, "top"));
		/* A kill is unknown only without a known selector and a value. */
		FZ_CHECK(strcmp(req.word, "kill") || !arg || !rest || !*rest ||
			 (strcmp(arg, "conn") && strcmp(arg, "serial") && strcmp(arg, "spiffe-id")));
		break;
	default:
		FZ_CHECK(!"a command outside enum gw_ctl_cmd");
	}
	FZ_CHECK(req.json == ((req.cmd == GW_CTL_CONNS || req.cmd == GW_CTL_TOP) &&
			      arg && !strcmp(arg, "json")));
	FZ_CHECK(req.cmd == GW_CTL_KILL || !req.value);
	return 0;
}
