#include "mailbox.h"

#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "oh_error.h"

int
mailbox_init(struct mailbox *mb)
{
    mb->head = NULL;
    mb->tail = NULL;
    mb->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (mb->efd < 0) {
        return OH_ESYS;
    }
    pthread_mutex_init(&mb->lock, NULL);
    return 0;
}

void
mailbox_destroy(struct mailbox *mb)
{
    if (mb->efd >= 0) {
        close(mb->efd);
        mb->efd = -1;
    }
    pthread_mutex_destroy(&mb->lock);
}

void
mailbox_post(struct mailbox *mb, struct mb_node *node)
{
    node->next = NULL;
    mailbox_post_list(mb, node, node);
}

void
mailbox_post_list(struct mailbox *mb, struct mb_node *head, struct mb_node *tail)
{
    uint64_t one = 1;
    int was_empty;

    tail->next = NULL;
    pthread_mutex_lock(&mb->lock);
    was_empty = mb->head == NULL;
    if (was_empty) {
        mb->head = head;
    } else {
        mb->tail->next = head;
    }
    mb->tail = tail;
    pthread_mutex_unlock(&mb->lock);

    /* EAGAIN means the counter is saturated: the owner is awake anyway. */
    if (was_empty && write(mb->efd, &one, sizeof(one)) < 0) {
        return;
    }
}

struct mb_node *
mailbox_take_all(struct mailbox *mb)
{
    struct mb_node *list;
    uint64_t n;

    /* Clear the counter first: a post after the swap below writes it again. */
    if (read(mb->efd, &n, sizeof(n)) < 0) {
        n = 0; /* EAGAIN: woken for an earlier post already taken */
    }
    pthread_mutex_lock(&mb->lock);
    list = mb->head;
    mb->head = NULL;
    mb->tail = NULL;
    pthread_mutex_unlock(&mb->lock);
    return list;
}
