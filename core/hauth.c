/* The handler link's authentication: nettle's HMAC-SHA256 and constant-time
 * compare, the kernel's randomness. nettle rather than OpenSSL's libcrypto:
 * the daemon links nettle already, and the C shim, linked statically into a
 * FROM scratch image, grows by about 40 KB with it rather than 3.6 MB. */
#include "hauth.h"

#include <errno.h>
#include <fcntl.h>
#include <nettle/hmac.h>
#include <nettle/memops.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

int hauth_random(uint8_t *out, size_t n)
{
    while (n > 0) {
        ssize_t got = getrandom(out, n, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return -errno;
        out += got;
        n -= (size_t)got;
    }
    return 0;
}

int hauth_new_secret(char out[HAUTH_SECRET_CHARS + 1])
{
    static const char hex[] = "0123456789abcdef";
    uint8_t bits[HAUTH_SECRET_CHARS / 2];
    int rc = hauth_random(bits, sizeof bits);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < sizeof bits; i++) {
        out[2 * i] = hex[bits[i] >> 4];
        out[2 * i + 1] = hex[bits[i] & 15];
    }
    out[HAUTH_SECRET_CHARS] = '\0';
    return 0;
}

void hauth_proof(const void *key, size_t key_len, const uint8_t nonce[HPROTO_NONCE_BYTES],
                 uint8_t mac[HPROTO_MAC_BYTES])
{
    struct hmac_sha256_ctx ctx;
    hmac_sha256_set_key(&ctx, key_len, key);
    hmac_sha256_update(&ctx, HPROTO_NONCE_BYTES, nonce);
    hmac_sha256_digest(&ctx, HPROTO_MAC_BYTES, mac);
}

bool hauth_check(const void *key, size_t key_len, const uint8_t nonce[HPROTO_NONCE_BYTES],
                 const uint8_t mac[HPROTO_MAC_BYTES])
{
    uint8_t want[HPROTO_MAC_BYTES];
    hauth_proof(key, key_len, nonce, want);
    return memeql_sec(want, mac, HPROTO_MAC_BYTES) != 0;
}

static bool is_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

int hauth_read_key(const char *path, uint8_t key[HAUTH_KEY_MAX])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t len = 0;
    uint8_t extra;
    for (;;) {
        /* One byte past the bound tells a file too large. */
        ssize_t n =
            len < HAUTH_KEY_MAX ? read(fd, key + len, HAUTH_KEY_MAX - len) : read(fd, &extra, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || (n > 0 && len == HAUTH_KEY_MAX)) {
            int e = n < 0 ? -errno : -EFBIG;
            close(fd);
            return e;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    while (len > 0 && is_space(key[len - 1]))
        len--;
    return len > 0 ? (int)len : -EINVAL;
}
