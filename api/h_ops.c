/* Handlers of the operational endpoints: health, readiness, metrics. */
#include "handlers.h"
#include "metrics.h"

void h_healthz(http_req *rq, const char *a, const char *b)
{
    (void)a;
    (void)b;
    http_json(rq, 200, json_pack("{s:s}", "status", "ok"));
}

void h_readyz(http_req *rq, const char *a, const char *b)
{
    (void)a;
    (void)b;
    asset_err e = svc_ready(rq->app->svc);
    if (e != ASSET_OK)
        http_problem(rq, ASSET_SERVICE_UNAVAILABLE, NULL,
                     "the database is unreachable or migrations are not applied");
    else
        http_json(rq, 200, json_pack("{s:s}", "status", "ready"));
}

void h_metrics(http_req *rq, const char *a, const char *b)
{
    char *text = NULL;
    size_t len = 0;
    (void)a;
    (void)b;
    if (metrics_render(rq->app, &text, &len) != 0)
        http_problem(rq, ASSET_OUT_OF_MEMORY, NULL, NULL);
    else
        http_text(rq, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
}
