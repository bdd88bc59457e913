/* metrics: Prometheus counters and histograms of the HTTP edge (requests by route template and
 * status, latency), rendered with the service's gauges for GET /metrics. Lock-free atomics. */
#ifndef ASSETD_METRICS_H
#define ASSETD_METRICS_H

#include <stddef.h>

#include "http.h"

void metrics_observe_request(int route, int status, double ms);
/* Renders the exposition text into memory from http_secure_malloc; -1 when out of memory. */
WUR int metrics_render(app_ctx *app, char **out, size_t *len);

#endif
