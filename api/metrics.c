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
    uint64_t group_tx = 0, group_adds = 0;
    add_group_counts(app->svc, &group_tx, &group_adds);
    out(&o,
        "# HELP assetd_add_group_transactions_total Transactions of group commit (POST /assets).\n"
        "# TYPE assetd_add_group_transactions_total counter\n"
        "assetd_add_group_transactions_total %llu\n"
        "# HELP assetd_add_group_adds_total Adds written by those transactions.\n"
        "# TYPE assetd_add_group_adds_total counter\nassetd_add_group_adds_total %llu\n",
        (unsigned long long)group_tx, (unsigned long long)group_adds);
    uint64_t get_statements = 0, get_reads = 0;
    assets_get_group_counts(&get_statements, &get_reads);
    out(&o,
        "# HELP assetd_get_group_statements_total Statements of group reads (GET "
        "/assets/{alias}).\n"
        "# TYPE assetd_get_group_statements_total counter\n"
        "assetd_get_group_statements_total %llu\n"
        "# HELP assetd_get_group_reads_total Reads looked up by those statements.\n"
        "# TYPE assetd_get_group_reads_total counter\nassetd_get_group_reads_total %llu\n",
        (unsigned long long)get_statements, (unsigned long long)get_reads);
    uint64_t rm_statements = 0, rm_removes = 0;
    assets_remove_group_counts(&rm_statements, &rm_removes);
    out(&o,
        "# HELP assetd_remove_group_statements_total Statements of group removes (DELETE "
        "/assets/{alias}).\n"
        "# TYPE assetd_remove_group_statements_total counter\n"
        "assetd_remove_group_statements_total %llu\n"
        "# HELP assetd_remove_group_removes_total Removes made by those statements.\n"
        "# TYPE assetd_remove_group_removes_total counter\nassetd_remove_group_removes_total "
        "%llu\n",
        (unsigned long long)rm_statements, (unsigned long long)rm_removes);
    uint64_t up_tx = 0, up_updates = 0;
    assets_update_group_counts(&up_tx, &up_updates);
    out(&o,
        "# HELP assetd_update_group_transactions_total Transactions of group updates (PATCH "
        "/assets/{alias}).\n"
        "# TYPE assetd_update_group_transactions_total counter\n"
        "assetd_update_group_transactions_total %llu\n"
        "# HELP assetd_update_group_updates_total Updates those transactions held.\n"
        "# TYPE assetd_update_group_updates_total counter\nassetd_update_group_updates_total "
        "%llu\n",
        (unsigned long long)up_tx, (unsigned long long)up_updates);
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
