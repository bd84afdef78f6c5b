/*
 * A mailbox: a mutex-protected FIFO of messages plus one eventfd that wakes
 * its owner's loop. Any thread may post; only the owner takes. The eventfd
 * is written only when the queue goes from empty to non-empty, so a burst of
 * posts costs the owner one wake-up. The owner swaps the whole list out per
 * wake-up, so the lock is held for a few instructions on either side.
 */
#ifndef OH_MAILBOX_H
#define OH_MAILBOX_H

#include <pthread.h>

struct mb_node {
    struct mb_node *next;
};

struct mailbox {
    pthread_mutex_t lock;
    struct mb_node *head; /* guarded by lock */
    struct mb_node *tail; /* guarded by lock */
    int efd;              /* eventfd, non-blocking; read by the owner */
};

/* Returns 0 or OH_ESYS (errno set). Called before any thread uses it. */
int mailbox_init(struct mailbox *mb);

/* Frees nothing queued: the owner drains first. Called after all threads stopped posting. */
void mailbox_destroy(struct mailbox *mb);

/* Appends node (ownership passes to the owner). Any thread. */
void mailbox_post(struct mailbox *mb, struct mb_node *node);

/* Appends the list head..tail (linked through next) at once: one lock, and
 * at most one wake-up for the whole batch. Any thread. */
void mailbox_post_list(struct mailbox *mb, struct mb_node *head, struct mb_node *tail);

/*
 * Owner only: clears the eventfd and returns every queued message in post
 * order (NULL when none). The caller owns the returned list.
 */
struct mb_node *mailbox_take_all(struct mailbox *mb);

#endif
