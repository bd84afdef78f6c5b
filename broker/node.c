#include "node.h"

#include <time.h>

uint64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

unsigned
node_home_of(const struct node *n, const char *name, size_t len)
{
    /* FNV-1a: cheap, and stable across processes (a later cluster relies on that). */
    uint64_t h = 14695981039346656037ULL;

    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)name[i];
        h *= 1099511628211ULL;
    }
    return (unsigned)(h % n->nshards);
}
