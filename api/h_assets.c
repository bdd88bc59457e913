/* Handlers of the app endpoints on /assets (spec §4). */
#include "../service/asset_get.h"
#include "../service/asset_ops.h"
#include "../service/asset_remove.h"
#include "../service/asset_update.h"
#include "handlers.h"
#include "jsonmap.h"
#include "jsonpage.h"

/* Sets the alias from the path parameter. */
static int path_alias_or_reply(http_req *rq, asset_req *q, const char *raw)
{
    const char *alias, *why = NULL;
    size_t len;
    if (handler_path_param_or_reply(rq, raw, "alias", &alias, &len) != 0)
        return -1;
    asset_err e = asset_req_set_text(q, F_ALIAS, alias, len, &why);
    if (e != ASSET_OK) {
        http_problem(rq, e, "alias", why);
        return -1;
    }
    return 0;
}

/* The asset written straight as JSON text (jsonpage.h): building a Jansson tree and dumping it
 * was about a tenth of a GET's CPU in assetd. */
static void answer_one(http_req *rq, int status, asset_list *l)
{
    size_t len = 0;
    char *text = jsonpage_asset(&l->items[0], &len);
    if (!text) {
        http_json(rq, 503, NULL); /* the fixed out-of-memory answer */
        return;
    }
    http_text(rq, status, "application/json", text, len);
    handler_set_etag(rq, l->items[0].rec.version);
}

void h_assets_add(http_req *rq, const char *a, const char *b)
{
    asset_req q;
    asset_list l = {0};
    bool only_new = false;
    (void)a;
    (void)b;
    asset_req_init(&q);
    if (handler_no_args_or_reply(rq) == 0 &&
        handler_if_none_match_any_or_reply(rq, &only_new) == 0 &&
        handler_build_req_or_reply(rq, &q, OP_ADD, http_body(rq), OP_ADD, OP_ADD) == 0) {
        if (only_new) /* If-None-Match: * -- whatever conflictResolution says */
            q.conflict = CONFLICT_THROW_ERROR;
        asset_err e = assets_add(rq->app->svc, rq->who, &q, &l);
        if (e != ASSET_OK)
            http_problem(rq, e, NULL, NULL);
        else
            answer_one(rq, l.replaced ? 200 : 201, &l);
        asset_list_free(&l);
    }
    asset_req_clear(&q);
}

void h_assets_query(http_req *rq, const char *a, const char *b)
{
    asset_req q;
    asset_list l = {0};
    (void)a;
    (void)b;
    asset_req_init(&q);
    if (handler_build_req_or_reply(rq, &q, OP_QUERY, NULL, OP_QUERY, OP_QUERY) == 0) {
        asset_err e = assets_query(rq->app->svc, rq->who, &q, &l);
        if (e == ASSET_PARAM_VERIFICATION_FAILED) {
            http_problem(rq, e, "cursor", "is not valid for this query and caller");
        } else if (e != ASSET_OK) {
            http_problem(rq, e, NULL, NULL);
        } else {
            size_t len = 0;
            char *text = jsonpage_assets(&l, &len);
            if (text)
                http_text(rq, 200, "application/json", text, len);
            else
                http_json(rq, 200, NULL); /* the fixed out-of-memory answer */
        }
        asset_list_free(&l);
    }
    asset_req_clear(&q);
}

void h_assets_remove(http_req *rq, const char *a, const char *b)
{
    asset_req q;
    long removed = 0;
    (void)a;
    (void)b;
    asset_req_init(&q);
    if (handler_build_req_or_reply(rq, &q, OP_REMOVE, NULL, OP_REMOVE, OP_REMOVE) == 0) {
        asset_err e = assets_remove(rq->app->svc, rq->who, &q, false, &removed);
        if (e != ASSET_OK)
            http_problem(rq, e, NULL, NULL);
        else
            http_json(rq, 200, json_pack("{s:I}", "removed", (json_int_t)removed));
    }
    asset_req_clear(&q);
}

void h_asset_get(http_req *rq, const char *alias, const char *b)
{
    asset_req q;
    asset_list l = {0};
    (void)b;
    asset_req_init(&q);
    if (path_alias_or_reply(rq, &q, alias) == 0 &&
        handler_build_req_or_reply(rq, &q, OP_GET_ONE, NULL, OP_GET_ONE, OP_GET_ONE) == 0) {
        asset_err e = assets_query(rq->app->svc, rq->who, &q, &l);
        if (e != ASSET_OK)
            http_problem(rq, e, NULL, NULL);
        else
            answer_one(rq, 200, &l);
        asset_list_free(&l);
    }
    asset_req_clear(&q);
}

void h_asset_get_group(http_req **rqs, const char **alias, int n)
{
    asset_req q[ASSET_GET_GROUP_MAX];
    asset_get_item items[ASSET_GET_GROUP_MAX];
    http_req *asks[ASSET_GET_GROUP_MAX];
    asset_get_group g = {items, 0, NULL};
    for (int k = 0; k < n; k++) {
        asset_req_init(&q[k]);
        if (path_alias_or_reply(rqs[k], &q[k], alias[k]) == 0 &&
            handler_build_req_or_reply(rqs[k], &q[k], OP_GET_ONE, NULL, OP_GET_ONE, OP_GET_ONE) ==
                0) {
            items[g.n] = (asset_get_item){.p = rqs[k]->who, .q = &q[k]};
            asks[g.n++] = rqs[k];
        }
    }
    if (g.n)
        assets_get_group(rqs[0]->app->svc, &g);
    for (int j = 0; j < g.n; j++) {
        if (items[j].err != ASSET_OK)
            http_problem(asks[j], items[j].err, NULL, NULL);
        else
            answer_one(asks[j], 200, &items[j].out);
    }
    asset_get_group_clear(&g);
    for (int k = 0; k < n; k++)
        asset_req_clear(&q[k]);
}

/* An update's selection (path, If-Match, query) and its fields (body) into sel, upd and pre;
 * answers the problem and returns -1 when one is refused. */
static int update_req_or_reply(http_req *rq, const char *alias, asset_req *sel, asset_req *upd,
                               asset_precond *pre)
{
    const char *field = NULL, *why = NULL;
    if (path_alias_or_reply(rq, sel, alias) != 0 || handler_if_match_or_reply(rq, pre) != 0 ||
        handler_build_req_or_reply(rq, sel, OP_UPDATE_SEL, NULL, OP_UPDATE_SEL, OP_UPDATE_SEL) != 0)
        return -1;
    asset_err e = jsonmap_req_from_json(upd, OP_UPDATE, http_body(rq), &field, &why);
    if (e == ASSET_OK)
        e = asset_req_finish(upd, OP_UPDATE, &field, &why);
    if (e != ASSET_OK) {
        http_problem(rq, e, field, why);
        return -1;
    }
    return 0;
}

static void answer_updated(http_req *rq, asset_err e, asset_list *l)
{
    if (e != ASSET_OK)
        http_problem(rq, e, e == ASSET_PRECONDITION_FAILED ? "If-Match" : NULL,
                     e == ASSET_PRECONDITION_FAILED
                         ? "does not match the asset's current version; nothing was written"
                         : NULL);
    else
        answer_one(rq, 200, l);
}

void h_asset_update(http_req *rq, const char *alias, const char *b)
{
    asset_req sel, upd;
    asset_list l = {0};
    asset_precond pre;
    (void)b;
    asset_req_init(&sel);
    asset_req_init(&upd);
    if (update_req_or_reply(rq, alias, &sel, &upd, &pre) == 0)
        answer_updated(rq, assets_update_if(rq->app->svc, rq->who, &sel, &upd, &pre, &l), &l);
    asset_list_free(&l);
    asset_req_clear(&sel);
    asset_req_clear(&upd);
}

void h_asset_update_group(http_req **rqs, const char **alias, int n)
{
    asset_req sel[ASSET_GET_GROUP_MAX], upd[ASSET_GET_GROUP_MAX];
    asset_precond pre[ASSET_GET_GROUP_MAX];
    asset_update_item items[ASSET_GET_GROUP_MAX];
    http_req *asks[ASSET_GET_GROUP_MAX];
    asset_update_group g = {items, 0, NULL};
    for (int k = 0; k < n; k++) {
        asset_req_init(&sel[k]);
        asset_req_init(&upd[k]);
        if (update_req_or_reply(rqs[k], alias[k], &sel[k], &upd[k], &pre[k]) == 0) {
            items[g.n] = (asset_update_item){
                .p = rqs[k]->who, .sel = &sel[k], .upd = &upd[k], .pre = &pre[k]};
            asks[g.n++] = rqs[k];
        }
    }
    if (g.n)
        assets_update_group(rqs[0]->app->svc, &g);
    for (int j = 0; j < g.n; j++)
        answer_updated(asks[j], items[j].err, &items[j].out);
    asset_update_group_clear(&g);
    for (int k = 0; k < n; k++) {
        asset_req_clear(&sel[k]);
        asset_req_clear(&upd[k]);
    }
}

static void answer_removed(http_req *rq, asset_err e)
{
    if (e == ASSET_PRECONDITION_FAILED)
        http_problem(rq, e, "If-Match",
                     "does not match the asset's current version; nothing was removed");
    else if (e != ASSET_OK)
        http_problem(rq, e, NULL, NULL);
    else
        http_empty(rq, 204);
}

void h_asset_remove(http_req *rq, const char *alias, const char *b)
{
    asset_req q;
    asset_precond pre;
    long removed = 0;
    (void)b;
    asset_req_init(&q);
    if (path_alias_or_reply(rq, &q, alias) == 0 && handler_if_match_or_reply(rq, &pre) == 0 &&
        handler_build_req_or_reply(rq, &q, OP_REMOVE_ONE, NULL, OP_REMOVE_ONE, OP_REMOVE_ONE) ==
            0) {
        answer_removed(rq, assets_remove_if(rq->app->svc, rq->who, &q, true, &pre, &removed));
    }
    asset_req_clear(&q);
}

void h_asset_remove_group(http_req **rqs, const char **alias, int n)
{
    asset_req q[ASSET_GET_GROUP_MAX];
    asset_precond pre[ASSET_GET_GROUP_MAX];
    asset_remove_item items[ASSET_GET_GROUP_MAX];
    http_req *asks[ASSET_GET_GROUP_MAX];
    int m = 0;
    for (int k = 0; k < n; k++) {
        asset_req_init(&q[k]);
        if (path_alias_or_reply(rqs[k], &q[k], alias[k]) == 0 &&
            handler_if_match_or_reply(rqs[k], &pre[k]) == 0 &&
            handler_build_req_or_reply(rqs[k], &q[k], OP_REMOVE_ONE, NULL, OP_REMOVE_ONE,
                                       OP_REMOVE_ONE) == 0) {
            items[m] = (asset_remove_item){.p = rqs[k]->who, .q = &q[k], .pre = &pre[k]};
            asks[m++] = rqs[k];
        }
    }
    if (m)
        assets_remove_group(rqs[0]->app->svc, items, m);
    for (int j = 0; j < m; j++)
        answer_removed(asks[j], items[j].err);
    for (int k = 0; k < n; k++)
        asset_req_clear(&q[k]);
}
