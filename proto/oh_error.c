/*
 * Project error codes: text for logs and the protocol's code strings.
 */
#include "oh_error.h"

const char *
oh_strerror(int err)
{
    switch (err) {
    case OH_OK:
        return "success";
    case OH_EBADREQ:
        return "bad request";
    case OH_EINVCHAN:
        return "invalid channel name";
    case OH_ELIMIT:
        return "limit exceeded";
    case OH_ERATE:
        return "rate limited";
    case OH_EUNAVAIL:
        return "temporarily unavailable";
    case OH_EFORBIDDEN:
        return "forbidden";
    case OH_EINTERNAL:
        return "internal error";
    case OH_ETOOBIG:
        return "message too big";
    case OH_ESYS:
        return "system call failed";
    case OH_ECONFIG:
        return "invalid configuration";
    default:
        return "unknown error";
    }
}

const char *
oh_error_code(int err)
{
    switch (err) {
    case OH_EBADREQ:
    case OH_ETOOBIG:
        return "bad_request";
    case OH_EINVCHAN:
        return "invalid_channel";
    case OH_ELIMIT:
        return "limit_exceeded";
    case OH_ERATE:
        return "rate_limited";
    case OH_EUNAVAIL:
        return "unavailable";
    case OH_EFORBIDDEN:
        return "forbidden";
    default:
        return "internal";
    }
}

int
oh_error_temporary(int err)
{
    return err == OH_ERATE || err == OH_EUNAVAIL;
}
