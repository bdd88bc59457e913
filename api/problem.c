/* problem: asset error codes -> HTTP statuses and application/problem+json bodies. */
#include <stdio.h>
#include <string.h>

#include "http.h"

static int default_status(asset_err e)
{
    switch (e) {
    case ASSET_OK:
        return 200;
    case ASSET_UNAUTHENTICATED:
        return 401;
    case ASSET_PERMISSION_DENIED:
    case ASSET_ACCESS_DENIED:
        return 403;
    case ASSET_INVALID_ARGUMENT:
    case ASSET_UNSUPPORTED:
    case ASSET_PARAM_VERIFICATION_FAILED:
    case ASSET_INCONSISTENT_ATTRIBUTE:
        return 400;
    case ASSET_PRECONDITION_FAILED:
        return 412;
    case ASSET_NOT_FOUND:
        return 404;
    case ASSET_DUPLICATED:
    case ASSET_STATUS_MISMATCH:
    case ASSET_LIMIT_EXCEEDED:
    case ASSET_IDEMPOTENCY_CONFLICT:
    case ASSET_IN_PROGRESS:
        return 409;
    case ASSET_SERVICE_UNAVAILABLE:
    case ASSET_OUT_OF_MEMORY:
        return 503;
    default:
        return 500;
    }
}

static const char *title_of(asset_err e)
{
    switch (e) {
    case ASSET_PERMISSION_DENIED:
    case ASSET_UNAUTHENTICATED:
        return "Permission denied";
    case ASSET_INVALID_ARGUMENT:
        return "Invalid argument";
    case ASSET_SERVICE_UNAVAILABLE:
        return "Service unavailable";
    case ASSET_NOT_FOUND:
        return "Not found";
    case ASSET_DUPLICATED:
        return "Duplicated";
    case ASSET_ACCESS_DENIED:
        return "Access denied";
    case ASSET_STATUS_MISMATCH:
        return "Status mismatch";
    case ASSET_OUT_OF_MEMORY:
        return "Out of memory";
    case ASSET_DATA_CORRUPTED:
        return "Data corrupted";
    case ASSET_DATABASE_ERROR:
        return "Database error";
    case ASSET_CRYPTO_ERROR:
        return "Crypto error";
    case ASSET_LIMIT_EXCEEDED:
        return "Limit exceeded";
    case ASSET_UNSUPPORTED:
        return "Unsupported";
    case ASSET_PARAM_VERIFICATION_FAILED:
        return "Parameter verification failed";
    case ASSET_INCONSISTENT_ATTRIBUTE:
        return "Inconsistent attribute";
    case ASSET_PRECONDITION_FAILED:
        return "Precondition failed";
    case ASSET_IDEMPOTENCY_CONFLICT:
        return "Idempotency conflict";
    case ASSET_IN_PROGRESS:
        return "In progress";
    default:
        return "Error";
    }
}

static const char *default_detail(asset_err e)
{
    switch (e) {
    case ASSET_NOT_FOUND:
        return "no asset matches";
    case ASSET_DUPLICATED:
        return "the alias exists and conflictResolution is THROW_ERROR";
    case ASSET_STATUS_MISMATCH:
        return "the device's lock state does not allow touching this secret";
    case ASSET_ACCESS_DENIED:
        return "user authentication is missing, wrong or expired";
    case ASSET_SERVICE_UNAVAILABLE:
        return "the database is unreachable or the service is shutting down; retry";
    case ASSET_DATA_CORRUPTED:
        return "a sealed record failed to open";
    case ASSET_PERMISSION_DENIED:
        return "this token may not do this";
    case ASSET_UNAUTHENTICATED:
        return "the bearer token is not valid (any more)";
    default:
        return title_of(e);
    }
}

/* Client text (a field or parameter name may come from the request) made safe for the
 * detail: valid UTF-8 only (any other byte, and control characters, as '?'), at most max bytes,
 * cut on a character boundary ("..." then marks the cut). out needs max + 4 bytes. */
static void safe_text(char *out, const char *p, size_t max)
{
    size_t o = 0, n = strlen(p);
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)p[i];
        size_t len = c < 0x80                 ? 1
                     : c >= 0xC2 && c <= 0xDF ? 2
                     : c >= 0xE0 && c <= 0xEF ? 3
                     : c >= 0xF0 && c <= 0xF4 ? 4
                                              : 0;
        bool ok = len && i + len <= n && text_valid_utf8(p + i, len) && c >= 0x20 && c != 0x7F;
        if (!ok)
            len = 1;
        if (o + (ok ? len : 1) > max) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (ok)
            memcpy(out + o, p + i, len);
        else
            out[o] = '?';
        o += ok ? len : 1;
        i += len;
    }
    out[o] = 0;
}

void http_problem_status(http_req *rq, int status, asset_err e, const char *field,
                         const char *detail)
{
    char raw[640], text[512], type[64], name[132];
    if (!detail && e == ASSET_SERVICE_UNAVAILABLE)
        detail = asset_err_last_note();
    if (!detail)
        detail = default_detail(e);
    if (field)
        safe_text(name, field, 128);
    snprintf(raw, sizeof raw, "%s%s%s", field ? name : "", field ? " " : "", detail);
    safe_text(text, raw, sizeof text - 4);
    snprintf(type, sizeof type, "urn:assetd:error:%s", asset_err_name(e));
    json_t *body = json_pack("{s:s, s:s, s:i, s:s, s:I, s:s}", "type", type, "title", title_of(e),
                             "status", status, "detail", text, "code",
                             (json_int_t)asset_err_code(e), "name", asset_err_name(e));
    http_json(rq, status, body);
    rq->err = e;
    rq->content_type = "application/problem+json";
    if (status == 401)
        rq->www_auth = true;
    /* Every 503 is worth a retry a moment later (overload, a restart, a conflict). */
    if (status == 503 && rq->retry_after <= 0)
        rq->retry_after = 1;
}

void http_problem(http_req *rq, asset_err e, const char *field, const char *detail)
{
    http_problem_status(rq, default_status(e), e, field, detail);
}
