/*
 * Allocation wrappers: out-of-memory is decided here, once, for the whole
 * daemon. A broker that cannot allocate cannot keep its promises to clients,
 * so it says so on stderr and aborts (systemd restarts it).
 */
#include "xalloc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
oom(size_t size)
{
    fprintf(stderr, "omnihub: out of memory allocating %zu bytes, aborting\n", size);
    abort();
}

void *
xmalloc(size_t size)
{
    /* malloc(0) may legally return NULL; ask for one byte so NULL means OOM. */
    void *p = malloc(size ? size : 1);

    if (p == NULL) {
        oom(size);
    }
    return p;
}

void *
xcalloc(size_t n, size_t size)
{
    void *p;

    if (n == 0 || size == 0) {
        n = 1;
        size = 1;
    }
    p = calloc(n, size);
    if (p == NULL) {
        oom(n * size);
    }
    return p;
}

void *
xrealloc(void *p, size_t size)
{
    void *q = realloc(p, size ? size : 1);

    if (q == NULL) {
        oom(size);
    }
    return q;
}

char *
xstrndup(const char *s, size_t n)
{
    const char *nul = memchr(s, '\0', n);
    size_t len = nul ? (size_t)(nul - s) : n;
    char *d;

    if (len == SIZE_MAX) {
        oom(len);
    }
    d = xmalloc(len + 1);
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}
