/* The management API's bearer token. Whoever can deploy can run containers
 * on this host, so the API asks for a token unless told not to. */
#ifndef TF_MGMT_AUTH_H
#define TF_MGMT_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

#define MGMT_TOKEN_MAX 256

/* Finds the token: $TINYFAAS_TOKEN when set, else the one kept in
 * <state_dir>/token, else a new random one written there with mode 0600 and
 * shown once in the log. Return 0, or -1 with err set. */
int mgmt_token_load(const char *state_dir, char *token, size_t size, tf_err *err);

/* Whether an Authorization header value ("Bearer TOKEN", or NULL when the
 * header is missing) carries token. Its time does not depend on where the
 * two differ. */
bool mgmt_token_matches(const char *token, const char *authorization);

#endif
