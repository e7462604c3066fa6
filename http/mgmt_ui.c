#include "mgmt_ui.h"

#include <string.h>

#include "http_body.h"

/* The page runs only its own files and talks only to its own origin; no
 * other site may frame it (it drives a token that can run containers). */
#define CSP                                                                                        \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "              \
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

bool mgmt_ui_owns(const char *url, const char *method)
{
    if (strcmp(method, "GET") != 0)
        return false;
    return strcmp(url, "/") == 0 || strcmp(url, "/ui") == 0 || strncmp(url, "/ui/", 4) == 0;
}

static const struct mgmt_ui_asset *find_asset(const char *url)
{
    if (strcmp(url, "/") == 0 || strcmp(url, "/ui") == 0 || strcmp(url, "/ui/") == 0)
        url = "/ui/index.html";
    for (size_t i = 0; i < mgmt_ui_n_assets; i++)
        if (strcmp(url, mgmt_ui_assets[i].path) == 0)
            return &mgmt_ui_assets[i];
    return NULL;
}

enum MHD_Result mgmt_ui_respond(struct MHD_Connection *c, const char *url)
{
    const struct mgmt_ui_asset *a = find_asset(url);
    if (a == NULL)
        return http_respond_reason(c, 404, "no such file in the dashboard");
    struct MHD_Response *r =
        MHD_create_response_from_buffer(a->len, (void *)a->data, MHD_RESPMEM_PERSISTENT);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, a->content_type);
    MHD_add_response_header(r, "Content-Security-Policy", CSP);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    /* Revalidated each time: a daemon upgraded in place serves its new page. */
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    enum MHD_Result ret = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ret;
}
