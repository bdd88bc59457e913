/* router: method + path -> route, authentication and who may call what, then the handler. */
#ifndef ASSETD_ROUTER_H
#define ASSETD_ROUTER_H

#include "http.h"

/* Route ids, also the metrics' route label (router_route_name). */
enum {
    ROUTE_NONE,
    ROUTE_HEALTHZ,
    ROUTE_READYZ,
    ROUTE_METRICS,
    ROUTE_OPENAPI,
    ROUTE_ASSETS,
    ROUTE_ASSET_ONE,
    ROUTE_PRE_QUERY,
    ROUTE_AUTH_QUERY,
    ROUTE_POST_QUERY,
    ROUTE_SYNC_RESULT,
    ROUTE_DEVICES,
    ROUTE_DEVICE,
    ROUTE_DEVICE_STATE,
    ROUTE_DEVICE_AUTH_KEY,
    ROUTE_DEVICE_APPS,
    ROUTE_DEVICE_APP,
    ROUTE_BACKUPS,
    ROUTE_BACKUP,
    ROUTE_RESTORES,
    ROUTE_RESTORE,
    ROUTE_AUDIT,
    ROUTE_DEVICE_TOKEN,
    ROUTE_DEVICE_APP_TOKEN,
    ROUTE_RESTORE_PREVIEW,
    ROUTE_RESTORE_RECORDS,
    ROUTE_RESTORE_RETRY,
    ROUTE_SYNC_RESULT_RECORDS,
    ROUTE_BATCH_ADD,
    ROUTE_BATCH_UPDATE,
    ROUTE_BATCH_REMOVE,
    ROUTE_COUNT
};

/* Fills rq's response. */
void router_dispatch(http_req *rq);
/* Requests run together with the like ones queued next to them (dispatch.c). */
enum { ROUTER_TOGETHER_NONE, ROUTER_TOGETHER_READ, ROUTER_TOGETHER_REMOVE, ROUTER_TOGETHER_UPDATE };
/* Whether rq looks like a GET (READ), DELETE (REMOVE) or PATCH (UPDATE) /assets/{alias}, by its
 * method and path alone (no allocation: the HTTP thread asks, before queueing it). */
int router_together(const http_req *rq);
/* Fills the responses of n requests of one kind that router_together picked, each with its own
 * principal (rq->who): the reads by alias among them looked up together (asset_get.h), the
 * removes and updates by alias made together (asset_remove.h, asset_update.h), any other request
 * as router_dispatch would. */
void router_dispatch_together(http_req **rqs, int n);
/* A body over the limit: answers 404/401/429/403 as the request would get them, else 413. */
void router_reject_body(http_req *rq);
const char *router_route_name(int route);

#endif
