/* Watches the handler containers and replaces those that die: a thread that
 * asks the engine every HEALER_PERIOD_MS which of this daemon's containers
 * run (lifecycle_heal). Asking survives an engine restart, where a stream of
 * engine events would break, and it costs one request a period. */
#ifndef TF_HEALER_H
#define TF_HEALER_H

#include "lifecycle.h"

#define HEALER_PERIOD_MS 2000

struct healer;

/* Starts watching. Return 0, or -errno when the thread cannot start. */
int healer_start(struct lifecycle *lc, struct healer **out);

/* Stops watching (a round under way finishes first) and frees. NULL: no-op. */
void healer_stop(struct healer *h);

#endif
