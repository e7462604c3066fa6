#include "route.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Open addressing with linear probing and tombstones: a few hundred names at
 * most, looked up on every request, so one cache-friendly array wins. */
struct route_slot {
    char *name; /* NULL: empty; TOMBSTONE: deleted */
    size_t len;
    uint64_t hash;
    void *value;
};

struct route_table {
    struct route_slot *slots;
    size_t cap;   /* power of two */
    size_t used;  /* live entries */
    size_t dirty; /* live entries plus tombstones */
};

static char tombstone_mark;
#define TOMBSTONE (&tombstone_mark)

static uint64_t hash_name(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

int route_table_create(struct route_table **out)
{
    struct route_table *t = calloc(1, sizeof *t);
    if (t == NULL)
        return -ENOMEM;
    t->cap = 16;
    t->slots = calloc(t->cap, sizeof *t->slots);
    if (t->slots == NULL) {
        free(t);
        return -ENOMEM;
    }
    *out = t;
    return 0;
}

void route_table_free(struct route_table *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i].name != NULL && t->slots[i].name != TOMBSTONE)
            free(t->slots[i].name);
    free(t->slots);
    free(t);
}

/* Index of name's slot, or of the first free slot on its probe path. */
static size_t probe(const struct route_table *t, const char *name, size_t len, uint64_t h,
                    bool *found)
{
    size_t mask = t->cap - 1, i = h & mask, first_free = SIZE_MAX;
    for (;; i = (i + 1) & mask) {
        struct route_slot *s = &t->slots[i];
        if (s->name == NULL) {
            *found = false;
            return first_free != SIZE_MAX ? first_free : i;
        }
        if (s->name == TOMBSTONE) {
            if (first_free == SIZE_MAX)
                first_free = i;
        } else if (s->hash == h && s->len == len && memcmp(s->name, name, len) == 0) {
            *found = true;
            return i;
        }
    }
}

void *route_lookup(const struct route_table *t, const char *name, size_t len)
{
    bool found;
    size_t i = probe(t, name, len, hash_name(name, len), &found);
    return found ? t->slots[i].value : NULL;
}

static int grow(struct route_table *t)
{
    size_t cap = t->used * 4 >= t->cap ? t->cap * 2 : t->cap; /* else just drop tombstones */
    struct route_slot *slots = calloc(cap, sizeof *slots);
    if (slots == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < t->cap; i++) {
        struct route_slot *s = &t->slots[i];
        if (s->name == NULL || s->name == TOMBSTONE)
            continue;
        size_t j = s->hash & (cap - 1);
        while (slots[j].name != NULL)
            j = (j + 1) & (cap - 1);
        slots[j] = *s;
    }
    free(t->slots);
    t->slots = slots;
    t->cap = cap;
    t->dirty = t->used;
    return 0;
}

int route_put(struct route_table *t, const char *name, void *value, void **old)
{
    size_t len = strlen(name);
    uint64_t h = hash_name(name, len);
    bool found;
    size_t i = probe(t, name, len, h, &found);
    if (found) {
        if (old != NULL)
            *old = t->slots[i].value;
        t->slots[i].value = value;
        return 0;
    }
    /* Keep the load (tombstones included) under one half so probes stay short. */
    if ((t->dirty + 1) * 2 > t->cap) {
        if (grow(t) < 0)
            return -ENOMEM;
        i = probe(t, name, len, h, &found);
    }
    char *copy = strdup(name);
    if (copy == NULL)
        return -ENOMEM;
    if (t->slots[i].name == NULL)
        t->dirty++;
    t->slots[i] = (struct route_slot){.name = copy, .len = len, .hash = h, .value = value};
    t->used++;
    if (old != NULL)
        *old = NULL;
    return 0;
}

void *route_remove(struct route_table *t, const char *name)
{
    size_t len = strlen(name);
    bool found;
    size_t i = probe(t, name, len, hash_name(name, len), &found);
    if (!found)
        return NULL;
    void *value = t->slots[i].value;
    free(t->slots[i].name);
    t->slots[i] = (struct route_slot){.name = TOMBSTONE};
    t->used--;
    return value;
}

size_t route_count(const struct route_table *t)
{
    return t->used;
}

void route_foreach(const struct route_table *t,
                   void (*fn)(void *ctx, const char *name, void *value), void *ctx)
{
    for (size_t i = 0; i < t->cap; i++) {
        const struct route_slot *s = &t->slots[i];
        if (s->name != NULL && s->name != TOMBSTONE)
            fn(ctx, s->name, s->value);
    }
}
