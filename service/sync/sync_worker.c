/* sync (part 2): the sync worker. A restore job is cut into chunks of backup records when it is
 * created (restore_chunks). Exactly once: a worker claims a chunk with FOR UPDATE SKIP LOCKED
 * inside the transaction that writes the chunk's records, records each decided record's outcome
 * for the report (restore_records), adds its counts and marks it done, so
 * a crash before COMMIT releases the lock and another worker redoes the chunk, and after COMMIT
 * it is never redone. Any number of workers, in any number of processes, share one job's
 * chunks; the job is finished (sync results written, SYNC_DONE_CHANNEL notified for long polls)
 * once no chunk is left. A retry job takes only the records its base job refused under its
 * rules. */
#include <poll.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../crypto/keyring.h"
#include "../crypto/record.h"
#include "../log.h"
#include "../store/sqlbuf.h"
#include "../store/store.h"
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

struct worker {
    struct sync_workers *w;
    char me[96];
    db_conn c;
    time_t next_expiry; /* the first worker also applies ASSETD_BACKUP_RETENTION_DAYS */
};

typedef struct {
    char id[UUID_TEXT_LEN], backup_id[UUID_TEXT_LEN], target[UUID_TEXT_LEN];
    int sync_bit;
    device_state old_state;
    unsigned char tk[SEAL_KEY_LEN];
    char where[64];
    char retry_base[UUID_TEXT_LEN]; /* "" unless a retry: the job whose failures it redoes */
    char retry_rules[8];            /* of a retry: the rules (bit 1 << rule) it takes */
} job;

typedef struct {
    int owner_kind;
    asset_text owner;
    bool attr_enc;
    long total, failed;
} owner_count;

typedef struct {
    long processed, accepted, failed;
    long failures[RULE_COUNT];
    int owners_n, owners_cap;
    owner_count *owners;
    asset_record *rows;
    store_label_cols *cols;
    int nrows;
} batch_acc;

/* BATCH_LATER: the job cannot be worked on by this process now (the database is unavailable,
 * or its keys are under a master key version this process lacks): leave it a while. */
enum { BATCH_MORE, BATCH_NONE, BATCH_FAILED_JOB, BATCH_ERROR, BATCH_LATER };

#define BACKUP_RECORD_COLS                                                                         \
    "b.ordinal, b.owner_kind, b.owner, b.attr_enc, b.alias, b.accessibility, b.req_pwd, "          \
    "b.auth_type, b.sync_type, b.persistent, b.wrap_type, b.labels_sealed, b.sealed"

/* One decided record for the report (restore_records), in the chunk's transaction. */
static void report_row(copybuf *b, const job *j, int ordinal, const asset_record *r,
                       restore_rule rule)
{
    copybuf_text(b, j->id, strlen(j->id));
    copybuf_int(b, ordinal);
    copybuf_int(b, r->owner_kind);
    copybuf_text(b, r->owner.p, r->owner.n);
    copybuf_bool(b, r->attr_enc);
    copybuf_int(b, rule);
    copybuf_row(b);
}

static asset_err exec1(db_conn *c, const char *sql, int n, const char *const *vals, PGresult **out)
{
    return db_exec(c, sql, n, vals, NULL, NULL, out);
}

static void exec_ignore(db_conn *c, const char *sql, int n, const char *const *vals)
{
    PGresult *r = NULL;
    if (exec1(c, sql, n, vals, &r) == ASSET_OK)
        PQclear(r);
}

static void mark_failed(worker *wk, const job *j)
{
    const char *vals[] = {j->id, wk->me};
    exec_ignore(
        &wk->c,
        "WITH u AS (UPDATE restores SET status = " RESTORE_SQL_FAILED ", finished_at = now(), "
        "lease_owner = NULL, lease_until = NULL WHERE id = $1 AND status IN " RESTORE_SQL_PENDING
        " RETURNING id) SELECT pg_notify('" SYNC_DONE_CHANNEL "', id::text) "
        "FROM u",
        1, vals);
    log_error("restore failed", LOG_STR("restore", j->id));
}

/* The job's backup: OLD's recorded state and the transport key. */
static asset_err load_job(worker *wk, job *j)
{
    PGresult *r = NULL;
    unsigned char wrapped[SEAL_WRAPPED_KEY_LEN];
    char purpose[96];
    size_t len = 0;
    const char *vals[] = {j->id};
    asset_err e = exec1(&wk->c,
                        "SELECT r.backup_id, r.target_device_id, r.sync_bit, b.pwd_set, "
                        "b.screen_locked, b.unlocked_since_boot, b.kek_version, b.wrapped_key, "
                        "coalesce(r.retry_base::text, ''), r.retry_rules "
                        "FROM restores r JOIN backups b ON b.id = r.backup_id WHERE r.id = $1",
                        1, vals, &r);
    if (e != ASSET_OK)
        return e;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return ASSET_NOT_FOUND;
    }
    snprintf(j->backup_id, sizeof j->backup_id, "%s", PQgetvalue(r, 0, 0));
    snprintf(j->target, sizeof j->target, "%s", PQgetvalue(r, 0, 1));
    j->sync_bit = atoi(PQgetvalue(r, 0, 2));
    j->old_state = svc_device_state_row(r, 0, 3);
    snprintf(j->retry_base, sizeof j->retry_base, "%s", PQgetvalue(r, 0, 8));
    snprintf(j->retry_rules, sizeof j->retry_rules, "%s", PQgetvalue(r, 0, 9));
    sync_backup_where(j->where, j->backup_id);
    sync_backup_purpose(purpose, j->backup_id);
    int rc = db_bytea_decode(wrapped, sizeof wrapped, &len, PQgetvalue(r, 0, 7),
                             (size_t)PQgetlength(r, 0, 7));
    if (rc == 0)
        rc = keyring_unwrap(j->tk, wrapped, len, atoi(PQgetvalue(r, 0, 6)), purpose,
                            wk->w->s->cfg->keys);
    /* A master key version this process lacks is not corruption: the chunk is left for a
     * worker that holds it (a rolling rotation). */
    if (rc != 0)
        e = rc == KEYRING_UNKNOWN_VERSION ? ASSET_SERVICE_UNAVAILABLE : ASSET_DATA_CORRUPTED;
    PQclear(r);
    return e;
}

/* NEW's state now, and its current data key. */
static asset_err load_target(worker *wk, const job *j, device_state *st, int *dek_version,
                             unsigned char dek[SEAL_KEY_LEN])
{
    PGresult *r = NULL;
    const char *vals[] = {j->target};
    asset_err e = exec1(&wk->c,
                        "SELECT pwd_set, screen_locked, unlocked_since_boot, dek_version "
                        "FROM devices WHERE id = $1",
                        1, vals, &r);
    if (e != ASSET_OK)
        return e;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return ASSET_NOT_FOUND;
    }
    *st = svc_device_state_row(r, 0, 0);
    *dek_version = atoi(PQgetvalue(r, 0, 3));
    PQclear(r);
    return svc_device_key(wk->w->s, &wk->c, j->target, *dek_version, dek);
}

static owner_count *owner_of(batch_acc *acc, const asset_record *r)
{
    for (int i = acc->owners_n - 1; i >= 0; i--) {
        owner_count *o = &acc->owners[i];
        if (o->owner_kind == r->owner_kind && o->attr_enc == r->attr_enc &&
            o->owner.n == r->owner.n && memcmp(o->owner.p, r->owner.p, r->owner.n) == 0)
            return o;
    }
    if (acc->owners_n == acc->owners_cap) {
        int cap = acc->owners_cap ? acc->owners_cap * 2 : 16;
        owner_count *no = realloc(acc->owners, (size_t)cap * sizeof *no);
        if (!no)
            return NULL;
        acc->owners = no;
        acc->owners_cap = cap;
    }
    owner_count *o = &acc->owners[acc->owners_n++];
    *o = (owner_count){r->owner_kind, r->owner, r->attr_enc, 0, 0};
    return o;
}

/* A backup record as an asset_record: the columns it shares with an asset decode as
 * store_asset_decode reads them (store_backup_decode); it is sealed under
 * SYNC_BACKUP_KEY_VERSION. */
static void decode_backup_row(const row_reader *rows, int i, asset_record *r, int *ordinal,
                              arena *a, int *bad)
{
    if (store_backup_decode(rows, i, r, ordinal, a) != 0) {
        *bad = 1;
        return;
    }
    r->key_version = SYNC_BACKUP_KEY_VERSION;
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
    int rc = r->attr_enc ? record_seal_labels(r, a, j->target, dek) : 0;
    if (!r->attr_enc) {
        r->labels_sealed = NULL;
        r->labels_sealed_len = 0;
    }
    rc |= record_seal_secret(r, a, secret, len, j->target, dek);
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

/* Owners in one order in every transaction, so two workers adding to the same owners' counts
 * lock the rows in the same order and never deadlock. */
static int cmp_owner(const void *x, const void *y)
{
    const owner_count *a = x, *b = y;
    if (a->owner_kind != b->owner_kind)
        return a->owner_kind - b->owner_kind;
    if (a->attr_enc != b->attr_enc)
        return (int)a->attr_enc - (int)b->attr_enc;
    size_t n = a->owner.n < b->owner.n ? a->owner.n : b->owner.n;
    int c = memcmp(a->owner.p, b->owner.p, n);
    return c ? c : (a->owner.n > b->owner.n) - (a->owner.n < b->owner.n);
}

static asset_err write_progress(worker *wk, const job *j, batch_acc *acc, const char *chunk)
{
    sqlbuf b;
    PGresult *r = NULL;
    asset_err e = ASSET_OK;
    sqlbuf_init(&b);
    if (acc->owners_n) {
        qsort(acc->owners, (size_t)acc->owners_n, sizeof *acc->owners, cmp_owner);
        sqlbuf_add(&b, "INSERT INTO restore_owner_counts (restore_id, owner_kind, owner, "
                       "attr_enc, total, failed) VALUES ");
        int rid = sqlbuf_cstr(&b, j->id);
        for (int i = 0; i < acc->owners_n; i++) {
            owner_count *o = &acc->owners[i];
            sqlbuf_add(&b, "%s($%d::uuid, %d, $%d::text, %s, %ld, %ld)", i ? ", " : "", rid,
                       o->owner_kind, sqlbuf_text(&b, o->owner.p, o->owner.n),
                       o->attr_enc ? "true" : "false", o->total, o->failed);
        }
        sqlbuf_add(&b, " ON CONFLICT (restore_id, owner_kind, owner, attr_enc) DO UPDATE SET "
                       "total = restore_owner_counts.total + EXCLUDED.total, "
                       "failed = restore_owner_counts.failed + EXCLUDED.failed");
        e = sqlbuf_exec(&b, &wk->c, &r);
        PQclear(r);
        r = NULL;
    }
    sqlbuf_free(&b);
    if (e != ASSET_OK)
        return e;
    sqlbuf_init(&b);
    /* lease_owner/lease_until only say who worked on the job last (chunk locks do the rest). */
    int id = sqlbuf_cstr(&b, j->id);
    sqlbuf_add(&b,
               "WITH c AS (UPDATE restore_chunks SET done = true WHERE restore_id = $%d AND "
               "chunk = $%d) "
               "UPDATE restores SET status = " RESTORE_SQL_RUNNING ", processed = processed + %ld, "
               "accepted = accepted + %ld, failed = failed + %ld, "
               "f_password = f_password + %ld, f_unlocked = f_unlocked + %ld, "
               "f_user_auth = f_user_auth + %ld, f_first_unlock = f_first_unlock + %ld, "
               "lease_owner = $%d, lease_until = now() + make_interval(secs => %d) WHERE id = $%d "
               "AND status IN " RESTORE_SQL_PENDING,
               id, sqlbuf_cstr(&b, chunk), acc->processed, acc->accepted, acc->failed,
               acc->failures[RULE_PASSWORD], acc->failures[RULE_UNLOCKED],
               acc->failures[RULE_USER_AUTH], acc->failures[RULE_FIRST_UNLOCK],
               sqlbuf_cstr(&b, wk->me), wk->w->lease, id);
    e = sqlbuf_exec(&b, &wk->c, &r);
    /* The job was ended meanwhile (its target device removed): the chunk rolls back. */
    if (e == ASSET_OK && strcmp(PQcmdTuples(r), "0") == 0)
        e = ASSET_NOT_FOUND;
    PQclear(r);
    sqlbuf_free(&b);
    return e;
}

static asset_err finish_job(worker *wk, const job *j)
{
    PGresult *r = NULL;
    const char *vals[] = {j->id, j->target};
    asset_err e = exec1(
        &wk->c,
        "INSERT INTO sync_results (device_id, owner_kind, owner, attr_enc, restore_id, total, "
        "failed, finished_at) SELECT $2, owner_kind, owner, attr_enc, restore_id, total, failed, "
        "now() FROM restore_owner_counts WHERE restore_id = $1 "
        "ON CONFLICT (device_id, owner_kind, owner, attr_enc) DO UPDATE SET "
        "restore_id = EXCLUDED.restore_id, total = EXCLUDED.total, failed = EXCLUDED.failed, "
        "finished_at = EXCLUDED.finished_at",
        2, vals, &r);
    PQclear(r);
    r = NULL;
    /* The NOTIFY is delivered at COMMIT: it wakes long polls on every instance (longpoll.c). */
    if (e == ASSET_OK)
        e = exec1(&wk->c,
                  "WITH u AS (UPDATE restores SET status = " RESTORE_SQL_DONE
                  ", finished_at = now(), "
                  "lease_owner = NULL, lease_until = NULL WHERE id = $1 RETURNING id) "
                  "SELECT pg_notify('" SYNC_DONE_CHANNEL "', id::text) FROM u",
                  1, vals, &r);
    PQclear(r);
    return e;
}

/* Claim one chunk of any unfinished job and decide its records, all in one transaction. */
static int run_chunk(worker *wk)
{
    PGresult *chunk = NULL, *recs = NULL;
    batch_acc acc = {0};
    arena a = {0};
    device_state new_state;
    unsigned char dek[SEAL_KEY_LEN];
    int dek_version = 0, rc = BATCH_ERROR, ordinal = -1, bad = 0;
    job j;
    copybuf report;
    memset(&j, 0, sizeof j);
    copybuf_init(&report);
    if (db_begin(&wk->c) != ASSET_OK)
        goto out;
    if (exec1(&wk->c,
              "SELECT c.restore_id, c.chunk, c.first_ordinal, c.last_ordinal "
              "FROM restore_chunks c JOIN restores r ON r.id = c.restore_id "
              "WHERE NOT c.done AND r.status IN " RESTORE_SQL_PENDING " "
              "ORDER BY r.created_at, c.chunk FOR UPDATE OF c SKIP LOCKED LIMIT 1",
              0, NULL, &chunk) != ASSET_OK)
        goto out;
    if (PQntuples(chunk) != 1) {
        rc = BATCH_NONE;
        goto out;
    }
    snprintf(j.id, sizeof j.id, "%s", PQgetvalue(chunk, 0, 0));
    asset_err e = load_job(wk, &j);
    if (e == ASSET_OK)
        e = load_target(wk, &j, &new_state, &dek_version, dek);
    if (e != ASSET_OK) {
        rc = e == ASSET_SERVICE_UNAVAILABLE ? BATCH_LATER : BATCH_FAILED_JOB;
        goto out;
    }
    /* A retry takes only the records its base job refused under one of its rules. */
    const char *v2[] = {j.backup_id, PQgetvalue(chunk, 0, 2), PQgetvalue(chunk, 0, 3), j.retry_base,
                        j.retry_rules};
    bool retry = j.retry_base[0] != 0;
    if (exec1(&wk->c,
              retry ? "SELECT " BACKUP_RECORD_COLS " FROM backup_records b "
                      "JOIN restore_records x ON x.restore_id = $4::uuid AND "
                      "x.ordinal = b.ordinal AND ((1 << x.rule) & $5::int) <> 0 "
                      "WHERE b.backup_id = $1 AND b.ordinal BETWEEN $2 AND $3 ORDER BY b.ordinal"
                    : "SELECT " BACKUP_RECORD_COLS " FROM backup_records b "
                      "WHERE b.backup_id = $1 AND b.ordinal BETWEEN $2 AND $3 ORDER BY b.ordinal",
              retry ? 5 : 3, v2, &recs) != ASSET_OK)
        goto out;
    int n = PQntuples(recs);
    acc.rows = calloc((size_t)n + 1, sizeof *acc.rows);
    acc.cols = calloc((size_t)n + 1, sizeof *acc.cols);
    if (!acc.rows || !acc.cols)
        goto out;
    row_reader rows;
    if (store_backup_rows(&rows, recs) != 0) {
        rc = BATCH_FAILED_JOB;
        goto out;
    }
    for (int i = 0; i < n; i++) {
        asset_record *r = &acc.rows[acc.nrows];
        decode_backup_row(&rows, i, r, &ordinal, &a, &bad);
        if (bad) {
            rc = BATCH_FAILED_JOB;
            goto out;
        }
        if (!(r->sync_type & j.sync_bit))
            continue; /* does not take part in this kind of move: not counted */
        owner_count *o = owner_of(&acc, r);
        if (!o)
            goto out;
        o->total++;
        acc.processed++;
        access_attrs at = record_access(r);
        restore_rule rule = rules_check_restore(&at, &j.old_state, &new_state);
        report_row(&report, &j, ordinal, r, rule);
        if (rule != RULE_OK) {
            o->failed++;
            acc.failed++;
            acc.failures[rule]++;
            continue;
        }
        if (reseal_for_target(r, &acc.cols[acc.nrows], &a, &j, dek_version, dek) != 0) {
            rc = BATCH_FAILED_JOB; /* a backup record that fails to open: tampered */
            goto out;
        }
        acc.accepted++;
        acc.nrows++;
    }
    if (store_asset_restore_many(&wk->c, j.target, acc.rows, acc.cols, acc.nrows) != ASSET_OK ||
        (acc.processed && copybuf_send(&report, &wk->c,
                                       "COPY restore_records (restore_id, ordinal, owner_kind, "
                                       "owner, attr_enc, rule) FROM STDIN") != ASSET_OK) ||
        write_progress(wk, &j, &acc, PQgetvalue(chunk, 0, 1)) != ASSET_OK ||
        db_commit(&wk->c) != ASSET_OK)
        goto out;
    sync_stats_add((unsigned long long)acc.accepted, acc.failures);
    rc = BATCH_MORE;
out:
    if (PQtransactionStatus(wk->c.pg) != PQTRANS_IDLE)
        db_rollback(&wk->c);
    if (rc == BATCH_FAILED_JOB)
        mark_failed(wk, &j);
    sodium_memzero(dek, sizeof dek);
    sodium_memzero(j.tk, sizeof j.tk);
    PQclear(chunk);
    PQclear(recs);
    copybuf_free(&report);
    free(acc.rows);
    free(acc.cols);
    free(acc.owners);
    arena_free(&a);
    return rc;
}

/* Finish one job none of whose chunks is left: sync results, status done. 1 finished one, 0
 * none, -1 error. */
static int finish_one(worker *wk)
{
    PGresult *r = NULL;
    job j;
    int rc = -1;
    memset(&j, 0, sizeof j);
    if (db_begin(&wk->c) != ASSET_OK)
        return -1;
    if (exec1(&wk->c,
              "SELECT r.id, r.target_device_id FROM restores r "
              "WHERE r.status IN " RESTORE_SQL_PENDING " AND NOT EXISTS (SELECT 1 FROM "
              "restore_chunks c WHERE c.restore_id = r.id AND NOT c.done) "
              "ORDER BY r.created_at FOR UPDATE OF r SKIP LOCKED LIMIT 1",
              0, NULL, &r) != ASSET_OK)
        goto out;
    if (PQntuples(r) != 1) {
        rc = 0;
        goto out;
    }
    snprintf(j.id, sizeof j.id, "%s", PQgetvalue(r, 0, 0));
    snprintf(j.target, sizeof j.target, "%s", PQgetvalue(r, 0, 1));
    if (finish_job(wk, &j) == ASSET_OK && db_commit(&wk->c) == ASSET_OK)
        rc = 1;
out:
    if (PQtransactionStatus(wk->c.pg) != PQTRANS_IDLE)
        db_rollback(&wk->c);
    PQclear(r);
    return rc;
}

static int connect_worker(worker *wk)
{
    PGresult *r = NULL;
    if (db_connect(wk->w->s->cfg->database_url, wk->w->s->cfg->db_timeout_ms, &wk->c.pg) !=
        ASSET_OK)
        return -1;
    wk->c.broken = false;
    wk->c.prepared = 0;
    wk->c.timeout_ms = wk->w->s->cfg->db_timeout_ms;
    /* Through a transaction pooler a LISTEN stays on whichever server connection ran it: there
     * workers only poll (wait_for_work's timeout). */
    if (db_transaction_pooler())
        return 0;
    if (exec1(&wk->c, "LISTEN assetd_restores", 0, NULL, &r) != ASSET_OK) {
        PQfinish(wk->c.pg);
        wk->c.pg = NULL;
        return -1;
    }
    PQclear(r);
    return 0;
}

/* Sleep until a NOTIFY, the timeout, or stop. */
static void wait_for_work(worker *wk, int timeout_ms)
{
    struct pollfd pfd = {PQsocket(wk->c.pg), POLLIN, 0};
    for (int waited = 0; waited < timeout_ms && !atomic_load(&wk->w->stop); waited += 200) {
        if (poll(&pfd, 1, 200) > 0) {
            PGnotify *n;
            bool woke = false;
            if (!PQconsumeInput(wk->c.pg)) {
                wk->c.broken = true;
                return;
            }
            while ((n = PQnotifies(wk->c.pg))) {
                PQfreemem(n);
                woke = true;
            }
            if (woke)
                return;
        }
    }
}

static void *worker_main(void *arg)
{
    worker *wk = arg;
    while (!atomic_load(&wk->w->stop)) {
        if (wk == &wk->w->workers[0]) /* one retention sweeper per process */
            sync_backups_tick(wk->w->s, &wk->next_expiry);
        if (wk->c.pg && (wk->c.broken || PQstatus(wk->c.pg) != CONNECTION_OK)) {
            PQfinish(wk->c.pg);
            wk->c.pg = NULL;
        }
        if (!wk->c.pg && connect_worker(wk) != 0) {
            for (int i = 0; i < 10 && !atomic_load(&wk->w->stop); i++)
                usleep(100 * 1000);
            continue;
        }
        int rc = run_chunk(wk);
        if (rc == BATCH_NONE && finish_one(wk) == 0)
            wait_for_work(wk, 1000);
        else if (rc == BATCH_LATER)
            wait_for_work(wk, 1000);
        else if (rc == BATCH_ERROR)
            usleep(50 * 1000); /* e.g. a deadlock victim or a dropped connection: retry */
    }
    if (wk->c.pg) {
        /* Chunks are only held inside a transaction, so closing the connection hands them back;
         * clear our name from the jobs we touched last, so nobody waits on it, and finish a job
         * whose last chunk we did rather than leave it to the others' next poll. */
        const char *vals[] = {wk->me};
        while (finish_one(wk) == 1)
            ;
        exec_ignore(&wk->c,
                    "UPDATE restores SET lease_owner = NULL, lease_until = NULL "
                    "WHERE lease_owner = $1 AND status = " RESTORE_SQL_RUNNING,
                    1, vals);
        PQfinish(wk->c.pg);
        wk->c.pg = NULL;
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
    free(w->threads);
    free(w->workers);
    free(w);
}
