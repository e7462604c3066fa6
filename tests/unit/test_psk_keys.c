/* Unit test for coap/coap_dtls.c: the device keys file and key lookup. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coap/coap_dtls.h"

#include "check.h"

static char path[] = "/tmp/test_psk_keys.XXXXXX";

/* Replaces the keys file's contents with len bytes of text. */
static void write_keys(const char *text, size_t len)
{
    FILE *f = fopen(path, "w");
    if (f == NULL || fwrite(text, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

/* Loads text; checks it fails with EINVAL on the given line for the reason. */
static void check_bad(const char *text, unsigned line, const char *reason)
{
    struct psk_keys *keys = (struct psk_keys *)1;
    tf_err err;
    tf_err_clear(&err);
    write_keys(text, strlen(text));
    int rc = psk_keys_load(path, &keys, &err);
    char where[64];
    snprintf(where, sizeof where, ", line %u: ", line);
    CHECKF(rc < 0, "rc %d for %s", rc, text);
    CHECK(keys == NULL);
    CHECK(err.kind == TF_ERR_INVALID);
    CHECKF(strstr(err.msg, path) != NULL, "%s", err.msg);
    CHECKF(strstr(err.msg, where) != NULL, "want line %u: %s", line, err.msg);
    CHECKF(strstr(err.msg, reason) != NULL, "want \"%s\": %s", reason, err.msg);
}

/* Checks identity finds exactly the key bytes want (want_len of them). */
static void check_key(const struct psk_keys *keys, const char *id, const char *want,
                      size_t want_len)
{
    const coap_bin_const_t *k = psk_keys_find(keys, (const uint8_t *)id, strlen(id));
    CHECKF(k != NULL, "no key for %s", id);
    if (k != NULL)
        CHECKF(k->length == want_len && memcmp(k->s, want, want_len) == 0, "wrong key for %s", id);
}

static void check_miss(const struct psk_keys *keys, const char *id)
{
    CHECKF(psk_keys_find(keys, (const uint8_t *)id, strlen(id)) == NULL, "found %s", id);
}

static void test_good(void)
{
    char id128[129], key64[65], hex64[4 + 128 + 1], text[1024];
    memset(id128, 'i', 128);
    id128[128] = '\0';
    memset(key64, 'k', 64);
    key64[64] = '\0';
    strcpy(hex64, "hex:");
    for (int i = 0; i < 64; i++)
        sprintf(hex64 + 4 + 2 * i, "%02x", i);
    snprintf(text, sizeof text,
             "# devices of hall 3\n"
             "\n"
             "dev1 secret1\n"
             "   # indented comment\n"
             "dev2\thex:00FFaB10\r\n"
             "  \t \n"
             "dev10   s#not-a-comment  \n"
             "%s %s\n"
             "long %s\n"
             "dev1x x", /* no newline at the end */
             id128, key64, hex64);
    write_keys(text, strlen(text));

    struct psk_keys *keys = NULL;
    tf_err err;
    tf_err_clear(&err);
    int rc = psk_keys_load(path, &keys, &err);
    CHECKF(rc == 0, "%d %s", rc, err.msg);
    if (rc != 0)
        return;
    CHECKF(psk_keys_count(keys) == 6, "%zu", psk_keys_count(keys));
    check_key(keys, "dev1", "secret1", 7);
    check_key(keys, "dev2", "\x00\xff\xab\x10", 4);
    check_key(keys, "dev10", "s#not-a-comment", 15);
    check_key(keys, id128, key64, 64);
    check_key(keys, "dev1x", "x", 1);
    char bytes[64];
    for (int i = 0; i < 64; i++)
        bytes[i] = (char)i;
    check_key(keys, "long", bytes, 64);

    check_miss(keys, "dev");     /* a prefix of dev1 */
    check_miss(keys, "d");       /* a prefix of every dev */
    check_miss(keys, "");        /* empty identity */
    check_miss(keys, "dev1xy");  /* longer than every match */
    check_miss(keys, "DEV1");    /* identities are bytes, case counts */
    check_miss(keys, "secret1"); /* a key is not an identity */
    check_miss(keys, "#");
    id128[127] = '\0';
    check_miss(keys, id128); /* 127 of the 128 bytes */
    CHECK(psk_keys_find(keys, (const uint8_t *)"dev1\0", 5) == NULL);
    psk_keys_free(keys);
}

static void test_empty(void)
{
    struct psk_keys *keys = NULL;
    tf_err err;
    write_keys("# nobody yet\n\n", 14);
    CHECK(psk_keys_load(path, &keys, &err) == 0);
    CHECK(keys != NULL && psk_keys_count(keys) == 0);
    if (keys != NULL)
        check_miss(keys, "dev1");
    psk_keys_free(keys);
    psk_keys_free(NULL);
}

static void test_bad(void)
{
    char text[512];
    check_bad("dev1 secret1\n# ok\ndev2\n", 3, "missing key");
    check_bad("dev1 secret1\ndev2   \t\r\n", 2, "missing key");
    check_bad("\ndev1 hex:0g\n", 2, "bad hex digit");
    check_bad("dev1 hex:abc\n", 1, "even, non-zero number of digits");
    check_bad("dev1 hex:\n", 1, "even, non-zero number of digits");
    check_bad("dev1 a\ndev2 b\n\ndev1 c\n", 4, "identity \"dev1\" already on line 1");
    check_bad("dev1 two words\n", 1, "text after the key");

    memset(text, 0, sizeof text);
    strcpy(text, "ok k\ndev1 ");
    memset(text + strlen(text), 'k', 65);
    check_bad(text, 2, "key longer than 64 bytes");

    strcpy(text, "dev1 hex:");
    for (int i = 0; i < 65; i++)
        strcat(text, "ab");
    check_bad(text, 1, "key longer than 64 bytes");

    memset(text, 0, sizeof text);
    memset(text, 'i', 129);
    strcat(text, " k\n");
    check_bad(text, 1, "identity longer than 128 bytes");

    /* A NUL inside a line would cut the identity short in OpenSSL. */
    struct psk_keys *keys = NULL;
    tf_err err;
    write_keys("dev1 a\nde\0v2 b\n", 15);
    CHECK(psk_keys_load(path, &keys, &err) < 0 && err.kind == TF_ERR_INVALID);
    CHECKF(strstr(err.msg, ", line 2: NUL byte") != NULL, "%s", err.msg);

    const char *missing = "/nonexistent/psk.keys";
    CHECK(psk_keys_load(missing, &keys, &err) < 0);
    CHECK(keys == NULL);
    CHECK(err.kind == TF_ERR_NOT_FOUND);
    CHECKF(strstr(err.msg, missing) != NULL, "%s", err.msg);
}

int main(void)
{
    int fd = mkstemp(path);
    if (fd < 0) {
        perror("mkstemp");
        return 1;
    }
    close(fd);
    test_good();
    test_empty();
    test_bad();
    unlink(path);
    return check_summary();
}
