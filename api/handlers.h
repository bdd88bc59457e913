/* handlers: one function per route. The router has authenticated the caller (rq->who),
 * checked it may use the route, and parsed the body (rq->json) when the route takes one.
 * seg1/seg2 are the raw (still percent-encoded) path parameters, NUL-terminated. */
#ifndef ASSETD_HANDLERS_H
#define ASSETD_HANDLERS_H

#include "../service/asset_ops.h"
#include "http.h"

typedef void handler_fn(http_req *rq, const char *seg1, const char *seg2);

handler_fn h_healthz, h_readyz, h_metrics, h_openapi;
handler_fn h_assets_add, h_assets_query, h_assets_remove, h_asset_get, h_asset_update,
    h_asset_remove;
/* h_asset_get for n requests at once (router_dispatch_together): alias[k] the path parameter of
 * rqs[k]. The same answers, the assets looked up together (asset_get.h). */
void h_asset_get_group(http_req **rqs, const char **alias, int n);
/* h_asset_remove for n requests at once, the same way: removed together (asset_remove.h). */
void h_asset_remove_group(http_req **rqs, const char **alias, int n);
/* h_asset_update for n requests at once, the same way: made together (asset_update.h). */
void h_asset_update_group(http_req **rqs, const char **alias, int n);
handler_fn h_pre_query, h_auth_query, h_post_query;
handler_fn h_batch_add, h_batch_update, h_batch_remove;
handler_fn h_sync_result;
handler_fn h_device_create, h_device_get, h_device_state, h_device_auth_key, h_app_install,
    h_app_uninstall;
handler_fn h_device_remove, h_device_token, h_app_token;
handler_fn h_backup_create, h_backup_get, h_restore_create, h_restore_get;
handler_fn h_restore_preview, h_restore_records, h_restore_retry, h_sync_result_records,
    h_backup_list, h_backup_delete;
handler_fn h_audit_list;

/* Shared helpers of the handlers. */
/* Decode a path parameter (no '+' rule); 400 INVALID_ARGUMENT answered on failure (-1). */
int handler_path_param_or_reply(http_req *rq, const char *raw, const char *name, const char **out,
                                size_t *len);
/* Decode and check a UUID path parameter; answers 400 on failure (-1). */
int handler_uuid_param_or_reply(http_req *rq, const char *raw, const char *name, const char **out);
/* Answers 400 when the route takes no query parameters but got some (-1). */
int handler_no_args_or_reply(http_req *rq);
/* Checks that obj has only keys from the NULL-terminated list; answers 400 otherwise (-1). */
int handler_only_keys_or_reply(http_req *rq, json_t *obj, const char *const *allowed);
/* Fill q from the query string (as args_op) and the body (as body_op, when body is not NULL),
 * then asset_req_finish(finish_op); answers the problem and returns -1 on failure. */
int handler_build_req_or_reply(http_req *rq, asset_req *q, asset_op args_op, json_t *body,
                               asset_op body_op, asset_op finish_op);
/* The principal may manage device_id (admin or the device itself), else answers 403 (-1). */
int handler_may_manage_or_reply(http_req *rq, const char *device_id);
/* Spec §13 (h_precond.c): the If-Match header as a precondition (pre->present false when
 * absent); a malformed one answers 400 (-1). If-None-Match on an add: only "*" is taken (*any);
 * anything else answers 400 (-1). The ETag of an answered asset. */
int handler_if_match_or_reply(http_req *rq, asset_precond *pre);
int handler_if_none_match_any_or_reply(http_req *rq, bool *any);
void handler_set_etag(http_req *rq, int64_t version);

#endif
