#include "db.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <time.h>

#include "../log.h"

/* Free slots are kept connected ones on top, empty ones at the bottom: a request takes a
 * connected slot whenever there is one, and opens a new connection only when none is free and
 * the last attempt to connect did not fail just now (a full cluster refuses connections: then
 * requests wait for a connected slot rather than fail at once, and the pool heals as soon as
 * one frees up). */
struct db_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *url;
    int size, timeout_ms, nfree;
    db_conn *conns; /* size of them */
    int *free_stack;
    int connected;          /* slots holding a connection, free or in use */
    double next_connect_ms; /* after a failed connect: no new attempt before this */
    int backoff_ms;
};

static bool g_transaction_pooler;

void db_set_transaction_pooler(bool on)
{
    g_transaction_pooler = on;
}

bool db_transaction_pooler(void)
{
    return g_transaction_pooler;
}

/* Server notices (e.g. "already exists, skipping") are not errors: keep them off stderr. */
static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

asset_err db_connect(const char *url, int timeout_ms, PGconn **out)
{
    char timeout_s[16], options[192];
    snprintf(timeout_s, sizeof timeout_s, "%d", (timeout_ms + 999) / 1000);
    /* statement_timeout bounds every query on the server's side. The isolation level is
     * assetd's to choose, not the database's default (a DBA may make that serializable):
     * transactions that need more say so (db_tx). Prepared statements keep one generic plan:
     * each is written for the index it uses whatever the statistics say (test_plans checks the
     * generic plans), and a statement with array parameters otherwise gets a custom plan made
     * afresh at every call (knowing the arrays' lengths makes it look cheaper): a group read
     * cost PostgreSQL 46 us of CPU per asset with it, 24 without. Behind a transaction pooler
     * no startup options can be sent (pgbouncer refuses them): the role's settings must do
     * (README); statements are unnamed there, planned at every call anyway. */
    snprintf(options, sizeof options,
             "-c statement_timeout=%d -c default_transaction_isolation=read\\ committed "
             "-c plan_cache_mode=force_generic_plan",
             timeout_ms);
    const char *keys[] = {"dbname", "connect_timeout", "application_name", "options", NULL};
    const char *vals[] = {url, timeout_s, "assetd", g_transaction_pooler ? NULL : options, NULL};
    PGconn *pg = PQconnectdbParams(keys, vals, 1);
    *out = NULL;
    if (!pg)
        return ASSET_OUT_OF_MEMORY;
    if (PQstatus(pg) != CONNECTION_OK) {
        asset_err_note("the database cannot be reached; retry");
        log_error("database connection failed");
        PQfinish(pg);
        return ASSET_SERVICE_UNAVAILABLE;
    }
    PQsetNoticeProcessor(pg, ignore_notice, NULL);
    /* Every wait on the server is bounded by assetd (db_exec, db_copy_in): nothing may block. */
    if (PQsetnonblocking(pg, 1) != 0) {
        PQfinish(pg);
        return ASSET_SERVICE_UNAVAILABLE;
    }
    *out = pg;
    return ASSET_OK;
}

int db_pool_open(db_pool **out, const char *url, int size, int timeout_ms)
{
    db_pool *p = calloc(1, sizeof *p);
    *out = NULL;
    if (!p)
        return -1;
    p->url = strdup(url);
    p->conns = calloc((size_t)size, sizeof *p->conns);
    p->free_stack = calloc((size_t)size, sizeof *p->free_stack);
    if (!p->url || !p->conns || !p->free_stack) {
        free(p->url);
        free(p->conns);
        free(p->free_stack);
        free(p);
        return -1;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->size = size;
    p->timeout_ms = timeout_ms;
    for (int i = 0; i < size; i++) {
        p->conns[i].index = i;
        p->conns[i].timeout_ms = timeout_ms;
        p->free_stack[p->nfree++] = i;
    }
    *out = p;
    return 0;
}

void db_pool_close(db_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    while (p->nfree < p->size)
        pthread_cond_wait(&p->cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->size; i++)
        if (p->conns[i].pg)
            PQfinish(p->conns[i].pg);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->url);
    free(p->conns);
    free(p->free_stack);
    free(p);
}

int db_pool_in_use(db_pool *p)
{
    pthread_mutex_lock(&p->mu);
    int n = p->size - p->nfree;
    pthread_mutex_unlock(&p->mu);
    return n;
}

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Takes a free slot (mu held): the topmost connected one, else (may_connect) an empty one. */
static int take_free(db_pool *p, bool may_connect)
{
    for (int i = p->nfree - 1; i >= 0; i--) {
        int idx = p->free_stack[i];
        if (p->conns[idx].pg || (may_connect && i == 0)) {
            memmove(&p->free_stack[i], &p->free_stack[i + 1],
                    (size_t)(p->nfree - 1 - i) * sizeof *p->free_stack);
            p->nfree--;
            return idx;
        }
    }
    return -1;
}

/* Returns a slot (mu held): connected ones on top, empty ones at the bottom. */
static void put_free(db_pool *p, db_conn *c)
{
    if (c->pg) {
        p->free_stack[p->nfree++] = c->index;
    } else {
        memmove(&p->free_stack[1], &p->free_stack[0], (size_t)p->nfree * sizeof *p->free_stack);
        p->free_stack[0] = c->index;
        p->nfree++;
    }
    pthread_cond_signal(&p->cv);
}

/* An idle connection has nothing to read; if it has, the server ended it (a restart, an idle
 * timeout, a terminated backend) or it is broken: it must not be handed to a request. */
static bool idle_connection_ok(db_conn *c)
{
    if (c->broken || PQstatus(c->pg) != CONNECTION_OK)
        return false;
    struct pollfd pfd = {PQsocket(c->pg), POLLIN, 0};
    int rc = poll(&pfd, 1, 0);
    return rc == 0;
}

static void drop_connection(db_pool *p, db_conn *c)
{
    PQfinish(c->pg);
    c->pg = NULL;
    c->prepared = 0;
    c->broken = false;
    pthread_mutex_lock(&p->mu);
    p->connected--;
    pthread_mutex_unlock(&p->mu);
}

/* Connects slot c (taken, empty). On failure the pool waits a little before the next attempt. */
static asset_err connect_slot(db_pool *p, db_conn *c)
{
    asset_err e = db_connect(p->url, p->timeout_ms, &c->pg);
    pthread_mutex_lock(&p->mu);
    if (e == ASSET_OK) {
        p->connected++;
        p->backoff_ms = 0;
    } else {
        p->backoff_ms = p->backoff_ms ? (p->backoff_ms * 2 > 500 ? 500 : p->backoff_ms * 2) : 20;
        p->next_connect_ms = mono_ms() + p->backoff_ms;
    }
    pthread_mutex_unlock(&p->mu);
    return e;
}

asset_err db_acquire(db_pool *p, db_conn **out)
{
    double deadline = mono_ms() + p->timeout_ms;
    asset_err e = ASSET_SERVICE_UNAVAILABLE;
    *out = NULL;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        double now = mono_ms();
        int idx = take_free(p, now >= p->next_connect_ms);
        if (idx >= 0) {
            db_conn *c = &p->conns[idx];
            pthread_mutex_unlock(&p->mu);
            if (c->pg && !idle_connection_ok(c))
                drop_connection(p, c);
            if (c->pg || (e = connect_slot(p, c)) == ASSET_OK) {
                *out = c;
                return ASSET_OK;
            }
            pthread_mutex_lock(&p->mu);
            put_free(p, c);
            /* No connection at all: the database is down, waiting would not help. */
            if (p->connected == 0)
                break;
            continue;
        }
        if (now >= deadline)
            break;
        double until = deadline;
        if (p->nfree > 0 && p->next_connect_ms < until)
            until = p->next_connect_ms; /* an empty slot may connect then */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        long wait_ns = (long)((until - now) * 1e6) + 1000000L;
        ts.tv_sec += wait_ns / 1000000000L;
        ts.tv_nsec += wait_ns % 1000000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&p->cv, &p->mu, &ts);
    }
    pthread_mutex_unlock(&p->mu);
    if (e == ASSET_SERVICE_UNAVAILABLE && !asset_err_last_note())
        asset_err_note("no database connection became free within ASSETD_DB_TIMEOUT_MS "
                       "(overloaded); retry");
    return e;
}

void db_release(db_pool *p, db_conn *c)
{
    if (!c)
        return;
    if (c->pg && (c->broken || PQstatus(c->pg) != CONNECTION_OK ||
                  PQtransactionStatus(c->pg) != PQTRANS_IDLE))
        drop_connection(p, c);
    pthread_mutex_lock(&p->mu);
    put_free(p, c);
    pthread_mutex_unlock(&p->mu);
}

/* SQLSTATE classes and codes that mean "not now" rather than "wrong": SERVICE_UNAVAILABLE,
 * with the reason the problem detail gives. */
static const struct {
    const char *prefix;
    bool broken; /* the connection cannot be used again */
    const char *why;
} transient[] = {
    {"08", true, "the database connection failed; retry"},
    {"57P", true, "the database is shutting down or restarting; retry"},
    {"57014", false, "a statement took longer than ASSETD_DB_TIMEOUT_MS; retry"},
    {"53", false, "the database is out of resources (connections, disk or memory); retry later"},
    {"40001", false, "the transaction kept conflicting with concurrent ones; retry"},
    {"40P01", false, "the transaction kept conflicting with concurrent ones; retry"},
};

static asset_err classify(db_conn *c, PGresult *res)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (!state || PQstatus(c->pg) != CONNECTION_OK) {
        c->broken = true;
        asset_err_note("the database connection failed; retry");
        return ASSET_SERVICE_UNAVAILABLE;
    }
    if (strcmp(state, "23505") == 0)
        return ASSET_DUPLICATED;
    if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)
        c->retryable = true;
    for (size_t i = 0; i < sizeof transient / sizeof transient[0]; i++)
        if (strncmp(state, transient[i].prefix, strlen(transient[i].prefix)) == 0) {
            c->broken |= transient[i].broken;
            asset_err_note(transient[i].why);
            if (!c->retryable)
                log_warn("database unavailable", LOG_STR("sqlstate", state));
            return ASSET_SERVICE_UNAVAILABLE;
        }
    log_error("database error", LOG_STR("sqlstate", state));
    return ASSET_DATABASE_ERROR;
}

static asset_err finish(db_conn *c, PGresult *res, PGresult **out)
{
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
        *out = res;
        return ASSET_OK;
    }
    asset_err e = classify(c, res);
    PQclear(res);
    *out = NULL;
    return e;
}

/* How long assetd waits for the database itself: a little longer than the server-side
 * statement_timeout, which normally ends a slow statement first; this bound is for a server
 * that cannot answer at all (frozen, or the network gone). */
static int wait_budget_ms(const db_conn *c)
{
    return (c->timeout_ms > 0 ? c->timeout_ms : DB_DEFAULT_TIMEOUT_MS) + 1000;
}

/* The connection gave up: it is closed at release, and whatever it held (a transaction, a
 * chunk) is released by the server when it notices. */
static asset_err give_up(db_conn *c, const char *why)
{
    c->broken = true;
    asset_err_note(why);
    log_error(why);
    return ASSET_SERVICE_UNAVAILABLE;
}

/* Sends what libpq has buffered and waits until a result can be read without blocking, both
 * bounded by the deadline. Input is read only once poll says there is some: a read before it
 * (right after sending, or after a result when the next one is buffered already) finds nothing
 * or nothing new, and was two wasted system calls per statement. */
static asset_err wait_result(db_conn *c, double deadline)
{
    for (;;) {
        int f = PQflush(c->pg);
        if (f < 0)
            return give_up(c, "the database connection failed");
        if (f == 0 && !PQisBusy(c->pg))
            return ASSET_OK;
        int left = (int)(deadline - mono_ms());
        if (left <= 0)
            return give_up(c, "the database did not answer in time");
        struct pollfd pfd = {PQsocket(c->pg), (short)(POLLIN | (f == 1 ? POLLOUT : 0)), 0};
        int rc = poll(&pfd, 1, left);
        if (rc < 0 && errno != EINTR)
            return give_up(c, "the database connection failed");
        if (rc > 0 && (pfd.revents & (POLLIN | POLLERR | POLLHUP | POLLNVAL)) &&
            !PQconsumeInput(c->pg))
            return give_up(c, "the database connection failed");
    }
}

/* Sends what libpq has buffered (copy data, a long command), bounded by the deadline. */
static asset_err wait_writable(db_conn *c, double deadline)
{
    for (;;) {
        int f = PQflush(c->pg);
        if (f < 0)
            return give_up(c, "the database connection failed");
        if (f == 0)
            return ASSET_OK;
        int left = (int)(deadline - mono_ms());
        if (left <= 0)
            return give_up(c, "the database did not answer in time");
        struct pollfd pfd = {PQsocket(c->pg), POLLIN | POLLOUT, 0};
        if (poll(&pfd, 1, left) < 0 && errno != EINTR)
            return give_up(c, "the database connection failed");
        if ((pfd.revents & POLLIN) && !PQconsumeInput(c->pg))
            return give_up(c, "the database connection failed");
    }
}

/* Reads every result of the command just sent: the first failed one (it tells why), else the
 * last one; a COPY IN result at once, for the caller to send the data. */
static asset_err collect(db_conn *c, PGresult **out)
{
    double deadline = mono_ms() + wait_budget_ms(c);
    PGresult *keep = NULL, *r;
    *out = NULL;
    for (;;) {
        asset_err e = wait_result(c, deadline);
        if (e != ASSET_OK) {
            PQclear(keep);
            return e;
        }
        if (!(r = PQgetResult(c->pg)))
            break;
        if (PQresultStatus(r) == PGRES_COPY_IN) {
            PQclear(keep);
            *out = r;
            return ASSET_OK;
        }
        if (keep && PQresultStatus(keep) == PGRES_FATAL_ERROR) {
            PQclear(r);
            continue;
        }
        PQclear(keep);
        keep = r;
    }
    return finish(c, keep, out);
}

static asset_err exec_params(db_conn *c, const char *sql, int n, const char *const *vals,
                             const int *lens, const int *fmts, int result_format, PGresult **out)
{
    *out = NULL;
    if (!PQsendQueryParams(c->pg, sql, n, NULL, vals, lens, fmts, result_format))
        return give_up(c, "the database connection failed");
    return collect(c, out);
}

static asset_err exec_stmt(db_conn *c, const db_stmt *st, int n, const char *const *vals,
                           const int *lens, const int *fmts, int result_format, PGresult **out)
{
    *out = NULL;
    if (g_transaction_pooler) /* no session to keep a prepared statement in */
        return exec_params(c, st->sql, n, vals, lens, fmts, result_format, out);
    if (!(c->prepared & (1ULL << st->id))) {
        PGresult *r = NULL;
        if (!PQsendPrepare(c->pg, st->name, st->sql, 0, NULL))
            return give_up(c, "the database connection failed");
        asset_err e = collect(c, &r);
        if (e != ASSET_OK)
            return e;
        PQclear(r);
        c->prepared |= 1ULL << st->id;
    }
    if (!PQsendQueryPrepared(c->pg, st->name, n, vals, lens, fmts, result_format))
        return give_up(c, "the database connection failed");
    return collect(c, out);
}

asset_err db_exec_stmt(db_conn *c, const db_stmt *st, int n, const char *const *vals,
                       const int *lens, const int *fmts, PGresult **out)
{
    return exec_stmt(c, st, n, vals, lens, fmts, 0, out);
}

asset_err db_exec_stmt_binary(db_conn *c, const db_stmt *st, int n, const char *const *vals,
                              const int *lens, const int *fmts, PGresult **out)
{
    return exec_stmt(c, st, n, vals, lens, fmts, 1, out);
}

asset_err db_exec(db_conn *c, const char *sql, int n, const char *const *vals, const int *lens,
                  const int *fmts, PGresult **out)
{
    return exec_params(c, sql, n, vals, lens, fmts, 0, out);
}

asset_err db_exec_binary(db_conn *c, const char *sql, int n, const char *const *vals,
                         const int *lens, const int *fmts, PGresult **out)
{
    return exec_params(c, sql, n, vals, lens, fmts, 1, out);
}

asset_err db_copy_start(db_conn *c, const char *copy_sql)
{
    PGresult *r = NULL;
    if (!PQsendQuery(c->pg, copy_sql))
        return give_up(c, "the database connection failed");
    asset_err e = collect(c, &r);
    if (e != ASSET_OK)
        return e;
    bool copying = PQresultStatus(r) == PGRES_COPY_IN;
    PQclear(r);
    return copying ? ASSET_OK : give_up(c, "the database did not start COPY");
}

asset_err db_copy_put(db_conn *c, const char *data, size_t len)
{
    double deadline = mono_ms() + wait_budget_ms(c);
    for (size_t off = 0; off < len;) {
        int chunk = len - off > (1u << 20) ? 1 << 20 : (int)(len - off);
        int rc = PQputCopyData(c->pg, data + off, chunk);
        asset_err e;
        if (rc < 0)
            return give_up(c, "the database connection failed");
        if (rc == 1)
            off += (size_t)chunk;
        else if ((e = wait_writable(c, deadline)) != ASSET_OK)
            return e;
    }
    return ASSET_OK;
}

asset_err db_copy_end(db_conn *c)
{
    double deadline = mono_ms() + wait_budget_ms(c);
    PGresult *r = NULL;
    asset_err e;
    int rc;
    while ((rc = PQputCopyEnd(c->pg, NULL)) == 0)
        if ((e = wait_writable(c, deadline)) != ASSET_OK)
            return e;
    if (rc < 0)
        return give_up(c, "the database connection failed");
    e = collect(c, &r);
    PQclear(r);
    return e;
}

asset_err db_copy_in(db_conn *c, const char *copy_sql, const char *data, size_t len)
{
    asset_err e = db_copy_start(c, copy_sql);
    if (e == ASSET_OK)
        e = db_copy_put(c, data, len);
    return e == ASSET_OK ? db_copy_end(c) : e;
}

/* Hex digit values (-1: not a hex digit); a table, because decoding sealed values is on every
 * read and restore path and branches on random data mispredict. */
static const signed char hex_value[256] = {
    ['0'] = 0,  ['1'] = 1,  ['2'] = 2,  ['3'] = 3,  ['4'] = 4,  ['5'] = 5,  ['6'] = 6,  ['7'] = 7,
    ['8'] = 8,  ['9'] = 9,  ['a'] = 10, ['b'] = 11, ['c'] = 12, ['d'] = 13, ['e'] = 14, ['f'] = 15,
    ['A'] = 10, ['B'] = 11, ['C'] = 12, ['D'] = 13, ['E'] = 14, ['F'] = 15,
};

static bool is_hex(unsigned char c)
{
    return hex_value[c] != 0 || c == '0';
}

int db_bytea_decode(unsigned char *out, size_t cap, size_t *out_len, const char *text,
                    size_t text_len)
{
    if (text_len < 2 || text[0] != '\\' || text[1] != 'x' || (text_len - 2) % 2 != 0 ||
        (text_len - 2) / 2 > cap)
        return -1;
    size_t n = (text_len - 2) / 2;
    const unsigned char *h = (const unsigned char *)text + 2;
    unsigned bad = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char hi = h[2 * i], lo = h[2 * i + 1];
        bad |= !is_hex(hi) | !is_hex(lo);
        out[i] = (unsigned char)((hex_value[hi] << 4) | hex_value[lo]);
    }
    if (bad)
        return -1;
    *out_len = n;
    return 0;
}
