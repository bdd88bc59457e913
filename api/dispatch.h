/* dispatch: request handlers that may wait on the database run on a pool of request workers,
 * not on libmicrohttpd's threads; the connection is suspended meanwhile. So a stalled database
 * never stops the HTTP threads from accepting connections and answering /healthz, work beyond
 * the queue's bound is refused with 503 at once, and a request that waited in the queue longer
 * than the database timeout is answered 503 instead of adding to the pile. */
#ifndef ASSETD_DISPATCH_H
#define ASSETD_DISPATCH_H

#include "http.h"

typedef struct dispatch dispatch;

WUR int dispatch_start(dispatch **out, int workers, int queue_max, int timeout_ms);
/* Lets the queued requests finish, then joins the workers. NULL-safe. */
void dispatch_stop(dispatch *d);
/* Suspends rq's connection and queues it: a worker runs it, marks it done and resumes the
 * connection. -1 (nothing suspended) when the queue is full. Call from the MHD thread. */
int dispatch_submit(dispatch *d, http_req *rq);
/* Queues rq again, its connection still suspended (a parked long poll, longpoll.c). -1 when the
 * queue is full or stopping. Any thread. */
int dispatch_requeue(dispatch *d, http_req *rq);

#endif
