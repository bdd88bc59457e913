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
/* Route flag: the route's operation checks a remembered principal inside its own statements
 * (assets_query, assets_add: svc_authenticate_deferred), so the request costs no round trip of
 * its own for that. Only for routes whose handler passes the principal to such an operation and
 * to nothing else first; a request with an Idempotency-Key is checked first (its key is looked
 * up, and maybe replayed, before the operation runs). */
enum { CHECKS_PRINCIPAL = 0x200 };
enum { BODY_NONE, BODY_JSON };

/* A field left out of an entry is 0: BODY_NONE; name defaults to path. */
typedef struct {
    int id;
    const char *method;
    const char *path;    /* '*' segments are parameters */
    const char *name;    /* the route as the contract writes it, for logs and metrics */
    unsigned flags;      /* WHO_* bits (who may call it), plus IDEMPOTENT */
    int body;            /* BODY_* */
    handler_fn *handler; /* answers the request */
    const char *action;  /* the operationId: what the audit policy (service/audit.c) knows it by */
} route;

#define MGR (WHO_ADMIN | WHO_DEVICE)

/* First match wins: the fixed /assets/... paths come before /assets/{alias}. */
static const route routes[] = {
    {.id = ROUTE_HEALTHZ,
     .method = "GET",
     .path = "/healthz",
     .flags = WHO_PUBLIC,
     .handler = h_healthz,
     .action = "getHealth"},
    {.id = ROUTE_READYZ,
     .method = "GET",
     .path = "/readyz",
     .flags = WHO_PUBLIC,
     .handler = h_readyz,
     .action = "getReadiness"},
    {.id = ROUTE_METRICS,
     .method = "GET",
     .path = "/metrics",
     .flags = WHO_PUBLIC,
     .handler = h_metrics,
     .action = "getMetrics"},
    {.id = ROUTE_OPENAPI,
     .method = "GET",
     .path = "/openapi.yaml",
     .flags = WHO_PUBLIC,
     .handler = h_openapi,
     .action = "getOpenApi"},
    {.id = ROUTE_ASSETS,
     .method = "POST",
     .path = "/assets",
     .flags = WHO_APP | IDEMPOTENT | CHECKS_PRINCIPAL,
     .body = BODY_JSON,
     .handler = h_assets_add,
     .action = "addAsset"},
    {.id = ROUTE_ASSETS,
     .method = "GET",
     .path = "/assets",
     .flags = WHO_APP | CHECKS_PRINCIPAL,
     .handler = h_assets_query,
     .action = "listAssets"},
    {.id = ROUTE_ASSETS,
     .method = "DELETE",
     .path = "/assets",
     .flags = WHO_APP,
     .handler = h_assets_remove,
     .action = "deleteAssets"},
    {.id = ROUTE_PRE_QUERY,
     .method = "POST",
     .path = "/assets/pre-query",
     .flags = WHO_APP,
     .body = BODY_JSON,
     .handler = h_pre_query,
     .action = "preQueryAssets"},
    {.id = ROUTE_AUTH_QUERY,
     .method = "POST",
     .path = "/assets/query",
     .flags = WHO_APP,
     .body = BODY_JSON,
     .handler = h_auth_query,
     .action = "queryAssetsWithAuth"},
    {.id = ROUTE_POST_QUERY,
     .method = "POST",
     .path = "/assets/post-query",
     .flags = WHO_APP,
     .body = BODY_JSON,
     .handler = h_post_query,
     .action = "postQueryAssets"},
    {.id = ROUTE_BATCH_ADD,
     .method = "POST",
     .path = "/assets/batch-add",
     .flags = WHO_APP | IDEMPOTENT,
     .body = BODY_JSON,
     .handler = h_batch_add,
     .action = "batchAddAssets"},
    {.id = ROUTE_BATCH_UPDATE,
     .method = "POST",
     .path = "/assets/batch-update",
     .flags = WHO_APP | IDEMPOTENT,
     .body = BODY_JSON,
     .handler = h_batch_update,
     .action = "batchUpdateAssets"},
    {.id = ROUTE_BATCH_REMOVE,
     .method = "POST",
     .path = "/assets/batch-remove",
     .flags = WHO_APP | IDEMPOTENT,
     .body = BODY_JSON,
     .handler = h_batch_remove,
     .action = "batchRemoveAssets"},
    {.id = ROUTE_ASSET_ONE,
     .method = "GET",
     .path = "/assets/*",
     .name = "/assets/{alias}",
     .flags = WHO_APP | CHECKS_PRINCIPAL,
     .handler = h_asset_get,
     .action = "getAsset"},
    {.id = ROUTE_ASSET_ONE,
     .method = "PATCH",
     .path = "/assets/*",
     .name = "/assets/{alias}",
     .flags = WHO_APP,
     .body = BODY_JSON,
     .handler = h_asset_update,
     .action = "updateAsset"},
    {.id = ROUTE_ASSET_ONE,
     .method = "DELETE",
     .path = "/assets/*",
     .name = "/assets/{alias}",
     .flags = WHO_APP,
     .handler = h_asset_remove,
     .action = "deleteAsset"},
    {.id = ROUTE_SYNC_RESULT,
     .method = "GET",
     .path = "/sync-result",
     .flags = WHO_APP,
     .handler = h_sync_result,
     .action = "getSyncResult"},
    {.id = ROUTE_SYNC_RESULT_RECORDS,
     .method = "GET",
     .path = "/sync-result/records",
     .flags = WHO_APP,
     .handler = h_sync_result_records,
     .action = "listSyncResultRecords"},
    {.id = ROUTE_DEVICES,
     .method = "POST",
     .path = "/devices",
     .flags = WHO_ADMIN,
     .body = BODY_JSON,
     .handler = h_device_create,
     .action = "createDevice"},
    {.id = ROUTE_DEVICE,
     .method = "GET",
     .path = "/devices/*",
     .name = "/devices/{id}",
     .flags = MGR,
     .handler = h_device_get,
     .action = "getDevice"},
    {.id = ROUTE_DEVICE,
     .method = "DELETE",
     .path = "/devices/*",
     .name = "/devices/{id}",
     .flags = WHO_ADMIN,
     .handler = h_device_remove,
     .action = "deleteDevice"},
    {.id = ROUTE_DEVICE_TOKEN,
     .method = "POST",
     .path = "/devices/*/token",
     .name = "/devices/{id}/token",
     .flags = MGR,
     .handler = h_device_token,
     .action = "rotateDeviceToken"},
    {.id = ROUTE_DEVICE_STATE,
     .method = "PUT",
     .path = "/devices/*/state",
     .name = "/devices/{id}/state",
     .flags = MGR,
     .body = BODY_JSON,
     .handler = h_device_state,
     .action = "setDeviceState"},
    {.id = ROUTE_DEVICE_AUTH_KEY,
     .method = "PUT",
     .path = "/devices/*/user-auth-key",
     .name = "/devices/{id}/user-auth-key",
     .flags = MGR,
     .body = BODY_JSON,
     .handler = h_device_auth_key,
     .action = "setUserAuthKey"},
    {.id = ROUTE_DEVICE_APPS,
     .method = "POST",
     .path = "/devices/*/apps",
     .name = "/devices/{id}/apps",
     .flags = MGR,
     .body = BODY_JSON,
     .handler = h_app_install,
     .action = "installApp"},
    {.id = ROUTE_DEVICE_APP,
     .method = "DELETE",
     .path = "/devices/*/apps/*",
     .name = "/devices/{id}/apps/{appId}",
     .flags = MGR,
     .handler = h_app_uninstall,
     .action = "uninstallApp"},
    {.id = ROUTE_DEVICE_APP_TOKEN,
     .method = "POST",
     .path = "/devices/*/apps/*/token",
     .name = "/devices/{id}/apps/{appId}/token",
     .flags = MGR,
     .handler = h_app_token,
     .action = "rotateAppToken"},
    {.id = ROUTE_BACKUPS,
     .method = "POST",
     .path = "/backups",
     .flags = MGR | IDEMPOTENT,
     .body = BODY_JSON,
     .handler = h_backup_create,
     .action = "createBackup"},
    {.id = ROUTE_BACKUPS,
     .method = "GET",
     .path = "/backups",
     .flags = MGR,
     .handler = h_backup_list,
     .action = "listBackups"},
    {.id = ROUTE_BACKUP,
     .method = "GET",
     .path = "/backups/*",
     .name = "/backups/{id}",
     .flags = MGR,
     .handler = h_backup_get,
     .action = "getBackup"},
    {.id = ROUTE_BACKUP,
     .method = "DELETE",
     .path = "/backups/*",
     .name = "/backups/{id}",
     .flags = MGR,
     .handler = h_backup_delete,
     .action = "deleteBackup"},
    {.id = ROUTE_RESTORES,
     .method = "POST",
     .path = "/restores",
     .flags = MGR | IDEMPOTENT,
     .body = BODY_JSON,
     .handler = h_restore_create,
     .action = "createRestore"},
    {.id = ROUTE_RESTORE_PREVIEW,
     .method = "POST",
     .path = "/restores/preview",
     .flags = MGR,
     .body = BODY_JSON,
     .handler = h_restore_preview,
     .action = "previewRestore"},
    {.id = ROUTE_RESTORE,
     .method = "GET",
     .path = "/restores/*",
     .name = "/restores/{id}",
     .flags = MGR,
     .handler = h_restore_get,
     .action = "getRestore"},
    {.id = ROUTE_RESTORE_RECORDS,
     .method = "GET",
     .path = "/restores/*/records",
     .name = "/restores/{id}/records",
     .flags = MGR,
     .handler = h_restore_records,
     .action = "listRestoreRecords"},
    {.id = ROUTE_RESTORE_RETRY,
     .method = "POST",
     .path = "/restores/*/retry",
     .name = "/restores/{id}/retry",
     .flags = MGR | IDEMPOTENT,
     .handler = h_restore_retry,
     .action = "retryRestore"},
    {.id = ROUTE_AUDIT,
     .method = "GET",
     .path = "/audit",
     .flags = WHO_ADMIN,
     .handler = h_audit_list,
     .action = "listAuditEvents"},
};

const char *router_route_name(int id)
{
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (routes[i].id == id)
            return routes[i].name ? routes[i].name : routes[i].path;
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

/* An answer about to go out, or gone out, without the route's operation having checked a
 * remembered principal (svc_authenticate_deferred): if its token is no longer valid, the answer is
 * the 401 it would have been without the cache, which checks the token first. true: replaced. */
static bool revoked_or_reply(http_req *rq)
{
    if (svc_principal_verify(rq->app->svc, rq->who) != ASSET_UNAUTHENTICATED)
        return false;
    http_problem_status(rq, 401, ASSET_PERMISSION_DENIED, NULL, "the bearer token is not valid");
    return true;
}

/* defer: the principal may come back unverified (CHECKS_PRINCIPAL, and the handler runs). */
static int authenticate_or_reply(http_req *rq, unsigned who, bool defer)
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
    asset_err e = defer ? svc_authenticate_deferred(rq->app->svc, h + 7, len, rq->who)
                        : svc_authenticate(rq->app->svc, h + 7, len, rq->who);
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
        if (revoked_or_reply(rq))
            return -1;
        http_problem_status(rq, 429, ASSET_LIMIT_EXCEEDED, NULL,
                            "too many requests for this token; retry later");
        rq->retry_after = retry;
        return -1;
    }
    unsigned kind = rq->who->kind == PRINCIPAL_ADMIN    ? WHO_ADMIN
                    : rq->who->kind == PRINCIPAL_DEVICE ? WHO_DEVICE
                                                        : WHO_APP;
    if (!(who & kind)) {
        if (revoked_or_reply(rq))
            return -1;
        http_problem_status(rq, 403, ASSET_PERMISSION_DENIED, NULL,
                            "this kind of token may not use this route");
        return -1;
    }
    return 0;
}

static int parse_body_or_reply(http_req *rq)
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

/* Route and authenticate_or_reply; answers (404, 401, 429, 403) and returns NULL when the request
 * goes no further. to_handler: the route's handler runs next (it may check the principal). */
static const route *route_or_reply(http_req *rq, bool to_handler, const char **p1, const char **p2)
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
                match(routes[i].path, segs, n, p1, p2)) {
                r = &routes[i];
                break;
            }
    if (!r) {
        http_problem(rq, ASSET_NOT_FOUND, NULL, "no such route");
        return NULL;
    }
    rq->route = r->id;
    if (r->flags != WHO_PUBLIC &&
        authenticate_or_reply(rq, r->flags,
                              to_handler && (r->flags & CHECKS_PRINCIPAL) &&
                                  !((r->flags & IDEMPOTENT) && rq->idempotency_key)) != 0)
        return NULL;
    return r;
}

void router_reject_body(http_req *rq)
{
    const char *p1 = NULL, *p2 = NULL;
    if (route_or_reply(rq, false, &p1, &p2))
        http_problem_status(rq, 413, ASSET_INVALID_ARGUMENT, "body",
                            "exceeds the configured size limit");
}

/* After the handler: a 400 that refused the request as malformed before its operation could
 * check a remembered principal is checked now. */
static void handled(http_req *rq, const route *r)
{
    if ((r->flags & CHECKS_PRINCIPAL) && rq->status == 400)
        (void)revoked_or_reply(rq);
}

/* The end of a routed request: the call audited, then its body freed. A replay or a repeat in
 * flight is the first request again: audited once, as that one (unaudited). A 401 after
 * authentication (the token stopped being valid: a remembered principal found stale, a write's
 * installation hold) means the caller was not authenticated after all. */
static void audit_done(http_req *rq, const route *r, const char *p1, bool unaudited)
{
    if (rq->authed && rq->status != 401 && !unaudited)
        audit_call_end(rq, r, p1);
    /* Nothing reads the body's values after this: freed here, on the thread whose malloc arena
     * they came from, not on the HTTP thread when the request completes (each of a 100-item
     * batch's 1,600 allocations then went back to another thread's arena under its lock). */
    json_decref(rq->json);
    rq->json = NULL;
}

/* The query string's state answered: 0 when it decoded. */
static int args_or_reply(http_req *rq)
{
    if (rq->args_oom) {
        http_problem(rq, ASSET_OUT_OF_MEMORY, NULL, "out of memory; nothing was written");
        return -1;
    }
    if (rq->bad_args) {
        http_problem(rq, ASSET_INVALID_ARGUMENT, "query string", "is malformed");
        return -1;
    }
    return 0;
}

/* Route r of rq, routed and authenticated, to its answer. */
static void run_route(http_req *rq, const route *r, const char *p1, const char *p2)
{
    if (args_or_reply(rq) != 0)
        return;
    idem_ctx ic = {0};
    if ((r->flags & IDEMPOTENT) && !idem_start_or_reply(rq, &ic)) {
        /* answered: a replay, a conflict or a bad key */
    } else {
        if (r->body != BODY_JSON || parse_body_or_reply(rq) == 0)
            r->handler(rq, p1, p2);
        handled(rq, r);
        if (r->flags & IDEMPOTENT)
            idem_end(rq, &ic);
    }
    audit_done(rq, r, p1, ic.unaudited);
}

void router_dispatch(http_req *rq)
{
    const char *p1 = NULL, *p2 = NULL;
    const route *r = route_or_reply(rq, true, &p1, &p2);
    if (r)
        run_route(rq, r, p1, p2);
}

int router_together(const http_req *rq)
{
    const char *a = rq->url + strlen("/assets/");
    if (strncmp(rq->url, "/assets/", 8) != 0 || !*a || strchr(a, '/'))
        return ROUTER_TOGETHER_NONE;
    return strcmp(rq->method, "GET") == 0      ? ROUTER_TOGETHER_READ
           : strcmp(rq->method, "DELETE") == 0 ? ROUTER_TOGETHER_REMOVE
           : strcmp(rq->method, "PATCH") == 0  ? ROUTER_TOGETHER_UPDATE
                                               : ROUTER_TOGETHER_NONE;
}

void router_dispatch_together(http_req **rqs, int n)
{
    http_req *ours[ASSET_GET_GROUP_MAX];
    const char *alias[ASSET_GET_GROUP_MAX];
    const route *r = NULL, *kind = NULL;
    int m = 0;
    for (int i = 0; i < n && i < ASSET_GET_GROUP_MAX; i++) {
        const char *p1 = NULL, *p2 = NULL;
        if (!(r = route_or_reply(rqs[i], true, &p1, &p2)))
            continue;
        if ((r->handler != h_asset_get && r->handler != h_asset_remove &&
             r->handler != h_asset_update) ||
            (kind && r != kind) || rqs[i]->args_oom || rqs[i]->bad_args) {
            run_route(rqs[i], r, p1, p2);
            continue;
        }
        if (r->body == BODY_JSON && parse_body_or_reply(rqs[i]) != 0) {
            audit_done(rqs[i], r, p1, false);
            continue;
        }
        kind = r;
        ours[m] = rqs[i];
        alias[m++] = p1;
    }
    if (!m)
        return;
    if (kind->handler == h_asset_get)
        h_asset_get_group(ours, alias, m);
    else if (kind->handler == h_asset_remove)
        h_asset_remove_group(ours, alias, m);
    else
        h_asset_update_group(ours, alias, m);
    for (int j = 0; j < m; j++) {
        handled(ours[j], kind);
        audit_done(ours[j], kind, alias[j], false);
    }
}
