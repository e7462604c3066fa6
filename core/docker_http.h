/* Internal to the Docker backend: the HTTP transport to the engine that
 * core/docker.c builds the Engine API calls on. Nothing else includes this. */
#ifndef TF_DOCKER_HTTP_H
#define TF_DOCKER_HTTP_H

#include <jansson.h>
#include <stddef.h>

#include "docker.h"
#include "err.h"

/* No answer from the engine may grow past this, so a runaway log, list or
 * build stream cannot exhaust the daemon's memory. */
#define DOCKER__BODY_MAX ((size_t)64 << 20)

/* Immutable once docker_open returns: calls share it across threads. */
struct docker {
    char host[256];  /* as the caller gave it, for messages */
    char sock[108];  /* unix socket path (sun_path size), "" for tcp */
    char base[300];  /* "http://localhost" or "http://host:port" */
    char prefix[16]; /* "/v1.41" once negotiated, "" before */
    char version[8]; /* "1.41" */
};

/* A growing NUL-terminated byte buffer, capped at DOCKER__BODY_MAX. */
struct docker__buf {
    char *p;
    size_t len, cap;
};

/* Appends n bytes; 0, -ENOMEM, or -EMSGSIZE past the cap. */
int docker__buf_add(struct docker__buf *b, const void *data, size_t n);
void docker__buf_free(struct docker__buf *b);

/* Receives a 2xx answer's body as it arrives; returns 0 or a negative errno
 * (-ENOMEM, -EMSGSIZE) to abort the transfer. */
typedef int docker__stream_fn(void *ctx, const char *p, size_t n);

/* Where an answer's body goes: to stream when set and the status is 2xx,
 * else into body (so error answers are always kept for their message). */
struct docker__sink {
    docker__stream_fn *stream;
    void *ctx;
    struct docker__buf body;
    const char *header; /* one more request header ("Name: value"), or NULL */
};

/* Parses host ("unix:///path" or "tcp://host:port") into d; others are TF_ERR_INVALID. */
int docker__parse_host(struct docker *d, const char *host, tf_err *err);

/* Formats a path where each %s (the only conversion) is URL-escaped. */
char *docker__path(const char *fmt, ...);

/* One exchange with the engine: method on d->prefix + path, with an optional
 * body of content_type; timeout in seconds (0: none). Returns 0 once an
 * answer arrived, whatever its status (in *http); otherwise negative with
 * err set (TF_ERR_UNAVAILABLE when the engine cannot be reached,
 * TF_ERR_TIMEOUT when no answer came within the timeout). */
int docker__request(const struct docker *d, const char *method, const char *path, const void *body,
                    size_t body_len, const char *content_type, long timeout,
                    struct docker__sink *sink, long *http, tf_err *err);

/* Fills err from a non-success answer: "docker: what: <engine message>",
 * of the kind its status says (404: TF_ERR_NOT_FOUND, 409: TF_ERR_CONFLICT,
 * other 4xx: TF_ERR_INVALID, 5xx: TF_ERR_UPSTREAM). Returns -1. */
int docker__engine_error(long http, const struct docker__buf *body, const char *what, tf_err *err);

/* A JSON exchange: body (may be NULL) sent as JSON, a success answer (2xx or
 * 304) parsed into *out when out is given. missing_ok makes 404 a success
 * too (*out stays NULL). *http (may be NULL) gets the status. */
int docker__call(const struct docker *d, const char *method, const char *path, json_t *body,
                 json_t **out, int missing_ok, long *http, const char *what, tf_err *err);

/* Copies the id at key of an engine's answer, refusing one that would not fit. */
int docker__copy_id(json_t *answer, const char *key, char out[DOCKER_ID_MAX], const char *what,
                    tf_err *err);

/* DELETE of the object at fmt (with id); one already gone counts as removed. */
int docker__remove(const struct docker *d, const char *fmt, const char *id, const char *what,
                   tf_err *err);

/* POSTs body (NULL: out of memory) to path and copies the new object's id
 * (at key: "Id", or "ID" for swarm objects) into id_out. */
int docker__create(const struct docker *d, const char *path, json_t *body, const char *key,
                   char id_out[DOCKER_ID_MAX], const char *what, tf_err *err);

#endif
