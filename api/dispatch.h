/* dispatch: request handlers that may wait on the database run on a pool of request workers,
 * not on libmicrohttpd's threads; the connection is suspended meanwhile. So a stalled database
 * never stops the HTTP threads from accepting connections and answering /healthz, work beyond
 * the queue's bound is refused with 503 at once, and a request that waited in the queue longer
 * than the database timeout is answered 503 instead of adding to the pile. */
#ifndef ASSETD_DISPATCH_H
#define ASSETD_DISPATCH_H

#include "http.h"

typedef struct dispatch dispatch;

/* `workers` requests run at once (the database concurrency a pool of about that many connections
 * serves without waits); `spare` more threads stand by for the time some of them wait in
 * dispatch_wait_begin/end. Reads by alias (http_req.together) queued one behind another are
 * taken together by one worker (router_dispatch_together), read_max at most, and at most
 * read_limit such runs are under way at once: the reads that arrive meanwhile wait to be taken
 * together. Removes, and updates, by alias queued one behind another are taken together too,
 * write_max at most. */
WUR int dispatch_start(dispatch **out, int workers, int spare, int read_limit, int read_max,
                       int write_max, int queue_max, int timeout_ms);
/* Lets the queued requests finish, then joins the workers. NULL-safe. */
void dispatch_stop(dispatch *d);
/* Suspends rq's connection and queues it: a worker runs it, marks it done and resumes the
 * connection. -1 (nothing suspended) when the queue is full. Call from the MHD thread. */
int dispatch_submit(dispatch *d, http_req *rq);
/* Queues rq again, its connection still suspended (a parked long poll, longpoll.c). -1 when the
 * queue is full or stopping. Any thread. */
int dispatch_requeue(dispatch *d, http_req *rq);
/* From a handler on a request worker, around its time in a group commit of adds (waiting for the
 * group, or writing it for all on one connection): meanwhile its place is given to another queued
 * request. So one more connection than the workers may be in use: the pool has 2 more. Nothing on
 * other threads. */
void dispatch_wait_begin(void);
void dispatch_wait_end(void);

#endif
