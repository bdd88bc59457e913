#include "dispatch.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "longpoll.h"
#include "router.h"

/* The first `limit` threads are the workers; the others, spares, run a request only while a
 * worker waits (dispatch_wait_begin). Each kind waits on its own condition variable, so that
 * the workers, whose stacks and caches are warm, are the ones woken whenever they can be. */
struct dispatch {
    pthread_mutex_t mu;
    pthread_cond_t cv, cv_spare;
    int idle, idle_spare, next_id;
    http_req **q;
    int head, count, cap;
    int nthreads, started;
    int running, limit;      /* requests running and not waiting (dispatch_wait_begin); at most */
    int reading, read_limit; /* of those, runs of reads by alias (take); at most */
    int read_max, write_max; /* requests in one run of reads, of removes or updates */
    pthread_t *threads;
    int timeout_ms;
    bool stop;
};

static _Thread_local dispatch *current; /* the pool of a request worker */

/* Under d->mu: whether the request at the head may run now. Reads by alias wait while
 * read_limit runs of them are under way: the reads that queue meanwhile are then taken together,
 * and a statement looks up many (workers woken for one read each made groups of 1 or 2). */
static bool may_take(const dispatch *d)
{
    return d->count > 0 && d->running < d->limit &&
           !(d->q[d->head]->together == ROUTER_TOGETHER_READ && d->reading >= d->read_limit);
}

/* Under d->mu: wakes a thread for a queued request if one may run now. Signalled while the
 * mutex is held, the woken worker first waits for it: by then more reads have queued and are
 * taken together. (Signalling after the unlock was tried: groups of 9.1 reads instead of 11.0,
 * 4% fewer GET/s.) */
static void wake(dispatch *d)
{
    if (!may_take(d))
        return;
    if (d->idle > 0)
        pthread_cond_signal(&d->cv);
    else if (d->idle_spare > 0)
        pthread_cond_signal(&d->cv_spare);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void run(dispatch *d, http_req *rq)
{
    asset_err_note(NULL);
    if (!(rq->who = http_principal_open()))
        http_problem(rq, ASSET_OUT_OF_MEMORY, NULL, NULL);
    else if (now_ms() - (rq->wait ? rq->wait->queued_ms : rq->start_ms) > d->timeout_ms)
        http_problem(rq, ASSET_SERVICE_UNAVAILABLE, NULL,
                     "the service is overloaded or the database is slow; retry");
    else if (rq->too_big)
        router_reject_body(rq);
    else
        router_dispatch(rq);
    http_principal_close();
    rq->who = NULL;
}

/* Requests taken together (router_dispatch_together), each with its own principal: the timed out
 * answered 503 as run() answers them. */
static void run_reads(dispatch *d, http_req **rqs, int n)
{
    http_req *go[ASSET_GET_GROUP_MAX];
    int m = 0;
    principal *who = http_principals_open(n);
    asset_err_note(NULL);
    for (int i = 0; i < n; i++) {
        http_req *rq = rqs[i];
        if (!who)
            http_problem(rq, ASSET_OUT_OF_MEMORY, NULL, NULL);
        else if (now_ms() - rq->start_ms > d->timeout_ms)
            http_problem(rq, ASSET_SERVICE_UNAVAILABLE, NULL,
                         "the service is overloaded or the database is slow; retry");
        else
            (go[m++] = rq)->who = &who[i];
    }
    router_dispatch_together(go, m);
    http_principals_close(who, n);
    for (int i = 0; i < n; i++)
        rqs[i]->who = NULL;
}

/* Under d->mu: the request at the head and, when it is a read, remove or update by alias (and
 * this thread a worker), the ones of its kind queued right behind it: one statement or
 * transaction serves them (asset_get.h, asset_remove.h, asset_update.h), so each costs a share
 * of its round trips. Returns how many were taken. */
static int take(dispatch *d, bool spare, http_req **rqs)
{
    int n = 0, kind = d->q[d->head]->together;
    int max = spare                          ? 1
              : kind == ROUTER_TOGETHER_READ ? d->read_max
              : kind != ROUTER_TOGETHER_NONE ? d->write_max
                                             : 1;
    do {
        rqs[n++] = d->q[d->head];
        d->head = (d->head + 1) % d->cap;
        d->count--;
    } while (n < max && d->count && d->q[d->head]->together == kind);
    return n;
}

static void *worker_main(void *arg)
{
    dispatch *d = arg;
    current = d;
    pthread_mutex_lock(&d->mu);
    bool spare = d->next_id++ >= d->limit;
    for (;;) {
        while ((!may_take(d) || (spare && d->idle > 0)) && !d->stop) {
            *(spare ? &d->idle_spare : &d->idle) += 1;
            pthread_cond_wait(spare ? &d->cv_spare : &d->cv, &d->mu);
            *(spare ? &d->idle_spare : &d->idle) -= 1;
        }
        if (d->count == 0)
            break;
        http_req *rqs[ASSET_GET_GROUP_MAX];
        int n = take(d, spare, rqs);
        bool reads = rqs[0]->together == ROUTER_TOGETHER_READ;
        d->running++;
        d->reading += reads;
        pthread_mutex_unlock(&d->mu);
        if (n > 1)
            run_reads(d, rqs, n);
        else
            run(d, rqs[0]);
        /* A long poll that waits is parked, still suspended: not ours any more. */
        while (n == 1 && rqs[0] && rqs[0]->wait && rqs[0]->wait->wants) {
            if (longpoll_park(rqs[0]->app->longpoll, rqs[0]) == 0)
                rqs[0] = NULL;
            else
                run(d, rqs[0]);
        }
        for (int i = 0; i < n; i++)
            if (rqs[i]) {
                rqs[i]->done = true;
                MHD_resume_connection(rqs[i]->conn);
            }
        pthread_mutex_lock(&d->mu);
        d->running--; /* a worker takes the next request itself; a spare hands it on */
        d->reading -= reads;
        if (spare || reads)
            wake(d);
    }
    pthread_mutex_unlock(&d->mu);
    return NULL;
}

int dispatch_start(dispatch **out, int workers, int spare, int read_limit, int read_max,
                   int write_max, int queue_max, int timeout_ms)
{
    dispatch *d = calloc(1, sizeof *d);
    *out = NULL;
    if (!d)
        return -1;
    d->limit = workers;
    d->read_limit = read_limit;
    d->read_max = read_max < ASSET_GET_GROUP_MAX ? read_max : ASSET_GET_GROUP_MAX;
    d->write_max = write_max < ASSET_GET_GROUP_MAX ? write_max : ASSET_GET_GROUP_MAX;
    workers += spare;
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->cv, NULL);
    pthread_cond_init(&d->cv_spare, NULL);
    d->cap = queue_max;
    d->timeout_ms = timeout_ms;
    d->q = calloc((size_t)queue_max, sizeof *d->q);
    d->threads = calloc((size_t)workers, sizeof *d->threads);
    if (!d->q || !d->threads) {
        dispatch_stop(d);
        return -1;
    }
    for (int i = 0; i < workers; i++) {
        if (pthread_create(&d->threads[i], NULL, worker_main, d) != 0) {
            dispatch_stop(d);
            return -1;
        }
        d->started++;
    }
    *out = d;
    return 0;
}

void dispatch_stop(dispatch *d)
{
    if (!d)
        return;
    pthread_mutex_lock(&d->mu);
    d->stop = true;
    pthread_cond_broadcast(&d->cv);
    pthread_cond_broadcast(&d->cv_spare);
    pthread_mutex_unlock(&d->mu);
    for (int i = 0; i < d->started; i++)
        pthread_join(d->threads[i], NULL);
    pthread_mutex_destroy(&d->mu);
    pthread_cond_destroy(&d->cv);
    pthread_cond_destroy(&d->cv_spare);
    free(d->q);
    free(d->threads);
    free(d);
}

int dispatch_submit(dispatch *d, http_req *rq)
{
    pthread_mutex_lock(&d->mu);
    if (d->count == d->cap || d->stop) {
        pthread_mutex_unlock(&d->mu);
        return -1;
    }
    /* Suspended before any worker can see it, so the worker's resume always follows. */
    MHD_suspend_connection(rq->conn);
    d->q[(d->head + d->count) % d->cap] = rq;
    d->count++;
    wake(d); /* else a worker finishing takes it: no thread woken for nothing */
    pthread_mutex_unlock(&d->mu);
    return 0;
}

int dispatch_requeue(dispatch *d, http_req *rq)
{
    pthread_mutex_lock(&d->mu);
    if (d->count == d->cap || d->stop) {
        pthread_mutex_unlock(&d->mu);
        return -1;
    }
    d->q[(d->head + d->count) % d->cap] = rq;
    d->count++;
    wake(d); /* else a worker finishing takes it: no thread woken for nothing */
    pthread_mutex_unlock(&d->mu);
    return 0;
}

void dispatch_wait_begin(void)
{
    dispatch *d = current;
    if (!d)
        return;
    pthread_mutex_lock(&d->mu);
    d->running--;
    wake(d);
    pthread_mutex_unlock(&d->mu);
}

void dispatch_wait_end(void)
{
    dispatch *d = current;
    if (!d)
        return;
    /* Back at once, over the limit if need be: this request is the nearest to its answer. */
    pthread_mutex_lock(&d->mu);
    d->running++;
    pthread_mutex_unlock(&d->mu);
}
