/* Function images as a cache: each is tagged and labelled with a digest of
 * everything it is built from, so a deploy of the same thing again (a
 * restart above all, when the package index may be out of reach) finds the
 * image there and builds nothing. Handler containers likewise carry a digest
 * of their settings, so a restart adopts the ones made as it would make them. */
#include <ctype.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lifecycle_internal.h"

/* Bumped when what goes into an image changes in a way the inputs below do not show. */
#define DIGEST_SCHEME "tinyfaas-image-1"

static void hash_string(struct sha256_ctx *ctx, const char *s)
{
    s = s != NULL ? s : "";
    sha256_update(ctx, strlen(s) + 1, (const uint8_t *)s); /* the NUL keeps fields apart */
}

/* The base and builder references name their runtime's recipe, its shim and
 * the c runtime's library by hash (runtime_images.c): a new recipe is a new
 * digest. The name goes in too: two functions never share an image, and
 * names that differ only in case get tags of their own. */
static void hex_digest(struct sha256_ctx *ctx, char out[65])
{
    uint8_t md[SHA256_DIGEST_SIZE];
    sha256_digest(ctx, sizeof md, md);
    for (size_t i = 0; i < sizeof md; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

void lifecycle_image_digest(const struct deploy_spec *s, const struct code_facts *facts,
                            const char *base, const char *builder, char out[65])
{
    struct sha256_ctx ctx;
    sha256_init(&ctx);
    hash_string(&ctx, DIGEST_SCHEME);
    hash_string(&ctx, s->name);
    hash_string(&ctx, s->env);
    hash_string(&ctx, s->subfolder);
    hash_string(&ctx, facts->has_deps ? "deps" : "no deps");
    hash_string(&ctx, base);
    hash_string(&ctx, builder);
    sha256_update(&ctx, s->zip_len, s->zip);
    hex_digest(&ctx, out);
}

/* The create request's body with neither labels nor name nor socket folder
 * (a handler's own), and the transport: a new daemon that makes handlers in
 * any other way (new hardening, a new limit) replaces the old ones. */
int lifecycle_handler_digest(const struct docker_container_spec *cs, bool unix_transport,
                             char out[65])
{
    struct docker_container_spec bare = *cs;
    bare.labels = NULL;
    bare.name = NULL;
    bare.bind = NULL;
    json_t *body = docker_container_body(&bare);
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(body);
    if (text == NULL)
        return -1;
    struct sha256_ctx ctx;
    sha256_init(&ctx);
    hash_string(&ctx, text);
    hash_string(&ctx, unix_transport ? "unix" : "tcp");
    hex_digest(&ctx, out);
    free(text);
    return 0;
}

void lifecycle_text_digest(const char *text, char out[65])
{
    struct sha256_ctx ctx;
    sha256_init(&ctx);
    hash_string(&ctx, text);
    hex_digest(&ctx, out);
}

void lifecycle_image_tag(const struct lifecycle *lc, struct function_record *r)
{
    /* Image references are lower case; the digest tells names apart. */
    int n = snprintf(r->image, sizeof r->image, "tinyfaas-%s-%s:%.32s", lc->cfg.instance_id,
                     r->name, r->digest);
    for (int i = 0; i < n && r->image[i] != ':'; i++)
        r->image[i] = (char)tolower((unsigned char)r->image[i]);
}
