/* Brings back, after a start, the functions the state dir keeps (store.h).
 * It runs on threads of its own while the daemon already serves, several
 * functions at once, so one that comes back early answers while later ones
 * still build. */
#ifndef TF_RESTORE_H
#define TF_RESTORE_H

#include "lifecycle.h"

struct restorer;

/* Starts redeploying every kept function through lc, a few at once.
 * Return 0, or -errno when the thread cannot start. */
int restore_start(struct lifecycle *lc, const char *state_dir, struct restorer **out);

/* Lets the deploys under way finish, skips the rest, and frees. NULL: no-op. */
void restore_stop(struct restorer *r);

#endif
