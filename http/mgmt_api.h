/* Management API (tinyFaaS 0.7 compatible) on its own libmicrohttpd threads:
 * /upload, /uploadURL, /delete, /scale, /list, /wipe, /logs, /invoke/NAME,
 * /metrics for Prometheus, and the dashboard (mgmt_ui.h). Bodies are JSON
 * whatever the Content-Type says. */
#ifndef TF_MGMT_API_H
#define TF_MGMT_API_H

#include <stdbool.h>
#include <stddef.h>

#include "dispatch.h"
#include "err.h"
#include "lifecycle.h"
#include "loop.h"

struct mgmt_api;

struct mgmt_config {
    int port;
    size_t max_body; /* largest request body (base64 zips) */
    int coap_port;   /* for the invocation URLs an upload answers with; -1: off */
    int coaps_port;  /* -1: no DTLS */
    int http_port;
    const char *token; /* the bearer token every call must carry; NULL: none asked */
    /* POST /invoke/NAME calls functions through these, with bodies up to max_call_body. */
    struct loop *loop;
    struct dispatcher *dispatcher;
    size_t max_call_body;
    bool metrics;      /* serve GET /metrics (metrics.h); else it is 404 */
    bool metrics_open; /* GET /metrics asks for no token (--metrics-no-auth) */
};

/* Starts serving the API for lc. */
int mgmt_api_start(const struct mgmt_config *cfg, struct lifecycle *lc, struct mgmt_api **out,
                   tf_err *err);

/* Stops accepting, waits for requests under way, frees. */
void mgmt_api_stop(struct mgmt_api *m);

#endif
