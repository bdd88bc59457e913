#include "metrics.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "../service/asset_add.h"
#include "../service/asset_get.h"
#include "../service/asset_remove.h"
#include "../service/asset_update.h"
#include "../service/sync/sync.h"
#include "router.h"

static const int statuses[] = {200, 201, 202, 204, 400, 401, 403, 404,
                               405, 409, 413, 429, 500, 503, 0};
#define NSTATUS (sizeof statuses / sizeof statuses[0])
static const double buckets_ms[] = {0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 5000};
#define NBUCKETS (sizeof buckets_ms / sizeof buckets_ms[0])

static _Atomic unsigned long long req_count[ROUTE_COUNT][NSTATUS];
static _Atomic unsigned long long lat_bucket[ROUTE_COUNT][NBUCKETS + 1];
static _Atomic unsigned long long lat_sum_us[ROUTE_COUNT];

void metrics_observe_request(int route, int status, double ms)
{
    size_t s = 0, b = 0;
    if (route < 0 || route >= ROUTE_COUNT)
        route = ROUTE_NONE;
    while (statuses[s] && statuses[s] != status)
        s++;
    while (b < NBUCKETS && ms > buckets_ms[b])
        b++;
    atomic_fetch_add_explicit(&req_count[route][s], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&lat_bucket[route][b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&lat_sum_us[route], (unsigned long long)(ms * 1000.0),
                              memory_order_relaxed);
}

typedef struct {
    char *buf;
    size_t len, cap;
    int failed;
} outbuf;

static void out(outbuf *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out(outbuf *o, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int w = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (w < 0) {
            o->failed = 1;
            return;
        }
        if ((size_t)w < o->cap - o->len) {
            o->len += (size_t)w;
            return;
        }
        size_t cap = o->cap * 2 + (size_t)w;
        char *nb = http_secure_malloc(cap);
        if (!nb) {
            o->failed = 1;
            return;
        }
        memcpy(nb, o->buf, o->len);
        http_secure_free(o->buf);
        o->buf = nb;
        o->cap = cap;
    }
}

/* Two counters of a group mechanism: what ran (assetd_<name1>_total) and what it held. */
static void counter_pair(outbuf *o, const char *name1, const char *help1, uint64_t v1,
                         const char *name2, const char *help2, uint64_t v2)
{
    out(o,
        "# HELP assetd_%s_total %s\n# TYPE assetd_%s_total counter\nassetd_%s_total %llu\n"
        "# HELP assetd_%s_total %s\n# TYPE assetd_%s_total counter\nassetd_%s_total %llu\n",
        name1, help1, name1, name1, (unsigned long long)v1, name2, help2, name2, name2,
        (unsigned long long)v2);
}

int metrics_render(app_ctx *app, char **res, size_t *len)
{
    outbuf o = {http_secure_malloc(16384), 0, 16384, 0};
    if (!o.buf)
        return -1;
    out(&o, "# HELP assetd_http_requests_total HTTP requests by route template and status.\n"
            "# TYPE assetd_http_requests_total counter\n");
    for (int r = 0; r < ROUTE_COUNT; r++)
        for (size_t s = 0; s < NSTATUS; s++) {
            unsigned long long v = atomic_load_explicit(&req_count[r][s], memory_order_relaxed);
            if (v)
                out(&o, "assetd_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
                    router_route_name(r), statuses[s], v);
        }
    out(&o, "# HELP assetd_http_request_duration_seconds Request latency by route template.\n"
            "# TYPE assetd_http_request_duration_seconds histogram\n");
    for (int r = 0; r < ROUTE_COUNT; r++) {
        unsigned long long cum = 0;
        for (size_t b = 0; b <= NBUCKETS; b++)
            cum += atomic_load_explicit(&lat_bucket[r][b], memory_order_relaxed);
        if (!cum)
            continue;
        unsigned long long acc = 0;
        for (size_t b = 0; b <= NBUCKETS; b++) {
            acc += atomic_load_explicit(&lat_bucket[r][b], memory_order_relaxed);
            if (b < NBUCKETS)
                out(&o,
                    "assetd_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
                    router_route_name(r), buckets_ms[b] / 1000.0, acc);
            else
                out(&o,
                    "assetd_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n",
                    router_route_name(r), acc);
        }
        out(&o, "assetd_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n",
            router_route_name(r),
            (double)atomic_load_explicit(&lat_sum_us[r], memory_order_relaxed) / 1e6);
        out(&o, "assetd_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
            router_route_name(r), acc);
    }
    out(&o,
        "# HELP assetd_db_pool_in_use Database connections checked out.\n"
        "# TYPE assetd_db_pool_in_use gauge\nassetd_db_pool_in_use %d\n",
        db_pool_in_use(app->svc->pool));
    uint64_t a = 0, b = 0;
    add_group_counts(app->svc, &a, &b);
    counter_pair(&o, "add_group_transactions", "Transactions of group commit (POST /assets).", a,
                 "add_group_adds", "Adds written by those transactions.", b);
    assets_get_group_counts(&a, &b);
    counter_pair(&o, "get_group_statements", "Statements of group reads (GET /assets/{alias}).", a,
                 "get_group_reads", "Reads looked up by those statements.", b);
    assets_remove_group_counts(&a, &b);
    counter_pair(&o, "remove_group_statements",
                 "Statements of group removes (DELETE /assets/{alias}).", a, "remove_group_removes",
                 "Removes made by those statements.", b);
    assets_update_group_counts(&a, &b);
    counter_pair(&o, "update_group_transactions",
                 "Transactions of group updates (PATCH /assets/{alias}).", a,
                 "update_group_updates", "Updates those transactions held.", b);
    sync_stats st;
    sync_stats_read(&st);
    out(&o,
        "# HELP assetd_restore_records_total Restore records decided, by outcome and rule.\n"
        "# TYPE assetd_restore_records_total counter\n"
        "assetd_restore_records_total{outcome=\"accepted\",rule=\"ok\"} %llu\n",
        st.accepted);
    for (int r = 1; r < RULE_COUNT; r++)
        out(&o, "assetd_restore_records_total{outcome=\"failed\",rule=\"%s\"} %llu\n",
            rules_name((restore_rule)r), st.failed[r]);
    long counts[RESTORE_STATUS_COUNT] = {0};
    if (sync_restore_counts(app->svc, counts) == ASSET_OK) {
        out(&o, "# HELP assetd_restore_jobs Restore jobs by state.\n"
                "# TYPE assetd_restore_jobs gauge\n");
        for (int i = 0; i < RESTORE_STATUS_COUNT; i++)
            out(&o, "assetd_restore_jobs{state=\"%s\"} %ld\n", sync_status_name(i), counts[i]);
    }
    if (o.failed) {
        http_secure_free(o.buf);
        return -1;
    }
    *res = o.buf;
    *len = o.len;
    return 0;
}
