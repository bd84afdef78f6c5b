#include "log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

_Atomic int log_max_level = LOG_INFO;

static _Thread_local char thread_ctx[48];

static const char *const level_names[] = {"error", "warn", "notice", "info", "debug"};

int
log_level_parse(const char *s)
{
    for (int i = 0; i <= LOG_DEBUG; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

void
log_set_thread_context(const char *ctx)
{
    snprintf(thread_ctx, sizeof(thread_ctx), "%s", ctx ? ctx : "");
}

int
log_ratelimit_pass(long *last_sec, unsigned *dropped)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    if (ts.tv_sec == *last_sec) {
        (*dropped)++;
        return 0;
    }
    *last_sec = ts.tv_sec;
    if (*dropped) {
        log_write(LOG_NOTICE, NULL, "suppressed %u similar lines", *dropped);
        *dropped = 0;
    }
    return 1;
}

void
log_vwrite(int level, const char *suffix, const char *fmt, va_list ap)
{
    char line[1024];
    size_t n;
    int rc;

    if (level < LOG_ERROR || level > LOG_DEBUG) {
        level = LOG_ERROR;
    }
    rc = snprintf(line, sizeof(line), "%s ", level_names[level]);
    n = (size_t)rc;
    rc = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    n = rc < 0 ? n : n + (size_t)rc;
    if (n < sizeof(line) && thread_ctx[0]) {
        rc = snprintf(line + n, sizeof(line) - n, " %s", thread_ctx);
        n += (size_t)(rc < 0 ? 0 : rc);
    }
    if (n < sizeof(line) && suffix && suffix[0]) {
        rc = snprintf(line + n, sizeof(line) - n, " %s", suffix);
        n += (size_t)(rc < 0 ? 0 : rc);
    }
    if (n >= sizeof(line) - 1) {
        n = sizeof(line) - 2; /* cut long lines, keep the newline */
    }
    line[n++] = '\n';
    if (write(STDERR_FILENO, line, n) < 0) {
        return; /* nowhere left to report it */
    }
}

void
log_write(int level, const char *suffix, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vwrite(level, suffix, fmt, ap);
    va_end(ap);
}
