#include "coap_answer.h"

#include <stdlib.h>
#include <string.h>

void tf_coap_answer_drop(struct tf_coap_answer *a)
{
    if (!a->on_heap)
        return;
    free(a->u.blob);
    a->u.blob = NULL;
    a->on_heap = false;
    a->dropped = a->body_len > 0;
    a->name_len = 0;
    a->query_len = 0;
}

int tf_coap_answer_set(struct tf_coap_answer *a, const void *body, size_t len, const char *name,
                       const coap_string_t *query)
{
    size_t name_len = name != NULL ? strnlen(name, UINT8_MAX) : 0;
    size_t query_len =
        name != NULL && query != NULL && query->length <= UINT16_MAX ? query->length : 0;
    size_t total = len + name_len + query_len;
    tf_coap_answer_drop(a);
    a->dropped = false;
    a->body_len = len <= UINT32_MAX ? (uint32_t)len : 0;
    a->name_len = (uint8_t)name_len;
    a->query_len = (uint16_t)query_len;
    unsigned char *dst = a->u.inline_body;
    if (total > TF_COAP_ANSWER_INLINE) {
        if (len > UINT32_MAX || (dst = malloc(total)) == NULL) {
            a->name_len = 0;
            a->query_len = 0;
            a->dropped = true;
            return -1;
        }
        a->u.blob = dst;
        a->on_heap = true;
    }
    if (len > 0)
        memcpy(dst, body, len);
    if (name_len > 0)
        memcpy(dst + len, name, name_len);
    if (query_len > 0)
        memcpy(dst + len + name_len, query->s, query_len);
    return 0;
}
