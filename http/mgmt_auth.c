#include "mgmt_auth.h"

#include <errno.h>
#include <fcntl.h>
#include <nettle/memops.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

#include "log.h"

#define TOKEN_BYTES 32 /* 256 random bits, 64 hex digits */

static int read_token_file(const char *path, char *token, size_t size)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -errno;
    char *line = fgets(token, (int)size, f);
    fclose(f);
    if (line == NULL)
        return -EINVAL;
    token[strcspn(token, " \t\r\n")] = '\0';
    return token[0] != '\0' ? 0 : -EINVAL;
}

static int new_token_file(const char *path, char *token, size_t size)
{
    unsigned char raw[TOKEN_BYTES];
    if (size < 2 * TOKEN_BYTES + 1 || getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
        return -EIO;
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(token + 2 * i, 3, "%02x", raw[i]);
    /* O_EXCL: a token file appearing meanwhile is never overwritten. */
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    char line[2 * TOKEN_BYTES + 2];
    int n = snprintf(line, sizeof line, "%s\n", token);
    int rc = write(fd, line, (size_t)n) == n ? 0 : -EIO;
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    if (rc < 0)
        unlink(path);
    return rc;
}

int mgmt_token_load(const char *state_dir, char *token, size_t size, tf_err *err)
{
    const char *env = getenv("TINYFAAS_TOKEN");
    if (env != NULL && env[0] != '\0') {
        if (strlen(env) >= size)
            return tf_err_set(err, TF_ERR_INVALID, "TINYFAAS_TOKEN is longer than %zu characters",
                              size - 1);
        snprintf(token, size, "%s", env);
        return 0;
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/token", state_dir);
    int rc = read_token_file(path, token, size);
    if (rc == 0)
        return 0;
    if (rc != -ENOENT)
        return tf_err_set(err, TF_ERR_INTERNAL, "cannot read the management token in %s: %s", path,
                          rc == -EINVAL ? "empty or unreadable" : strerror(-rc));
    rc = new_token_file(path, token, size);
    if (rc < 0)
        return tf_err_set(err, TF_ERR_INTERNAL, "cannot write a management token to %s: %s", path,
                          strerror(-rc));
    log_info("management token (kept in %s; send it as 'Authorization: Bearer TOKEN'): %s", path,
             token);
    return 0;
}

static void sha256_of(const char *text, uint8_t digest[SHA256_DIGEST_SIZE])
{
    struct sha256_ctx ctx;
    sha256_init(&ctx);
    sha256_update(&ctx, strlen(text), (const uint8_t *)text);
    sha256_digest(&ctx, SHA256_DIGEST_SIZE, digest);
}

/* Compares digests, not the strings: the time then tells nothing about how
 * much of a guess was right, nor about the token's length. */
bool mgmt_token_matches(const char *token, const char *authorization)
{
    static const char scheme[] = "Bearer ";
    if (authorization == NULL || strncasecmp(authorization, scheme, sizeof scheme - 1) != 0)
        return false;
    const char *given = authorization + sizeof scheme - 1;
    uint8_t want[SHA256_DIGEST_SIZE], got[SHA256_DIGEST_SIZE];
    sha256_of(token, want);
    sha256_of(given, got);
    return memeql_sec(want, got, sizeof want) != 0;
}
