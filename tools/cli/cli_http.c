/* One HTTP request over libcurl, its answer collected in memory: used for
 * the management API and for invoking functions over HTTP. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "cli.h"

/* How long to wait for the TCP connection before giving up on the daemon. */
#define CONNECT_TIMEOUT_S 10

/* Keeps the last status line's reason phrase ("Not Found"): after a
 * "100 Continue" comes the real one. */
static size_t on_header(char *line, size_t size, size_t n, void *answer)
{
    struct cli_answer *a = answer;
    size_t len = size * n;
    if (len < 5 || memcmp(line, "HTTP/", 5) != 0)
        return len;
    /* "HTTP/1.1 404 Not Found\r\n": the phrase follows the second space. */
    const char *end = line + len, *p = memchr(line, ' ', len);
    p = p != NULL ? memchr(p + 1, ' ', (size_t)(end - p - 1)) : NULL;
    const char *phrase = p != NULL ? p + 1 : end;
    while (end > phrase && (end[-1] == '\n' || end[-1] == '\r'))
        end--;
    snprintf(a->phrase, sizeof a->phrase, "%.*s", (int)(end - phrase), phrase);
    return len;
}

static int on_progress(void *rq_, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    const struct cli_request *rq = rq_;
    return rq->tick(rq->tick_ctx);
}

static struct curl_slist *header_list(const struct cli_request *rq, bool *failed)
{
    struct curl_slist *list = NULL;
    *failed = false;
    for (size_t i = 0; rq->headers != NULL && rq->headers[i] != NULL; i++) {
        struct curl_slist *l = curl_slist_append(list, rq->headers[i]);
        if (l == NULL) {
            *failed = true;
            break;
        }
        list = l;
    }
    return list;
}

static void configure(CURL *h, const struct cli_request *rq, struct curl_slist *headers, FILE *body,
                      struct cli_answer *a, char *errbuf)
{
    curl_easy_setopt(h, CURLOPT_URL, rq->url);
    /* The client may be used from scripts with threads; libcurl's alarm()
     * based DNS timeout is not thread-safe. */
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)CONNECT_TIMEOUT_S);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, rq->timeout_s);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    /* libcurl's default write function fwrite()s to the FILE it is given. */
    curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, a);
    if (rq->post) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body_len > 0 ? rq->body : "");
    }
    if (rq->bearer != NULL) {
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, CURLAUTH_BEARER);
        curl_easy_setopt(h, CURLOPT_XOAUTH2_BEARER, rq->bearer);
    }
    if (rq->tick != NULL) {
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, (void *)rq);
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    }
}

int cli_http_send(const struct cli_request *rq, struct cli_answer *a, struct cli_err *e)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    char *data = NULL;
    size_t len = 0;
    bool failed;
    int ret = -1;
    memset(a, 0, sizeof *a);
    CURL *h = curl_easy_init();
    struct curl_slist *headers = header_list(rq, &failed);
    FILE *body = open_memstream(&data, &len);
    if (h == NULL || failed || body == NULL) {
        cli_err_set(e, "out of memory");
        goto out;
    }
    configure(h, rq, headers, body, a, errbuf);
    CURLcode rc = curl_easy_perform(h);
    if (rc != CURLE_OK) {
        cli_err_set(e, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
        goto out;
    }
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    a->ok = status >= 200 && status < 300;
    snprintf(a->status, sizeof a->status, "%ld", status);
    ret = 0;
out:
    if (body != NULL && fclose(body) == 0 && ret == 0 && len > 0) {
        a->body = data;
        a->len = len;
        data = NULL;
    }
    free(data);
    curl_slist_free_all(headers);
    curl_easy_cleanup(h);
    return ret;
}
