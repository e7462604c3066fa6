/* Returns the request body unchanged, exact bytes. */
#include <tinyfaas.h>

int tinyfaas_fn(const struct tinyfaas_request *req, struct tinyfaas_response *res)
{
    /* Copies the body; a non-zero return (out of memory) becomes a 500. */
    return tinyfaas_set_body(res, req->body, req->body_len);
}
