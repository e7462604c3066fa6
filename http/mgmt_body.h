/* The management API's request bodies: JSON objects, and a deploy's
 * (POST /upload and /uploadURL) as a deploy spec. */
#ifndef TF_MGMT_BODY_H
#define TF_MGMT_BODY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "lifecycle.h"

#define MGMT_MAX_ENVS 256

/* The body as a JSON object; anything else is TF_ERR_INVALID. */
json_t *mgmt_body_parse(const char *body, size_t len, tf_err *e);

/* A string member; missing or null gives NULL (an error if required),
 * another type an error. */
int mgmt_body_string(json_t *o, const char *key, bool required, const char **out, tf_err *e);

/* "threads": a whole number, or a string of one, as tinyFaaS's scripts
 * send it; missing or null is 1. */
int mgmt_body_threads(json_t *o, long long *out, tf_err *e);

/* A deploy request, its strings pointing into json. */
struct mgmt_upload {
    json_t *json;
    const char *envs[MGMT_MAX_ENVS];
    const char *constraints[LIFECYCLE_CONSTRAINTS_MAX];
    struct deploy_spec spec; /* everything but the zip */
    const char *code;        /* the zip in base64, or for /uploadURL its URL */
};

/* Reads a deploy request; a bad one is TF_ERR_INVALID with a one-line
 * reason. mgmt_upload_free in either case. */
int mgmt_upload_parse(const char *body, size_t len, bool from_url, struct mgmt_upload *u,
                      tf_err *e);
void mgmt_upload_free(struct mgmt_upload *u);

#endif
