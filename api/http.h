/* http: the HTTP edge's request record and response helpers, shared by the server (MHD
 * lifecycle), the router and the handlers. Only api/ knows HTTP statuses.
 *
 * A request owns its body, its arena and its parsed JSON; the server frees them (wiping the
 * body, which may hold a secret) when the connection is done with the request. */
#ifndef ASSETD_HTTP_H
#define ASSETD_HTTP_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "../service/arena.h"
#include "../service/asset_get.h"
#include "../service/asset_req.h"
#include "../service/err.h"
#include "../service/svc.h"

typedef struct app_ctx app_ctx;

#define REQ_ARGS_MAX 64

typedef struct {
    const char *key, *val; /* percent-decoded, NUL-terminated (arena) */
    size_t key_len, val_len;
} http_arg;

typedef struct http_req {
    struct MHD_Connection *conn;
    app_ctx *app;
    const char *method;
    const char *url; /* raw path, still percent-encoded */
    char *body;
    size_t body_len, body_cap;
    bool too_big;
    bool queued, done; /* handed to a request worker (dispatch.c); its answer is ready */
    int together; /* ROUTER_TOGETHER_*: run with the like requests queued next to it (dispatch.c) */
    struct lp_wait *wait;      /* a long poll's waiting state (longpoll.c), in mem */
    const char *authorization; /* the Authorization header, copied before dispatch */
    /* Spec §13 request headers, copied likewise (NULL when absent). */
    const char *if_match, *if_none_match, *idempotency_key;
    char request_id[33];
    double start_ms;
    arena mem;
    int route;      /* route id for logs and metrics */
    principal *who; /* the caller, in the thread's key page (http_principal_open) */
    bool authed;    /* who is set */
    asset_err err;  /* the error of the problem answered, if any */
    json_t *json;   /* parsed body, when the route takes one */
    /* Query string, decoded; bad_args set when one failed to decode. */
    http_arg args[REQ_ARGS_MAX];
    int nargs;
    bool bad_args;
    bool args_oom; /* decoding the query string ran out of memory */
    /* Response under construction. */
    int status;
    char *resp;
    size_t resp_len;
    const char *content_type;
    char location[160];
    int retry_after;
    char etag[24]; /* ETag: "<version>" of the asset answered, or "" */
    bool replayed; /* an Idempotency-Key replay: Idempotent-Replayed: true */
    bool www_auth;
    const char *allow;
} http_req;

struct app_ctx {
    svc *svc;
    const config *cfg;
    struct MHD_Daemon *mhd;
    struct dispatch *dispatch;
    struct longpoll *longpoll;
    atomic_int shutting_down; /* set by server_stop, read by every thread */
};

/* Response setters: each replaces any previous response. */
void http_json(http_req *rq, int status, json_t *body); /* steals body */
void http_empty(http_req *rq, int status);
void http_text(http_req *rq, int status, const char *content_type, char *text, size_t len);
/* An error as problem+json. detail may be NULL; field names the offending field. */
void http_problem(http_req *rq, asset_err e, const char *field, const char *detail);
/* A problem with an explicit status (401 vs 403, 413, 405, 429 vs 409). */
void http_problem_status(http_req *rq, int status, asset_err e, const char *field,
                         const char *detail);

/* The request's body as a JSON object (already parsed by the router), or NULL. */
static inline json_t *http_body(const http_req *rq)
{
    return rq->json;
}

/* Percent-decode p[0..n) into arena memory (NUL-terminated). plus_is_space for query strings.
 * -1 on a malformed escape. The result may contain NUL bytes: validate it as text. */
int http_pct_decode(arena *a, const char *p, size_t n, bool plus_is_space, const char **out,
                    size_t *out_len);

/* The calling thread's principal: one sodium_malloc'd (guarded, locked) page per thread, zeroed
 * for each request and wiped when it is done, so an unwrapped device key never sits in
 * ordinary heap memory, nor anywhere between requests. NULL when out of memory. */
principal *http_principal_open(void);
void http_principal_close(void);
/* The same for the n (at most ASSET_GET_GROUP_MAX) requests of a group read (dispatch.c): an
 * array zeroed, NULL when out of memory; closing wipes it and keeps it for the next group
 * (NULL-safe). */
principal *http_principals_open(int n);
void http_principals_close(principal *p, int n);

/* Parse a request body: 0 and *out (owned by the caller); -1 not JSON (*err_pos the byte
 * offset); -2 out of memory (Jansson would otherwise return silently damaged data); -3 a key
 * given twice (named in dup_key, if it fits). */
int http_parse_json_body(json_t **out, const char *body, size_t len, int *err_pos, char *dup_key,
                         size_t dup_key_len);

/* The wipe-on-free allocator installed for Jansson (bodies and responses may hold secrets). */
void *http_secure_malloc(size_t n);
void http_secure_free(void *p);

#endif
