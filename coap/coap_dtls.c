#include "coap_dtls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

struct psk_entry {
    uint8_t id[PSK_IDENTITY_MAX];
    size_t id_len;
    uint8_t key[PSK_KEY_MAX];
    coap_bin_const_t key_bin; /* points into key: the shape libcoap's callback returns */
    unsigned line;            /* where it was defined, for the duplicate error */
};

struct psk_keys {
    struct psk_entry *v;
    size_t n, cap;
};

static int hex_val(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Writes s as printable ASCII with \xNN for everything else, at most
 * PSK_IDENTITY_MAX bytes of it, so an identity cannot forge log lines or send
 * terminal escapes. out needs PSK_ESCAPED_MAX bytes. */
#define PSK_ESCAPED_MAX (4 * PSK_IDENTITY_MAX + 4)
static void escape_identity(const uint8_t *s, size_t len, char *out)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < len && i < PSK_IDENTITY_MAX; i++) {
        if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\\' && s[i] != '"') {
            out[o++] = (char)s[i];
        } else {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[s[i] >> 4];
            out[o++] = hex[s[i] & 0xf];
        }
    }
    out[o] = '\0';
    if (len > PSK_IDENTITY_MAX)
        strcat(out + o, "...");
}

/* Parses one non-comment line into e; returns NULL or the reason it is bad.
 * The reasons never quote the key. */
static const char *parse_line(const char *line, struct psk_entry *e)
{
    static const char ws[] = " \t";
    const char *id = line + strspn(line, ws);
    size_t id_len = strcspn(id, ws);
    const char *k = id + id_len + strspn(id + id_len, ws);
    size_t k_len = strcspn(k, ws);
    const char *rest = k + k_len + strspn(k + k_len, ws);
    if (k_len == 0)
        return "missing key after the identity";
    if (*rest != '\0')
        return "text after the key (identity and key may not contain spaces)";
    if (id_len > PSK_IDENTITY_MAX)
        return "identity longer than 128 bytes";
    memcpy(e->id, id, id_len);
    e->id_len = id_len;
    if (k_len >= 4 && memcmp(k, "hex:", 4) == 0) {
        const char *h = k + 4;
        size_t digits = k_len - 4;
        if (digits == 0 || digits % 2 != 0)
            return "hex key needs an even, non-zero number of digits";
        if (digits / 2 > PSK_KEY_MAX)
            return "key longer than 64 bytes";
        for (size_t i = 0; i < digits / 2; i++) {
            int hi = hex_val(h[2 * i]), lo = hex_val(h[2 * i + 1]);
            if (hi < 0 || lo < 0)
                return "bad hex digit in key";
            e->key[i] = (uint8_t)(hi << 4 | lo);
        }
        e->key_bin.length = digits / 2;
    } else {
        if (k_len > PSK_KEY_MAX)
            return "key longer than 64 bytes";
        memcpy(e->key, k, k_len);
        e->key_bin.length = k_len;
    }
    return NULL;
}

/* Handles one line of the file (without its newline); n is getline's count. */
static int add_line(struct psk_keys *keys, const char *line, size_t n, const char *path,
                    unsigned lineno, tf_err *err)
{
    const char *p = line + strspn(line, " \t");
    if (strlen(line) != n)
        return tf_err_set(err, TF_ERR_INVALID, "keys file %s, line %u: NUL byte", path, lineno);
    if (*p == '\0' || *p == '#')
        return 0;
    if (keys->n == keys->cap) {
        size_t cap = keys->cap ? 2 * keys->cap : 16;
        struct psk_entry *v = reallocarray(keys->v, cap, sizeof *v);
        if (v == NULL)
            return tf_err_set(err, TF_ERR_INTERNAL, "keys file %s: out of memory", path);
        keys->v = v;
        keys->cap = cap;
    }
    struct psk_entry *e = &keys->v[keys->n];
    memset(e, 0, sizeof *e);
    e->line = lineno;
    const char *why = parse_line(line, e);
    if (why != NULL)
        return tf_err_set(err, TF_ERR_INVALID, "keys file %s, line %u: %s", path, lineno, why);
    for (size_t i = 0; i < keys->n; i++) {
        if (keys->v[i].id_len == e->id_len && memcmp(keys->v[i].id, e->id, e->id_len) == 0) {
            char who[PSK_ESCAPED_MAX];
            escape_identity(e->id, e->id_len, who);
            return tf_err_set(err, TF_ERR_INVALID,
                              "keys file %s, line %u: identity \"%s\" already on line %u", path,
                              lineno, who, keys->v[i].line);
        }
    }
    keys->n++;
    return 0;
}

int psk_keys_load(const char *path, struct psk_keys **out, tf_err *err)
{
    *out = NULL;
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        return tf_err_set(err, errno == ENOENT ? TF_ERR_NOT_FOUND : TF_ERR_INTERNAL,
                          "keys file %s: %s", path, strerror(errno));
    }
    int rc = 0;
    char *line = NULL;
    size_t line_cap = 0;
    unsigned lineno = 0;
    struct psk_keys *keys = calloc(1, sizeof *keys);
    if (keys == NULL) {
        rc = tf_err_set(err, TF_ERR_INTERNAL, "keys file %s: out of memory", path);
        goto out;
    }
    for (;;) {
        errno = 0; /* getline sets it only on a read error, not at the end */
        ssize_t n = getline(&line, &line_cap, f);
        if (n < 0)
            break;
        lineno++;
        if (n > 0 && line[n - 1] == '\n')
            line[--n] = '\0';
        if (n > 0 && line[n - 1] == '\r')
            line[--n] = '\0';
        rc = add_line(keys, line, (size_t)n, path, lineno, err);
        if (rc < 0)
            goto out;
    }
    if (!feof(f)) {
        rc = tf_err_set(err, TF_ERR_INTERNAL, "keys file %s, line %u: %s", path, lineno + 1,
                        strerror(errno ? errno : EIO));
        goto out;
    }
    /* Only now: the array no longer moves. */
    for (size_t i = 0; i < keys->n; i++)
        keys->v[i].key_bin.s = keys->v[i].key;
    *out = keys;
    keys = NULL;
out:
    if (line != NULL)
        explicit_bzero(line, line_cap); /* it held a key */
    free(line);
    fclose(f);
    psk_keys_free(keys);
    return rc;
}

void psk_keys_free(struct psk_keys *keys)
{
    if (keys == NULL)
        return;
    if (keys->v != NULL)
        explicit_bzero(keys->v, keys->cap * sizeof *keys->v);
    free(keys->v);
    free(keys);
}

const coap_bin_const_t *psk_keys_find(const struct psk_keys *keys, const uint8_t *identity,
                                      size_t len)
{
    /* Lengths first, so a prefix never matches and memcmp only ever sees
     * whole identities of the same size. */
    for (size_t i = 0; i < keys->n; i++) {
        const struct psk_entry *e = &keys->v[i];
        if (e->id_len == len && memcmp(e->id, identity, len) == 0)
            return &e->key_bin;
    }
    return NULL;
}

size_t psk_keys_count(const struct psk_keys *keys)
{
    return keys->n;
}

/* One warning per unknown identity per minute, so a device retrying with a
 * stale key does not flood the log; the table is small, so an attacker cycling
 * identities is held back by the log's budget instead. libcoap calls the
 * identity callback from the one thread that runs the context. */
#define RECENT_SLOTS 32
static struct {
    uint64_t hash;
    time_t at;
    int used;
} recent[RECENT_SLOTS];
static struct log_limit unknown_identities =
    LOG_LIMIT_INIT("handshakes with unknown identities", 20, 60);

static int seen_lately(const uint8_t *id, size_t len)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t h = 14695981039346656037ULL; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ id[i]) * 1099511628211ULL;
    size_t slot = h % RECENT_SLOTS;
    if (recent[slot].used && recent[slot].hash == h && ts.tv_sec - recent[slot].at < 60)
        return 1;
    recent[slot].hash = h;
    recent[slot].at = ts.tv_sec;
    recent[slot].used = 1;
    return 0;
}

/* libcoap's validate_id_call_back: the key for the client's identity; NULL
 * fails the handshake, since no default key is set. */
static const coap_bin_const_t *on_identity(coap_bin_const_t *identity, coap_session_t *session,
                                           void *arg)
{
    const coap_bin_const_t *key = psk_keys_find(arg, identity->s, identity->length);
    if (key == NULL && !seen_lately(identity->s, identity->length)) {
        char who[PSK_ESCAPED_MAX];
        unsigned char from[64] = "";
        escape_identity(identity->s, identity->length, who);
        coap_print_addr(coap_session_get_addr_remote(session), from, sizeof from);
        log_warn_limited(&unknown_identities,
                         "coaps: unknown PSK identity \"%s\" from %s, handshake refused", who,
                         (const char *)from);
    }
    return key;
}

int tf_coap_dtls_listen(coap_context_t *ctx, int port, const struct psk_keys *keys, tf_err *err)
{
    /* libcoap keeps a shallow copy of the setup and reads the hint later. */
    static const char hint[] = "tinyfaas";
    if (!coap_dtls_is_supported())
        return tf_err_set(err, TF_ERR_INTERNAL, "coaps: this libcoap was built without DTLS");
    if (port < 1 || port > 65535)
        return tf_err_set(err, TF_ERR_INVALID, "coaps: bad port %d", port);
    coap_dtls_spsk_t setup;
    memset(&setup, 0, sizeof setup);
    setup.version = COAP_DTLS_SPSK_SETUP_VERSION;
    setup.validate_id_call_back = on_identity;
    setup.id_call_back_arg = (void *)keys;
    setup.psk_info.hint.s = (const uint8_t *)hint;
    setup.psk_info.hint.length = sizeof hint - 1;
    /* psk_info.key stays empty: with no default key, an identity the callback
     * does not know gets no key at all. */
    if (!coap_context_set_psk2(ctx, &setup))
        return tf_err_set(err, TF_ERR_INTERNAL, "coaps: cannot set up the PSK server");
    coap_address_t addr;
    coap_address_init(&addr);
    addr.addr.sin.sin_family = AF_INET;
    addr.addr.sin.sin_addr.s_addr = htonl(INADDR_ANY);
    addr.addr.sin.sin_port = htons((uint16_t)port);
    if (coap_new_endpoint(ctx, &addr, COAP_PROTO_DTLS) == NULL)
        return tf_err_set(err, TF_ERR_INTERNAL, "coaps: cannot listen on UDP port %d", port);
    log_info("coaps: DTLS-PSK on UDP port %d for %zu devices", port, psk_keys_count(keys));
    if (psk_keys_count(keys) == 0)
        log_warn("coaps: the keys file has no devices, so every handshake will fail");
    return 0;
}
