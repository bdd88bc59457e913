/* The Idempotency-Key header of spec §13 around a route's handler (see idem.h). */
#include "idem.h"

#include <stdio.h>
#include <string.h>

#include "../service/svc.h"
#include "../service/log.h"

/* 1..255 visible ASCII characters. */
static bool key_valid(const char *k)
{
    size_t n = strlen(k);
    if (n < 1 || n > IDEM_KEY_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)k[i] < 0x21 || (unsigned char)k[i] > 0x7e)
            return false;
    return true;
}

static void request_hash(const http_req *rq, unsigned char out[IDEM_HASH_LEN])
{
    crypto_generichash_state st;
    idem_hash_init(&st, rq->app->svc);
    idem_hash_part(&st, rq->method, strlen(rq->method));
    idem_hash_part(&st, rq->url, strlen(rq->url));
    for (int i = 0; i < rq->nargs; i++) {
        idem_hash_part(&st, rq->args[i].key, rq->args[i].key_len);
        idem_hash_part(&st, rq->args[i].val, rq->args[i].val_len);
    }
    idem_hash_part(&st, rq->body, rq->body_len);
    idem_hash_final(&st, out);
}

/* Answer with the kept answer. */
static void replay(http_req *rq, idem_answer *a)
{
    char *body = NULL;
    const char *ct =
        a->content_type ? arena_strndup(&rq->mem, a->content_type, strlen(a->content_type)) : NULL;
    if ((a->content_type && !ct) || (a->body_len && !(body = http_secure_malloc(a->body_len)))) {
        http_problem(rq, ASSET_OUT_OF_MEMORY, NULL, NULL);
        return;
    }
    if (a->body_len)
        memcpy(body, a->body, a->body_len);
    http_text(rq, a->status, ct, body, a->body_len);
    snprintf(rq->location, sizeof rq->location, "%s", a->location ? a->location : "");
    snprintf(rq->etag, sizeof rq->etag, "%s", a->etag ? a->etag : "");
    rq->replayed = true;
}

bool idem_start_or_reply(http_req *rq, idem_ctx *ic)
{
    unsigned char hash[IDEM_HASH_LEN];
    idem_state state;
    idem_answer ans;
    memset(ic, 0, sizeof *ic);
    if (!rq->idempotency_key)
        return true;
    if (!key_valid(rq->idempotency_key)) {
        http_problem(rq, ASSET_INVALID_ARGUMENT, "Idempotency-Key",
                     "must be 1..255 visible ASCII characters");
        return false;
    }
    idem_principal(ic->principal, rq->who);
    request_hash(rq, hash);
    asset_err e = idem_begin(rq->app->svc, ic->principal, rq->idempotency_key, hash, &state, &ans);
    if (e != ASSET_OK) {
        http_problem(rq, e, NULL, NULL);
        return false;
    }
    switch (state) {
    case IDEM_CLAIMED:
        ic->claimed = true;
        return true;
    case IDEM_REPLAY:
        replay(rq, &ans);
        ic->unaudited = true;
        break;
    case IDEM_MISMATCH:
        http_problem(rq, ASSET_IDEMPOTENCY_CONFLICT, "Idempotency-Key",
                     "was used with another request; use a new key");
        break;
    case IDEM_IN_FLIGHT:
        http_problem(rq, ASSET_IDEMPOTENCY_CONFLICT, "Idempotency-Key",
                     "is in use by a request that is still running; retry later");
        rq->retry_after = 1;
        ic->unaudited = true;
        break;
    }
    idem_answer_free(&ans);
    return false;
}

static bool keep(int status)
{
    return (status >= 200 && status < 300) ||
           (status >= 400 && status < 500 && status != 401 && status != 429);
}

void idem_end(http_req *rq, idem_ctx *ic)
{
    if (!ic->claimed)
        return;
    ic->claimed = false;
    asset_err e;
    if (keep(rq->status)) {
        idem_answer a = {.status = rq->status,
                         .content_type = (char *)rq->content_type,
                         .body = (unsigned char *)rq->resp,
                         .body_len = rq->resp ? rq->resp_len : 0,
                         .location = rq->location[0] ? rq->location : NULL,
                         .etag = rq->etag[0] ? rq->etag : NULL};
        e = idem_complete(rq->app->svc, ic->principal, rq->idempotency_key, &a);
    } else {
        e = idem_abandon(rq->app->svc, ic->principal, rq->idempotency_key);
    }
    if (e != ASSET_OK)
        /* The answer stands (it is committed); only its replay is lost: the claim's lease
         * runs out and a repeat then runs again. Say so in the log. */
        log_error("idempotency answer not kept", LOG_STR("requestId", rq->request_id),
                  LOG_STR("error", asset_err_name(e)));
}
