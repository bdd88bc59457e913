#include "dispatch.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "longpoll.h"
#include "router.h"

struct dispatch {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    http_req **q;
    int head, count, cap;
    int nthreads, started;
    pthread_t *threads;
    int timeout_ms;
    bool stop;
};

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

static void *worker_main(void *arg)
{
    dispatch *d = arg;
    pthread_mutex_lock(&d->mu);
    for (;;) {
        while (d->count == 0 && !d->stop)
            pthread_cond_wait(&d->cv, &d->mu);
        if (d->count == 0)
            break;
        http_req *rq = d->q[d->head];
        d->head = (d->head + 1) % d->cap;
        d->count--;
        pthread_mutex_unlock(&d->mu);
        run(d, rq);
        /* A long poll that waits is parked, still suspended: not ours any more. */
        while (rq && rq->wait && rq->wait->wants) {
            if (longpoll_park(rq->app->longpoll, rq) == 0)
                rq = NULL;
            else
                run(d, rq);
        }
        if (rq) {
            rq->done = true;
            MHD_resume_connection(rq->conn);
        }
        pthread_mutex_lock(&d->mu);
    }
    pthread_mutex_unlock(&d->mu);
    return NULL;
}

int dispatch_start(dispatch **out, int workers, int queue_max, int timeout_ms)
{
    dispatch *d = calloc(1, sizeof *d);
    *out = NULL;
    if (!d)
        return -1;
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->cv, NULL);
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
    pthread_mutex_unlock(&d->mu);
    for (int i = 0; i < d->started; i++)
        pthread_join(d->threads[i], NULL);
    pthread_mutex_destroy(&d->mu);
    pthread_cond_destroy(&d->cv);
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
    pthread_cond_signal(&d->cv);
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
    pthread_cond_signal(&d->cv);
    pthread_mutex_unlock(&d->mu);
    return 0;
}
