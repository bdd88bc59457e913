/* sync (part 2): the sync worker. A restore job is cut into chunks of backup records when it is
 * created (restore_chunks). Exactly once: a worker claims a chunk with FOR UPDATE SKIP LOCKED
 * inside the transaction that writes the chunk's records, records the refused records' outcomes
 * for the report (restore_records; an accepted record's is implied by the done mark, except in a
 * retry, which records every outcome), adds its counts and marks it done, so
 * a crash before COMMIT releases the lock and another worker redoes the chunk, and after COMMIT
 * it is never redone. (A chunk commits without waiting for the disk, store_chunk_commit_async:
 * one that a crash of the database server loses is lost whole, done mark included, and redone.)
 * Any number of workers, in any number of processes, share one job's chunks; the job is
 * finished (sync results written, SYNC_DONE_CHANNEL notified for long polls) once no chunk is
 * left, in a transaction that commits synchronously. A retry job takes only the records its
 * base job refused under its rules.
 *
 * A chunk's records are read in one statement, then opened, decided and resealed one by one,
 * each accepted one handed at once to a COPY into assets that sends them on in pieces
 * (store_chunk_assets_add): the database inserts while the worker reseals, so one worker keeps
 * a core busy on each side.
 *
 * Each worker has a connection of its own, outside the pool (db_listen.h): it LISTENs for new
 * jobs between transactions, and holding a pooled one for the worker's lifetime would take it
 * from the requests. Its transactions (one per chunk, one per finished job) go through the
 * runner on that connection (db_tx_on), which retries a deadlock victim; the SQL is
 * service/store/store_sync.h's. */
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../crypto/keyring.h"
#include "../crypto/record.h"
#include "../store/db_listen.h"
#include "../log.h"
#include "sync.h"
#include "sync_internal.h"

typedef struct worker worker;

struct sync_workers {
    svc *s;
    int n, lease, started;
    pthread_t *threads;
    worker *workers;
    atomic_int stop;
};

/* A worker keeps its memory from one chunk to the next while there are chunks to do (the COPY
 * buffer, the scratch arena of a record's opened and resealed values), and frees it when none
 * is left: handing megabytes back to the system after every chunk and faulting them in again
 * cost more than the crypto on hosts that charge for first touch (a VM whose freed memory
 * returns to the host). */
struct worker {
    struct sync_workers *w;
    char me[96];
    db_conn c;
    time_t next_expiry;     /* the first worker also applies ASSETD_BACKUP_RETENTION_DAYS */
    store_asset_stream out; /* the accepted records' COPY, its buffer kept between chunks */
    arena scratch;          /* one record's opened and resealed values; reset after each */
};

typedef struct {
    char id[UUID_TEXT_LEN];
    store_job row; /* the job's backup: OLD's state, the wrapped transport key */
    unsigned char tk[SEAL_KEY_LEN];
    char where[64];
} job;

/* What one chunk adds up to; out (the worker's) takes the accepted records, resealed for the
 * target, as they are made; rules[i] is the outcome of the chunk's record i (-1: it does not
 * take part). */
typedef struct {
    store_progress pr;
    int owners_n, owners_cap;
    store_owner_count *owners;
    store_asset_stream *out;
    int *rules;
} batch_acc;

/* BATCH_LATER: the job cannot be worked on by this process now (the database is unavailable,
 * or its keys are under a master key version this process lacks): leave it a while. */
enum { BATCH_MORE, BATCH_NONE, BATCH_FAILED_JOB, BATCH_ERROR, BATCH_LATER };

/* One run of chunk_tx: its outcome, the job it worked on and what it decided. */
typedef struct {
    worker *wk;
    int rc; /* BATCH_* */
    job j;
    store_progress done;
} chunk_ctx;

static void mark_failed(worker *wk, const job *j)
{
    if (store_restore_fail(&wk->c, j->id) != ASSET_OK)
        return; /* its chunk is claimed again, and fails again */
    log_error("restore failed", LOG_STR("restore", j->id));
}

/* The job's backup: OLD's recorded state and the transport key. */
static asset_err load_job(worker *wk, db_conn *c, job *j)
{
    char purpose[96];
    asset_err e = store_restore_job(c, j->id, &j->row);
    if (e != ASSET_OK)
        return e;
    sync_backup_where(j->where, j->row.backup_id);
    sync_backup_purpose(purpose, j->row.backup_id);
    int rc = keyring_unwrap(j->tk, j->row.wrapped, j->row.wrapped_len, j->row.kek_version, purpose,
                            wk->w->s->cfg->keys);
    sodium_memzero(j->row.wrapped, sizeof j->row.wrapped);
    /* A master key version this process lacks is not corruption: the chunk is left for a
     * worker that holds it (a rolling rotation). */
    if (rc != 0)
        e = rc == KEYRING_UNKNOWN_VERSION ? ASSET_SERVICE_UNAVAILABLE : ASSET_DATA_CORRUPTED;
    return e;
}

/* NEW's state now, and its current data key. */
static asset_err load_target(worker *wk, db_conn *c, const job *j, device_state *st,
                             int *dek_version, unsigned char dek[SEAL_KEY_LEN])
{
    asset_err e = store_restore_target(c, j->row.target_id, st, dek_version);
    return e == ASSET_OK ? svc_device_key(wk->w->s, c, j->row.target_id, *dek_version, dek) : e;
}

static store_owner_count *owner_of(batch_acc *acc, const asset_record *r)
{
    for (int i = acc->owners_n - 1; i >= 0; i--) {
        store_owner_count *o = &acc->owners[i];
        if (o->owner_kind == r->owner_kind && o->attr_enc == r->attr_enc &&
            o->owner.n == r->owner.n && memcmp(o->owner.p, r->owner.p, r->owner.n) == 0)
            return o;
    }
    if (acc->owners_n == acc->owners_cap) {
        int cap = acc->owners_cap ? acc->owners_cap * 2 : 16;
        store_owner_count *no = realloc(acc->owners, (size_t)cap * sizeof *no);
        if (!no)
            return NULL;
        acc->owners = no;
        acc->owners_cap = cap;
    }
    store_owner_count *o = &acc->owners[acc->owners_n++];
    *o = (store_owner_count){r->owner_kind, r->owner, r->attr_enc, 0, 0};
    return o;
}

/* Open a backup record and re-seal it for the target device. */
static int reseal_for_target(asset_record *r, store_label_cols *cols, arena *a, const job *j,
                             int dek_version, const unsigned char *dek)
{
    unsigned char *secret = NULL;
    size_t len = 0;
    if (record_open_labels(r, a, j->where, j->tk) != 0 ||
        record_open_secret(&secret, &len, r, a, j->where, j->tk) != 0)
        return -1;
    r->key_version = dek_version;
    int rc = r->attr_enc ? record_seal_labels(r, a, j->row.target_id, dek) : 0;
    if (!r->attr_enc) {
        r->labels_sealed = NULL;
        r->labels_sealed_len = 0;
    }
    rc |= record_seal_secret(r, a, secret, len, j->row.target_id, dek);
    sodium_memzero(secret, len);
    for (int i = 0; i < ASSET_LABELS; i++) {
        cols->v[i] = r->labels[i];
        if (r->attr_enc && r->labels[i].p) {
            seal_blind_index(cols->hex[i], i, r->labels[i].p, r->labels[i].n, dek);
            cols->v[i] = (asset_text){cols->hex[i], SEAL_INDEX_HEX_LEN};
        }
    }
    return rc;
}

/* Decide every record of recs with rules_check_restore and reseal the accepted ones into
 * acc->out, which sends them to the server while the next ones are opened and resealed; a
 * record's opened values live in scratch until its row is copied, then are wiped.
 * BATCH_MORE, or the BATCH_* of a failure. */
static int decide(batch_acc *acc, store_records *recs, const job *j, const device_state *new_state,
                  int dek_version, const unsigned char *dek, arena *scratch)
{
    for (int i = 0; i < recs->n; i++) {
        asset_record *r = &recs->rows[i];
        r->key_version = SYNC_BACKUP_KEY_VERSION;
        acc->rules[i] = -1;
        if (!(r->sync_type & j->row.sync_bit))
            continue; /* does not take part in this kind of move: not counted */
        store_owner_count *o = owner_of(acc, r);
        if (!o)
            return BATCH_ERROR;
        o->total++;
        acc->pr.processed++;
        access_attrs at = record_access(r);
        restore_rule rule = rules_check_restore(&at, &j->row.old_state, new_state);
        acc->rules[i] = rule;
        if (rule != RULE_OK) {
            o->failed++;
            acc->pr.failed++;
            acc->pr.failures[rule]++;
            continue;
        }
        asset_record t = *r;
        store_label_cols cols;
        int rc = reseal_for_target(&t, &cols, scratch, j, dek_version, dek);
        if (rc == 0)
            store_chunk_assets_add(acc->out, &t, &cols);
        arena_reset(scratch);
        if (rc != 0)
            return BATCH_FAILED_JOB; /* a backup record that fails to open: tampered */
        acc->pr.accepted++;
    }
    return BATCH_MORE;
}

/* The records of claimed chunk ch: read, decide, write (assets, report, progress). */
static asset_err run_records(chunk_ctx *x, db_conn *c, const store_chunk *ch,
                             const device_state *new_state, int dek_version,
                             const unsigned char *dek)
{
    store_records recs = {0};
    batch_acc acc = {.out = &x->wk->out};
    arena a = {0};
    asset_err e = store_chunk_records(c, &x->j.row, ch, &a, &recs);
    if (e != ASSET_OK) {
        x->rc = e == ASSET_DATA_CORRUPTED ? BATCH_FAILED_JOB : BATCH_ERROR;
        goto out;
    }
    if (!(acc.rules = calloc((size_t)recs.n + 1, sizeof *acc.rules))) {
        e = ASSET_OUT_OF_MEMORY;
        goto out;
    }
    store_chunk_assets_begin(acc.out, c, x->j.row.target_id, recs.n);
    x->rc = decide(&acc, &recs, &x->j, new_state, dek_version, dek, &x->wk->scratch);
    e = store_chunk_assets_end(acc.out);
    if (x->rc != BATCH_MORE) {
        e = x->rc == BATCH_FAILED_JOB ? ASSET_DATA_CORRUPTED : ASSET_OUT_OF_MEMORY;
        goto out;
    }
    x->rc = BATCH_ERROR;
    if (e == ASSET_OK &&
        (e = store_chunk_report(c, x->j.id, &recs, acc.rules, x->j.row.accepted_implied)) ==
            ASSET_OK &&
        (e = store_chunk_done(c, ch, &acc.pr, acc.owners, acc.owners_n, x->wk->me,
                              x->wk->w->lease)) == ASSET_OK) {
        x->rc = BATCH_MORE;
        x->done = acc.pr;
    }
out:
    store_records_free(&recs);
    free(acc.rules);
    free(acc.owners);
    arena_free(&a);
    return e;
}

/* Claim one chunk of any unfinished job and decide its records, all in one transaction (run by
 * db_tx_on: it starts afresh on every attempt). */
static asset_err chunk_tx(db_conn *c, void *arg)
{
    chunk_ctx *x = arg;
    store_chunk ch;
    device_state new_state;
    unsigned char dek[SEAL_KEY_LEN];
    int dek_version = 0;
    bool found = false;
    x->rc = BATCH_ERROR;
    memset(&x->j, 0, sizeof x->j);
    memset(&x->done, 0, sizeof x->done);
    /* Each worker would otherwise wait for the disk at every chunk's COMMIT, its core idle. */
    asset_err e = store_chunk_commit_async(c);
    if (e == ASSET_OK)
        e = store_chunk_claim(c, &ch, &found);
    if (e != ASSET_OK || !found) {
        x->rc = e == ASSET_OK ? BATCH_NONE : BATCH_ERROR;
        return e;
    }
    snprintf(x->j.id, sizeof x->j.id, "%s", ch.restore_id);
    e = load_job(x->wk, c, &x->j);
    bool live = true;
    if (e == ASSET_OK)
        e = store_chunk_hold_target(c, x->j.id, x->j.row.target_id, &live);
    if (e == ASSET_OK && !live) { /* its target device was removed meanwhile: nothing to do */
        x->rc = BATCH_NONE;
        return ASSET_OK;
    }
    if (e == ASSET_OK)
        e = load_target(x->wk, c, &x->j, &new_state, &dek_version, dek);
    if (e != ASSET_OK)
        x->rc = c->retryable                     ? BATCH_ERROR /* run again */
                : e == ASSET_SERVICE_UNAVAILABLE ? BATCH_LATER
                                                 : BATCH_FAILED_JOB;
    else
        e = run_records(x, c, &ch, &new_state, dek_version, dek);
    sodium_memzero(dek, sizeof dek);
    sodium_memzero(x->j.tk, sizeof x->j.tk);
    return e;
}

static int run_chunk(worker *wk)
{
    chunk_ctx x = {.wk = wk};
    asset_err e = db_tx_on(&wk->c, DB_READ_COMMITTED, chunk_tx, &x);
    if (e == ASSET_OK && x.rc == BATCH_MORE)
        sync_stats_add((unsigned long long)x.done.accepted, x.done.failures);
    else if (e != ASSET_OK && x.rc == BATCH_MORE)
        x.rc = BATCH_ERROR; /* COMMIT failed */
    if (x.rc == BATCH_FAILED_JOB)
        mark_failed(wk, &x.j);
    return x.rc;
}

/* Finish one job none of whose chunks is left: sync results, status done. */
static asset_err finish_tx(db_conn *c, void *arg)
{
    int *finished = arg;
    char id[UUID_TEXT_LEN], target[UUID_TEXT_LEN];
    bool found = false;
    *finished = 0;
    asset_err e = store_restore_finishable(c, id, target, &found);
    if (e == ASSET_OK && found && (e = store_restore_finish(c, id, target)) == ASSET_OK)
        *finished = 1;
    return e;
}

/* 1 finished one, 0 none, -1 error. */
static int finish_one(worker *wk)
{
    int finished = 0;
    return db_tx_on(&wk->c, DB_READ_COMMITTED, finish_tx, &finished) == ASSET_OK ? finished : -1;
}

static int connect_worker(worker *wk)
{
    const config *cfg = wk->w->s->cfg;
    /* Through a transaction pooler a LISTEN stays on whichever server connection ran it: there
     * workers only poll (wait_for_work's timeout). */
    return db_listen_open(&wk->c, cfg->database_url, cfg->db_timeout_ms,
                          db_transaction_pooler() ? NULL : STORE_RESTORE_CHANNEL) == ASSET_OK
               ? 0
               : -1;
}

/* Sleep until a NOTIFY, the timeout, or stop. */
static void wait_for_work(worker *wk, int timeout_ms)
{
    for (int waited = 0; waited < timeout_ms && !atomic_load(&wk->w->stop); waited += 200)
        if (db_listen_wait(&wk->c, 200, NULL, NULL) != 0)
            return; /* woken, or the connection broke (reconnected next round) */
}

static void *worker_main(void *arg)
{
    worker *wk = arg;
    while (!atomic_load(&wk->w->stop)) {
        if (wk == &wk->w->workers[0]) /* one retention sweeper per process */
            sync_backups_tick(wk->w->s, &wk->next_expiry);
        if (wk->c.pg && !db_listen_ok(&wk->c))
            db_listen_close(&wk->c);
        if (!wk->c.pg && connect_worker(wk) != 0) {
            for (int i = 0; i < 10 && !atomic_load(&wk->w->stop); i++)
                usleep(100 * 1000);
            continue;
        }
        int rc = run_chunk(wk);
        if (rc == BATCH_NONE) { /* no job left: its memory is not kept for the next one */
            store_asset_stream_free(&wk->out);
            arena_free(&wk->scratch);
        }
        if (rc == BATCH_NONE && finish_one(wk) == 0)
            wait_for_work(wk, 1000);
        else if (rc == BATCH_LATER)
            wait_for_work(wk, 1000);
        else if (rc == BATCH_ERROR)
            usleep(50 * 1000); /* e.g. a dropped connection: retry */
    }
    if (wk->c.pg) {
        /* Chunks are only held inside a transaction, so closing the connection hands them back;
         * clear our name from the jobs we touched last, so nobody waits on it, and finish a job
         * whose last chunk we did rather than leave it to the others' next poll. */
        while (finish_one(wk) == 1)
            ;
        (void)store_restore_release(&wk->c, wk->me); /* best effort: informational */
        db_listen_close(&wk->c);
    }
    return NULL;
}

int sync_workers_start(sync_workers **out, svc *s, int n, int lease_seconds)
{
    sync_workers *w = calloc(1, sizeof *w);
    char host[64] = "host";
    *out = NULL;
    if (!w)
        return -1;
    w->s = s;
    w->n = n;
    w->lease = lease_seconds;
    w->threads = calloc((size_t)n, sizeof *w->threads);
    w->workers = calloc((size_t)n, sizeof *w->workers);
    if (!w->threads || !w->workers) {
        sync_workers_stop(w);
        return -1;
    }
    gethostname(host, sizeof host - 1);
    for (int i = 0; i < n; i++) {
        w->workers[i].w = w;
        snprintf(w->workers[i].me, sizeof w->workers[i].me, "%s:%d:%d", host, (int)getpid(), i);
        if (pthread_create(&w->threads[i], NULL, worker_main, &w->workers[i]) != 0) {
            sync_workers_stop(w);
            return -1;
        }
        w->started++;
    }
    *out = w;
    return 0;
}

void sync_workers_stop(sync_workers *w)
{
    if (!w)
        return;
    atomic_store(&w->stop, 1);
    for (int i = 0; i < w->started; i++)
        pthread_join(w->threads[i], NULL);
    for (int i = 0; i < w->n && w->workers; i++) {
        store_asset_stream_free(&w->workers[i].out);
        arena_free(&w->workers[i].scratch);
    }
    free(w->threads);
    free(w->workers);
    free(w);
}
