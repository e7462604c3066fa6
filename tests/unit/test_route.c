/* Unit test for core/route.c: the routing table the data path looks names up in. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "route.h"

static void count_one(void *ctx, const char *name, void *value)
{
    (void)name;
    (void)value;
    (*(int *)ctx)++;
}

int main(void)
{
    struct route_table *t;
    CHECK(route_table_create(&t) == 0);
    int a = 1, b = 2;
    void *old = &a;

    CHECK(route_lookup(t, "echo", 4) == NULL);
    CHECK(route_put(t, "echo", &a, &old) == 0 && old == NULL);
    CHECK(route_lookup(t, "echo", 4) == &a);
    /* Lookups take a length: the front ends pass a slice of the request path. */
    CHECK(route_lookup(t, "echo/extra", 4) == &a);
    CHECK(route_lookup(t, "ech", 3) == NULL);
    CHECK(route_lookup(t, "echoo", 5) == NULL);

    /* A redeploy replaces the value and hands back the old one to retire. */
    CHECK(route_put(t, "echo", &b, &old) == 0 && old == &a);
    CHECK(route_lookup(t, "echo", 4) == &b);
    CHECK(route_count(t) == 1);

    CHECK(route_remove(t, "echo") == &b);
    CHECK(route_remove(t, "echo") == NULL);
    CHECK(route_lookup(t, "echo", 4) == NULL);
    CHECK(route_count(t) == 0);

    /* Many names, with removals in between, so the table grows and reuses tombstones. */
    char name[32];
    int values[2000];
    for (int i = 0; i < 2000; i++) {
        values[i] = i;
        snprintf(name, sizeof name, "fn-%d", i);
        CHECK(route_put(t, name, &values[i], NULL) == 0);
        if (i % 3 == 0)
            CHECK(route_remove(t, name) == &values[i]);
    }
    int wrong = 0;
    for (int i = 0; i < 2000; i++) {
        snprintf(name, sizeof name, "fn-%d", i);
        void *v = route_lookup(t, name, strlen(name));
        if (v != (i % 3 == 0 ? NULL : &values[i]))
            wrong++;
    }
    CHECKF(wrong == 0, "%d lookups wrong", wrong);
    CHECK(route_count(t) == 2000 - 667);
    int seen = 0;
    route_foreach(t, count_one, &seen);
    CHECK(seen == 2000 - 667);

    /* Churn on one name must not fill the table with tombstones forever. */
    for (int i = 0; i < 100000; i++) {
        route_put(t, "churn", &a, NULL);
        route_remove(t, "churn");
    }
    CHECK(route_lookup(t, "churn", 5) == NULL);
    CHECK(route_lookup(t, "fn-1", 4) == &values[1]);

    route_table_free(t);
    return check_summary();
}
