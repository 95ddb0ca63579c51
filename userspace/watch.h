/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * reload_on_change: watch the directories of every file the configuration
 * reads (inotify) and call back once writes have settled.
 */
#ifndef GW_WATCH_H
#define GW_WATCH_H

#include "config.h"
#include "loop.h"

struct gw_watch;

/*
 * Watch with loop; on_change(arg) runs 100 ms after the last change to a
 * watched file. NULL when inotify is unavailable (warned: reload with
 * SIGHUP then).
 */
struct gw_watch *gw_watch_new(struct gw_loop *loop, void (*on_change)(void *arg), void *arg);
/* Watch the files cfg reads (nothing when its reload_on_change is off). */
void gw_watch_set(struct gw_watch *wt, const struct gw_config *cfg);
void gw_watch_free(struct gw_watch *wt);

#endif
