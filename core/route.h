/* Routing table: function name -> the published function serving it. Owned
 * by the loop thread alone, so lookups take no lock; the control path changes
 * it only through messages run on that thread. */
#ifndef TF_ROUTE_H
#define TF_ROUTE_H

#include <stddef.h>

struct route_table;

/* Creates an empty table. Return 0 or -ENOMEM. */
int route_table_create(struct route_table **out);

/* Frees the table (not the values). */
void route_table_free(struct route_table *t);

/* The value routed for name[0..len), or NULL. */
void *route_lookup(const struct route_table *t, const char *name, size_t len);

/* Routes name to value; *old gets the value it replaces (or NULL). Return 0 or -ENOMEM. */
int route_put(struct route_table *t, const char *name, void *value, void **old);

/* Unroutes name; returns the value it had, or NULL. */
void *route_remove(struct route_table *t, const char *name);

/* Number of routed names. */
size_t route_count(const struct route_table *t);

/* Calls fn for each entry, in no particular order; fn must not change the table. */
void route_foreach(const struct route_table *t,
                   void (*fn)(void *ctx, const char *name, void *value), void *ctx);

#endif
