/*
 * One line per event on stderr: "LEVEL message key=value...". The thread's
 * context (shard=N) is appended by the logger, a connection's context by
 * conn_log(). Thread-safe: each line is one write(2).
 */
#ifndef OH_LOG_H
#define OH_LOG_H

#include <stdarg.h>

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_NOTICE, LOG_INFO, LOG_DEBUG };

/* Written at start-up and on SIGHUP, read by every thread: atomic (relaxed is enough). */
extern _Atomic int log_max_level;

/* Parses "error".."debug"; returns the level or -1. */
int log_level_parse(const char *s);

/* Sets this thread's context, appended to every line it logs (copied; may be NULL). */
void log_set_thread_context(const char *ctx);

/* Logs one line; suffix (may be NULL) is extra key=value context. */
void log_write(int level, const char *suffix, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void log_vwrite(int level, const char *suffix, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* The level is checked before the arguments are evaluated. */
#define log_at(level, ...)                                                                         \
    do {                                                                                           \
        if ((level) <= log_max_level) {                                                            \
            log_write((level), NULL, __VA_ARGS__);                                                 \
        }                                                                                          \
    } while (0)

#define log_error(...)  log_at(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)   log_at(LOG_WARN, __VA_ARGS__)
#define log_notice(...) log_at(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)   log_at(LOG_INFO, __VA_ARGS__)
#define log_debug(...)  log_at(LOG_DEBUG, __VA_ARGS__)

/*
 * At most one line per second from this call site and thread; the next line
 * says how many were suppressed.
 */
#define log_ratelimited(level, ...)                                                                \
    do {                                                                                           \
        static _Thread_local long rl_sec_;                                                         \
        static _Thread_local unsigned rl_dropped_;                                                 \
        if ((level) <= log_max_level && log_ratelimit_pass(&rl_sec_, &rl_dropped_)) {              \
            log_write((level), NULL, __VA_ARGS__);                                                 \
        }                                                                                          \
    } while (0)

/* Helper of log_ratelimited: 1 when a line may be written now. */
int log_ratelimit_pass(long *last_sec, unsigned *dropped);

#endif
