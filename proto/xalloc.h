/*
 * Allocation wrappers. Omnihub decides out-of-memory once: these log one line
 * to stderr and abort(). They never return NULL. Thread-safe.
 */
#ifndef OH_XALLOC_H
#define OH_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
char *xstrndup(const char *s, size_t n);

#endif
