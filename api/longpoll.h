/* longpoll: GET /restores/{id}?waitSeconds= without holding a request worker or a database
 * connection while it waits (spec §12).
 *
 * A handler that finds the job unfinished asks to wait (longpoll_want) and returns without an
 * answer; the request worker then parks the still-suspended connection here (longpoll_park)
 * and takes the next request. One listener thread, with its own PostgreSQL connection, LISTENs
 * on SYNC_DONE_CHANNEL (sent by whichever instance's sync worker finishes a job) and puts the
 * waiters of that job back on the dispatch queue; expired waiters go back too. There the
 * handler runs again and answers (or, woken early, waits again). A notification that arrives
 * between the handler's read and the park is caught by a generation counter: the park is then
 * refused and the handler runs again at once. The listener's reconnect wakes every waiter, for
 * it may have missed notifications. */
#ifndef ASSETD_LONGPOLL_H
#define ASSETD_LONGPOLL_H

#include "http.h"

struct dispatch;
typedef struct longpoll longpoll;

/* A request's waiting state, in its arena. */
typedef struct lp_wait {
    double deadline_ms; /* monotonic; set on the first run */
    double queued_ms;   /* when it was last put back on the dispatch queue */
    unsigned long gen;  /* longpoll_generation() seen before the handler's read */
    bool wants;         /* the handler asked to park it */
    char key[40];       /* the restore id */
    struct http_req *next;
} lp_wait;

WUR int longpoll_start(longpoll **out, const char *database_url, int timeout_ms,
                       struct dispatch *d);
/* Refuses new waiters and puts every parked one back on the dispatch queue (shutdown: call
 * before draining the request workers). NULL-safe. */
void longpoll_shutdown(longpoll *lp);
/* Joins the listener and frees (after the request workers are stopped). NULL-safe. */
void longpoll_free(longpoll *lp);

/* Notifications seen so far (0 for NULL): read it before reading the job. */
unsigned long longpoll_generation(longpoll *lp);
/* From a handler: let rq wait up to secs (counted from its first run) for restore id. 0: it
 * will wait, answer nothing now; -1: answer now (time is up, shutting down, no listener). */
int longpoll_want(longpoll *lp, http_req *rq, const char *id, long secs, unsigned long gen);
/* From the request worker after the handler: park rq if it wants to wait. 0: parked (the
 * worker must not touch rq again); -1: not parked, run the handler again now. */
int longpoll_park(longpoll *lp, http_req *rq);

#endif
