/*
 * Project-wide error codes. 0 is success, every failure is negative.
 * Thread-safe: pure functions over constants.
 */
#ifndef OH_ERROR_H
#define OH_ERROR_H

enum oh_error {
    OH_OK = 0,
    OH_EBADREQ = -1,    /* not JSON, unknown command, missing/mistyped field, too deep */
    OH_EINVCHAN = -2,   /* channel name empty, too long or with a forbidden byte */
    OH_ELIMIT = -3,     /* a per-connection limit (subscriptions, pending requests) */
    OH_ERATE = -4,      /* publish rate above the connection's token bucket */
    OH_EUNAVAIL = -5,   /* storage absent, backlog full, home unreachable, draining */
    OH_EFORBIDDEN = -6, /* missing or wrong credentials */
    OH_EINTERNAL = -7,  /* a bug or an unexpected system failure */
    OH_ETOOBIG = -8,    /* message larger than max_message_size */
    OH_ESYS = -9,       /* a system call failed; errno says why */
    OH_ECONFIG = -10,   /* invalid configuration */
};

/* Human-readable text for an oh_error; never NULL. */
const char *oh_strerror(int err);

/*
 * The protocol's error code string for err ("bad_request", "invalid_channel",
 * "limit_exceeded", "rate_limited", "unavailable", "forbidden", "internal").
 * OH_ETOOBIG maps to "bad_request"; anything unknown maps to "internal".
 */
const char *oh_error_code(int err);

/* 1 when retrying later can succeed (rate_limited, unavailable), else 0. */
int oh_error_temporary(int err);

#endif
