/* libFuzzer: the DTLS keys file, as the daemon loads it at start. */
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "coap/coap_dtls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("keys", MFD_CLOEXEC);
    if (fd < 0 || write(fd, data, size) != (ssize_t)size) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    struct psk_keys *keys = NULL;
    tf_err err = {0};
    if (psk_keys_load(path, &keys, &err) == 0)
        psk_keys_free(keys);
    close(fd);
    return 0;
}
