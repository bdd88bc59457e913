/* longpoll: parked long polls and the listener that wakes them (see longpoll.h). The waiter
 * list holds requests that belong to no thread: the listener (or a shutdown) takes one off the
 * list and hands it to the dispatch queue, which owns it from then on. */
#include "longpoll.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../service/sync/sync.h"
#include "../service/sync/sync_notify.h"
#include "dispatch.h"

struct longpoll {
    pthread_mutex_t mu;
    pthread_t thread;
    bool started, stopping;
    unsigned long gen;
    http_req *waiters; /* singly linked through wait->next */
    struct dispatch *d;
    char *url;
    int timeout_ms;
    sync_listener *ls;
    unsigned long rounds; /* of 200 ms, behind a transaction pooler */
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Back to the dispatch queue: every waiter when key is NULL and all, else those of key and
 * the expired ones. Under lp->mu. A full queue keeps the waiter for the next round. */
static void wake_locked(longpoll *lp, const char *key, bool all)
{
    double now = now_ms();
    http_req **link = &lp->waiters;
    while (*link) {
        http_req *rq = *link;
        lp_wait *w = rq->wait;
        bool go = all || w->deadline_ms <= now || (key && strcmp(w->key, key) == 0);
        if (go) {
            w->queued_ms = now;
            *link = w->next;
            w->next = NULL;
            if (dispatch_requeue(lp->d, rq) == 0)
                continue;
            w->next = *link; /* queue full: keep it, try again next round */
            *link = rq;
        }
        link = &w->next;
    }
}

/* A job finished: its waiters go back to the dispatch queue. */
static void on_done(void *ctx, const char *restore_id)
{
    longpoll *lp = ctx;
    pthread_mutex_lock(&lp->mu);
    lp->gen++;
    wake_locked(lp, restore_id, false);
    pthread_mutex_unlock(&lp->mu);
}

/* Wait up to 200 ms for notifications; wake the waiters of each finished job. */
static void listen_round(longpoll *lp)
{
    if (sync_listener_wait(lp->ls, 200, on_done, lp) != 0) {
        sync_listener_free(lp->ls);
        lp->ls = NULL;
    }
}

static void *listen_main(void *arg)
{
    longpoll *lp = arg;
    for (;;) {
        pthread_mutex_lock(&lp->mu);
        bool stop = lp->stopping;
        pthread_mutex_unlock(&lp->mu);
        if (stop)
            break;
        if (!sync_listener_supported()) {
            /* Behind a transaction pooler a LISTEN does not stay with this client: every waiter
             * rechecks its job once a second instead. */
            usleep(200 * 1000);
            pthread_mutex_lock(&lp->mu);
            if (++lp->rounds % 5 == 0) {
                lp->gen++;
                wake_locked(lp, NULL, true);
            }
            wake_locked(lp, NULL, false); /* the expired ones */
            pthread_mutex_unlock(&lp->mu);
            continue;
        }
        if (!lp->ls) {
            if ((lp->ls = sync_listener_open(lp->url, lp->timeout_ms))) {
                /* Notifications may have been missed while disconnected: everyone rechecks. */
                pthread_mutex_lock(&lp->mu);
                lp->gen++;
                wake_locked(lp, NULL, true);
                pthread_mutex_unlock(&lp->mu);
            } else {
                usleep(200 * 1000);
            }
        }
        if (lp->ls)
            listen_round(lp);
        pthread_mutex_lock(&lp->mu);
        wake_locked(lp, NULL, false); /* the expired ones */
        pthread_mutex_unlock(&lp->mu);
    }
    sync_listener_free(lp->ls);
    lp->ls = NULL;
    return NULL;
}

int longpoll_start(longpoll **out, const char *database_url, int timeout_ms, struct dispatch *d)
{
    longpoll *lp = calloc(1, sizeof *lp);
    *out = NULL;
    if (!lp || !(lp->url = strdup(database_url))) {
        free(lp);
        return -1;
    }
    pthread_mutex_init(&lp->mu, NULL);
    lp->d = d;
    lp->timeout_ms = timeout_ms;
    if (pthread_create(&lp->thread, NULL, listen_main, lp) != 0) {
        longpoll_free(lp);
        return -1;
    }
    lp->started = true;
    *out = lp;
    return 0;
}

void longpoll_shutdown(longpoll *lp)
{
    if (!lp)
        return;
    pthread_mutex_lock(&lp->mu);
    lp->stopping = true;
    wake_locked(lp, NULL, true);
    pthread_mutex_unlock(&lp->mu);
}

void longpoll_free(longpoll *lp)
{
    if (!lp)
        return;
    longpoll_shutdown(lp);
    if (lp->started)
        pthread_join(lp->thread, NULL);
    pthread_mutex_destroy(&lp->mu);
    free(lp->url);
    free(lp);
}

unsigned long longpoll_generation(longpoll *lp)
{
    if (!lp)
        return 0;
    pthread_mutex_lock(&lp->mu);
    unsigned long g = lp->gen;
    pthread_mutex_unlock(&lp->mu);
    return g;
}

int longpoll_want(longpoll *lp, http_req *rq, const char *id, long secs, unsigned long gen)
{
    if (!lp)
        return -1;
    if (!rq->wait) {
        if (!(rq->wait = arena_alloc(&rq->mem, sizeof *rq->wait)))
            return -1;
        memset(rq->wait, 0, sizeof *rq->wait);
        rq->wait->deadline_ms = rq->start_ms + (double)secs * 1e3;
        rq->wait->queued_ms = now_ms();
    }
    pthread_mutex_lock(&lp->mu);
    bool stopping = lp->stopping;
    pthread_mutex_unlock(&lp->mu);
    if (stopping || now_ms() >= rq->wait->deadline_ms)
        return -1;
    snprintf(rq->wait->key, sizeof rq->wait->key, "%s", id);
    rq->wait->gen = gen;
    rq->wait->wants = true;
    return 0;
}

int longpoll_park(longpoll *lp, http_req *rq)
{
    int rc = -1;
    rq->wait->wants = false;
    pthread_mutex_lock(&lp->mu);
    if (!lp->stopping && lp->gen == rq->wait->gen) {
        rq->wait->next = lp->waiters;
        lp->waiters = rq;
        rc = 0;
    }
    pthread_mutex_unlock(&lp->mu);
    if (rc != 0)
        rq->wait->queued_ms = now_ms(); /* runs again at once: not a wait in the queue */
    return rc;
}
