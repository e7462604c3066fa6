#include "fetch.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct sink {
    unsigned char *data;
    size_t len, max;
    int too_large;
};

static size_t on_data(char *chunk, size_t size, size_t n, void *ctx)
{
    struct sink *s = ctx;
    size_t len = size * n;
    if (s->len + len > s->max) {
        s->too_large = 1;
        return 0; /* aborts the transfer */
    }
    unsigned char *data = realloc(s->data, s->len + len + 1);
    if (data == NULL)
        return 0;
    memcpy(data + s->len, chunk, len);
    s->data = data;
    s->len += len;
    return len;
}

int fetch_url(const char *url, size_t max, unsigned char **out, size_t *out_len, tf_err *err)
{
    if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0)
        return tf_err_set(err, TF_ERR_INVALID, "url must start with http:// or https://");
    CURL *c = curl_easy_init();
    if (c == NULL)
        return tf_err_set(err, TF_ERR_INTERNAL, "out of memory");
    struct sink s = {.max = max};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    if (s.too_large)
        tf_err_set(err, TF_ERR_TOO_LARGE, "the file at url is larger than %zu bytes", max);
    else if (rc != CURLE_OK)
        tf_err_set(err, TF_ERR_INVALID, "cannot download url: %s", curl_easy_strerror(rc));
    else if (status < 200 || status > 299)
        tf_err_set(err, TF_ERR_INVALID, "downloading url gave HTTP status %ld", status);
    else {
        *out = s.data;
        *out_len = s.len;
        return 0;
    }
    free(s.data);
    return -EIO;
}
