/* Intrusive doubly linked lists: an element embeds a struct dlist_link and
 * a list keeps its two ends, so adding at the tail and taking out anywhere
 * cost O(1) and no allocation. Used where order is age: the head is the
 * oldest. */
#ifndef TF_DLIST_H
#define TF_DLIST_H

#include <stddef.h>

struct dlist_link {
    struct dlist_link *prev, *next;
};

struct dlist {
    struct dlist_link *head, *tail;
    size_t n;
};

/* The element that embeds link as its member, or NULL for a NULL link. */
#define dlist_entry(link, type, member)                                                            \
    ((link) != NULL ? (type *)(void *)((char *)(link)-offsetof(type, member)) : (type *)NULL)

static inline void dlist_push_tail(struct dlist *l, struct dlist_link *x)
{
    x->next = NULL;
    x->prev = l->tail;
    if (l->tail != NULL)
        l->tail->next = x;
    else
        l->head = x;
    l->tail = x;
    l->n++;
}

static inline void dlist_unlink(struct dlist *l, struct dlist_link *x)
{
    if (x->prev != NULL)
        x->prev->next = x->next;
    else
        l->head = x->next;
    if (x->next != NULL)
        x->next->prev = x->prev;
    else
        l->tail = x->prev;
    x->prev = x->next = NULL;
    l->n--;
}

#endif
