/* Handlers of the user-authenticated read: pre-query, query, post-query (spec §4). */
#include <sodium.h>

#include "../service/challenge.h"
#include "handlers.h"
#include "jsonmap.h"

/* These routes take only a body (handler_no_args_or_reply ran first). */
static int build_or_reply(http_req *rq, asset_req *q, asset_op op)
{
    return handler_build_req_or_reply(rq, q, op, http_body(rq), op, op);
}

void h_pre_query(http_req *rq, const char *a, const char *b)
{
    asset_req q;
    unsigned char ch[ASSET_CHALLENGE_LEN];
    int64_t expires = 0;
    int retry = 0;
    (void)a;
    (void)b;
    asset_req_init(&q);
    if (handler_no_args_or_reply(rq) == 0 && build_or_reply(rq, &q, OP_PRE_QUERY) == 0) {
        asset_err e = challenge_pre_query(rq->app->svc, rq->who, &q, ch, &expires, &retry);
        if (e == ASSET_LIMIT_EXCEEDED) {
            http_problem_status(rq, 429, e, NULL,
                                "16 challenges of this installation are live; end one with "
                                "post-query or wait");
            rq->retry_after = retry;
        } else if (e != ASSET_OK) {
            http_problem(rq, e, NULL, NULL);
        } else {
            char
                b64[sodium_base64_ENCODED_LEN(ASSET_CHALLENGE_LEN, sodium_base64_VARIANT_ORIGINAL)];
            char when[64];
            sodium_bin2base64(b64, sizeof b64, ch, sizeof ch, sodium_base64_VARIANT_ORIGINAL);
            jsonmap_time(when, expires);
            http_json(rq, 200, json_pack("{s:s, s:s}", "challenge", b64, "expiresAt", when));
        }
    }
    asset_req_clear(&q);
}

void h_auth_query(http_req *rq, const char *a, const char *b)
{
    asset_req q;
    asset_list l = {0};
    (void)a;
    (void)b;
    asset_req_init(&q);
    if (handler_no_args_or_reply(rq) == 0 && build_or_reply(rq, &q, OP_AUTH_QUERY) == 0) {
        asset_err e = challenge_query(rq->app->svc, rq->who, &q, &l);
        if (e != ASSET_OK) {
            http_problem(rq, e, NULL, NULL);
        } else {
            http_json(rq, 200, jsonmap_asset_page(&l));
        }
        asset_list_free(&l);
    }
    asset_req_clear(&q);
}

void h_post_query(http_req *rq, const char *a, const char *b)
{
    asset_req q;
    (void)a;
    (void)b;
    asset_req_init(&q);
    if (handler_no_args_or_reply(rq) == 0 && build_or_reply(rq, &q, OP_POST_QUERY) == 0) {
        asset_err e = challenge_post_query(rq->app->svc, rq->who, &q);
        if (e != ASSET_OK)
            http_problem(rq, e, NULL, NULL);
        else
            http_empty(rq, 204);
    }
    asset_req_clear(&q);
}
