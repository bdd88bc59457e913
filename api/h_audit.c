/* Handler of GET /audit: the audit log for the admin, oldest first, keyset-paged. */
#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../service/audit.h"
#include "handlers.h"
#include "jsonmap.h"

/* The cursor is the last id of the page, base64url-wrapped so clients treat it as opaque. */
static int cursor_decode(const char *text, size_t len, int64_t *after)
{
    char raw[32] = {0};
    size_t n = 0;
    if (sodium_base642bin((unsigned char *)raw, sizeof raw - 1, text, len, NULL, &n, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        n < 3 || strncmp(raw, "a:", 2) != 0)
        return -1;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(raw + 2, &end, 10);
    if (*end || v < 0 || errno)
        return -1;
    *after = v;
    return 0;
}

void h_audit_list(http_req *rq, const char *a, const char *b)
{
    long limit = 100;
    int64_t after = 0;
    bool seen_limit = false, seen_cursor = false;
    audit_page pg;
    (void)a;
    (void)b;
    for (int i = 0; i < rq->nargs; i++) {
        const http_arg *arg = &rq->args[i];
        char *end = NULL;
        if (strcmp(arg->key, "limit") == 0 && !seen_limit) {
            limit = strtol(arg->val, &end, 10);
            seen_limit = true;
            if (!arg->val_len || *end || arg->val[0] == '-' || arg->val[0] == '+' || limit < 1 ||
                limit > 1000) {
                http_problem(rq, ASSET_INVALID_ARGUMENT, "limit", "must be an integer 1..1000");
                return;
            }
        } else if (strcmp(arg->key, "cursor") == 0 && !seen_cursor) {
            seen_cursor = true;
            if (cursor_decode(arg->val, arg->val_len, &after) != 0) {
                http_problem(rq, ASSET_PARAM_VERIFICATION_FAILED, "cursor", "is not valid");
                return;
            }
        } else {
            http_problem(rq, ASSET_INVALID_ARGUMENT, arg->key,
                         "is not a parameter this operation takes");
            return;
        }
    }
    asset_err e = audit_list(rq->app->svc, after, limit, &pg);
    if (e != ASSET_OK) {
        http_problem(rq, e, NULL, NULL);
        return;
    }
    json_t *events = json_array();
    for (int i = 0; events && i < pg.n; i++) {
        char when[64];
        const audit_row *row = &pg.rows[i];
        jsonmap_time(when, row->at_ms);
#define OPT(v) ((v) ? json_string(v) : json_null())
        json_t *ev = json_pack(
            "{s:I, s:s, s:s, s:s, s:o, s:o, s:o, s:s}", "id", (json_int_t)row->id, "at", when,
            "principal", row->principal, "action", row->action, "deviceId", OPT(row->device_id),
            "owner", OPT(row->owner), "aliasHash", OPT(row->alias_hash), "outcome", row->outcome);
#undef OPT
        if (json_array_append_new(events, ev) != 0) {
            json_decref(events);
            events = NULL;
        }
    }
    json_t *next = json_null();
    if (pg.next_id) {
        char raw[32], b64[64];
        int n = snprintf(raw, sizeof raw, "a:%" PRId64, pg.next_id);
        sodium_bin2base64(b64, sizeof b64, (const unsigned char *)raw, (size_t)n,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        next = json_string(b64);
    }
    audit_page_free(&pg);
    if (!events)
        json_decref(next);
    http_json(rq, 200,
              events ? json_pack("{s:o, s:o}", "events", events, "nextCursor", next) : NULL);
}
