/* db_tx: the transaction runner (db.h): acquire a connection, BEGIN at the isolation asked
 * for, run the caller's function, COMMIT or ROLLBACK, release; a serialization failure or
 * deadlock (40001, 40P01) runs the function again after a random backoff. db_run and the
 * single-statement helpers are the same without BEGIN. */
#include "db.h"

#include <sodium.h>
#include <time.h>

static asset_err exec_simple(db_conn *c, const char *sql)
{
    PGresult *r = NULL;
    asset_err e = db_exec(c, sql, 0, NULL, NULL, NULL, &r);
    PQclear(r);
    return e;
}

asset_err db_begin(db_conn *c)
{
    return exec_simple(c, "BEGIN");
}

asset_err db_commit(db_conn *c)
{
    return exec_simple(c, "COMMIT");
}

void db_rollback(db_conn *c)
{
    if (exec_simple(c, "ROLLBACK") != ASSET_OK)
        c->broken = true;
}

#define DB_TX_ATTEMPTS 8

/* Up to ~2^attempt ms, random, so that transactions that collided do not collide again. */
static void backoff(int attempt)
{
    struct timespec ts = {0, 0};
    unsigned cap_us = 1000u << (attempt < 6 ? attempt : 6);
    ts.tv_nsec = (long)(randombytes_uniform(cap_us) + 100) * 1000L;
    nanosleep(&ts, NULL);
}

/* One attempt of fn on c: in a transaction begun with `begin`, or without one (NULL). */
static asset_err attempt_on(db_conn *c, const char *begin, db_tx_fn *fn, void *ctx)
{
    asset_err e = ASSET_OK;
    c->retryable = false;
    if (!begin || (e = exec_simple(c, begin)) == ASSET_OK) {
        e = fn(c, ctx);
        if (begin && e == ASSET_OK)
            e = db_commit(c);
        if (begin && e != ASSET_OK && PQtransactionStatus(c->pg) != PQTRANS_IDLE)
            db_rollback(c);
    }
    return e;
}

static asset_err conflicts_ran_out(void)
{
    asset_err_note("the transaction kept conflicting with concurrent ones (serialization "
                   "failure or deadlock); retry");
    return ASSET_SERVICE_UNAVAILABLE;
}

static asset_err run_attempts(db_pool *p, const char *begin, db_tx_fn *fn, void *ctx)
{
    asset_err e = ASSET_SERVICE_UNAVAILABLE;
    for (int attempt = 0; attempt < DB_TX_ATTEMPTS; attempt++) {
        db_conn *c = NULL;
        if ((e = db_acquire(p, &c)) != ASSET_OK)
            return e;
        e = attempt_on(c, begin, fn, ctx);
        bool again = c->retryable;
        c->retryable = false;
        db_release(p, c);
        if (!again)
            return e;
        backoff(attempt);
    }
    return conflicts_ran_out();
}

static const char *const begins[] = {
    [DB_READ_COMMITTED] = "BEGIN ISOLATION LEVEL READ COMMITTED",
    [DB_REPEATABLE_READ] = "BEGIN ISOLATION LEVEL REPEATABLE READ",
    [DB_SERIALIZABLE] = "BEGIN ISOLATION LEVEL SERIALIZABLE",
};

asset_err db_tx(db_pool *p, db_isolation iso, db_tx_fn *fn, void *ctx)
{
    return run_attempts(p, begins[iso], fn, ctx);
}

asset_err db_tx_on(db_conn *c, db_isolation iso, db_tx_fn *fn, void *ctx)
{
    for (int attempt = 0; attempt < DB_TX_ATTEMPTS; attempt++) {
        asset_err e = attempt_on(c, begins[iso], fn, ctx);
        bool again = c->retryable && !c->broken;
        c->retryable = false;
        if (!again)
            return e;
        backoff(attempt);
    }
    return conflicts_ran_out();
}

asset_err db_run(db_pool *p, db_tx_fn *fn, void *ctx)
{
    return run_attempts(p, NULL, fn, ctx);
}

typedef struct {
    const db_stmt *st;
    const char *sql;
    int n;
    const char *const *vals;
    const int *lens, *fmts;
    PGresult **out;
} one_statement;

static asset_err run_one(db_conn *c, void *arg)
{
    one_statement *o = arg;
    PQclear(*o->out); /* a retried attempt starts afresh */
    *o->out = NULL;
    return o->st ? db_exec_stmt(c, o->st, o->n, o->vals, o->lens, o->fmts, o->out)
                 : db_exec(c, o->sql, o->n, o->vals, o->lens, o->fmts, o->out);
}

asset_err db_run_stmt(db_pool *p, const db_stmt *st, int n, const char *const *vals,
                      const int *lens, const int *fmts, PGresult **out)
{
    one_statement o = {st, NULL, n, vals, lens, fmts, out};
    *out = NULL;
    return db_run(p, run_one, &o);
}

asset_err db_run_sql(db_pool *p, const char *sql, int n, const char *const *vals, const int *lens,
                     const int *fmts, PGresult **out)
{
    one_statement o = {NULL, sql, n, vals, lens, fmts, out};
    *out = NULL;
    return db_run(p, run_one, &o);
}
