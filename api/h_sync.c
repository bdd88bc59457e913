/* Handlers of backup, restore and sync-result endpoints (spec §4, §7, §8). */
#include <stdlib.h>
#include <string.h>

#include "h_sync.h"
#include "handlers.h"
#include "jsonmap.h"
#include "longpoll.h"

/* A required UUID member of the body (h_sync.h). */
int uuid_member_or_reply(http_req *rq, const char *key, const char **out)
{
    json_t *v = json_object_get(http_body(rq), key);
    if (!json_is_string(v) || !uuid_valid(json_string_value(v), json_string_length(v))) {
        http_problem(rq, ASSET_INVALID_ARGUMENT, key, v ? "is not a UUID" : "is required");
        return -1;
    }
    char *id = arena_strndup(&rq->mem, json_string_value(v), json_string_length(v));
    if (!id) {
        http_problem(rq, ASSET_OUT_OF_MEMORY, NULL, NULL);
        return -1;
    }
    uuid_lower(id);
    *out = id;
    return 0;
}

json_t *backup_json(const backup_info *b)
{
    char when[64];
    jsonmap_time(when, b->created_ms);
    return json_pack("{s:s, s:s, s:s, s:I}", "id", b->id, "deviceId", b->device_id, "createdAt",
                     when, "recordCount", (json_int_t)b->record_count);
}

json_t *restore_json(const restore_info *r)
{
    char created[64], finished[64];
    jsonmap_time(created, r->created_ms);
    jsonmap_time(finished, r->finished_ms);
    json_t *failures = json_object();
    for (int i = RULE_PASSWORD; failures && i < RULE_COUNT; i++)
        json_object_set_new(failures, rules_name((restore_rule)i), json_integer(r->failures[i]));
    return json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:o, s:s, s:o, s:o}", "id", r->id,
                     "backupId", r->backup_id, "targetDeviceId", r->target_id, "status",
                     sync_status_name(r->status), "total", (json_int_t)r->total, "processed",
                     (json_int_t)r->processed, "accepted", (json_int_t)r->accepted, "failed",
                     (json_int_t)r->failed, "failures", failures, "createdAt", created,
                     "finishedAt", r->finished_ms ? json_string(finished) : json_null(), "retryOf",
                     r->retry_of[0] ? json_string(r->retry_of) : json_null());
}

void h_backup_create(http_req *rq, const char *a, const char *b)
{
    static const char *const keys[] = {"deviceId", NULL};
    const char *device_id;
    backup_info info;
    (void)a;
    (void)b;
    if (handler_no_args_or_reply(rq) || handler_only_keys_or_reply(rq, http_body(rq), keys) ||
        uuid_member_or_reply(rq, "deviceId", &device_id) ||
        handler_may_manage_or_reply(rq, device_id))
        return;
    asset_err e = sync_backup_create(rq->app->svc, rq->who, device_id, &info);
    if (e != ASSET_OK) {
        http_problem(rq, e, NULL, e == ASSET_NOT_FOUND ? "no such device" : NULL);
        return;
    }
    snprintf(rq->location, sizeof rq->location, "/backups/%s", info.id);
    http_json(rq, 201, backup_json(&info));
}

void h_backup_get(http_req *rq, const char *raw_id, const char *b)
{
    const char *id;
    backup_info info;
    (void)b;
    if (handler_uuid_param_or_reply(rq, raw_id, "id", &id) || handler_no_args_or_reply(rq))
        return;
    asset_err e = sync_backup_get(rq->app->svc, id, &info);
    if (e != ASSET_OK)
        http_problem(rq, e, NULL, e == ASSET_NOT_FOUND ? "no such backup" : NULL);
    else if (handler_may_manage_or_reply(rq, info.device_id) == 0)
        http_json(rq, 200, backup_json(&info));
}

int restore_body_or_reply(http_req *rq, const char **backup_id, const char **target)
{
    static const char *const keys[] = {"backupId", "targetDeviceId", NULL};
    return handler_no_args_or_reply(rq) || handler_only_keys_or_reply(rq, http_body(rq), keys) ||
                   uuid_member_or_reply(rq, "backupId", backup_id) ||
                   uuid_member_or_reply(rq, "targetDeviceId", target) ||
                   handler_may_manage_or_reply(rq, *target)
               ? -1
               : 0;
}

void restore_problem(http_req *rq, asset_err e)
{
    http_problem(rq, e, NULL,
                 e == ASSET_NOT_FOUND           ? "no such backup or target device"
                 : e == ASSET_PERMISSION_DENIED ? "the devices are not trusted devices of "
                                                  "one account"
                                                : NULL);
}

void h_restore_create(http_req *rq, const char *a, const char *b)
{
    const char *backup_id, *target;
    restore_info info;
    (void)a;
    (void)b;
    if (restore_body_or_reply(rq, &backup_id, &target))
        return;
    asset_err e = sync_restore_create(rq->app->svc, rq->who, backup_id, target, &info);
    if (e != ASSET_OK) {
        restore_problem(rq, e);
        return;
    }
    snprintf(rq->location, sizeof rq->location, "/restores/%s", info.id);
    http_json(rq, 202, restore_json(&info));
}

/* waitSeconds (1..30), or 0 when not given; -1 answered 400. */
static int wait_seconds_or_reply(http_req *rq, long *out)
{
    *out = 0;
    for (int i = 0; i < rq->nargs; i++) {
        const http_arg *arg = &rq->args[i];
        if (strcmp(arg->key, "waitSeconds") != 0) {
            http_problem(rq, ASSET_INVALID_ARGUMENT, arg->key,
                         "is not a parameter this operation takes");
            return -1;
        }
        long v = 0;
        bool digits = !*out && arg->val_len >= 1 && arg->val_len <= 2;
        for (size_t k = 0; digits && k < arg->val_len; k++) {
            digits = arg->val[k] >= '0' && arg->val[k] <= '9';
            v = v * 10 + (arg->val[k] - '0');
        }
        if (!digits || v < 1 || v > 30) {
            http_problem(rq, ASSET_INVALID_ARGUMENT, "waitSeconds",
                         "must be given once, an integer 1..30");
            return -1;
        }
        *out = v;
    }
    return 0;
}

/* With waitSeconds: a job not finished yet parks the request (longpoll.c) rather than answer;
 * it runs again when the job finishes, on any instance, or when the time is up. */
void h_restore_get(http_req *rq, const char *raw_id, const char *b)
{
    const char *id;
    restore_info info;
    long wait = 0;
    (void)b;
    if (handler_uuid_param_or_reply(rq, raw_id, "id", &id) || wait_seconds_or_reply(rq, &wait))
        return;
    unsigned long gen = longpoll_generation(rq->app->longpoll);
    asset_err e = sync_restore_get(rq->app->svc, id, &info);
    if (e != ASSET_OK)
        http_problem(rq, e, NULL, e == ASSET_NOT_FOUND ? "no such restore" : NULL);
    else if (handler_may_manage_or_reply(rq, info.target_id) != 0)
        return;
    else if (wait && info.status != RESTORE_DONE && info.status != RESTORE_FAILED &&
             longpoll_want(rq->app->longpoll, rq, id, wait, gen) == 0)
        return; /* answered when it runs again */
    else
        http_json(rq, 200, restore_json(&info));
}

/* GET /sync-result: every bad parameter is PARAM_VERIFICATION_FAILED, as the Kit reports. */
void h_sync_result(http_req *rq, const char *a, const char *b)
{
    asset_text group = {NULL, 0};
    bool enc = false, seen_enc = false;
    sync_result res;
    (void)a;
    (void)b;
    for (int i = 0; i < rq->nargs; i++) {
        const http_arg *arg = &rq->args[i];
        if (strcmp(arg->key, "requireAttrEncrypted") == 0 && !seen_enc &&
            (strcmp(arg->val, "true") == 0 || strcmp(arg->val, "false") == 0) &&
            arg->val_len == strlen(arg->val)) {
            enc = strcmp(arg->val, "true") == 0;
            seen_enc = true;
        } else if (strcmp(arg->key, "groupId") == 0 && !group.p &&
                   arg->val_len >= ASSET_GROUP_MIN && arg->val_len <= ASSET_GROUP_MAX &&
                   text_valid_utf8(arg->val, arg->val_len)) {
            group = (asset_text){arg->val, arg->val_len};
        } else {
            http_problem(rq, ASSET_PARAM_VERIFICATION_FAILED, arg->key,
                         "is not a valid parameter of GET /sync-result");
            return;
        }
    }
    asset_err e = sync_result_get(rq->app->svc, rq->who, group, enc, &res);
    if (e != ASSET_OK) {
        http_problem(rq, e, NULL, NULL);
        return;
    }
    char when[64];
    jsonmap_time(when, res.finished_ms);
    http_json(rq, 200,
              json_pack("{s:I, s:I, s:I, s:o, s:o}", "resultCode",
                        (json_int_t)(res.failed ? asset_err_code(ASSET_STATUS_MISMATCH) : 0),
                        "totalCount", (json_int_t)res.total, "failedCount", (json_int_t)res.failed,
                        "restoreId", res.has_restore ? json_string(res.restore_id) : json_null(),
                        "finishedAt", res.has_restore ? json_string(when) : json_null()));
}
