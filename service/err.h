/* err: the asset error codes of the contract (spec §5). service/ speaks only these;
 * api/ maps them to HTTP statuses. */
#ifndef ASSETD_ERR_H
#define ASSETD_ERR_H

/* On every fallible exported function (a result or status the caller must look at). */
#define WUR __attribute__((warn_unused_result))

typedef enum {
    ASSET_OK = 0,
    ASSET_PERMISSION_DENIED,
    ASSET_INVALID_ARGUMENT,
    ASSET_SERVICE_UNAVAILABLE,
    ASSET_NOT_FOUND,
    ASSET_DUPLICATED,
    ASSET_ACCESS_DENIED,
    ASSET_STATUS_MISMATCH,
    ASSET_OUT_OF_MEMORY,
    ASSET_DATA_CORRUPTED,
    ASSET_DATABASE_ERROR,
    ASSET_CRYPTO_ERROR,
    ASSET_LIMIT_EXCEEDED,
    ASSET_UNSUPPORTED,
    ASSET_PARAM_VERIFICATION_FAILED,
    ASSET_INCONSISTENT_ATTRIBUTE, /* items of one batch differ (spec §11) */
    ASSET_PRECONDITION_FAILED,    /* If-Match does not match (§13); assetd's own code */
    ASSET_IDEMPOTENCY_CONFLICT,   /* Idempotency-Key reused or in flight (§13) */
    ASSET_IN_PROGRESS,            /* a restore not finished / a backup in use (§12) */
    ASSET_UNAUTHENTICATED, /* PERMISSION_DENIED as 401: the token stopped being valid mid-call */
    ASSET_ERR_COUNT
} asset_err;

/* A short reason for the last SERVICE_UNAVAILABLE on this thread (why, and that a retry may
 * help), for the problem detail; NULL when none was noted. Static strings only. */
void asset_err_note(const char *why);
const char *asset_err_last_note(void);

/* The numeric code of the Asset Store Kit (201, 401, 24000001, ...). */
long asset_err_code(asset_err e);
/* The NAME of the contract, e.g. "NOT_FOUND". Never NULL. */
const char *asset_err_name(asset_err e);

#endif
