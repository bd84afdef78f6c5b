/* Unit tests of broker/config.c: sizes, durations, listen, files with errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "oh_error.h"

static void
test_sizes(void **state)
{
    uint64_t v = 0;

    assert_int_equal(config_parse_size("65536", &v), 0);
    assert_int_equal(v, 65536);
    assert_int_equal(config_parse_size("64KiB", &v), 0);
    assert_int_equal(v, 65536);
    assert_int_equal(config_parse_size("1MiB", &v), 0);
    assert_int_equal(v, 1048576);
    assert_int_equal(config_parse_size("2GiB", &v), 0);
    assert_int_equal(v, 2147483648ULL);
    assert_int_equal(config_parse_size("", &v), -1);
    assert_int_equal(config_parse_size("-1", &v), -1);
    assert_int_equal(config_parse_size("12XB", &v), -1);
    assert_int_equal(config_parse_size("KiB", &v), -1);
    assert_int_equal(config_parse_size("99999999999999999999", &v), -1);
    assert_int_equal(config_parse_size("18446744073709551615GiB", &v), -1);
}

static void
test_durations(void **state)
{
    uint64_t v = 0;

    assert_int_equal(config_parse_duration("500ms", &v), 0);
    assert_int_equal(v, 500);
    assert_int_equal(config_parse_duration("10s", &v), 0);
    assert_int_equal(v, 10000);
    assert_int_equal(config_parse_duration("5m", &v), 0);
    assert_int_equal(v, 300000);
    assert_int_equal(config_parse_duration("2", &v), 0);
    assert_int_equal(v, 2000);
    assert_int_equal(config_parse_duration("1d", &v), -1);
    assert_int_equal(config_parse_duration("s", &v), -1);
}

static void
test_listen(void **state)
{
    struct config cfg;

    config_defaults(&cfg);
    assert_int_equal(config_parse_listen(&cfg, "0.0.0.0:80"), 0);
    assert_string_equal(cfg.listen_host, "0.0.0.0");
    assert_int_equal(cfg.listen_port, 80);
    assert_int_equal(config_parse_listen(&cfg, "[::1]:0"), 0);
    assert_int_equal(cfg.listen_port, 0);
    assert_int_equal(config_parse_listen(&cfg, "host"), -1);
    assert_int_equal(config_parse_listen(&cfg, ":80"), -1);
    assert_int_equal(config_parse_listen(&cfg, "h:65536"), -1);
    assert_int_equal(config_parse_listen(&cfg, "h:8x"), -1);
}

static void
test_set_bounds(void **state)
{
    struct config cfg;
    char err[256];

    config_defaults(&cfg);
    assert_int_equal(config_set(&cfg, "limits", "max_message_size", "1MiB", err, sizeof(err)), 0);
    assert_int_equal(cfg.max_message_size, 1048576);
    assert_int_equal(config_set(&cfg, "limits", "max_channel_length", "201", err, sizeof(err)),
                     OH_ECONFIG);
    assert_non_null(strstr(err, "between 1 and 200"));
    assert_int_equal(config_set(&cfg, "server", "nope", "1", err, sizeof(err)), OH_ECONFIG);
    assert_non_null(strstr(err, "unknown key"));
    assert_int_equal(config_set(&cfg, "log", "level", "debug", err, sizeof(err)), 0);
    assert_int_equal(config_set(&cfg, "log", "level", "loud", err, sizeof(err)), OH_ECONFIG);
    assert_int_equal(config_set(&cfg, "channels", "ring_size", "12", err, sizeof(err)), 0);
    assert_int_equal(cfg.ring_size, 12);
    assert_int_equal(config_set(&cfg, "server", "idle_timeout", "soon", err, sizeof(err)),
                     OH_ECONFIG);
}

/* Writes text to a new temporary file; returns its path (static buffer). */
static const char *
write_tmp(const char *text)
{
    static char path[64];
    static int seq;
    int fd;

    snprintf(path, sizeof(path), "/tmp/oh_cfg_%d_%d", (int)getpid(), ++seq);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void
test_load_file(void **state)
{
    struct config cfg;
    const char *path;

    config_defaults(&cfg);
    path = write_tmp("# comment\n[server]\nshards = 3\n\n[limits]\nmax_queue_size = 256KiB\n");
    assert_int_equal(config_load(&cfg, path), 0);
    assert_int_equal(cfg.shards, 3);
    assert_int_equal(cfg.max_queue_size, 262144);
    unlink(path);

    /* Errors name their own line: the second error is on line 5. */
    config_defaults(&cfg);
    path = write_tmp("[server]\nshards = x\n[limits]\n\nmax_queue_size = big\n");
    assert_int_equal(config_load(&cfg, path), OH_ECONFIG);
    unlink(path);

    assert_int_equal(config_load(&cfg, "/nonexistent/omnihub.conf"), OH_ESYS);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sizes),     cmocka_unit_test(test_durations),
        cmocka_unit_test(test_listen),    cmocka_unit_test(test_set_bounds),
        cmocka_unit_test(test_load_file),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
