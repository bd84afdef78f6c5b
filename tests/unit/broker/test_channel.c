/*
 * Unit tests of broker/channel.c's home side: offsets, the ring, recovery
 * answers and history paging, on a one-shard node with no sockets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "channel.h"
#include "config.h"
#include "pub.h"
#include "shard.h"

static struct config cfg;
static struct node node;
static struct shard shard;

static int
setup(void **state)
{
    config_defaults(&cfg);
    cfg.ring_size = 3;
    memset(&node, 0, sizeof(node));
    memset(&shard, 0, sizeof(shard));
    node.cfg = &cfg;
    node.nshards = 1;
    node.shards = &shard;
    strcpy(node.epoch_base, "T3st");
    shard.node = &node;
    return 0;
}

static int
teardown(void **state)
{
    home_free_all(&shard);
    sb_free(&shard.scratch);
    return 0;
}

static uint64_t
publish(const char *ch, const char *data, char *epoch)
{
    uint64_t off = 0;

    assert_int_equal(home_publish(&shard, ch, strlen(ch), data, strlen(data), epoch, &off), 0);
    return off;
}

static void
test_offsets_start_at_one_and_increase(void **state)
{
    char e1[PROTO_EPOCH_MAX + 1], e2[PROTO_EPOCH_MAX + 1];

    assert_int_equal(publish("a", "1", e1), 1);
    assert_int_equal(publish("a", "2", e2), 2);
    assert_string_equal(e1, e2);
    /* Another channel has its own epoch and offsets. */
    assert_int_equal(publish("b", "1", e2), 1);
    assert_string_not_equal(e1, e2);
}

static void
answer(const char *ch, const char *epoch, uint64_t since, struct sub_answer *ans)
{
    struct proto_pos pos = {0};

    pos.set = epoch != NULL;
    if (epoch) {
        strcpy(pos.epoch, epoch);
    }
    pos.offset = since;
    home_subscribe(&shard, 0, ch, strlen(ch), &pos, ans);
}

static void
release(struct sub_answer *ans)
{
    for (size_t i = 0; i < ans->npubs; i++) {
        pub_unref(ans->pubs[i]);
    }
    free(ans->pubs);
}

static void
test_recovery_from_ring(void **state)
{
    char epoch[PROTO_EPOCH_MAX + 1];
    struct sub_answer ans;

    for (int i = 0; i < 5; i++) {
        publish("c", "{\"k\":1.50}", epoch); /* offsets 1..5, ring keeps 3..5 */
    }
    answer("c", NULL, 0, &ans);
    assert_int_equal(ans.recovered, -1);
    assert_int_equal(ans.offset, 5);
    assert_int_equal(ans.npubs, 0);

    answer("c", epoch, 2, &ans); /* wants 3..5: all in the ring */
    assert_int_equal(ans.recovered, 1);
    assert_int_equal(ans.npubs, 3);
    assert_int_equal(ans.pubs[0]->offset, 3);
    assert_int_equal(ans.pubs[2]->offset, 5);
    /* data sits in the frame byte for byte */
    assert_memory_equal(ans.pubs[0]->frame + ans.pubs[0]->data_off, "{\"k\":1.50}", 10);
    release(&ans);

    answer("c", epoch, 5, &ans); /* nothing missed */
    assert_int_equal(ans.recovered, 1);
    assert_int_equal(ans.npubs, 0);

    answer("c", epoch, 1, &ans); /* wants 2..5: 2 fell out of the ring */
    assert_int_equal(ans.recovered, 0);
    assert_int_equal(ans.npubs, 0);

    answer("c", "other", 4, &ans); /* unknown epoch */
    assert_int_equal(ans.recovered, 0);

    answer("c", epoch, 9, &ans); /* a future position is not pretended */
    assert_int_equal(ans.recovered, 0);
}

static void
test_history_paging(void **state)
{
    char epoch[PROTO_EPOCH_MAX + 1];
    struct proto_pos pos = {0};
    struct strbuf sb = {0};

    for (int i = 0; i < 5; i++) {
        publish("h", "true", epoch);
    }
    home_history(&shard, "h", 1, &pos, 2, 7, 1 << 20, &sb);
    assert_non_null(strstr(sb.buf, "\"offset\":3,\"data\":true},{"));
    assert_non_null(strstr(sb.buf, "\"offset\":4,\"data\":true}],\"more\":true"));
    sb_reset(&sb);

    pos.set = true;
    strcpy(pos.epoch, epoch);
    pos.offset = 4;
    home_history(&shard, "h", 1, &pos, 100, 8, 1 << 20, &sb);
    assert_non_null(strstr(sb.buf, "\"publications\":[{\"epoch\""));
    assert_null(strstr(sb.buf, "\"offset\":4,\"data\""));
    assert_non_null(strstr(sb.buf, "\"offset\":5,\"data\":true}],\"more\":false"));
    sb_free(&sb);
}

static void
test_idle_channels_expire_with_new_epoch(void **state)
{
    char e1[PROTO_EPOCH_MAX + 1], e2[PROTO_EPOCH_MAX + 1];
    struct sub_answer ans;

    publish("x", "1", e1);
    answer("x", NULL, 0, &ans); /* interest keeps it */
    home_expire(&shard, now_ms() + 10000, 1000);
    assert_int_equal(publish("x", "2", e2), 2);
    home_uninterest(&shard, 0, "x", 1);
    home_expire(&shard, now_ms() + 10000, 1000);
    assert_int_equal(publish("x", "3", e2), 1);
    assert_string_not_equal(e1, e2);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_offsets_start_at_one_and_increase, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recovery_from_ring, setup, teardown),
        cmocka_unit_test_setup_teardown(test_history_paging, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_channels_expire_with_new_epoch, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
