/* The dashboard: a page on the management port, its files built into the
 * daemon (http/ui/, turned into C at build time), so an offline gateway
 * serves it whole. */
#ifndef TF_MGMT_UI_H
#define TF_MGMT_UI_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

/* One embedded file; the table is generated (http/ui/embed.py). */
struct mgmt_ui_asset {
    const char *path; /* "/ui/app.js" */
    const char *content_type;
    const unsigned char *data;
    size_t len;
};

extern const struct mgmt_ui_asset mgmt_ui_assets[];
extern const size_t mgmt_ui_n_assets;

/* Whether a request is the dashboard's: GET of /, /ui or a path below /ui/. */
bool mgmt_ui_owns(const char *url, const char *method);

/* Answers such a request with its file, or 404. Asks for no token: the files
 * hold no secret, and every data call the page makes carries the token. */
enum MHD_Result mgmt_ui_respond(struct MHD_Connection *c, const char *url);

#endif
