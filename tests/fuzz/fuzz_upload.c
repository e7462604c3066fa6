/* libFuzzer: a deploy request's body (POST /upload, and /uploadURL when the
 * first byte is odd), as the management API reads it: the JSON, its
 * members and envs, then the base64 zip decoded and repacked. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fnzip.h"
#include "http/mgmt_body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    bool from_url = data[0] & 1;
    struct mgmt_upload u;
    tf_err err = {0};
    unsigned char *zip = NULL;
    size_t len = 0;
    if (mgmt_upload_parse((const char *)data + 1, size - 1, from_url, &u, &err) == 0 && !from_url &&
        fnzip_base64_decode(u.code, strlen(u.code), &zip, &len, &err) == 0) {
        struct fnzip_limits limits = {.max_entries = 64, .max_total_bytes = 1u << 20};
        struct tarbuf t = {0};
        if (tarbuf_open(&t, &err) == 0 &&
            fnzip_to_tar(zip, len, u.spec.subfolder, "fn/", &limits, &t, &err) == 0)
            tarbuf_close(&t, &err);
        tarbuf_free(&t);
    }
    free(zip);
    mgmt_upload_free(&u);
    return 0;
}
