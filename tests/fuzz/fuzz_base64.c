/* libFuzzer: a management upload's base64 "zip" member, decoded. */
#include <stdint.h>
#include <stdlib.h>

#include "fnzip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *out = NULL;
    size_t len = 0;
    tf_err err = {0};
    if (fnzip_base64_decode((const char *)data, size, &out, &len, &err) == 0)
        free(out);
    return 0;
}
