#include "audit.h"

#include "asset_req.h"
#include "log.h"
#include "store/sqlbuf.h"

#include <inttypes.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *principal_name(const principal *p)
{
    return p->kind == PRINCIPAL_ADMIN    ? "admin"
           : p->kind == PRINCIPAL_DEVICE ? "device"
                                         : "installation";
}

/* A keyed hash (hex) of bytes, so events about the same alias or group can be linked without
 * storing them. domain keeps alias and group hashes apart. */
static void keyed_hash_hex(char out[65], const svc *s, int domain, const char *p, size_t n)
{
    unsigned char h[32], key[32];
    crypto_kdf_derive_from_key(key, sizeof key, (uint64_t)domain, "assetaud", s->token_key);
    crypto_generichash(h, sizeof h, (const unsigned char *)p, n, key, sizeof key);
    sodium_bin2hex(out, 65, h, sizeof h);
    sodium_memzero(key, sizeof key);
}

void audit_event_init(audit_event *ev, const svc *s, const principal *p, const char *action,
                      const char *group, size_t group_len, const char *alias, size_t alias_len)
{
    memset(ev, 0, sizeof *ev);
    ev->principal = principal_name(p);
    ev->action = action;
    if (p->kind != PRINCIPAL_ADMIN)
        snprintf(ev->device_id, sizeof ev->device_id, "%s", p->device_id);
    /* The group comes from the caller and may be refused for being malformed: only a valid
     * group id is written as text; anything else as a hash, so no input can make the event
     * unwritable (invalid UTF-8, NUL, over-long) and the audit still links repeated attempts. */
    if (group && group_len && group_len >= ASSET_GROUP_MIN && group_len <= ASSET_GROUP_MAX &&
        text_valid_utf8(group, group_len))
        snprintf(ev->owner, sizeof ev->owner, "group:%.*s", (int)group_len, group);
    else if (group && group_len) {
        char hex[65];
        keyed_hash_hex(hex, s, 3, group, group_len);
        snprintf(ev->owner, sizeof ev->owner, "group-hash:%s", hex);
    } else if (p->kind == PRINCIPAL_INSTALLATION)
        snprintf(ev->owner, sizeof ev->owner, "app:%s", p->app_id);
    if (alias && alias_len)
        keyed_hash_hex(ev->alias_hash, s, 2, alias, alias_len);
}

#define INSERT_SQL                                                                                 \
    "INSERT INTO audit_log (principal, action, device_id, owner, alias_hash, outcome) "            \
    "VALUES ($1, $2, NULLIF($3, '')::uuid, NULLIF($4, ''), NULLIF($5, ''), $6)"

asset_err audit_append(db_conn *c, const audit_event *ev, const char *outcome)
{
    PGresult *r = NULL;
    const char *vals[] = {ev->principal, ev->action,     ev->device_id,
                          ev->owner,     ev->alias_hash, outcome};
    asset_err e = db_exec(c, INSERT_SQL, 6, vals, NULL, NULL, &r);
    PQclear(r);
    return e;
}

#define QUEUE_MAX 4096
#define FLUSH_MAX 256

typedef struct {
    audit_event ev;
    char outcome[40];
} queued;

struct audit_writer {
    pthread_mutex_t mu;
    pthread_cond_t has_work, has_room;
    queued *q;
    int head, count;
    bool stop;
    pthread_t thread;
    svc *s;
    PGconn *pg;
};

void audit_record(svc *s, const audit_event *ev, const char *outcome)
{
    struct audit_writer *w = s->audit;
    if (!w) {
        log_error("audit record lost", LOG_STR("action", ev->action));
        return;
    }
    pthread_mutex_lock(&w->mu);
    while (w->count == QUEUE_MAX && !w->stop)
        pthread_cond_wait(&w->has_room, &w->mu);
    queued *slot = &w->q[(w->head + w->count) % QUEUE_MAX];
    slot->ev = *ev;
    snprintf(slot->outcome, sizeof slot->outcome, "%s", outcome);
    w->count++;
    pthread_cond_signal(&w->has_work);
    pthread_mutex_unlock(&w->mu);
}

/* Writes up to n queued events with one COPY (no statement to parse or plan per batch).
 * DATABASE_ERROR when the database refused the rows; SERVICE_UNAVAILABLE when it could not be
 * reached (the connection is then dropped). */
static asset_err flush_batch(struct audit_writer *w, const queued *batch, int n)
{
    copybuf b;
    db_conn c = {.pg = w->pg, .timeout_ms = w->s->cfg->db_timeout_ms};
    copybuf_init(&b);
    for (int i = 0; i < n; i++) {
        const queued *e = &batch[i];
        copybuf_text(&b, e->ev.principal, strlen(e->ev.principal));
        copybuf_text(&b, e->ev.action, strlen(e->ev.action));
        copybuf_text(&b, e->ev.device_id[0] ? e->ev.device_id : NULL, strlen(e->ev.device_id));
        copybuf_text(&b, e->ev.owner[0] ? e->ev.owner : NULL, strlen(e->ev.owner));
        copybuf_text(&b, e->ev.alias_hash[0] ? e->ev.alias_hash : NULL, strlen(e->ev.alias_hash));
        copybuf_text(&b, e->outcome, strlen(e->outcome));
        copybuf_row(&b);
    }
    asset_err e = copybuf_send(&b, &c,
                               "COPY audit_log (principal, action, device_id, owner, "
                               "alias_hash, outcome) FROM STDIN");
    copybuf_free(&b);
    if (c.broken) {
        PQfinish(w->pg);
        w->pg = NULL;
    }
    return e;
}

static void connect_writer(struct audit_writer *w)
{
    if (w->pg && PQstatus(w->pg) == CONNECTION_OK)
        return;
    PQfinish(w->pg);
    w->pg = NULL;
    if (db_connect(w->s->cfg->database_url, w->s->cfg->db_timeout_ms, &w->pg) != ASSET_OK)
        return;
    /* Through a transaction pooler a session setting would stay on a shared server connection
     * and make other clients' commits asynchronous too: there the audit commits synchronously. */
    if (!db_transaction_pooler()) {
        PGresult *r = PQexec(w->pg, "SET synchronous_commit TO off");
        PQclear(r);
    }
}

/* Writes a batch; when the database refuses it while the connection is fine (a value it will
 * not take), writes the events one by one, so that one bad event never takes its neighbours
 * down; an event refused alone is written once more with only the fields assetd made itself.
 * Returns how many events were lost. */
static int flush_all(struct audit_writer *w, queued *batch, int n)
{
    asset_err e = ASSET_SERVICE_UNAVAILABLE;
    for (int tries = 0; e == ASSET_SERVICE_UNAVAILABLE && tries < 3; tries++) {
        if (tries)
            usleep(100 * 1000);
        connect_writer(w);
        if (w->pg)
            e = flush_batch(w, batch, n);
    }
    if (e == ASSET_OK)
        return 0;
    if (e == ASSET_SERVICE_UNAVAILABLE)
        return n;
    /* Refused for its content: retrying the same batch cannot help, its events one by one can. */
    int lost = 0;
    for (int i = 0; i < n && w->pg; i++) {
        if (flush_batch(w, &batch[i], 1) == ASSET_OK)
            continue;
        batch[i].ev.owner[0] = 0;
        batch[i].ev.device_id[0] = 0;
        if (!w->pg || flush_batch(w, &batch[i], 1) != ASSET_OK)
            lost++;
    }
    return lost;
}

static void *writer_main(void *arg)
{
    struct audit_writer *w = arg;
    queued *batch = malloc(FLUSH_MAX * sizeof *batch);
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (w->count == 0 && !w->stop)
            pthread_cond_wait(&w->has_work, &w->mu);
        if (w->count == 0 && w->stop)
            break;
        if (w->count < FLUSH_MAX && !w->stop) {
            /* Let a burst gather: fewer, larger writes. */
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += 2000000;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            while (w->count < FLUSH_MAX && !w->stop &&
                   pthread_cond_timedwait(&w->has_work, &w->mu, &until) == 0)
                ;
        }
        int n = w->count < FLUSH_MAX ? w->count : FLUSH_MAX;
        for (int i = 0; batch && i < n; i++)
            batch[i] = w->q[(w->head + i) % QUEUE_MAX];
        pthread_mutex_unlock(&w->mu);
        int lost = batch ? flush_all(w, batch, n) : n;
        if (lost)
            log_error("audit records lost", LOG_INT("count", lost));
        pthread_mutex_lock(&w->mu);
        w->head = (w->head + n) % QUEUE_MAX;
        w->count -= n;
        pthread_cond_broadcast(&w->has_room);
    }
    pthread_mutex_unlock(&w->mu);
    free(batch);
    return NULL;
}

int audit_writer_start(svc *s)
{
    struct audit_writer *w = calloc(1, sizeof *w);
    if (!w || !(w->q = calloc(QUEUE_MAX, sizeof *w->q))) {
        free(w);
        return -1;
    }
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->has_work, NULL);
    pthread_cond_init(&w->has_room, NULL);
    w->s = s;
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
        free(w->q);
        free(w);
        return -1;
    }
    s->audit = w;
    return 0;
}

void audit_writer_stop(svc *s)
{
    struct audit_writer *w = s->audit;
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_broadcast(&w->has_work);
    pthread_cond_broadcast(&w->has_room);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    PQfinish(w->pg);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->has_work);
    pthread_cond_destroy(&w->has_room);
    free(w->q);
    free(w);
    s->audit = NULL;
}

asset_err audit_list(svc *s, int64_t after_id, long limit, audit_page *out)
{
    char after[24], lim[24];
    memset(out, 0, sizeof *out);
    snprintf(after, sizeof after, "%" PRId64, after_id);
    snprintf(lim, sizeof lim, "%ld", limit + 1);
    const char *vals[] = {after, lim};
    asset_err e = db_run_sql(s->pool,
                             "SELECT id, (extract(epoch FROM at) * 1000)::bigint, principal, "
                             "action, device_id, owner, alias_hash, outcome FROM audit_log "
                             "WHERE id > $1 ORDER BY id LIMIT $2",
                             2, vals, NULL, NULL, &out->res);
    if (e != ASSET_OK)
        return e;
    out->n = PQntuples(out->res);
    if (out->n > limit) {
        out->n = (int)limit;
        out->next_id = strtoll(PQgetvalue(out->res, out->n - 1, 0), NULL, 10);
    }
    if (out->n && !(out->rows = calloc((size_t)out->n, sizeof *out->rows))) {
        audit_page_free(out);
        return ASSET_OUT_OF_MEMORY;
    }
    PGresult *r = out->res;
    for (int i = 0; i < out->n; i++) {
#define OPT(col) (PQgetisnull(r, i, col) ? NULL : PQgetvalue(r, i, col))
        out->rows[i] = (audit_row){.id = strtoll(PQgetvalue(r, i, 0), NULL, 10),
                                   .at_ms = strtoll(PQgetvalue(r, i, 1), NULL, 10),
                                   .principal = PQgetvalue(r, i, 2),
                                   .action = PQgetvalue(r, i, 3),
                                   .device_id = OPT(4),
                                   .owner = OPT(5),
                                   .alias_hash = OPT(6),
                                   .outcome = PQgetvalue(r, i, 7)};
#undef OPT
    }
    return ASSET_OK;
}

void audit_page_free(audit_page *pg)
{
    if (!pg)
        return;
    free(pg->rows);
    PQclear(pg->res);
    memset(pg, 0, sizeof *pg);
}
