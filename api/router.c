#include "router.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "../service/audit.h"
#include "handlers.h"
#include "idem.h"
#include "ratelimit.h"

enum { WHO_PUBLIC = 0, WHO_ADMIN = 1, WHO_DEVICE = 2, WHO_APP = 4 };
/* Route flag, or'ed into `who`: the route honours Idempotency-Key (spec §13, api/idem.c), so its
 * first answer is kept in the database for 24 hours: never for a route whose answer holds a
 * secret (a token, a secret). */
enum { IDEMPOTENT = 0x100 };
enum { BODY_NONE, BODY_JSON };

typedef struct {
    int id;
    const char *method;
    const char *tmpl; /* '*' segments are parameters */
    const char *name; /* route template for logs and metrics */
    unsigned who;     /* WHO_* bits, plus IDEMPOTENT */
    int body;
    handler_fn *fn;
    const char *action; /* the operationId: what the audit policy (service/audit.c) knows it by */
} route;

#define MGR (WHO_ADMIN | WHO_DEVICE)

/* First match wins: the fixed /assets/... paths come before /assets/{alias}. */
static const route routes[] = {
    {ROUTE_HEALTHZ, "GET", "/healthz", "/healthz", WHO_PUBLIC, BODY_NONE, h_healthz, "getHealth"},
    {ROUTE_READYZ, "GET", "/readyz", "/readyz", WHO_PUBLIC, BODY_NONE, h_readyz, "getReadiness"},
    {ROUTE_METRICS, "GET", "/metrics", "/metrics", WHO_PUBLIC, BODY_NONE, h_metrics, "getMetrics"},
    {ROUTE_OPENAPI, "GET", "/openapi.yaml", "/openapi.yaml", WHO_PUBLIC, BODY_NONE, h_openapi,
     "getOpenApi"},
    {ROUTE_ASSETS, "POST", "/assets", "/assets", WHO_APP | IDEMPOTENT, BODY_JSON, h_assets_add,
     "addAsset"},
    {ROUTE_ASSETS, "GET", "/assets", "/assets", WHO_APP, BODY_NONE, h_assets_query, "listAssets"},
    {ROUTE_ASSETS, "DELETE", "/assets", "/assets", WHO_APP, BODY_NONE, h_assets_remove,
     "deleteAssets"},
    {ROUTE_PRE_QUERY, "POST", "/assets/pre-query", "/assets/pre-query", WHO_APP, BODY_JSON,
     h_pre_query, "preQueryAssets"},
    {ROUTE_AUTH_QUERY, "POST", "/assets/query", "/assets/query", WHO_APP, BODY_JSON, h_auth_query,
     "queryAssetsWithAuth"},
    {ROUTE_POST_QUERY, "POST", "/assets/post-query", "/assets/post-query", WHO_APP, BODY_JSON,
     h_post_query, "postQueryAssets"},
    {ROUTE_BATCH_ADD, "POST", "/assets/batch-add", "/assets/batch-add", WHO_APP | IDEMPOTENT,
     BODY_JSON, h_batch_add, "batchAddAssets"},
    {ROUTE_BATCH_UPDATE, "POST", "/assets/batch-update", "/assets/batch-update",
     WHO_APP | IDEMPOTENT, BODY_JSON, h_batch_update, "batchUpdateAssets"},
    {ROUTE_BATCH_REMOVE, "POST", "/assets/batch-remove", "/assets/batch-remove",
     WHO_APP | IDEMPOTENT, BODY_JSON, h_batch_remove, "batchRemoveAssets"},
    {ROUTE_ASSET_ONE, "GET", "/assets/*", "/assets/{alias}", WHO_APP, BODY_NONE, h_asset_get,
     "getAsset"},
    {ROUTE_ASSET_ONE, "PATCH", "/assets/*", "/assets/{alias}", WHO_APP, BODY_JSON, h_asset_update,
     "updateAsset"},
    {ROUTE_ASSET_ONE, "DELETE", "/assets/*", "/assets/{alias}", WHO_APP, BODY_NONE, h_asset_remove,
     "deleteAsset"},
    {ROUTE_SYNC_RESULT, "GET", "/sync-result", "/sync-result", WHO_APP, BODY_NONE, h_sync_result,
     "getSyncResult"},
    {ROUTE_SYNC_RESULT_RECORDS, "GET", "/sync-result/records", "/sync-result/records", WHO_APP,
     BODY_NONE, h_sync_result_records, "listSyncResultRecords"},
    {ROUTE_DEVICES, "POST", "/devices", "/devices", WHO_ADMIN, BODY_JSON, h_device_create,
     "createDevice"},
    {ROUTE_DEVICE, "GET", "/devices/*", "/devices/{id}", MGR, BODY_NONE, h_device_get, "getDevice"},
    {ROUTE_DEVICE, "DELETE", "/devices/*", "/devices/{id}", WHO_ADMIN, BODY_NONE, h_device_remove,
     "deleteDevice"},
    {ROUTE_DEVICE_TOKEN, "POST", "/devices/*/token", "/devices/{id}/token", MGR, BODY_NONE,
     h_device_token, "rotateDeviceToken"},
    {ROUTE_DEVICE_STATE, "PUT", "/devices/*/state", "/devices/{id}/state", MGR, BODY_JSON,
     h_device_state, "setDeviceState"},
    {ROUTE_DEVICE_AUTH_KEY, "PUT", "/devices/*/user-auth-key", "/devices/{id}/user-auth-key", MGR,
     BODY_JSON, h_device_auth_key, "setUserAuthKey"},
    {ROUTE_DEVICE_APPS, "POST", "/devices/*/apps", "/devices/{id}/apps", MGR, BODY_JSON,
     h_app_install, "installApp"},
    {ROUTE_DEVICE_APP, "DELETE", "/devices/*/apps/*", "/devices/{id}/apps/{appId}", MGR, BODY_NONE,
     h_app_uninstall, "uninstallApp"},
    {ROUTE_DEVICE_APP_TOKEN, "POST", "/devices/*/apps/*/token", "/devices/{id}/apps/{appId}/token",
     MGR, BODY_NONE, h_app_token, "rotateAppToken"},
    {ROUTE_BACKUPS, "POST", "/backups", "/backups", MGR | IDEMPOTENT, BODY_JSON, h_backup_create,
     "createBackup"},
    {ROUTE_BACKUPS, "GET", "/backups", "/backups", MGR, BODY_NONE, h_backup_list, "listBackups"},
    {ROUTE_BACKUP, "GET", "/backups/*", "/backups/{id}", MGR, BODY_NONE, h_backup_get, "getBackup"},
    {ROUTE_BACKUP, "DELETE", "/backups/*", "/backups/{id}", MGR, BODY_NONE, h_backup_delete,
     "deleteBackup"},
    {ROUTE_RESTORES, "POST", "/restores", "/restores", MGR | IDEMPOTENT, BODY_JSON,
     h_restore_create, "createRestore"},
    {ROUTE_RESTORE_PREVIEW, "POST", "/restores/preview", "/restores/preview", MGR, BODY_JSON,
     h_restore_preview, "previewRestore"},
    {ROUTE_RESTORE, "GET", "/restores/*", "/restores/{id}", MGR, BODY_NONE, h_restore_get,
     "getRestore"},
    {ROUTE_RESTORE_RECORDS, "GET", "/restores/*/records", "/restores/{id}/records", MGR, BODY_NONE,
     h_restore_records, "listRestoreRecords"},
    {ROUTE_RESTORE_RETRY, "POST", "/restores/*/retry", "/restores/{id}/retry", MGR | IDEMPOTENT,
     BODY_NONE, h_restore_retry, "retryRestore"},
    {ROUTE_AUDIT, "GET", "/audit", "/audit", WHO_ADMIN, BODY_NONE, h_audit_list, "listAuditEvents"},
};

const char *router_route_name(int id)
{
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (routes[i].id == id)
            return routes[i].name;
    return "unmatched";
}

#define MAX_SEGS 6

/* Split a copy of the path (in the request's arena) into its segments, still percent-encoded.
 * -1 if there are more than MAX_SEGS. */
static int split(http_req *rq, char *segs[MAX_SEGS], int *n)
{
    *n = 0;
    if (rq->url[0] != '/')
        return -1;
    char *p = arena_strndup(&rq->mem, rq->url + 1, strlen(rq->url + 1));
    if (!p)
        return -1;
    for (;;) {
        if (*n == MAX_SEGS)
            return -1;
        segs[(*n)++] = p;
        char *slash = strchr(p, '/');
        if (!slash)
            return 0;
        *slash = 0;
        p = slash + 1;
    }
}

static bool match(const char *tmpl, char *segs[MAX_SEGS], int n, const char **p1, const char **p2)
{
    const char *t = tmpl + 1;
    int i = 0;
    *p1 = *p2 = NULL;
    for (;;) {
        const char *slash = strchr(t, '/');
        size_t len = slash ? (size_t)(slash - t) : strlen(t);
        if (i >= n)
            return false;
        if (len == 1 && t[0] == '*') {
            if (!segs[i][0])
                return false;
            if (!*p1)
                *p1 = segs[i];
            else
                *p2 = segs[i];
        } else if (strlen(segs[i]) != len || memcmp(segs[i], t, len) != 0) {
            return false;
        }
        i++;
        if (!slash)
            return i == n;
        t = slash + 1;
    }
}

static int authenticate(http_req *rq, unsigned who)
{
    const char *h = rq->authorization;
    if (!h || strncasecmp(h, "Bearer ", 7) != 0 || !h[7]) {
        http_problem_status(rq, 401, ASSET_PERMISSION_DENIED, NULL, "a bearer token is required");
        return -1;
    }
    /* A field value excludes trailing whitespace (RFC 9110 §5.5); libmicrohttpd keeps it. */
    size_t len = strlen(h + 7);
    while (len && (h[7 + len - 1] == ' ' || h[7 + len - 1] == '\t'))
        len--;
    asset_err e = svc_authenticate(rq->app->svc, h + 7, len, rq->who);
    rq->authed = e == ASSET_OK;
    if (e == ASSET_PERMISSION_DENIED) {
        http_problem_status(rq, 401, e, NULL, "the bearer token is not valid");
        return -1;
    }
    if (e != ASSET_OK) {
        http_problem(rq, e, NULL, NULL);
        return -1;
    }
    int retry = 0;
    /* A parked long poll that runs again (rq->wait) was counted on its first run. */
    if (rq->app->cfg->rate_limit > 0 && !rq->wait &&
        ratelimit_check(h + 7, len, rq->app->cfg->rate_limit, &retry) != 0) {
        http_problem_status(rq, 429, ASSET_LIMIT_EXCEEDED, NULL,
                            "too many requests for this token; retry later");
        rq->retry_after = retry;
        return -1;
    }
    unsigned kind = rq->who->kind == PRINCIPAL_ADMIN    ? WHO_ADMIN
                    : rq->who->kind == PRINCIPAL_DEVICE ? WHO_DEVICE
                                                        : WHO_APP;
    if (!(who & kind)) {
        http_problem_status(rq, 403, ASSET_PERMISSION_DENIED, NULL,
                            "this kind of token may not use this route");
        return -1;
    }
    return 0;
}

static int parse_body(http_req *rq)
{
    int pos = -1;
    if (!rq->body_len) {
        http_problem(rq, ASSET_INVALID_ARGUMENT, "body", "is required: a JSON object");
        return -1;
    }
    char key[64];
    int rc = http_parse_json_body(&rq->json, rq->body, rq->body_len, &pos, key, sizeof key);
    if (rc == -3) {
        http_problem(rq, ASSET_INVALID_ARGUMENT, key, "is given more than once");
        return -1;
    }
    if (rc == -2) {
        http_problem(rq, ASSET_OUT_OF_MEMORY, NULL, "out of memory; nothing was written");
        return -1;
    }
    if (rc != 0) {
        /* Not Jansson's message: it quotes the input near the error, which may be a secret. */
        char detail[96];
        snprintf(detail, sizeof detail, "is not valid JSON (error at byte %d)", pos);
        http_problem(rq, ASSET_INVALID_ARGUMENT, "body", detail);
        return -1;
    }
    if (!json_is_object(rq->json)) {
        http_problem(rq, ASSET_INVALID_ARGUMENT, "body", "must be a JSON object");
        return -1;
    }
    return 0;
}

/* A query parameter's decoded value, or NULL. */
static const http_arg *arg_of(const http_req *rq, const char *key)
{
    for (int i = 0; i < rq->nargs; i++)
        if (strcmp(rq->args[i].key, key) == 0)
            return &rq->args[i];
    return NULL;
}

/* The device a call concerns, as its request names it: management calls the device in the path
 * (or the one just created), backups and restores the one in the body (or the query). */
static const char *call_device(http_req *rq, const route *r, const char *p1, size_t p1_len)
{
    const http_arg *a;
    json_t *body = rq->json;
    /* the path of a backup or restore route names no device */
    bool sync_path = r->id == ROUTE_BACKUP || r->id == ROUTE_RESTORE ||
                     r->id == ROUTE_RESTORE_RECORDS || r->id == ROUTE_RESTORE_RETRY;
    const char *dev =
        p1 && uuid_valid(p1, p1_len) && r->id != ROUTE_ASSET_ONE && !sync_path ? p1 : NULL;
    if (r->id == ROUTE_DEVICES && rq->status == 201)
        dev = rq->location + strlen("/devices/");
    bool to_target = r->id == ROUTE_RESTORES || r->id == ROUTE_RESTORE_PREVIEW;
    json_t *dv = json_object_get(body, to_target ? "targetDeviceId" : "deviceId");
    if (!dev && (r->id == ROUTE_BACKUPS || to_target) && json_is_string(dv) &&
        uuid_valid(json_string_value(dv), json_string_length(dv)))
        dev = json_string_value(dv);
    if (!dev && r->id == ROUTE_BACKUPS && (a = arg_of(rq, "deviceId")) &&
        uuid_valid(a->val, a->val_len))
        dev = a->val; /* the list names its device in the query */
    return dev;
}

/* The alias and group a call names: the alias in the path, the query or the body; the group in
 * the query or the body. */
static void call_names(http_req *rq, const route *r, const char *p1, size_t p1_len,
                       audit_call *call)
{
    json_t *body = rq->json;
    const http_arg *a;
    if (p1 && r->id == ROUTE_ASSET_ONE) {
        call->alias = p1;
        call->alias_len = p1_len;
    }
    if (!call->alias && (a = arg_of(rq, "alias"))) {
        call->alias = a->val;
        call->alias_len = a->val_len;
    }
    if (!call->alias && json_is_string(json_object_get(body, "alias"))) {
        call->alias = json_string_value(json_object_get(body, "alias"));
        call->alias_len = json_string_length(json_object_get(body, "alias"));
    }
    if ((a = arg_of(rq, "groupId"))) {
        call->group = a->val;
        call->group_len = a->val_len;
    } else if (json_is_string(json_object_get(body, "groupId"))) {
        call->group = json_string_value(json_object_get(body, "groupId"));
        call->group_len = json_string_length(json_object_get(body, "groupId"));
    }
}

/* Tells the service's audit policy how the call ended and what its request named; the service
 * decides whether and how it is recorded (service/audit.c). */
static void audit_call_end(http_req *rq, const route *r, const char *raw_p1)
{
    const http_arg *rt = arg_of(rq, "returnType");
    audit_call call = {.op = audit_op_named(r->action),
                       /* a 401 refuses the caller, not the operation */
                       .refused = rq->status >= 400 && rq->status != 401,
                       .err = rq->err,
                       .asks_secret = rt && strcmp(rt->val, "ALL") == 0};
    if (!audit_call_recorded(&call))
        return;
    const char *p1 = NULL;
    size_t p1_len = 0;
    if (raw_p1 && http_pct_decode(&rq->mem, raw_p1, strlen(raw_p1), false, &p1, &p1_len) != 0)
        p1 = NULL;
    call_names(rq, r, p1, p1_len, &call);
    call.device_id = call_device(rq, r, p1, p1_len);
    audit_call_done(rq->app->svc, rq->who, &call);
}

/* Route and authenticate; answers (404, 401, 429, 403) and returns NULL when the request goes
 * no further. */
static const route *route_and_authenticate(http_req *rq, const char **p1, const char **p2)
{
    char *segs[MAX_SEGS];
    int n = 0;
    const route *r = NULL;
    if (rq->app->shutting_down) {
        http_problem(rq, ASSET_SERVICE_UNAVAILABLE, NULL, "the service is shutting down");
        return NULL;
    }
    if (split(rq, segs, &n) == 0)
        for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
            if (strcmp(routes[i].method, rq->method) == 0 &&
                match(routes[i].tmpl, segs, n, p1, p2)) {
                r = &routes[i];
                break;
            }
    if (!r) {
        http_problem(rq, ASSET_NOT_FOUND, NULL, "no such route");
        return NULL;
    }
    rq->route = r->id;
    if (r->who != WHO_PUBLIC && authenticate(rq, r->who) != 0)
        return NULL;
    return r;
}

void router_reject_body(http_req *rq)
{
    const char *p1 = NULL, *p2 = NULL;
    if (route_and_authenticate(rq, &p1, &p2))
        http_problem_status(rq, 413, ASSET_INVALID_ARGUMENT, "body",
                            "exceeds the configured size limit");
}

void router_dispatch(http_req *rq)
{
    const char *p1 = NULL, *p2 = NULL;
    const route *r = route_and_authenticate(rq, &p1, &p2);
    if (!r)
        return;
    if (rq->args_oom) {
        http_problem(rq, ASSET_OUT_OF_MEMORY, NULL, "out of memory; nothing was written");
        return;
    }
    if (rq->bad_args) {
        http_problem(rq, ASSET_INVALID_ARGUMENT, "query string", "is malformed");
        return;
    }
    idem_ctx ic = {0};
    if ((r->who & IDEMPOTENT) && !idem_start(rq, &ic)) {
        /* answered: a replay, a conflict or a bad key */
    } else {
        if (r->body != BODY_JSON || parse_body(rq) == 0)
            r->fn(rq, p1, p2);
        if (r->who & IDEMPOTENT)
            idem_end(rq, &ic);
    }
    /* A replay or a repeat in flight is the first request again: audited once, as that one. */
    if (rq->authed && !ic.unaudited)
        audit_call_end(rq, r, p1);
}
