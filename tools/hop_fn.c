/* hop-handler's function: nothing. Linked with libtinyfaas-c.a, it makes a
 * c handler whose calls do no work at all, so that hproto-load driving it
 * measures the handler's transport alone: the socket, the handler protocol
 * both ways and the shim's loop. */
#include "tinyfaas.h"

int tinyfaas_fn(const struct tinyfaas_request *req, struct tinyfaas_response *res)
{
    (void)req;
    (void)res;
    return 0;
}
