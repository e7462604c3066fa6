/* Runtime-private side of tinyfaas.h: what a response holds. Functions only
 * see the opaque struct, so this can change without touching user code. */
#ifndef TINYFAAS_RT_H
#define TINYFAAS_RT_H

#include "tinyfaas.h"

#include <stddef.h>

struct tinyfaas_response {
    int status;         /* 0: not set, 200 on success */
    char *content_type; /* malloc'd or NULL */
    char *body;         /* malloc'd or NULL; owned by the runtime */
    size_t len;         /* bytes of body in use */
    size_t cap;         /* bytes of body allocated; after set_body_owned, == len */
};

#endif
