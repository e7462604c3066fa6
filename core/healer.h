/* Watches the handler containers and replaces those that die, or that run
 * but no longer serve: a thread that asks the engine which of this daemon's
 * containers run, and the dispatcher which handlers it gave up on
 * (lifecycle_heal). It asks soon after a poke (the dispatcher lost a
 * handler's connection, which is how a death shows first, or gave up on
 * one), every HEALER_RETRY_MS while the engine does not answer or a
 * replacement failed, and every HEALER_PERIOD_MS otherwise, for a death no
 * connection saw. Asking survives an engine
 * restart, where a stream of engine events would break; each ask costs the
 * engine about 10 ms of CPU with 100 functions, so an idle gateway is not
 * asked every few seconds. */
#ifndef TF_HEALER_H
#define TF_HEALER_H

#include "lifecycle.h"

#define HEALER_PERIOD_MS 30000
#define HEALER_RETRY_MS  2000
/* The engine marks a killed container exited a moment after its connection
 * drops, and a round that still sees it running would wait on it: so a poke
 * starts a round this much later, and HEALER_QUICK_ROUNDS rounds follow at
 * HEALER_RETRY_MS for the deaths the engine had not yet recorded. */
#define HEALER_POKE_DELAY_MS 500
#define HEALER_QUICK_ROUNDS  3

struct healer;

/* Starts watching. Return 0, or -errno when the thread cannot start. */
int healer_start(struct lifecycle *lc, struct healer **out);

/* Asks for a round now (any thread; rounds asked for meanwhile are one). */
void healer_poke(struct healer *h);

/* Stops watching (a round under way finishes first) and frees. NULL: no-op. */
void healer_stop(struct healer *h);

#endif
