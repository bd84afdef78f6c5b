/* Unit tests of broker/mailbox.c: FIFO per sender, nothing lost, wake-ups coalesced. */
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "mailbox.h"

#define SENDERS    4
#define PER_SENDER 20000

struct item {
    struct mb_node node;
    int sender;
    int seq;
};

static struct mailbox mb;

static void *
sender(void *arg)
{
    int id = (int)(intptr_t)arg;

    for (int i = 0; i < PER_SENDER; i++) {
        struct item *it = malloc(sizeof(*it));

        it->sender = id;
        it->seq = i;
        mailbox_post(&mb, &it->node);
    }
    return NULL;
}

static void
test_many_senders_in_order(void **state)
{
    pthread_t th[SENDERS];
    int next[SENDERS] = {0};
    int received = 0;

    assert_int_equal(mailbox_init(&mb), 0);
    for (int i = 0; i < SENDERS; i++) {
        pthread_create(&th[i], NULL, sender, (void *)(intptr_t)i);
    }
    /* Bounded: every wait is at most 1 s and the total is fixed. */
    for (int rounds = 0; received < SENDERS * PER_SENDER && rounds < 1000000; rounds++) {
        struct pollfd pfd = {mb.efd, POLLIN, 0};
        struct mb_node *list;

        assert_true(poll(&pfd, 1, 1000) >= 0);
        list = mailbox_take_all(&mb);
        while (list != NULL) {
            struct item *it = (struct item *)list;

            list = list->next;
            assert_int_equal(it->seq, next[it->sender]);
            next[it->sender]++;
            received++;
            free(it);
        }
    }
    for (int i = 0; i < SENDERS; i++) {
        pthread_join(th[i], NULL);
    }
    assert_int_equal(received, SENDERS * PER_SENDER);
    assert_null(mailbox_take_all(&mb));
    mailbox_destroy(&mb);
}

static void
test_wakeup_only_on_empty_edge(void **state)
{
    struct item a, b;
    uint64_t n = 0;

    assert_int_equal(mailbox_init(&mb), 0);
    mailbox_post(&mb, &a.node);
    mailbox_post(&mb, &b.node);
    /* Two posts, one wake-up: the counter reads 1. */
    assert_int_equal(read(mb.efd, &n, sizeof(n)), sizeof(n));
    assert_int_equal(n, 1);
    assert_ptr_equal(mailbox_take_all(&mb), &a.node);
    assert_ptr_equal(a.node.next, &b.node);
    assert_null(b.node.next);
    assert_null(mailbox_take_all(&mb));
    mailbox_destroy(&mb);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_senders_in_order),
        cmocka_unit_test(test_wakeup_only_on_empty_edge),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
