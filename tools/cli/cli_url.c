/* Every URL the client uses comes from TINYFAAS_URL, parsed and rebuilt by
 * libcurl's URL API so that encoding and IPv6 literals are its business. */
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "cli.h"

static int url_fail(struct cli_err *e, const char *what, CURLUcode uc)
{
    return cli_err_set(e, "%s: %s", what, curl_url_strerror(uc));
}

/* TINYFAAS_URL parsed; "host:port" alone is taken as http. */
static CURLU *base_url(const struct cli_config *cfg, struct cli_err *e)
{
    CURLU *u = curl_url();
    if (u == NULL) {
        cli_err_set(e, "out of memory");
        return NULL;
    }
    CURLUcode uc = curl_url_set(u, CURLUPART_URL, cfg->url, CURLU_DEFAULT_SCHEME);
    if (uc != CURLUE_OK) {
        url_fail(e, "TINYFAAS_URL", uc);
        curl_url_cleanup(u);
        return NULL;
    }
    return u;
}

/* The base URL's path (a proxy may mount the API under a prefix) joined with path. */
static CURLUcode set_path(CURLU *u, const char *path)
{
    char *prefix = NULL;
    CURLUcode uc = curl_url_get(u, CURLUPART_PATH, &prefix, 0);
    if (uc != CURLUE_OK)
        return uc;
    size_t n = strlen(prefix);
    while (n > 0 && prefix[n - 1] == '/')
        n--;
    char joined[2048];
    snprintf(joined, sizeof joined, "%.*s%s", (int)n, prefix, path);
    curl_free(prefix);
    return curl_url_set(u, CURLUPART_PATH, joined, 0);
}

static char *url_string(CURLU *u, struct cli_err *e)
{
    char *s = NULL;
    CURLUcode uc = curl_url_get(u, CURLUPART_URL, &s, 0);
    if (uc != CURLUE_OK)
        url_fail(e, "URL", uc);
    curl_url_cleanup(u);
    return s;
}

char *cli_url_mgmt(const struct cli_config *cfg, const char *path, const char *const *query,
                   struct cli_err *e)
{
    CURLU *u = base_url(cfg, e);
    if (u == NULL)
        return NULL;
    CURLUcode uc = set_path(u, path);
    if (uc == CURLUE_OK)
        uc = curl_url_set(u, CURLUPART_QUERY, NULL, 0);
    /* With APPENDQUERY, URLENCODE leaves the first '=' alone and encodes the value. */
    for (size_t i = 0; query != NULL && query[i] != NULL && uc == CURLUE_OK; i++)
        uc = curl_url_set(u, CURLUPART_QUERY, query[i], CURLU_APPENDQUERY | CURLU_URLENCODE);
    if (uc != CURLUE_OK) {
        url_fail(e, path, uc);
        curl_url_cleanup(u);
        return NULL;
    }
    return url_string(u, e);
}

char *cli_url_function(const struct cli_config *cfg, const char *name, struct cli_err *e)
{
    CURLU *u = base_url(cfg, e);
    if (u == NULL)
        return NULL;
    char path[512];
    snprintf(path, sizeof path, "/%s", name);
    /* Invocation is plain HTTP on its own port, whatever the management API uses. */
    CURLUcode uc = curl_url_set(u, CURLUPART_SCHEME, "http", 0);
    if (uc == CURLUE_OK)
        uc = curl_url_set(u, CURLUPART_PORT, cfg->http_port, 0);
    if (uc == CURLUE_OK)
        uc = curl_url_set(u, CURLUPART_PATH, path, CURLU_URLENCODE);
    if (uc == CURLUE_OK)
        uc = curl_url_set(u, CURLUPART_QUERY, NULL, 0);
    if (uc == CURLUE_OK)
        uc = curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0);
    if (uc != CURLUE_OK) {
        url_fail(e, "function URL", uc);
        curl_url_cleanup(u);
        return NULL;
    }
    return url_string(u, e);
}

int cli_url_host(const struct cli_config *cfg, char *host, size_t size, struct cli_err *e)
{
    CURLU *u = base_url(cfg, e);
    if (u == NULL)
        return -1;
    char *h = NULL;
    CURLUcode uc = curl_url_get(u, CURLUPART_HOST, &h, 0);
    curl_url_cleanup(u);
    if (uc != CURLUE_OK)
        return url_fail(e, "TINYFAAS_URL", uc);
    /* getaddrinfo wants an IPv6 literal without the brackets a URL puts around it. */
    size_t n = strlen(h);
    if (n >= 2 && h[0] == '[' && h[n - 1] == ']')
        snprintf(host, size, "%.*s", (int)(n - 2), h + 1);
    else
        snprintf(host, size, "%s", h);
    curl_free(h);
    return 0;
}
