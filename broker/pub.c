#include "pub.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"
#include "wsframe.h"
#include "xalloc.h"

static struct pub *
pub_alloc(size_t len)
{
    struct pub *p = xmalloc(sizeof(*p) + len);

    atomic_init(&p->refs, 1);
    p->len = (uint32_t)len;
    p->offset = 0;
    p->data_off = 0;
    p->data_len = 0;
    return p;
}

struct pub *
pub_from_json(const struct strbuf *sb)
{
    size_t hlen = wsframe_header_len(sb->len);
    struct pub *p = pub_alloc(hlen + sb->len);

    wsframe_header(p->frame, WS_OP_TEXT, 1, sb->len, NULL);
    memcpy(p->frame + hlen, sb->buf, sb->len);
    return p;
}

struct pub *
pub_push_from_json(const struct strbuf *sb, uint64_t offset, size_t data_len)
{
    struct pub *p = pub_from_json(sb);

    /* The push ends with "data":<data>}} : data is the last value. */
    assert(p->len >= data_len + 2);
    p->offset = offset;
    p->data_len = (uint32_t)data_len;
    p->data_off = p->len - 2 - (uint32_t)data_len;
    return p;
}

struct pub *
pub_raw(const void *bytes, size_t len)
{
    struct pub *p = pub_alloc(len);

    memcpy(p->frame, bytes, len);
    return p;
}

struct pub *
pub_close(unsigned code, const char *reason)
{
    unsigned char buf[160];
    size_t n = wsframe_close(buf, code, reason);

    return pub_raw(buf, n);
}

void
pub_unref(struct pub *p)
{
    if (p != NULL && atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) == 1) {
        free(p);
    }
}
