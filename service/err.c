#include "err.h"

static const struct {
    long code;
    const char *name;
} err_table[ASSET_ERR_COUNT] = {
    [ASSET_OK] = {0, "OK"},
    [ASSET_PERMISSION_DENIED] = {201, "PERMISSION_DENIED"},
    [ASSET_INVALID_ARGUMENT] = {401, "INVALID_ARGUMENT"},
    [ASSET_SERVICE_UNAVAILABLE] = {24000001, "SERVICE_UNAVAILABLE"},
    [ASSET_NOT_FOUND] = {24000002, "NOT_FOUND"},
    [ASSET_DUPLICATED] = {24000003, "DUPLICATED"},
    [ASSET_ACCESS_DENIED] = {24000004, "ACCESS_DENIED"},
    [ASSET_STATUS_MISMATCH] = {24000005, "STATUS_MISMATCH"},
    [ASSET_OUT_OF_MEMORY] = {24000006, "OUT_OF_MEMORY"},
    [ASSET_DATA_CORRUPTED] = {24000007, "DATA_CORRUPTED"},
    [ASSET_DATABASE_ERROR] = {24000008, "DATABASE_ERROR"},
    [ASSET_CRYPTO_ERROR] = {24000009, "CRYPTO_ERROR"},
    [ASSET_LIMIT_EXCEEDED] = {24000016, "LIMIT_EXCEEDED"},
    [ASSET_UNSUPPORTED] = {24000017, "UNSUPPORTED"},
    [ASSET_PARAM_VERIFICATION_FAILED] = {24000018, "PARAM_VERIFICATION_FAILED"},
    [ASSET_INCONSISTENT_ATTRIBUTE] = {24000019, "INCONSISTENT_ATTRIBUTE"},
    [ASSET_PRECONDITION_FAILED] = {24100001, "PRECONDITION_FAILED"},
    [ASSET_IDEMPOTENCY_CONFLICT] = {24100002, "IDEMPOTENCY_CONFLICT"},
    [ASSET_IN_PROGRESS] = {24100003, "IN_PROGRESS"},
    [ASSET_UNAUTHENTICATED] = {201, "PERMISSION_DENIED"},
};

long asset_err_code(asset_err e)
{
    return (unsigned)e < ASSET_ERR_COUNT ? err_table[e].code : 24000008;
}

const char *asset_err_name(asset_err e)
{
    return (unsigned)e < ASSET_ERR_COUNT ? err_table[e].name : "DATABASE_ERROR";
}

static _Thread_local const char *last_note;

void asset_err_note(const char *why)
{
    last_note = why;
}

const char *asset_err_last_note(void)
{
    return last_note;
}
