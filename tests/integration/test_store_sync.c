/* test_store_sync: the sync tables' store modules (service/store/store_sync.h) and the
 * connections the sync worker runs them on (db_tx_on, db_listen), against a real PostgreSQL
 * (TEST_DATABASE_URL), on a private database created for the run and dropped at the end.
 *
 * What it pins down: the runner on a caller's connection runs a conflicting transaction again
 * and rolls a failed one back, leaving the connection idle and usable; a LISTEN connection
 * hands over a NOTIFY's payload; backup and restore rows written by the store read back by
 * column name as they were written (records, counts, chunks, status); two workers claim
 * different chunks (SKIP LOCKED); a chunk of a job ended meanwhile is refused (NOT_FOUND); a
 * chunk's assets are written whether or not their aliases exist on the device already, each
 * under the alias key every lookup computes; a job's report rows go with the job; a chunk's
 * asynchronous commit ends with its transaction. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <libpq-fe.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../service/store/db_listen.h"
#include "../../service/store/store_sync.h"

static const char *test_url, *mig_dir;
static PGconn *admin_pg; /* on TEST_DATABASE_URL: CREATE/DROP DATABASE */
static char priv_name[64];
static char priv_url[1024];
static PGconn *pg; /* on the private database, for fixtures and checks */
static db_pool *pool;

static void quiet_notice(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

static PGresult *sql(const char *q, int n, const char *const *vals)
{
    PGresult *r = PQexecParams(pg, q, n, NULL, vals, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        fail_msg("SQL failed: %s\n%s", q, PQerrorMessage(pg));
    return r;
}

static long sql_long(const char *q, int n, const char *const *vals)
{
    PGresult *r = sql(q, n, vals);
    assert_int_equal(PQntuples(r), 1);
    long v = atol(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

static void open_conn(db_conn *c)
{
    assert_int_equal(db_listen_open(c, priv_url, 5000, NULL), ASSET_OK);
}

/* The connection parameters of the test server that the private database keeps. */
static bool keep(const char *keyword)
{
    static const char *const names[] = {"host",    "hostaddr", "port",        "user", "password",
                                        "sslmode", "passfile", "sslrootcert", NULL};
    for (int i = 0; names[i]; i++)
        if (strcmp(keyword, names[i]) == 0)
            return true;
    return false;
}

static int group_setup(void **state)
{
    (void)state;
    char q[256];
    if (sodium_init() < 0)
        return -1;
    admin_pg = PQconnectdb(test_url);
    if (PQstatus(admin_pg) != CONNECTION_OK)
        return -1;
    PQsetNoticeProcessor(admin_pg, quiet_notice, NULL);
    snprintf(priv_name, sizeof priv_name, "assetd_tsync_%d_%08x", (int)getpid(),
             (unsigned)randombytes_random());
    snprintf(q, sizeof q, "CREATE DATABASE \"%s\"", priv_name);
    PQclear(PQexec(admin_pg, q));
    /* The test server's conninfo with the private database's name. */
    PQconninfoOption *opts = PQconninfo(admin_pg);
    size_t len = 0;
    for (PQconninfoOption *o = opts; o && o->keyword; o++)
        if (o->val && *o->val && keep(o->keyword) && !strchr(o->val, '\''))
            len += (size_t)snprintf(priv_url + len, sizeof priv_url - len, "%s='%s' ", o->keyword,
                                    o->val);
    PQconninfoFree(opts);
    snprintf(priv_url + len, sizeof priv_url - len, "dbname='%s'", priv_name);
    if (db_migrate(priv_url, mig_dir) < 0)
        return -1;
    pg = PQconnectdb(priv_url);
    if (PQstatus(pg) != CONNECTION_OK)
        return -1;
    PQsetNoticeProcessor(pg, quiet_notice, NULL);
    return db_pool_open(&pool, priv_url, 2, 5000) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    char q[256];
    db_pool_close(pool);
    PQfinish(pg);
    snprintf(q, sizeof q, "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)", priv_name);
    PQclear(PQexec(admin_pg, q));
    PQfinish(admin_pg);
    return 0;
}

/* ---- db_tx_on ---- */

typedef struct {
    int attempts;
    int conflicts; /* attempts that end in a serialization failure */
    asset_err result;
} tx_probe;

static asset_err probe_tx(db_conn *c, void *arg)
{
    tx_probe *x = arg;
    PGresult *r = NULL;
    char n[16];
    snprintf(n, sizeof n, "%d", ++x->attempts);
    const char *vals[] = {n};
    asset_err e = db_exec(c, "INSERT INTO tx_probe VALUES ($1::int)", 1, vals, NULL, NULL, &r);
    PQclear(r);
    if (e == ASSET_OK && x->attempts <= x->conflicts) {
        e = db_exec(c, "DO $$BEGIN RAISE EXCEPTION USING ERRCODE = '40001'; END$$", 0, NULL, NULL,
                    NULL, &r);
        PQclear(r);
    }
    return e == ASSET_OK ? x->result : e;
}

static void test_tx_on_retries_and_rolls_back(void **state)
{
    (void)state;
    db_conn c;
    PQclear(sql("CREATE TABLE tx_probe (attempt int)", 0, NULL));
    open_conn(&c);
    /* Two serialization failures, then success: run three times, one row committed. */
    tx_probe x = {0, 2, ASSET_OK};
    assert_int_equal(db_tx_on(&c, DB_READ_COMMITTED, probe_tx, &x), ASSET_OK);
    assert_int_equal(x.attempts, 3);
    assert_int_equal(sql_long("SELECT count(*) FROM tx_probe", 0, NULL), 1);
    assert_int_equal(sql_long("SELECT attempt FROM tx_probe", 0, NULL), 3);
    assert_int_equal(PQtransactionStatus(c.pg), PQTRANS_IDLE);
    /* fn fails: its error, one attempt, nothing committed, the connection still usable. */
    x = (tx_probe){0, 0, ASSET_NOT_FOUND};
    assert_int_equal(db_tx_on(&c, DB_REPEATABLE_READ, probe_tx, &x), ASSET_NOT_FOUND);
    assert_int_equal(x.attempts, 1);
    assert_int_equal(sql_long("SELECT count(*) FROM tx_probe", 0, NULL), 1);
    assert_int_equal(PQtransactionStatus(c.pg), PQTRANS_IDLE);
    assert_true(db_listen_ok(&c));
    /* Conflicts that never end: bounded, SERVICE_UNAVAILABLE, nothing committed. */
    x = (tx_probe){0, 1000, ASSET_OK};
    assert_int_equal(db_tx_on(&c, DB_READ_COMMITTED, probe_tx, &x), ASSET_SERVICE_UNAVAILABLE);
    assert_true(x.attempts > 1 && x.attempts < 100);
    assert_int_equal(sql_long("SELECT count(*) FROM tx_probe", 0, NULL), 1);
    db_listen_close(&c);
    assert_null(c.pg);
    PQclear(sql("DROP TABLE tx_probe", 0, NULL));
}

/* ---- db_listen ---- */

static void got_payload(void *ctx, const char *payload)
{
    snprintf(ctx, 32, "%s", payload);
}

static void test_listen_hands_over_payload(void **state)
{
    (void)state;
    db_conn c;
    char payload[32] = "";
    assert_int_equal(db_listen_open(&c, priv_url, 5000, "assetd_test_chan"), ASSET_OK);
    assert_int_equal(db_listen_wait(&c, 50, got_payload, payload), 0);
    assert_string_equal(payload, "");
    PQclear(sql("SELECT pg_notify('assetd_test_chan', 'job-1')", 0, NULL));
    int got = 0;
    for (int i = 0; i < 20 && got == 0; i++)
        got = db_listen_wait(&c, 250, got_payload, payload);
    assert_int_equal(got, 1);
    assert_string_equal(payload, "job-1");
    db_listen_close(&c);
}

/* ---- backups and restores ---- */

#define NREC 5

typedef struct {
    const char *backup_id, *device_id;
    unsigned char wrapped[SEAL_WRAPPED_KEY_LEN];
    asset_record rows[NREC];
    char alias[NREC][16];
    unsigned char sealed[NREC][16], labels[NREC][8];
} backup_fixture;

static asset_err backup_tx(db_conn *c, void *arg)
{
    backup_fixture *f = arg;
    int64_t created_ms = 0;
    asset_err e = store_backup_insert(c, f->backup_id, f->device_id, 1, f->wrapped,
                                      sizeof f->wrapped, &created_ms);
    if (e == ASSET_OK && created_ms <= 0)
        e = ASSET_DATA_CORRUPTED;
    if (e == ASSET_OK)
        e = store_backup_records_add(c, f->backup_id, 0, f->rows, NREC);
    return e == ASSET_OK ? store_backup_finish(c, f->backup_id, NREC) : e;
}

typedef struct {
    const char *id, *backup_id, *target_id;
    restore_info out;
} restore_fixture;

static asset_err restore_tx(db_conn *c, void *arg)
{
    restore_fixture *f = arg;
    return store_restore_insert(c, f->id, f->backup_id, f->target_id, SYNC_THIS_DEVICE, 2, &f->out);
}

static void make_backup(backup_fixture *f)
{
    randombytes_buf(f->wrapped, sizeof f->wrapped);
    for (int i = 0; i < NREC; i++) {
        asset_record *r = &f->rows[i];
        snprintf(f->alias[i], sizeof f->alias[i], "a%d", i);
        randombytes_buf(f->sealed[i], sizeof f->sealed[i]);
        randombytes_buf(f->labels[i], sizeof f->labels[i]);
        r->owner_kind = i % 2;
        r->owner = (asset_text){i % 2 ? "grp" : "app.x", i % 2 ? 3 : 5};
        r->alias = (asset_text){f->alias[i], strlen(f->alias[i])};
        r->attr_enc = i == 4;
        r->accessibility = (uint8_t)(i % 3);
        r->require_password_set = i == 2;
        r->auth_type = i == 3 ? 0xff : 0;
        /* record 1 only moves to trusted devices: not part of a same-device restore */
        r->sync_type = i == 1 ? SYNC_TRUSTED_DEVICE : SYNC_THIS_DEVICE;
        r->is_persistent = i == 0;
        r->sealed = f->sealed[i];
        r->sealed_len = sizeof f->sealed[i];
        r->labels_sealed = f->labels[i];
        r->labels_sealed_len = sizeof f->labels[i];
    }
}

static void check_record(const asset_record *got, const asset_record *want)
{
    assert_int_equal(got->owner_kind, want->owner_kind);
    assert_int_equal(got->owner.n, want->owner.n);
    assert_memory_equal(got->owner.p, want->owner.p, want->owner.n);
    assert_int_equal(got->alias.n, want->alias.n);
    assert_memory_equal(got->alias.p, want->alias.p, want->alias.n);
    assert_int_equal(got->attr_enc, want->attr_enc);
    assert_int_equal(got->accessibility, want->accessibility);
    assert_int_equal(got->require_password_set, want->require_password_set);
    assert_int_equal(got->auth_type, want->auth_type);
    assert_int_equal(got->sync_type, want->sync_type);
    assert_int_equal(got->is_persistent, want->is_persistent);
    assert_int_equal(got->sealed_len, want->sealed_len);
    assert_memory_equal(got->sealed, want->sealed, want->sealed_len);
    assert_int_equal(got->labels_sealed_len, want->labels_sealed_len);
    assert_memory_equal(got->labels_sealed, want->labels_sealed, want->labels_sealed_len);
}

/* A new device (name, token hash th) in dev, and backup bid of it made through f. */
static void backed_up_device(char dev[UUID_TEXT_LEN], const char *name, const char *th,
                             const char *bid, backup_fixture *f)
{
    const char *v[] = {name, th};
    PGresult *r = sql("INSERT INTO devices (name, token_hash, account_id) VALUES ($1, "
                      "$2::bytea, 'acct') RETURNING id",
                      2, v);
    snprintf(dev, UUID_TEXT_LEN, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    f->backup_id = bid;
    f->device_id = dev;
    make_backup(f);
    assert_int_equal(db_tx(pool, DB_REPEATABLE_READ, backup_tx, f), ASSET_OK);
}

static void test_backup_restore_rows(void **state)
{
    (void)state;
    char dev[UUID_TEXT_LEN], bid[] = "6a0b8f7e-52a4-4e43-9b0e-0c52d1f0a001",
                             rid[] = "6a0b8f7e-52a4-4e43-9b0e-0c52d1f0a002";
    static backup_fixture f;
    backed_up_device(dev, "d", "\\x0102", bid, &f);

    backup_info b;
    assert_int_equal(store_backup_get(pool, bid, &b), ASSET_OK);
    assert_string_equal(b.id, bid);
    assert_string_equal(b.device_id, dev);
    assert_int_equal(b.record_count, NREC);
    assert_true(b.created_ms > 0 && llabs(b.created_us / 1000 - b.created_ms) <= 1);
    const char *v[] = {bid};
    assert_int_equal(sql_long("SELECT sum(n) FROM backup_groups WHERE backup_id = $1", 1, v), NREC);
    store_restore_parties pt;
    assert_int_equal(store_restore_parties_get(pool, bid, dev, &pt), ASSET_OK);
    assert_true(pt.found && pt.same_account);
    assert_string_equal(pt.source_id, dev);

    restore_fixture rf = {.id = rid, .backup_id = bid, .target_id = dev};
    assert_int_equal(db_tx(pool, DB_READ_COMMITTED, restore_tx, &rf), ASSET_OK);
    assert_string_equal(rf.out.id, rid);
    assert_string_equal(rf.out.backup_id, bid);
    assert_string_equal(rf.out.target_id, dev);
    assert_int_equal(rf.out.status, RESTORE_QUEUED);
    assert_int_equal(rf.out.total, NREC - 1); /* record 1 does not take part */
    assert_string_equal(rf.out.retry_of, "");
    const char *vr[] = {rid};
    assert_int_equal(sql_long("SELECT count(*) FROM restore_chunks WHERE restore_id = $1", 1, vr),
                     3); /* ordinals 0-1, 2-3, 4 */
    restore_info again;
    assert_int_equal(store_restore_get(pool, rid, &again), ASSET_OK);
    assert_memory_equal(&again, &rf.out, sizeof again);
    long counts[RESTORE_STATUS_COUNT];
    assert_int_equal(store_restore_counts(pool, counts), ASSET_OK);
    assert_int_equal(counts[RESTORE_QUEUED], 1);
    assert_int_equal(counts[RESTORE_DONE], 0);

    /* Two workers claim different chunks; the first reads its records back by name. */
    db_conn w1, w2;
    store_chunk c1, c2;
    bool found = false;
    open_conn(&w1);
    open_conn(&w2);
    assert_int_equal(db_begin(&w1), ASSET_OK);
    assert_int_equal(db_begin(&w2), ASSET_OK);
    assert_int_equal(store_chunk_claim(&w1, &c1, &found), ASSET_OK);
    assert_true(found);
    assert_int_equal(store_chunk_claim(&w2, &c2, &found), ASSET_OK);
    assert_true(found);
    assert_string_equal(c1.restore_id, rid);
    assert_int_equal(c1.chunk, 0);
    assert_int_equal(c1.first_ordinal, 0);
    assert_int_equal(c1.last_ordinal, 1);
    assert_int_equal(c2.chunk, 1);
    store_job j;
    assert_int_equal(store_restore_job(&w1, rid, &j), ASSET_OK);
    assert_string_equal(j.backup_id, bid);
    assert_string_equal(j.target_id, dev);
    assert_int_equal(j.sync_bit, SYNC_THIS_DEVICE);
    assert_int_equal(j.wrapped_len, sizeof f.wrapped);
    assert_memory_equal(j.wrapped, f.wrapped, sizeof f.wrapped);
    assert_string_equal(j.retry_base, "");
    store_records recs;
    arena a = {0};
    assert_int_equal(store_chunk_records(&w1, &j, &c1, &a, &recs), ASSET_OK);
    assert_int_equal(recs.n, 2);
    for (int i = 0; i < recs.n; i++) {
        assert_int_equal(recs.ordinals[i], i);
        check_record(&recs.rows[i], &f.rows[i]);
    }
    /* The job ends meanwhile (its target removed, say): the chunk is refused, not counted. */
    db_rollback(&w2);
    assert_int_equal(store_restore_fail(&w2, rid), ASSET_OK);
    store_progress pr = {.processed = 2, .accepted = 2};
    assert_int_equal(store_chunk_done(&w1, &c1, &pr, NULL, 0, "w1", 30), ASSET_NOT_FOUND);
    db_rollback(&w1);
    assert_int_equal(store_restore_get(pool, rid, &again), ASSET_OK);
    assert_int_equal(again.status, RESTORE_FAILED);
    assert_int_equal(again.processed, 0);
    assert_true(again.finished_ms > 0);
    store_records_free(&recs);
    arena_free(&a);
    db_listen_close(&w1);
    db_listen_close(&w2);
}

/* ---- a chunk's assets and report ---- */

/* Assets of device dev whose alias key is the one every lookup computes (ALIAS_KEY_SQL). */
static long keyed_assets(const char *dev)
{
    const char *v[] = {dev};
    return sql_long(
        "SELECT count(*) FROM assets WHERE device_id = $1 AND alias_key = " ALIAS_KEY_SQL(
            "device_id", "owner_kind", "owner", "attr_enc", "alias"),
        1, v);
}

typedef struct {
    const char *dev;
    const asset_record *rows;
    const store_label_cols *cols;
    int n;
} assets_fixture;

static asset_err assets_tx(db_conn *c, void *arg)
{
    assets_fixture *f = arg;
    return store_chunk_assets(c, f->dev, f->rows, f->cols, f->n);
}

static void test_chunk_assets(void **state)
{
    (void)state;
    char dev[UUID_TEXT_LEN];
    PGresult *r = sql("INSERT INTO devices (name, token_hash) VALUES ('t', '\\x0304'::bytea) "
                      "RETURNING id",
                      0, NULL);
    snprintf(dev, sizeof dev, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    static backup_fixture f;
    make_backup(&f);
    static store_label_cols cols[NREC];
    for (int i = 0; i < NREC; i++) {
        f.rows[i].key_version = 1;
        cols[i].v[LABEL_NORMAL] = (asset_text){"lbl", 3};
    }
    /* A chunk onto a device without them: all new. */
    assets_fixture af = {dev, f.rows, cols, 2};
    assert_int_equal(db_tx(pool, DB_READ_COMMITTED, assets_tx, &af), ASSET_OK);
    assert_int_equal(keyed_assets(dev), 2);
    /* A chunk of which one alias is there already: that one replaced, the others added. */
    static unsigned char newer[16];
    memset(newer, 0x5a, sizeof newer);
    f.rows[1].sealed = newer;
    f.rows[1].sealed_len = sizeof newer;
    af = (assets_fixture){dev, &f.rows[1], &cols[1], NREC - 1};
    assert_int_equal(db_tx(pool, DB_READ_COMMITTED, assets_tx, &af), ASSET_OK);
    assert_int_equal(keyed_assets(dev), NREC);
    const char *v[] = {dev};
    assert_int_equal(sql_long("SELECT count(*) FROM assets WHERE device_id = $1 AND alias = 'a1' "
                              "AND sealed = '\\x5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a'::bytea AND "
                              "n1 = 'lbl'",
                              1, v),
                     1);
    assert_int_equal(sql_long("SELECT count(*) FROM assets WHERE device_id = $1 AND alias = 'a4' "
                              "AND attr_enc AND owner = 'app.x' AND owner_kind = 0",
                              1, v),
                     1);
}

static asset_err report_tx(db_conn *c, void *arg)
{
    const char *rid = arg;
    static backup_fixture f;
    store_records recs = {.rows = f.rows, .ordinals = (int[]){0, 1, 2}, .n = 3};
    make_backup(&f);
    return store_chunk_report(c, rid, &recs, (const int[]){RULE_OK, -1, RULE_PASSWORD}, false);
}

static void test_report_rows_go_with_the_job(void **state)
{
    (void)state;
    char dev[UUID_TEXT_LEN], bid[] = "6a0b8f7e-52a4-4e43-9b0e-0c52d1f0a003",
                             rid[] = "6a0b8f7e-52a4-4e43-9b0e-0c52d1f0a004";
    static backup_fixture f;
    backed_up_device(dev, "r", "\\x0506", bid, &f);
    restore_fixture rf = {.id = rid, .backup_id = bid, .target_id = dev};
    assert_int_equal(db_tx(pool, DB_READ_COMMITTED, restore_tx, &rf), ASSET_OK);
    assert_int_equal(db_tx(pool, DB_READ_COMMITTED, report_tx, rid), ASSET_OK);
    const char *vr[] = {rid};
    assert_int_equal(
        sql_long("SELECT count(*) FROM restore_records WHERE restore_id = $1 AND "
                 "((ordinal = 0 AND rule = 0) OR (ordinal = 2 AND rule = 1 AND owner = 'app.x'))",
                 1, vr),
        2);
    /* Deleting the backup deletes its jobs, and their report rows with them. */
    const char *vb[] = {bid};
    PQclear(sql("DELETE FROM backups WHERE id = $1", 1, vb));
    assert_int_equal(sql_long("SELECT count(*) FROM restores WHERE id = $1", 1, vr), 0);
    assert_int_equal(sql_long("SELECT count(*) FROM restore_records WHERE restore_id = $1", 1, vr),
                     0);
}

/* Writes the report of chunks 0 and 1 of job rid over the fixture's backup (chunks of 2, as
 * restore_tx cuts them): record 0 accepted, 1 not taking part (trusted devices only), 2 refused
 * (RULE_PASSWORD), 3 accepted; marks both done. Chunk 2 (record 4) stays undecided. */
typedef struct {
    const char *rid;
    bool implied;
} report_fixture;

static asset_err two_chunks_tx(db_conn *c, void *arg)
{
    const report_fixture *x = arg;
    static backup_fixture f;
    make_backup(&f);
    store_records recs = {.rows = f.rows, .ordinals = (int[]){0, 1, 2, 3}, .n = 4};
    asset_err e = store_chunk_report(
        c, x->rid, &recs, (const int[]){RULE_OK, -1, RULE_PASSWORD, RULE_OK}, x->implied);
    PGresult *r = NULL;
    const char *v[] = {x->rid};
    if (e == ASSET_OK)
        e = db_exec(c, "UPDATE restore_chunks SET done = true WHERE restore_id = $1 AND chunk < 2",
                    1, v, NULL, NULL, &r);
    PQclear(r);
    return e;
}

/* The ordinals and rules of one page of job rid's report as "ordinal:rule alias," text. */
static void page_of(char *out, size_t cap, const char *rid, int after, int outcome, int rule,
                    int owner_kind, const char *owner, long limit)
{
    store_records_query q = {.restore_id = rid,
                             .after = after,
                             .outcome = outcome,
                             .rule = rule,
                             .owner_kind = owner_kind,
                             .owner = {owner, owner ? strlen(owner) : 0},
                             .limit = limit};
    arena a = {0};
    record_row *rows = NULL;
    int n = 0;
    assert_int_equal(store_restore_records(pool, &q, &a, &rows, &n), ASSET_OK);
    size_t len = 0;
    out[0] = 0;
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(out + len, cap - len, "%d:%d %.*s %.*s,", rows[i].ordinal,
                                rows[i].rule, (int)rows[i].alias.n, rows[i].alias.p,
                                (int)rows[i].owner.n, rows[i].owner.p);
    arena_free(&a);
}

/* The report read back, whatever its form: every outcome stored (a retry, or a job queued before
 * migration 0017), or only the refused ones with the accepted implied by the done chunks. */
static void check_report_pages(const char *rid)
{
    char got[512];
    page_of(got, sizeof got, rid, -1, -1, 0, -1, NULL, 10);
    assert_string_equal(got, "0:0 a0 app.x,2:1 a2 app.x,3:0 a3 grp,");
    page_of(got, sizeof got, rid, -1, 0, 0, -1, NULL, 10);
    assert_string_equal(got, "0:0 a0 app.x,3:0 a3 grp,");
    page_of(got, sizeof got, rid, -1, 1, 0, -1, NULL, 10);
    assert_string_equal(got, "2:1 a2 app.x,");
    page_of(got, sizeof got, rid, -1, -1, RULE_PASSWORD, -1, NULL, 10);
    assert_string_equal(got, "2:1 a2 app.x,");
    page_of(got, sizeof got, rid, -1, -1, RULE_UNLOCKED, -1, NULL, 10);
    assert_string_equal(got, "");
    page_of(got, sizeof got, rid, 0, -1, 0, -1, NULL, 10);
    assert_string_equal(got, "2:1 a2 app.x,3:0 a3 grp,");
    page_of(got, sizeof got, rid, -1, -1, 0, -1, NULL, 2);
    assert_string_equal(got, "0:0 a0 app.x,2:1 a2 app.x,");
    page_of(got, sizeof got, rid, -1, -1, 0, OWNER_GROUP, "grp", 10);
    assert_string_equal(got, "3:0 a3 grp,");
    page_of(got, sizeof got, rid, 2, -1, 0, OWNER_APP, "app.x", 10);
    assert_string_equal(got, "");
}

static void test_report_pages_either_form(void **state)
{
    (void)state;
    char dev[UUID_TEXT_LEN], bid[] = "6a0b8f7e-52a4-4e43-9b0e-0c52d1f0a005",
                             rid[] = "6a0b8f7e-52a4-4e43-9b0e-0c52d1f0a006",
                             old[] = "6a0b8f7e-52a4-4e43-9b0e-0c52d1f0a007";
    static backup_fixture f;
    backed_up_device(dev, "p", "\\x0708", bid, &f);
    const char *vr[] = {rid}, *vo[] = {old};

    /* A new job keeps rows only for what it refused. */
    restore_fixture rf = {.id = rid, .backup_id = bid, .target_id = dev};
    assert_int_equal(db_tx(pool, DB_READ_COMMITTED, restore_tx, &rf), ASSET_OK);
    report_fixture x = {rid, true};
    assert_int_equal(db_tx(pool, DB_READ_COMMITTED, two_chunks_tx, &x), ASSET_OK);
    assert_int_equal(sql_long("SELECT count(*) FROM restore_records WHERE restore_id = $1", 1, vr),
                     1);
    check_report_pages(rid);

    /* A job whose report has a row per outcome reads the same. */
    restore_fixture ro = {.id = old, .backup_id = bid, .target_id = dev};
    assert_int_equal(db_tx(pool, DB_READ_COMMITTED, restore_tx, &ro), ASSET_OK);
    PQclear(sql("UPDATE restores SET report_chunk = NULL WHERE id = $1", 1, vo));
    report_fixture xo = {old, false};
    assert_int_equal(db_tx(pool, DB_READ_COMMITTED, two_chunks_tx, &xo), ASSET_OK);
    assert_int_equal(sql_long("SELECT count(*) FROM restore_records WHERE restore_id = $1", 1, vo),
                     3);
    check_report_pages(old);
}

/* The report's pages read a page, not the job, whatever the statistics say: a backup of 50,000
 * records more, never analyzed, a job with refused rows for 1 record in 50 and the others
 * implied, then each kind of page EXPLAINed as the prepared statement runs it (generic plan):
 * no sequential scan, and no plan node that returns more than a few pages' rows (a sort of
 * every record after the cursor would). */
static asset_err big_job_tx(db_conn *c, void *arg)
{
    const char *const *ids = arg; /* job, backup, target */
    restore_info out;
    asset_err e = store_restore_insert(c, ids[0], ids[1], ids[2], SYNC_THIS_DEVICE, 2000, &out);
    return e == ASSET_OK && out.total != 50004 ? ASSET_DATA_CORRUPTED : e;
}

static void expect_page_plan(const char *what, const char *args, long limit)
{
    char q[256];
    snprintf(q, sizeof q, "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) EXECUTE page(%s)",
             args);
    PGresult *r = PQexec(pg, q);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", what, PQerrorMessage(pg));
    for (int i = 0; i < PQntuples(r); i++) {
        const char *line = PQgetvalue(r, i, 0), *rows = strstr(line, "rows=");
        if (getenv("PLANS_SHOW"))
            fprintf(stderr, "%s: %s\n", what, line);
        if (strstr(line, "Seq Scan") || (rows && atol(rows + 5) > 4 * limit)) {
            for (int k = 0; k < PQntuples(r); k++)
                fprintf(stderr, "%s\n", PQgetvalue(r, k, 0));
            fail_msg("%s: the plan reads more than the page (line %d: %s)", what, i, line);
        }
    }
    PQclear(r);
}

static void test_report_page_plans(void **state)
{
    (void)state;
    char dev[UUID_TEXT_LEN], bid[] = "6a0b8f7e-52a4-4e43-9b0e-0c52d1f0a0b1",
                             rid[] = "6a0b8f7e-52a4-4e43-9b0e-0c52d1f0a0b2", bit[8];
    static backup_fixture f;
    backed_up_device(dev, "plans", "\\x0a0b", bid, &f);
    snprintf(bit, sizeof bit, "%d", SYNC_THIS_DEVICE);
    const char *vb[] = {bid, bit}, *vr[] = {rid};
    PQclear(sql("ALTER TABLE backup_records SET (autovacuum_enabled = false)", 0, NULL));
    PQclear(sql("ALTER TABLE restore_records SET (autovacuum_enabled = false)", 0, NULL));
    PQclear(sql("ALTER TABLE restore_chunks SET (autovacuum_enabled = false)", 0, NULL));
    PQclear(sql("INSERT INTO backup_records (backup_id, ordinal, owner_kind, owner, attr_enc, "
                "alias, accessibility, req_pwd, auth_type, sync_type, persistent, wrap_type, "
                "labels_sealed, sealed) SELECT $1, g, g % 2, CASE WHEN g % 2 = 0 THEN 'app.x' "
                "ELSE 'grp' END, false, 'r' || g, 0, false, 0, $2::smallint, false, 0, '\\x00', "
                "'\\x00' FROM generate_series(5, 50004) g",
                2, vb));
    PQclear(sql("UPDATE backups SET record_count = 50005 WHERE id = $1", 1, vb));
    PQclear(sql("INSERT INTO backup_groups (backup_id, owner_kind, owner, attr_enc, accessibility, "
                "req_pwd, auth_type, sync_type, n) VALUES ($1, 0, 'app.x', false, 0, false, 0, "
                "$2::smallint, 50000)",
                2, vb));
    const char *ids[] = {rid, bid, dev};
    assert_int_equal(db_tx(pool, DB_READ_COMMITTED, big_job_tx, (void *)ids), ASSET_OK);
    PQclear(sql("UPDATE restore_chunks SET done = true WHERE restore_id = $1", 1, vr));
    PQclear(sql("INSERT INTO restore_records (restore_id, ordinal, owner_kind, owner, attr_enc, "
                "rule) SELECT $1, g, g % 2, CASE WHEN g % 2 = 0 THEN 'app.x' ELSE 'grp' END, "
                "false, 1 FROM generate_series(5, 50004, 50) g",
                1, vr));

    PQclear(sql("SET plan_cache_mode = force_generic_plan", 0, NULL));
    char prep[8192];
    snprintf(prep, sizeof prep,
             "PREPARE page (uuid, int, int, int, int, text, boolean, boolean, int) AS %s",
             store_restore_records_sql());
    PQclear(sql(prep, 0, NULL));
    char args[256];
    /* (job, after, outcome, rule, owner kind, owner, store, decided only, limit) */
#define PAGE(after, outcome, rule, kind, owner)                                                    \
    (snprintf(args, sizeof args, "'%s', %d, %d, %d, %d, '%s', false, false, 100", rid, after,      \
              outcome, rule, kind, owner),                                                         \
     args)
    expect_page_plan("first page", PAGE(-1, -1, 0, -1, ""), 100);
    expect_page_plan("a page in the middle", PAGE(25000, -1, 0, -1, ""), 100);
    expect_page_plan("accepted records", PAGE(25000, 0, 0, -1, ""), 100);
    expect_page_plan("refused records", PAGE(-1, 1, 0, -1, ""), 100);
    expect_page_plan("one rule", PAGE(-1, -1, 1, -1, ""), 100);
    expect_page_plan("one owner's records", PAGE(10000, -1, 0, 1, "grp"), 100);
#undef PAGE
    PQclear(sql("DEALLOCATE page", 0, NULL));
    PQclear(sql("RESET plan_cache_mode", 0, NULL));

    /* And the store's own call reads the same page. */
    char got[64];
    page_of(got, sizeof got, rid, 49990, -1, 0, -1, NULL, 3);
    assert_string_equal(got, "49991:0 r49991 grp,49992:0 r49992 app.x,49993:0 r49993 grp,");
}

/* Reads device dev's syncable assets through store_backup_source in pieces of 500: how many,
 * in *pieces pieces, each piece's seqs above the last one's. */
typedef struct {
    const char *dev;
    int pieces;
    long n;
} source_fixture;

static asset_err source_tx(db_conn *c, void *arg)
{
    source_fixture *x = arg;
    int64_t last = 0;
    int got = 0;
    x->pieces = 0;
    x->n = 0;
    asset_err e = store_backup_source_open(c, x->dev);
    do {
        store_records recs = {0};
        arena a = {0};
        if (e == ASSET_OK)
            e = store_backup_source_next(c, 500, &a, &recs);
        got = e == ASSET_OK ? recs.n : 0;
        for (int i = 0; i < got; i++) {
            assert_true(recs.rows[i].seq > last);
            assert_true(recs.rows[i].sync_type != 0);
            last = recs.rows[i].seq;
        }
        x->pieces += got > 0;
        x->n += got;
        store_records_free(&recs);
        arena_free(&a);
    } while (got > 0);
    return e;
}

/* A backup reads the device's syncable assets, by seq, in pieces, each asset once: one
 * statement (a cursor) for all of them, where a page per piece was planned, and on a table
 * without statistics sorted, again for every piece. */
static void test_backup_source_in_pieces(void **state)
{
    (void)state;
    char dev[UUID_TEXT_LEN];
    const char *v[] = {"src", "\\x0c0d"};
    PGresult *r = sql("INSERT INTO devices (name, token_hash, account_id) VALUES ($1, "
                      "$2::bytea, 'acct') RETURNING id",
                      2, v);
    snprintf(dev, UUID_TEXT_LEN, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    const char *vd[] = {dev};
    /* 1,300 assets, every 13th of them not syncable: 1,200 to read. */
    PQclear(sql("INSERT INTO assets (device_id, owner_kind, owner, attr_enc, alias, "
                "accessibility, req_pwd, auth_type, sync_type, persistent, wrap_type, sealed, "
                "key_version, alias_key) SELECT $1, 0, 'app.s', false, 'a-' || g, 1, false, 0, "
                "CASE WHEN g % 13 = 0 THEN 0 ELSE 2 END, false, 0, '\\x00', 1, " ALIAS_KEY_SQL(
                    "$1::uuid", "0", "'app.s'", "false", "('a-' || g)") " FROM generate_series(1, "
                                                                        "1300) g",
                1, vd));
    source_fixture x = {.dev = dev};
    assert_int_equal(db_tx(pool, DB_REPEATABLE_READ, source_tx, &x), ASSET_OK);
    assert_int_equal(x.n, 1200);
    assert_int_equal(x.pieces, 3);
}

/* Only a chunk's own COMMIT skips the wait for the disk: the setting ends with its transaction,
 * so the job's finish, on the same connection, commits synchronously. */
static void test_chunk_commit_async_is_local(void **state)
{
    (void)state;
    db_conn w;
    PGresult *r = NULL;
    open_conn(&w);
    assert_int_equal(db_begin(&w), ASSET_OK);
    assert_int_equal(store_chunk_commit_async(&w), ASSET_OK);
    assert_int_equal(db_exec(&w, "SHOW synchronous_commit", 0, NULL, NULL, NULL, &r), ASSET_OK);
    assert_string_equal(PQgetvalue(r, 0, 0), "off");
    PQclear(r);
    assert_int_equal(db_commit(&w), ASSET_OK);
    assert_int_equal(db_exec(&w, "SHOW synchronous_commit", 0, NULL, NULL, NULL, &r), ASSET_OK);
    assert_string_equal(PQgetvalue(r, 0, 0), "on");
    PQclear(r);
    db_listen_close(&w);
}

static void test_status_names(void **state)
{
    (void)state;
    for (int i = 0; i < RESTORE_STATUS_COUNT; i++)
        assert_int_equal(store_restore_status_parse(store_restore_status_name(i)), i);
    assert_string_equal(store_restore_status_name(RESTORE_RUNNING), "running");
    assert_string_equal(store_restore_status_name(99), "failed");
    assert_int_equal(store_restore_status_parse("bogus"), -1);
    assert_int_equal(store_restore_status_parse(NULL), -1);
}

int main(void)
{
    test_url = getenv("TEST_DATABASE_URL");
    mig_dir = getenv("ASSETD_MIGRATIONS_DIR");
    if (!test_url || !*test_url) {
        fprintf(stderr, "test_store_sync: TEST_DATABASE_URL is not set (tests/run.sh sets it)\n");
        return 1;
    }
    if (!mig_dir || !*mig_dir)
        mig_dir = "migrations";
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_names),
        cmocka_unit_test(test_tx_on_retries_and_rolls_back),
        cmocka_unit_test(test_listen_hands_over_payload),
        cmocka_unit_test(test_backup_restore_rows),
        cmocka_unit_test(test_chunk_assets),
        cmocka_unit_test(test_report_rows_go_with_the_job),
        cmocka_unit_test(test_report_pages_either_form),
        cmocka_unit_test(test_report_page_plans),
        cmocka_unit_test(test_backup_source_in_pieces),
        cmocka_unit_test(test_chunk_commit_async_is_local),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
