/* server: the libmicrohttpd daemon — thread pool, limits, request lifecycle (body collection
 * with the size cap, query decoding, request ids, one JSON log line per request) and graceful
 * stop. Routing is router.c's; framing checks, the whole-request deadline and answers written
 * past libmicrohttpd are edge.c's. */
#ifndef ASSETD_SERVER_H
#define ASSETD_SERVER_H

#include "http.h"

/* Starts listening; 0 or -1 (reason on stderr). */
WUR int server_start(app_ctx *app);
/* Stops accepting, lets in-flight requests finish, frees the daemon. NULL-safe on app->mhd. */
void server_stop(app_ctx *app);
/* Requests received and not yet completed (0 when no server runs). */
int server_in_flight(void);

#endif
