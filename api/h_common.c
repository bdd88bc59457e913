/* Helpers shared by the handlers: path parameters, query-string and body key checks. */
#include <string.h>

#include "../service/svc.h"
#include "handlers.h"
#include "jsonmap.h"

int handler_path_param_or_reply(http_req *rq, const char *raw, const char *name, const char **out,
                                size_t *len)
{
    if (http_pct_decode(&rq->mem, raw, strlen(raw), false, out, len) != 0) {
        http_problem(rq, ASSET_INVALID_ARGUMENT, name, "has a malformed percent escape");
        return -1;
    }
    return 0;
}

int handler_uuid_param_or_reply(http_req *rq, const char *raw, const char *name, const char **out)
{
    size_t len = 0;
    if (handler_path_param_or_reply(rq, raw, name, out, &len) != 0)
        return -1;
    if (!uuid_valid(*out, len)) {
        http_problem(rq, ASSET_INVALID_ARGUMENT, name, "is not a UUID");
        return -1;
    }
    uuid_lower((char *)*out); /* the decoded copy is the request's own */
    return 0;
}

int handler_no_args_or_reply(http_req *rq)
{
    if (rq->nargs) {
        http_problem(rq, ASSET_INVALID_ARGUMENT, rq->args[0].key,
                     "is not a parameter this operation takes");
        return -1;
    }
    return 0;
}

int handler_only_keys_or_reply(http_req *rq, json_t *obj, const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        bool ok = false;
        for (int i = 0; allowed[i] && !ok; i++)
            ok = strcmp(allowed[i], key) == 0;
        if (!ok) {
            http_problem(rq, ASSET_INVALID_ARGUMENT, key, "is not a field this operation takes");
            return -1;
        }
    }
    return 0;
}

int handler_may_manage_or_reply(http_req *rq, const char *device_id)
{
    if (!principal_may_manage(rq->who, device_id)) {
        http_problem(rq, ASSET_PERMISSION_DENIED, NULL, "this token may not manage this device");
        return -1;
    }
    return 0;
}

int handler_build_req_or_reply(http_req *rq, asset_req *q, asset_op args_op, json_t *body,
                               asset_op body_op, asset_op finish_op)
{
    const char *field = NULL, *why = NULL;
    asset_err e = jsonmap_req_from_args(q, args_op, rq->args, rq->nargs, &field, &why);
    if (e == ASSET_OK && body)
        e = jsonmap_req_from_json(q, body_op, body, &field, &why);
    if (e == ASSET_OK)
        e = asset_req_finish(q, finish_op, &field, &why);
    if (e != ASSET_OK) {
        http_problem(rq, e, field, why);
        return -1;
    }
    return 0;
}
