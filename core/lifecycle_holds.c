/* Who may change what, and when. A change to a function (deploy, scale,
 * delete, heal) holds the function's name, so changes to one function are
 * ordered while changes to others go on side by side; a build also holds one
 * of a few build slots, so side-by-side builds cannot take every core. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lifecycle_internal.h"

void lifecycle_holds_init(struct lifecycle *lc)
{
    pthread_mutex_init(&lc->hold_lock, NULL);
    pthread_cond_init(&lc->released, NULL);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    lc->build_slots = cores > 0 ? (int)cores : 1;
}

void lifecycle_holds_destroy(struct lifecycle *lc)
{
    pthread_cond_destroy(&lc->released);
    pthread_mutex_destroy(&lc->hold_lock);
}

/* Whether a hold of name came before until (every hold when until is NULL):
 * holds are kept in the order they were asked for, waiting ones too. */
static bool held_before(const struct lifecycle *lc, const char *name, const struct name_hold *until)
{
    for (const struct name_hold *h = lc->holds; h != until; h = h->next)
        if (strcmp(h->name, name) == 0)
            return true;
    return false;
}

static void enqueue(struct lifecycle *lc, const char *name, struct name_hold *h)
{
    snprintf(h->name, sizeof h->name, "%s", name);
    h->next = NULL;
    struct name_hold **p = &lc->holds;
    while (*p != NULL)
        p = &(*p)->next;
    *p = h;
}

/* Changes to one name are done in the order they came: two uploads of a
 * function, the later one's code is what serves. */
void lifecycle_hold_name(struct lifecycle *lc, const char *name, struct name_hold *h)
{
    pthread_mutex_lock(&lc->hold_lock);
    enqueue(lc, name, h);
    while (held_before(lc, name, h))
        pthread_cond_wait(&lc->released, &lc->hold_lock);
    pthread_mutex_unlock(&lc->hold_lock);
}

bool lifecycle_try_hold_name(struct lifecycle *lc, const char *name, struct name_hold *h)
{
    pthread_mutex_lock(&lc->hold_lock);
    bool free = !held_before(lc, name, NULL);
    if (free)
        enqueue(lc, name, h);
    pthread_mutex_unlock(&lc->hold_lock);
    return free;
}

void lifecycle_release_name(struct lifecycle *lc, struct name_hold *h)
{
    pthread_mutex_lock(&lc->hold_lock);
    for (struct name_hold **p = &lc->holds; *p != NULL; p = &(*p)->next)
        if (*p == h) {
            *p = h->next;
            break;
        }
    pthread_cond_broadcast(&lc->released);
    pthread_mutex_unlock(&lc->hold_lock);
}

void lifecycle_take_build_slot(struct lifecycle *lc)
{
    pthread_mutex_lock(&lc->hold_lock);
    while (lc->build_slots == 0)
        pthread_cond_wait(&lc->released, &lc->hold_lock);
    lc->build_slots--;
    pthread_mutex_unlock(&lc->hold_lock);
}

void lifecycle_give_build_slot(struct lifecycle *lc)
{
    pthread_mutex_lock(&lc->hold_lock);
    lc->build_slots++;
    pthread_cond_broadcast(&lc->released);
    pthread_mutex_unlock(&lc->hold_lock);
}
