/* The Docker backend's transport: one libcurl easy handle per exchange, to
 * the engine's unix socket or a tcp:// address. See docker_http.h. */
#include "docker_http.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int docker__buf_add(struct docker__buf *b, const void *data, size_t n)
{
    if (n > DOCKER__BODY_MAX || b->len > DOCKER__BODY_MAX - n)
        return -EMSGSIZE;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL)
            return -ENOMEM;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

void docker__buf_free(struct docker__buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

int docker__parse_host(struct docker *d, const char *host, tf_err *err)
{
    size_t len = strlen(host);
    if (len >= sizeof d->host) {
        return tf_err_set(err, TF_ERR_INVALID, "Docker host too long: %.64s...", host);
    }
    memcpy(d->host, host, len + 1);
    if (strncmp(host, "unix://", 7) == 0) {
        const char *path = host + 7;
        if (*path != '/' || strlen(path) >= sizeof d->sock) {
            return tf_err_set(err, TF_ERR_INVALID, "bad Docker host %s: need unix:///absolute/path",
                              host);
        }
        snprintf(d->sock, sizeof d->sock, "%s", path);
        /* The host part of the URL is ignored on a unix socket, but the
         * engine still wants a Host header. */
        snprintf(d->base, sizeof d->base, "http://localhost");
        return 0;
    }
    if (strncmp(host, "tcp://", 6) == 0 && host[6] != '\0' && strchr(host + 6, '/') == NULL) {
        snprintf(d->base, sizeof d->base, "http://%s", host + 6);
        return 0;
    }
    return tf_err_set(err, TF_ERR_INVALID,
                      "unsupported Docker host %s: use unix:///path or tcp://host:port", host);
}

char *docker__path(const char *fmt, ...)
{
    struct docker__buf b = {0};
    va_list ap;
    int rc = 0;

    va_start(ap, fmt);
    for (const char *p = fmt; *p && rc == 0; p++) {
        if (p[0] != '%' || p[1] != 's') {
            rc = docker__buf_add(&b, p, 1);
            continue;
        }
        p++;
        const char *arg = va_arg(ap, const char *);
        /* The handle argument is unused since curl 7.82. */
        char *e = curl_easy_escape(NULL, arg, 0);
        rc = e ? docker__buf_add(&b, e, strlen(e)) : -ENOMEM;
        curl_free(e);
    }
    va_end(ap);
    if (rc == 0 && b.p == NULL)
        rc = docker__buf_add(&b, "", 0);
    if (rc < 0)
        docker__buf_free(&b);
    return b.p;
}

struct transfer {
    CURL *h;
    struct docker__sink *sink;
    int decided, streaming;
    int failed; /* the negative errno that aborted the transfer, or 0 */
};

static size_t on_data(char *p, size_t size, size_t n, void *userdata)
{
    struct transfer *t = userdata;
    size_t len = size * n;

    /* The status is known once the body starts: only success answers are
     * streamed, so an error answer's message is always at hand. */
    if (!t->decided) {
        long code = 0;
        curl_easy_getinfo(t->h, CURLINFO_RESPONSE_CODE, &code);
        t->streaming = t->sink->stream != NULL && code >= 200 && code < 300;
        t->decided = 1;
    }
    int rc = t->streaming ? t->sink->stream(t->sink->ctx, p, len)
                          : docker__buf_add(&t->sink->body, p, len);
    if (rc < 0) {
        t->failed = rc;
        return 0;
    }
    return len;
}

int docker__request(const struct docker *d, const char *method, const char *path, const void *body,
                    size_t body_len, const char *content_type, long timeout,
                    struct docker__sink *sink, long *http, tf_err *err)
{
    struct transfer t = {.sink = sink};
    struct curl_slist *headers = NULL, *h2;
    char ebuf[CURL_ERROR_SIZE] = "";
    char *url = NULL;
    int rc = -ENOMEM;

    *http = 0;
    t.h = curl_easy_init();
    if (t.h == NULL || asprintf(&url, "%s%s%s", d->base, d->prefix, path) < 0) {
        url = NULL;
        tf_err_set(err, TF_ERR_INTERNAL, "docker: out of memory");
        goto out;
    }
    curl_easy_setopt(t.h, CURLOPT_URL, url);
    if (d->sock[0])
        curl_easy_setopt(t.h, CURLOPT_UNIX_SOCKET_PATH, d->sock);
    /* Signals are no way to time out a call made from a worker thread. */
    curl_easy_setopt(t.h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(t.h, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(t.h, CURLOPT_TIMEOUT, timeout);
    curl_easy_setopt(t.h, CURLOPT_ERRORBUFFER, ebuf);
    curl_easy_setopt(t.h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(t.h, CURLOPT_WRITEDATA, &t);
    if (strcmp(method, "POST") == 0 || body != NULL) {
        curl_easy_setopt(t.h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? body_len : 0));
        curl_easy_setopt(t.h, CURLOPT_POSTFIELDS, body ? body : "");
    }
    if (strcmp(method, "POST") != 0 && strcmp(method, "GET") != 0)
        curl_easy_setopt(t.h, CURLOPT_CUSTOMREQUEST, method); /* PUT carries a body too */
    /* Without "Expect:" curl holds a large build context back for a second
     * waiting for a 100 Continue the engine never sends. */
    h2 = curl_slist_append(headers, "Expect:");
    if (h2 == NULL) {
        tf_err_set(err, TF_ERR_INTERNAL, "docker: out of memory");
        goto out;
    }
    headers = h2;
    if (content_type) {
        char ct[128];
        snprintf(ct, sizeof ct, "Content-Type: %s", content_type);
        h2 = curl_slist_append(headers, ct);
        if (h2 == NULL) {
            tf_err_set(err, TF_ERR_INTERNAL, "docker: out of memory");
            goto out;
        }
        headers = h2;
    }
    if (sink->header != NULL) {
        h2 = curl_slist_append(headers, sink->header);
        if (h2 == NULL) {
            tf_err_set(err, TF_ERR_INTERNAL, "docker: out of memory");
            goto out;
        }
        headers = h2;
    }
    curl_easy_setopt(t.h, CURLOPT_HTTPHEADER, headers);

    CURLcode cc = curl_easy_perform(t.h);
    curl_easy_getinfo(t.h, CURLINFO_RESPONSE_CODE, http);
    if (cc == CURLE_WRITE_ERROR && t.failed == -EMSGSIZE) {
        rc = tf_err_set(err, TF_ERR_UPSTREAM, "docker: %s %s: answer larger than %zu MiB", method,
                        path, DOCKER__BODY_MAX >> 20);
    } else if (cc == CURLE_WRITE_ERROR && t.failed) {
        rc = t.failed;
        tf_err_set(err, TF_ERR_INTERNAL, "docker: %s %s: %s", method, path, strerror(-t.failed));
    } else if (cc == CURLE_OPERATION_TIMEDOUT) {
        rc = tf_err_set(err, TF_ERR_TIMEOUT, "docker: %s %s: no answer within %ld s", method, path,
                        timeout);
    } else if (cc != CURLE_OK) {
        long os = 0;
        curl_easy_getinfo(t.h, CURLINFO_OS_ERRNO, &os);
        rc = -EHOSTUNREACH;
        /* On a socket curl's text names "localhost port 80"; the system's
         * reason (no such file, permission denied) is the useful part. */
        if (d->sock[0] && os)
            tf_err_set(err, TF_ERR_UNAVAILABLE, "cannot reach the Docker engine at %s: %s (%s)",
                       d->host, curl_easy_strerror(cc), strerror((int)os));
        else
            tf_err_set(err, TF_ERR_UNAVAILABLE, "cannot reach the Docker engine at %s: %s", d->host,
                       ebuf[0] ? ebuf : curl_easy_strerror(cc));
    } else {
        rc = 0;
    }
out:
    curl_slist_free_all(headers);
    if (t.h)
        curl_easy_cleanup(t.h);
    free(url);
    return rc;
}

/* What an engine's error status says happened. */
static enum tf_err_kind engine_error_kind(long http)
{
    switch (http) {
    case 404: return TF_ERR_NOT_FOUND;
    case 409: return TF_ERR_CONFLICT;
    default: return http >= 400 && http < 500 ? TF_ERR_INVALID : TF_ERR_UPSTREAM;
    }
}

int docker__engine_error(long http, const struct docker__buf *body, const char *what, tf_err *err)
{
    json_t *j = body->p ? json_loadb(body->p, body->len, 0, NULL) : NULL;
    const char *msg = json_string_value(json_object_get(j, "message"));
    char raw[200];

    if (msg == NULL) {
        /* Not the engine's JSON (a proxy in between, say): show its start. */
        snprintf(raw, sizeof raw, "%s", body->p && body->len ? body->p : "");
        size_t n = strlen(raw);
        while (n && (raw[n - 1] == '\n' || raw[n - 1] == '\r' || raw[n - 1] == ' '))
            raw[--n] = '\0';
        if (n == 0)
            snprintf(raw, sizeof raw, "HTTP %ld", http);
        msg = raw;
    }
    tf_err_set(err, engine_error_kind(http), "docker: %s: %s", what, msg);
    json_decref(j);
    return -1;
}

int docker__call(const struct docker *d, const char *method, const char *path, json_t *body,
                 json_t **out, int missing_ok, long *http, const char *what, tf_err *err)
{
    struct docker__sink sink = {0};
    char *text = NULL;
    long code = 0;
    int rc;

    if (out)
        *out = NULL;
    if (body) {
        text = json_dumps(body, JSON_COMPACT);
        if (text == NULL) {
            return tf_err_set(err, TF_ERR_INTERNAL, "docker: %s: out of memory", what);
        }
    }
    rc = docker__request(d, method, path, text, text ? strlen(text) : 0,
                         text ? "application/json" : NULL, 120, &sink, &code, err);
    if (http)
        *http = code;
    if (rc < 0)
        goto out;
    if (code == 404 && missing_ok)
        goto out;
    /* 304 is the engine saying "already so" (starting a started container). */
    if ((code < 200 || code >= 300) && code != 304) {
        rc = docker__engine_error(code, &sink.body, what, err);
        goto out;
    }
    if (out && sink.body.len) {
        json_error_t je;
        *out = json_loadb(sink.body.p, sink.body.len, 0, &je);
        if (*out == NULL) {
            rc = tf_err_set(err, TF_ERR_UPSTREAM, "docker: %s: bad JSON from the engine: %s", what,
                            je.text);
        }
    }
out:
    docker__buf_free(&sink.body);
    free(text);
    return rc;
}

int docker__copy_id(json_t *answer, const char *key, char out[DOCKER_ID_MAX], const char *what,
                    tf_err *err)
{
    const char *id = json_string_value(json_object_get(answer, key));
    if (id == NULL || *id == '\0' || strlen(id) >= DOCKER_ID_MAX)
        return tf_err_set(err, TF_ERR_UPSTREAM, "docker: %s: the engine gave no usable id", what);
    snprintf(out, DOCKER_ID_MAX, "%s", id);
    return 0;
}

int docker__remove(const struct docker *d, const char *fmt, const char *id, const char *what,
                   tf_err *err)
{
    char *path = docker__path(fmt, id);
    if (path == NULL)
        return tf_err_set(err, TF_ERR_INTERNAL, "docker: %s: out of memory", what);
    int rc = docker__call(d, "DELETE", path, NULL, NULL, 1, NULL, what, err);
    free(path);
    return rc;
}

int docker__create(const struct docker *d, const char *path, json_t *body, const char *key,
                   char id_out[DOCKER_ID_MAX], const char *what, tf_err *err)
{
    json_t *ans = NULL;
    id_out[0] = '\0';
    int rc = body != NULL ? docker__call(d, "POST", path, body, &ans, 0, NULL, what, err)
                          : tf_err_set(err, TF_ERR_INTERNAL, "docker: %s: out of memory", what);
    if (rc == 0)
        rc = docker__copy_id(ans, key, id_out, what, err);
    json_decref(ans);
    return rc;
}
