/* A function call made from a thread other than the loop's (the management
 * API), which waits for its answer: the call itself is posted to the loop
 * thread, the one place the dispatcher may be used. */
#ifndef TF_INVOKE_H
#define TF_INVOKE_H

#include <stddef.h>
#include <stdint.h>

#include "dispatch.h"
#include "err.h"
#include "loop.h"

/* What a function answered; body is malloc'd (NULL when empty). */
struct invoke_answer {
    uint16_t status; /* the handler's: 200, or 500 when the function failed */
    char content_type[128];
    char *body;
    size_t body_len;
};

/* Why dispatch_call refused a call (its negative errno), in one line. */
const char *invoke_refusal(int rc);

/* Calls name with req and waits until it answers or times out (the
 * dispatcher's call timeout bounds the wait). Return 0 with *out filled, or
 * -1 with err set: TF_ERR_NOT_FOUND (no such function), TF_ERR_UNAVAILABLE
 * (no live handler, busy, shutting down, or the link to the handler timed
 * out with the call on it), TF_ERR_TIMEOUT, TF_ERR_UPSTREAM (the handler
 * went away). Any thread but the loop's. */
int invoke_wait(struct loop *l, struct dispatcher *d, const char *name,
                const struct dispatch_request *req, struct invoke_answer *out, tf_err *err);

/* Frees the answer's body. */
void invoke_answer_free(struct invoke_answer *a);

#endif
