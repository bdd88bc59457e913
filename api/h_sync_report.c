/* Handlers of the sync routes beyond the Kit (spec §12): restore preview, per-record reports,
 * retry, and the backup lifecycle (list, delete). */
#include <stdlib.h>
#include <string.h>

#include "h_sync.h"
#include "handlers.h"
#include "jsonmap.h"

enum { ARG_MAX = 8 };

/* Collect the query parameters named in allowed (NULL-terminated) into found[] (same index);
 * an unknown or repeated one is answered with bad (-1). */
static int take_args_or_reply(http_req *rq, const char *const *allowed, const http_arg **found,
                              asset_err bad)
{
    for (int k = 0; allowed[k]; k++)
        found[k] = NULL;
    for (int i = 0; i < rq->nargs; i++) {
        int k = 0;
        while (allowed[k] && strcmp(allowed[k], rq->args[i].key) != 0)
            k++;
        if (!allowed[k] || found[k]) {
            http_problem(rq, bad, rq->args[i].key,
                         allowed[k] ? "is given more than once"
                                    : "is not a parameter this operation takes");
            return -1;
        }
        found[k] = &rq->args[i];
    }
    return 0;
}

static bool is_text(const http_arg *a, const char *s)
{
    return a->val_len == strlen(s) && strcmp(a->val, s) == 0;
}

/* limit (1..1000, default 100), outcome, rule, cursor of a records listing. */
static int records_args_or_reply(http_req *rq, const http_arg *limit, const http_arg *outcome,
                                 const http_arg *rule, const http_arg *cursor, asset_err bad,
                                 records_query *q)
{
    memset(q, 0, sizeof *q);
    q->outcome = -1;
    q->limit = 100;
    if (limit) {
        long v = 0;
        bool ok = limit->val_len >= 1 && limit->val_len <= 4;
        for (size_t k = 0; ok && k < limit->val_len; k++) {
            ok = limit->val[k] >= '0' && limit->val[k] <= '9';
            v = v * 10 + (limit->val[k] - '0');
        }
        if (!ok || v < 1 || v > 1000) {
            http_problem(rq, bad, "limit", "must be an integer 1..1000");
            return -1;
        }
        q->limit = v;
    }
    if (outcome) {
        q->outcome = is_text(outcome, "accepted") ? 0 : is_text(outcome, "failed") ? 1 : -2;
        if (q->outcome == -2) {
            http_problem(rq, bad, "outcome", "must be accepted or failed");
            return -1;
        }
    }
    if (rule) {
        for (int r = RULE_PASSWORD; r < RULE_COUNT && !q->rule; r++)
            if (is_text(rule, rules_name((restore_rule)r)))
                q->rule = r;
        if (!q->rule) {
            http_problem(rq, bad, "rule",
                         "must be one of password, unlocked, user_auth, first_unlock");
            return -1;
        }
    }
    if (cursor) {
        if (!cursor->val_len) {
            http_problem(rq, ASSET_PARAM_VERIFICATION_FAILED, "cursor", "is empty");
            return -1;
        }
        q->cursor = (asset_text){cursor->val, cursor->val_len};
    }
    return 0;
}

static json_t *owner_json(int kind, asset_text owner)
{
    return json_pack("{s:s%}", kind == OWNER_GROUP ? "groupId" : "appId", owner.p, owner.n);
}

static json_t *rule_json(int rule)
{
    return rule ? json_string(rules_name((restore_rule)rule)) : json_null();
}

static void answer_page(http_req *rq, json_t *items, const char *key, const char *next)
{
    http_json(
        rq, 200,
        json_pack("{s:o, s:o}", key, items, "nextCursor", next ? json_string(next) : json_null()));
}

static json_t *preview_json(const char *backup_id, const char *target, const sync_preview *pv)
{
    json_t *failures = json_object(), *owners = json_array(), *fixes = json_array();
    for (int i = RULE_PASSWORD; failures && i < RULE_COUNT; i++)
        json_object_set_new(failures, rules_name((restore_rule)i), json_integer(pv->failures[i]));
    for (int i = 0; owners && i < pv->n_owners; i++) {
        const preview_owner *o = &pv->owners[i];
        json_t *j = owner_json(o->owner_kind, o->owner);
        json_object_set_new(j, "requireAttrEncrypted", json_boolean(o->attr_enc));
        json_object_set_new(j, "total", json_integer(o->total));
        json_object_set_new(j, "failed", json_integer(o->failed));
        json_array_append_new(owners, j);
    }
    for (int i = 0; fixes && i < pv->n_fixes; i++)
        json_array_append_new(fixes,
                              json_pack("{s:{s:b}, s:I}", "set", sync_fix_field(pv->fixes[i].field),
                                        pv->fixes[i].value, "wouldAccept",
                                        (json_int_t)pv->fixes[i].would_accept));
    json_t *out = json_pack("{s:s, s:s, s:I, s:I, s:I, s:o, s:o, s:o}", "backupId", backup_id,
                            "targetDeviceId", target, "total", (json_int_t)pv->total, "wouldAccept",
                            (json_int_t)pv->accept, "wouldFail", (json_int_t)pv->fail, "failures",
                            failures, "owners", owners, "fixes", fixes);
    if (out && pv->old_bound) {
        char detail[200];
        snprintf(detail, sizeof detail,
                 "%ld records fail on the old device's state, which the backup keeps: change "
                 "it there and take a new backup",
                 pv->old_bound);
        json_object_set_new(out, "detail", json_string(detail));
    }
    return out;
}

void h_restore_preview(http_req *rq, const char *a, const char *b)
{
    const char *backup_id, *target;
    sync_preview pv;
    (void)a;
    (void)b;
    if (restore_body_or_reply(rq, &backup_id, &target))
        return;
    asset_err e = sync_restore_preview(rq->app->svc, backup_id, target, &pv);
    if (e != ASSET_OK) {
        restore_problem(rq, e);
        return;
    }
    http_json(rq, 200, preview_json(backup_id, target, &pv));
    sync_preview_free(&pv);
}

/* The restore of the path, which the caller may manage; -1 answered. */
static int path_restore_or_reply(http_req *rq, const char *raw_id, restore_info *info)
{
    const char *id;
    if (handler_uuid_param_or_reply(rq, raw_id, "id", &id))
        return -1;
    asset_err e = sync_restore_get(rq->app->svc, id, info);
    if (e != ASSET_OK) {
        http_problem(rq, e, NULL, e == ASSET_NOT_FOUND ? "no such restore" : NULL);
        return -1;
    }
    return handler_may_manage_or_reply(rq, info->target_id);
}

void h_restore_records(http_req *rq, const char *raw_id, const char *b)
{
    static const char *const names[] = {"outcome", "rule", "limit", "cursor", NULL};
    const http_arg *arg[ARG_MAX];
    restore_info info;
    records_query q;
    records_page pg;
    (void)b;
    if (take_args_or_reply(rq, names, arg, ASSET_INVALID_ARGUMENT) ||
        records_args_or_reply(rq, arg[2], arg[0], arg[1], arg[3], ASSET_INVALID_ARGUMENT, &q) ||
        path_restore_or_reply(rq, raw_id, &info))
        return;
    asset_err e = sync_restore_records(rq->app->svc, info.id, &q, &pg);
    if (e != ASSET_OK) {
        http_problem(rq, e, e == ASSET_PARAM_VERIFICATION_FAILED ? "cursor" : NULL,
                     e == ASSET_PARAM_VERIFICATION_FAILED ? "is not a cursor of this listing"
                                                          : NULL);
        return;
    }
    json_t *items = json_array();
    for (int i = 0; items && i < pg.n; i++) {
        const record_row *r = &pg.rows[i];
        json_array_append_new(
            items,
            json_pack("{s:o, s:b, s:s, s:s, s:o}", "owner", owner_json(r->owner_kind, r->owner),
                      "requireAttrEncrypted", r->attr_enc, "aliasHash", r->alias_hash, "outcome",
                      r->rule ? "failed" : "accepted", "rule", rule_json(r->rule)));
    }
    answer_page(rq, items, "records", pg.next_cursor);
    records_page_free(&pg);
}

/* GET /sync-result/records: every bad parameter is PARAM_VERIFICATION_FAILED, as /sync-result. */
void h_sync_result_records(http_req *rq, const char *a, const char *b)
{
    static const char *const names[] = {
        "outcome", "rule", "limit", "cursor", "groupId", "requireAttrEncrypted", NULL};
    const asset_err bad = ASSET_PARAM_VERIFICATION_FAILED;
    const http_arg *arg[ARG_MAX];
    asset_text group = {NULL, 0};
    records_query q;
    records_page pg;
    (void)a;
    (void)b;
    if (take_args_or_reply(rq, names, arg, bad) ||
        records_args_or_reply(rq, arg[2], arg[0], arg[1], arg[3], bad, &q))
        return;
    if (arg[4]) {
        if (arg[4]->val_len < ASSET_GROUP_MIN || arg[4]->val_len > ASSET_GROUP_MAX ||
            !text_valid_utf8(arg[4]->val, arg[4]->val_len)) {
            http_problem(rq, bad, "groupId", "is not a valid group id");
            return;
        }
        group = (asset_text){arg[4]->val, arg[4]->val_len};
    }
    if (arg[5] && !is_text(arg[5], "true") && !is_text(arg[5], "false")) {
        http_problem(rq, bad, "requireAttrEncrypted", "must be true or false");
        return;
    }
    bool enc = arg[5] && is_text(arg[5], "true");
    asset_err e = sync_result_records(rq->app->svc, rq->who, group, enc, &q, &pg);
    if (e != ASSET_OK) {
        http_problem(rq, e, e == bad ? "cursor" : NULL,
                     e == bad ? "is not a cursor of this listing" : NULL);
        return;
    }
    json_t *items = json_array();
    for (int i = 0; items && i < pg.n; i++) {
        const record_row *r = &pg.rows[i];
        json_array_append_new(items, json_pack("{s:s%, s:s, s:o}", "alias", r->alias.p, r->alias.n,
                                               "outcome", r->rule ? "failed" : "accepted", "rule",
                                               rule_json(r->rule)));
    }
    answer_page(rq, items, "records", pg.next_cursor);
    records_page_free(&pg);
}

void h_restore_retry(http_req *rq, const char *raw_id, const char *b)
{
    restore_info info, job;
    (void)b;
    if (handler_no_args_or_reply(rq) || path_restore_or_reply(rq, raw_id, &info))
        return;
    if (rq->body_len) {
        http_problem(rq, ASSET_INVALID_ARGUMENT, "body", "must be empty");
        return;
    }
    asset_err e = sync_restore_retry(rq->app->svc, rq->who, info.id, &job);
    if (e != ASSET_OK) {
        http_problem(rq, e, NULL,
                     e == ASSET_NOT_FOUND     ? "no record of this restore can be retried"
                     : e == ASSET_IN_PROGRESS ? "this restore, or a retry of it, has not finished"
                                              : NULL);
        return;
    }
    snprintf(rq->location, sizeof rq->location, "/restores/%s", job.id);
    http_json(rq, 202, restore_json(&job));
}

void h_backup_list(http_req *rq, const char *a, const char *b)
{
    static const char *const names[] = {"deviceId", "limit", "cursor", NULL};
    const http_arg *arg[ARG_MAX];
    records_query q;
    backup_page pg;
    (void)a;
    (void)b;
    if (take_args_or_reply(rq, names, arg, ASSET_INVALID_ARGUMENT) ||
        records_args_or_reply(rq, arg[1], NULL, NULL, arg[2], ASSET_INVALID_ARGUMENT, &q))
        return;
    if (!arg[0] || !uuid_valid(arg[0]->val, arg[0]->val_len)) {
        http_problem(rq, ASSET_INVALID_ARGUMENT, "deviceId",
                     arg[0] ? "is not a UUID" : "is required");
        return;
    }
    uuid_lower((char *)arg[0]->val); /* the decoded copy is the request's own */
    if (handler_may_manage_or_reply(rq, arg[0]->val))
        return;
    asset_err e = sync_backup_list(rq->app->svc, arg[0]->val, q.limit, q.cursor, &pg);
    if (e != ASSET_OK) {
        http_problem(rq, e, e == ASSET_PARAM_VERIFICATION_FAILED ? "cursor" : NULL,
                     e == ASSET_PARAM_VERIFICATION_FAILED ? "is not a cursor of this listing"
                                                          : NULL);
        return;
    }
    json_t *items = json_array();
    for (int i = 0; items && i < pg.n; i++)
        json_array_append_new(items, backup_json(&pg.items[i]));
    answer_page(rq, items, "backups", pg.next_cursor);
    backup_page_free(&pg);
}

void h_backup_delete(http_req *rq, const char *raw_id, const char *b)
{
    const char *id;
    backup_info info;
    (void)b;
    if (handler_uuid_param_or_reply(rq, raw_id, "id", &id) || handler_no_args_or_reply(rq))
        return;
    asset_err e = sync_backup_get(rq->app->svc, id, &info);
    if (e == ASSET_OK && handler_may_manage_or_reply(rq, info.device_id))
        return;
    if (e == ASSET_OK)
        e = sync_backup_delete(rq->app->svc, rq->who, id);
    if (e != ASSET_OK)
        http_problem(rq, e, NULL,
                     e == ASSET_NOT_FOUND     ? "no such backup"
                     : e == ASSET_IN_PROGRESS ? "a queued or running restore uses this backup"
                                              : NULL);
    else
        http_empty(rq, 204);
}
