/* libFuzzer: a management upload's zip, as the deploy reads it: every entry
 * checked and repacked into the build context's tar. The first byte picks
 * a subfolder to take, as a runtime's recipe may. */
#include <stdint.h>

#include "fnzip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const subfolders[] = {NULL, "", "src", "a/b/"};
    if (size == 0)
        return 0;
    const char *subfolder = subfolders[data[0] % 4];
    struct fnzip_limits limits = {.max_entries = 64, .max_total_bytes = 1u << 20};
    struct tarbuf t = {0};
    tf_err err = {0};
    if (tarbuf_open(&t, &err) == 0 &&
        fnzip_to_tar(data + 1, size - 1, subfolder, "fn/", &limits, &t, &err) == 0)
        tarbuf_close(&t, &err);
    tarbuf_free(&t);
    return 0;
}
