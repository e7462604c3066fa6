/* The handler link's authentication: the proof against the example of
 * docs/handler-protocol.md (computed there with Python's hmac, another
 * implementation), the constant-time check, the secret file's reading and
 * the daemon's new secrets. */
#include "hauth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

static const char example_secret[] =
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
static const uint8_t example_mac[HPROTO_MAC_BYTES] = {
    0xb8, 0x24, 0x07, 0x8d, 0xf1, 0x42, 0xd9, 0xa4, 0xe5, 0x1c, 0x23, 0xe9, 0xd7, 0x61, 0xa8, 0x78,
    0x9f, 0xa1, 0xb5, 0x99, 0xb8, 0x43, 0x37, 0xa1, 0x03, 0x57, 0x67, 0x85, 0xe4, 0xe4, 0x93, 0xb0};

static void test_the_documented_example(void)
{
    uint8_t nonce[HPROTO_NONCE_BYTES], mac[HPROTO_MAC_BYTES];
    for (int i = 0; i < HPROTO_NONCE_BYTES; i++)
        nonce[i] = (uint8_t)i;
    hauth_proof(example_secret, strlen(example_secret), nonce, mac);
    CHECK(memcmp(mac, example_mac, sizeof mac) == 0);
    CHECK(hauth_check(example_secret, strlen(example_secret), nonce, example_mac));
    /* Any bit of the mac, the nonce or the key wrong: refused. */
    int refused = 0;
    for (int bit = 0; bit < 8 * HPROTO_MAC_BYTES; bit++) {
        mac[bit / 8] ^= (uint8_t)(1 << bit % 8);
        refused += !hauth_check(example_secret, strlen(example_secret), nonce, mac);
        mac[bit / 8] ^= (uint8_t)(1 << bit % 8);
    }
    CHECK(refused == 8 * HPROTO_MAC_BYTES);
    nonce[31] ^= 1;
    CHECK(!hauth_check(example_secret, strlen(example_secret), nonce, example_mac));
    nonce[31] ^= 1;
    CHECK(!hauth_check(example_secret, strlen(example_secret) - 1, nonce, example_mac));
}

/* Writes bytes to a fresh file; its path. */
static const char *file_with(const void *bytes, size_t len)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/tf-hauth.XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, bytes, len) != (ssize_t)len) {
        perror("file_with");
        exit(1);
    }
    close(fd);
    return path;
}

static void test_the_secret_file(void)
{
    static uint8_t key[HAUTH_KEY_MAX];
    const char *p = file_with(example_secret, 64);
    CHECK(hauth_read_key(p, key) == 64 && memcmp(key, example_secret, 64) == 0);
    unlink(p);
    /* Whitespace at the end goes, inner bytes stay as they are. */
    p = file_with("a b\0c \t\r\n\n", 10);
    CHECK(hauth_read_key(p, key) == 5 && memcmp(key, "a b\0c", 5) == 0);
    unlink(p);
    p = file_with(" \n", 2);
    CHECK(hauth_read_key(p, key) == -EINVAL);
    unlink(p);
    static char big[HAUTH_KEY_MAX + 1];
    memset(big, 'k', sizeof big);
    p = file_with(big, HAUTH_KEY_MAX);
    CHECK(hauth_read_key(p, key) == HAUTH_KEY_MAX);
    unlink(p);
    p = file_with(big, sizeof big);
    CHECK(hauth_read_key(p, key) == -EFBIG);
    unlink(p);
    CHECK(hauth_read_key("/nonexistent/tf-secret", key) == -ENOENT);
}

static void test_new_secrets(void)
{
    char a[HAUTH_SECRET_CHARS + 1], b[HAUTH_SECRET_CHARS + 1];
    CHECK(hauth_new_secret(a) == 0 && hauth_new_secret(b) == 0);
    CHECK(strlen(a) == 64 && strspn(a, "0123456789abcdef") == 64);
    CHECK(strcmp(a, b) != 0);
}

int main(void)
{
    test_the_documented_example();
    test_the_secret_file();
    test_new_secrets();
    return check_summary();
}
