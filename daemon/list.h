/* An intrusive doubly-linked list: the node lives inside the item.
 *
 * A list is a circular ring through a head that is itself a node, so that
 * adding and removing never look at the head's neighbours specially. A node
 * that is in no list points at nothing (zeroed by calloc) or at itself
 * (after list_remove()): list_linked() tells. Not thread-safe: a list
 * belongs to whoever owns its head.
 */
#ifndef SQLITED_LIST_H
#define SQLITED_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct list {
    struct list *prev, *next;
};

/* The item of type @type whose member @member is the node @node. */
#define LIST_ITEM(node, type, member)                                          \
    ((type *)(void *)((char *)(node)-offsetof(type, member)))

/* Iterates @node over the list @head. The current node may be removed (and
 * its item freed) in the body; others must not be. */
#define LIST_FOREACH(node, head)                                               \
    for (struct list *node = (head)->next, *node##_next_ = node->next;         \
         node != (head); node = node##_next_, node##_next_ = node->next)

static inline void list_init(struct list *head)
{
    head->prev = head->next = head;
}

static inline bool list_empty(const struct list *head)
{
    return head->next == head;
}

/* True while @node is in a list. */
static inline bool list_linked(const struct list *node)
{
    return node->next != NULL && node->next != node;
}

/* Adds @node at the end of (before) @head. */
static inline void list_add_tail(struct list *head, struct list *node)
{
    node->prev = head->prev;
    node->next = head;
    head->prev->next = node;
    head->prev = node;
}

/* Adds @node at the start of (after) @head. */
static inline void list_add_head(struct list *head, struct list *node)
{
    list_add_tail(head->next, node);
}

/* Takes @node out of its list; a node in none is left alone. */
static inline void list_remove(struct list *node)
{
    if (!list_linked(node))
        return;
    node->prev->next = node->next;
    node->next->prev = node->prev;
    list_init(node);
}

#endif /* SQLITED_LIST_H */
