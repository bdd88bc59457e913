#include "router.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "handlers.h"

enum { WHO_PUBLIC = 0, WHO_ADMIN = 1, WHO_DEVICE = 2, WHO_APP = 4 };
enum { BODY_NONE, BODY_JSON };

typedef struct {
    int id;
    const char *method;
    const char *tmpl; /* '*' segments are parameters */
    const char *name; /* route template for logs and metrics */
    unsigned who;
    int body;
    handler_fn *fn;
} route;

#define MGR (WHO_ADMIN | WHO_DEVICE)

/* First match wins: the fixed /assets/... paths come before /assets/{alias}. */
static const route routes[] = {
    {ROUTE_HEALTHZ, "GET", "/healthz", "/healthz", WHO_PUBLIC, BODY_NONE, h_healthz},
    {ROUTE_READYZ, "GET", "/readyz", "/readyz", WHO_PUBLIC, BODY_NONE, h_readyz},
    {ROUTE_METRICS, "GET", "/metrics", "/metrics", WHO_PUBLIC, BODY_NONE, h_metrics},
    {ROUTE_ASSETS, "POST", "/assets", "/assets", WHO_APP, BODY_JSON, h_assets_add},
    {ROUTE_ASSETS, "GET", "/assets", "/assets", WHO_APP, BODY_NONE, h_assets_query},
    {ROUTE_ASSETS, "DELETE", "/assets", "/assets", WHO_APP, BODY_NONE, h_assets_remove},
    {ROUTE_PRE_QUERY, "POST", "/assets/pre-query", "/assets/pre-query", WHO_APP, BODY_JSON,
     h_pre_query},
    {ROUTE_AUTH_QUERY, "POST", "/assets/query", "/assets/query", WHO_APP, BODY_JSON,
     h_auth_query},
    {ROUTE_POST_QUERY, "POST", "/assets/post-query", "/assets/post-query", WHO_APP, BODY_JSON,
     h_post_query},
    {ROUTE_ASSET_ONE, "GET", "/assets/*", "/assets/{alias}", WHO_APP, BODY_NONE, h_asset_get},
    {ROUTE_ASSET_ONE, "PATCH", "/assets/*", "/assets/{alias}", WHO_APP, BODY_JSON,
     h_asset_update},
    {ROUTE_ASSET_ONE, "DELETE", "/assets/*", "/assets/{alias}", WHO_APP, BODY_NONE,
     h_asset_remove},
    {ROUTE_SYNC_RESULT, "GET", "/sync-result", "/sync-result", WHO_APP, BODY_NONE,
     h_sync_result},
    {ROUTE_DEVICES, "POST", "/devices", "/devices", WHO_ADMIN, BODY_JSON, h_device_create},
    {ROUTE_DEVICE, "GET", "/devices/*", "/devices/{id}", MGR, BODY_NONE, h_device_get},
    {ROUTE_DEVICE_STATE, "PUT", "/devices/*/state", "/devices/{id}/state", MGR, BODY_JSON,
     h_device_state},
    {ROUTE_DEVICE_AUTH_KEY, "PUT", "/devices/*/user-auth-key", "/devices/{id}/user-auth-key",
     MGR, BODY_JSON, h_device_auth_key},
    {ROUTE_DEVICE_APPS, "POST", "/devices/*/apps", "/devices/{id}/apps", MGR, BODY_JSON,
     h_app_install},
    {ROUTE_DEVICE_APP, "DELETE", "/devices/*/apps/*", "/devices/{id}/apps/{appId}", MGR,
     BODY_NONE, h_app_uninstall},
    {ROUTE_BACKUPS, "POST", "/backups", "/backups", MGR, BODY_JSON, h_backup_create},
    {ROUTE_BACKUP, "GET", "/backups/*", "/backups/{id}", MGR, BODY_NONE, h_backup_get},
    {ROUTE_RESTORES, "POST", "/restores", "/restores", MGR, BODY_JSON, h_restore_create},
    {ROUTE_RESTORE, "GET", "/restores/*", "/restores/{id}", MGR, BODY_NONE, h_restore_get},
    {ROUTE_AUDIT, "GET", "/audit", "/audit", WHO_ADMIN, BODY_NONE, h_audit_list},
};

const char *router_route_name(int id)
{
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (routes[i].id == id)
            return routes[i].name;
    return "unmatched";
}

#define MAX_SEGS 6
#define SEG_MAX 1024

/* Split a path into segments (raw, percent-encoded) by '/'. -1 if there are too many or one
 * is too long. */
static int split(const char *path, char segs[MAX_SEGS][SEG_MAX], int *n)
{
    *n = 0;
    if (path[0] != '/')
        return -1;
    const char *p = path + 1;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (*n == MAX_SEGS || len >= SEG_MAX)
            return -1;
        memcpy(segs[*n], p, len);
        segs[*n][len] = 0;
        (*n)++;
        if (!slash)
            return 0;
        p = slash + 1;
    }
}

static bool match(const char *tmpl, char segs[MAX_SEGS][SEG_MAX], int n, const char **p1,
                  const char **p2)
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
    const char *h =
        MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7) != 0 || !h[7]) {
        http_problem_status(rq, 401, ASSET_PERMISSION_DENIED, NULL,
                            "a bearer token is required");
        return -1;
    }
    asset_err e = svc_authenticate(rq->app->svc, h + 7, strlen(h + 7), &rq->who);
    if (e == ASSET_PERMISSION_DENIED) {
        http_problem_status(rq, 401, e, NULL, "the bearer token is not valid");
        return -1;
    }
    if (e != ASSET_OK) {
        http_problem(rq, e, NULL, NULL);
        return -1;
    }
    unsigned kind = rq->who.kind == PRINCIPAL_ADMIN    ? WHO_ADMIN
                    : rq->who.kind == PRINCIPAL_DEVICE ? WHO_DEVICE
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
    json_error_t err;
    if (!rq->body_len) {
        http_problem(rq, ASSET_INVALID_ARGUMENT, "body", "is required: a JSON object");
        return -1;
    }
    rq->json = json_loadb(rq->body, rq->body_len, JSON_REJECT_DUPLICATES, &err);
    if (!rq->json) {
        char detail[256];
        snprintf(detail, sizeof detail, "is not valid JSON (%s at byte %d)", err.text,
                 err.position);
        http_problem(rq, ASSET_INVALID_ARGUMENT, "body", detail);
        return -1;
    }
    if (!json_is_object(rq->json)) {
        http_problem(rq, ASSET_INVALID_ARGUMENT, "body", "must be a JSON object");
        return -1;
    }
    return 0;
}

void router_dispatch(http_req *rq)
{
    char segs[MAX_SEGS][SEG_MAX];
    int n = 0;
    const char *p1 = NULL, *p2 = NULL;
    const route *r = NULL;
    if (rq->app->shutting_down) {
        http_problem(rq, ASSET_SERVICE_UNAVAILABLE, NULL, "the service is shutting down");
        return;
    }
    if (split(rq->url, segs, &n) == 0)
        for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
            if (strcmp(routes[i].method, rq->method) == 0 && match(routes[i].tmpl, segs, n, &p1, &p2)) {
                r = &routes[i];
                break;
            }
    if (!r) {
        http_problem(rq, ASSET_NOT_FOUND, NULL, "no such route");
        return;
    }
    rq->route = r->id;
    if (r->who != WHO_PUBLIC && authenticate(rq, r->who) != 0)
        return;
    if (rq->bad_args) {
        http_problem(rq, ASSET_INVALID_ARGUMENT, "query string", "is malformed");
        return;
    }
    if (r->body == BODY_JSON && parse_body(rq) != 0)
        return;
    r->fn(rq, p1, p2);
}
