#include "server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dispatch.h"
#include "edge.h"
#include "longpoll.h"
#include "../service/log.h"
#include "metrics.h"
#include "router.h"

/* libmicrohttpd's memory pool per connection (its default is 32 KiB): the request line and the
 * headers, never a body (bodies go to our own buffer, on_body). Every open connection holds one
 * whole, so it is most of the memory of many idle keep-alive connections. 16 KiB still takes a
 * URL with two label filters at their 2,048-byte maximum fully percent-encoded (12 KiB); longer
 * request lines or header sections get libmicrohttpd's own 414 / 431. */
#define CONNECTION_MEMORY (16 * 1024)

static atomic_int in_flight;
/* The edge's deadlines and sweep (edge.c), for the daemon's lifetime. */
static edge *the_edge;
/* One JSON line per request on stderr, unless ASSETD_LOG_REQUESTS=0 (errors are always logged). */
static int log_requests = 1;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static enum MHD_Result send_response(http_req *rq)
{
    struct MHD_Response *r;
    if (rq->resp)
        r = MHD_create_response_from_buffer_with_free_callback(rq->resp_len, rq->resp,
                                                               http_secure_free);
    else
        r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    rq->resp = NULL; /* the response owns it now */
    if (rq->content_type)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, rq->content_type);
    MHD_add_response_header(r, "X-Request-Id", rq->request_id);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (rq->location[0])
        MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, rq->location);
    if (rq->www_auth)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (rq->etag[0])
        MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, rq->etag);
    if (rq->replayed)
        MHD_add_response_header(r, "Idempotent-Replayed", "true");
    if (rq->allow)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, rq->allow);
    if (rq->retry_after > 0) {
        char s[16];
        snprintf(s, sizeof s, "%d", rq->retry_after);
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, s);
    }
    if (rq->app->shutting_down)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret = MHD_queue_response(rq->conn, (unsigned)rq->status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    http_req *rq = cls;
    (void)kind;
    if (rq->nargs == REQ_ARGS_MAX) {
        rq->bad_args = true;
        return MHD_NO;
    }
    http_arg *a = &rq->args[rq->nargs];
    size_t vlen = value ? strlen(value) : 0;
    if (!arena_alloc(&rq->mem, strlen(key) + vlen + 64)) { /* will the decodes fit? */
        rq->args_oom = true;
        return MHD_NO;
    }
    if (http_pct_decode(&rq->mem, key, strlen(key), true, &a->key, &a->key_len) != 0 ||
        http_pct_decode(&rq->mem, value ? value : "", vlen, true, &a->val, &a->val_len) != 0) {
        rq->bad_args = true;
        return MHD_NO;
    }
    rq->nargs++;
    return MHD_YES;
}

/* Leave URLs as they came: we decode paths and arguments ourselves, so that escapes of NUL and
 * malformed escapes are seen and refused rather than silently cut. */
static size_t keep_escaped(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    return strlen(s);
}

/* ---- lifecycle ---- */

/* Random bytes for request ids, drawn from the system a page at a time per HTTP thread: one
 * getrandom call per request was a system call of its own on every request. */
static _Thread_local unsigned char id_pool[4096];
static _Thread_local size_t id_pool_left;

static void new_request_id(char out[33])
{
    unsigned char b[16];
    if (id_pool_left < sizeof b) {
        randombytes_buf(id_pool, sizeof id_pool);
        id_pool_left = sizeof id_pool;
    }
    id_pool_left -= sizeof b; /* ids are public: no need to wipe what was used */
    memcpy(b, id_pool + id_pool_left, sizeof b);
    sodium_bin2hex(out, 33, b, sizeof b);
}

/* A request header copied into the request's arena; out of memory is answered 503 (args_oom),
 * never taken for an absent header. */
static const char *copy_header(http_req *rq, const char *name)
{
    const char *h = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, name);
    const char *copy = h ? arena_strndup(&rq->mem, h, strlen(h)) : NULL;
    if (h && !copy)
        rq->args_oom = true;
    return copy;
}

static void prepare(http_req *rq)
{
    const char *h =
        MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    rq->authorization = h ? arena_strndup(&rq->mem, h, strlen(h)) : NULL;
    rq->if_match = copy_header(rq, MHD_HTTP_HEADER_IF_MATCH);
    rq->if_none_match = copy_header(rq, MHD_HTTP_HEADER_IF_NONE_MATCH);
    rq->idempotency_key = copy_header(rq, "Idempotency-Key");
    if (!rq->too_big)
        MHD_get_connection_values(rq->conn, MHD_GET_ARGUMENT_KIND, collect_arg, rq);
}

/* The body limit of a request: the batch routes carry up to 100 items. */
static size_t body_limit(const app_ctx *app, const char *url)
{
    return strncmp(url, "/assets/batch-", 14) == 0 ? app->cfg->batch_body_limit
                                                   : app->cfg->body_limit;
}

/* Hands rq to a request worker (dispatch.c). When the queue is full, answers 503 at once:
 * -1, the answer is set. */
static int submit_or_reply(http_req *rq)
{
    edge_request_received(rq->conn);
    prepare(rq);
    rq->queued = true;
    int kind = rq->too_big ? ROUTER_TOGETHER_NONE : router_together(rq);
    const config *cfg = rq->app->cfg;
    rq->together = (kind == ROUTER_TOGETHER_READ && cfg->group_read_max > 1) ||
                           (kind != ROUTER_TOGETHER_READ && cfg->group_commit_max > 1)
                       ? kind
                       : ROUTER_TOGETHER_NONE;
    if (dispatch_submit(rq->app->dispatch, rq) != 0) {
        rq->queued = false;
        http_problem(rq, ASSET_SERVICE_UNAVAILABLE, NULL, "too many requests queued; retry");
        return -1;
    }
    return 0;
}

/* The first call, once the headers are in: framing checks, and a declared body over the limit
 * is refused before it is read. */
static enum MHD_Result on_first_call(http_req *rq, const char *version)
{
    if (edge_check_framing_or_reply(rq, version) != 0) {
        edge_request_received(rq->conn);
        return send_response(rq);
    }
    const char *cl =
        MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl && strtoull(cl, NULL, 10) > body_limit(rq->app, rq->url)) {
        /* The route and the token still come first, and checking a token may wait on the
         * database: a request worker does it. On resume libmicrohttpd calls us again in this
         * same state, where the answer can still be queued before the body (then discarded,
         * and the connection closed). */
        rq->too_big = true;
        if (submit_or_reply(rq) != 0)
            return send_response(rq);
    }
    return MHD_YES;
}

/* A piece of the body. Past the limit (a chunked body: a declared one was refused earlier)
 * nothing more is read: the piece is left unconsumed while a worker finds the answer, and that
 * answer is written to the socket directly, since libmicrohttpd accepts no response while a
 * body is being received; returning MHD_NO then closes the connection. */
static enum MHD_Result on_body(http_req *rq, const char *data, size_t *size)
{
    size_t n = *size;
    if (rq->done || rq->status) {
        edge_answer_raw(rq);
        return MHD_NO;
    }
    if (rq->body_len + n > body_limit(rq->app, rq->url)) {
        rq->too_big = true;
        if (submit_or_reply(rq) != 0) {
            edge_answer_raw(rq);
            return MHD_NO;
        }
        return MHD_YES;
    }
    *size = 0;
    if (rq->body_len + n + 1 > rq->body_cap) {
        size_t cap = rq->body_cap ? rq->body_cap : 1024;
        while (cap < rq->body_len + n + 1)
            cap *= 2;
        char *nb = http_secure_malloc(cap);
        if (!nb)
            return MHD_NO;
        if (rq->body_len)
            memcpy(nb, rq->body, rq->body_len);
        http_secure_free(rq->body);
        rq->body = nb;
        rq->body_cap = cap;
    }
    memcpy(rq->body + rq->body_len, data, n);
    rq->body_len += n;
    rq->body[rq->body_len] = 0;
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
    app_ctx *app = cls;
    http_req *rq = *con_cls;
    if (!rq) {
        if (!(rq = calloc(1, sizeof *rq)))
            return MHD_NO;
        rq->conn = conn;
        rq->app = app;
        rq->method = method;
        rq->url = url;
        rq->start_ms = now_ms();
        new_request_id(rq->request_id);
        atomic_fetch_add(&in_flight, 1);
        *con_cls = rq;
        return on_first_call(rq, version);
    }
    if (*upload_size)
        return on_body(rq, upload_data, upload_size);
    if (rq->done) /* resumed: a request worker has the answer ready */
        return send_response(rq);
    if (rq->status || rq->queued) /* already answered, or queued */
        return MHD_YES;
    /* Everything the handlers need from the connection is copied now: a worker must not touch
     * a suspended connection. */
    if (strcmp(rq->method, "GET") == 0 && strcmp(rq->url, "/healthz") == 0) {
        edge_request_received(conn);
        prepare(rq);
        router_dispatch(rq); /* liveness needs no database: answered here, never queued */
        return send_response(rq);
    }
    if (submit_or_reply(rq) != 0)
        return send_response(rq);
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    http_req *rq = *con_cls;
    (void)cls;
    edge_request_done(conn);
    if (!rq)
        return;
    double ms = now_ms() - rq->start_ms;
    int status = rq->status ? rq->status : 499;
    metrics_observe_request(rq->route, status, ms);
    /* The method is the client's: log.h escapes it, so it cannot break or add to the line. */
    /* A failure's line is written at once; the others with the lines of other requests
     * (log_emit_later), at most a quarter of a second late. */
    void (*emit)(log_level, const char *, ...) = status >= 500 ? log_emit : log_emit_later;
    if (status >= 500 || log_requests)
        emit(status >= 500 ? LOG_ERROR : LOG_INFO, "request", LOG_STR("requestId", rq->request_id),
             LOG_STR("method", rq->method), LOG_STR("route", router_route_name(rq->route)),
             LOG_INT("status", status), LOG_MS("ms", ms),
             LOG_BOOL("completed", toe == MHD_REQUEST_TERMINATED_COMPLETED_OK), LOG_END);
    json_decref(rq->json);
    http_secure_free(rq->body);
    http_secure_free(rq->resp);
    arena_free(&rq->mem);
    free(rq);
    *con_cls = NULL;
    atomic_fetch_sub(&in_flight, 1);
}

int server_start(app_ctx *app)
{
    const config *cfg = app->cfg;
    log_requests = cfg->log_requests;
    struct sockaddr_in6 a6;
    struct sockaddr_in a4;
    struct sockaddr *sa;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME;
    /* 3 spare threads per worker (256 at most): adds in a group commit (service/asset_add.h)
     * leave their place to other requests, and groups grow with the adds that wait. */
    int spare = cfg->request_workers < 256 / 3 ? 3 * cfg->request_workers : 256;
    app->svc->wait_begin = dispatch_wait_begin;
    app->svc->wait_end = dispatch_wait_end;
    /* Runs of reads by alias at once (dispatch.h): one per core, two at least (one statement in
     * PostgreSQL while the other's answers are written). Fewer runs make bigger groups: at 64
     * connections on 2 cores, 8 runs looked up 7.7 reads per statement at 68 us of CPU per read
     * (assetd and PostgreSQL), 2 runs 12 reads at 55 us. */
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int read_limit = cores > 2 ? (int)cores : 2;
    if (read_limit > cfg->request_workers)
        read_limit = cfg->request_workers;
    if (dispatch_start(&app->dispatch, cfg->request_workers, spare, read_limit, cfg->group_read_max,
                       cfg->group_commit_max, cfg->request_queue, cfg->db_timeout_ms) != 0) {
        log_error("cannot start the request workers");
        return -1;
    }
    if (edge_start(&the_edge, cfg->connection_timeout) != 0) {
        log_error("cannot start the connection sweep");
        dispatch_stop(app->dispatch);
        app->dispatch = NULL;
        return -1;
    }
    if (longpoll_start(&app->longpoll, cfg->database_url, cfg->db_timeout_ms, app->dispatch) != 0) {
        log_error("cannot start the long-poll listener");
        dispatch_stop(app->dispatch);
        app->dispatch = NULL;
        edge_stop(the_edge);
        the_edge = NULL;
        return -1;
    }
    memset(&a6, 0, sizeof a6);
    memset(&a4, 0, sizeof a4);
    if (inet_pton(AF_INET, cfg->listen_addr, &a4.sin_addr) == 1) {
        a4.sin_family = AF_INET;
        a4.sin_port = htons((uint16_t)cfg->port);
        sa = (struct sockaddr *)&a4;
    } else if (inet_pton(AF_INET6, cfg->listen_addr, &a6.sin6_addr) == 1) {
        a6.sin6_family = AF_INET6;
        a6.sin6_port = htons((uint16_t)cfg->port);
        sa = (struct sockaddr *)&a6;
        flags |= MHD_USE_IPv6;
    } else {
        log_error("ASSETD_LISTEN_ADDR is not an IP address", LOG_STR("value", cfg->listen_addr));
        longpoll_free(app->longpoll);
        app->longpoll = NULL;
        dispatch_stop(app->dispatch);
        app->dispatch = NULL;
        edge_stop(the_edge);
        the_edge = NULL;
        return -1;
    }
    app->mhd = MHD_start_daemon(
        flags, (uint16_t)cfg->port, NULL, NULL, on_request, app, MHD_OPTION_SOCK_ADDR, sa,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg->http_threads, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)cfg->max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned)cfg->per_ip_connections, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)cfg->connection_timeout, MHD_OPTION_UNESCAPE_CALLBACK, keep_escaped, NULL,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, app, MHD_OPTION_NOTIFY_CONNECTION,
        edge_on_connection, the_edge, MHD_OPTION_URI_LOG_CALLBACK, edge_on_uri, the_edge,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)CONNECTION_MEMORY, MHD_OPTION_END);
    if (!app->mhd) {
        log_error("cannot listen", LOG_STR("address", cfg->listen_addr),
                  LOG_INT("port", cfg->port));
        longpoll_free(app->longpoll);
        app->longpoll = NULL;
        dispatch_stop(app->dispatch);
        app->dispatch = NULL;
        edge_stop(the_edge);
        the_edge = NULL;
        return -1;
    }
    return 0;
}

int server_in_flight(void)
{
    return atomic_load(&in_flight);
}

void server_stop(app_ctx *app)
{
    if (!app->mhd)
        return;
    /* From now on requests are answered 503 with Connection: close. No MHD_quiesce_daemon:
     * with a thread pool on epoll, libmicrohttpd 0.9.75's quiesce removes the listening socket
     * from each worker's epoll set while the worker may do the same, and a failed removal is
     * MHD_PANIC ("Failed to remove listen FD from epoll set") in the middle of a graceful
     * stop. MHD_stop_daemon closes the listening socket itself. */
    app->shutting_down = 1;
    longpoll_shutdown(app->longpoll); /* parked long polls answer now */
    /* Let in-flight requests finish, bounded. */
    for (int i = 0; i < 200 && atomic_load(&in_flight) > 0; i++)
        usleep(50 * 1000);
    dispatch_stop(app->dispatch); /* finishes what is still queued */
    app->dispatch = NULL;
    longpoll_free(app->longpoll);
    app->longpoll = NULL;
    MHD_stop_daemon(app->mhd);
    app->mhd = NULL;
    edge_stop(the_edge); /* after the daemon: every connection was reported closed */
    the_edge = NULL;
    log_flush(); /* the last request lines */
}
