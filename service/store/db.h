/* db: PostgreSQL connections — a bounded pool with a checkout timeout, lazily (re)connected
 * connections with per-connection prepared statements and error classification into asset error
 * codes (db.c); the transaction runner (db_tx.c); the migration runner (db_migrate.c).
 *
 * A db_conn belongs to the pool; a caller holds it between db_acquire() and db_release() and
 * must not keep PGresults across the release. */
#ifndef ASSETD_DB_H
#define ASSETD_DB_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "../err.h"

/* A uuid in text form, with its NUL. */
#define UUID_TEXT_LEN 37

typedef struct db_pool db_pool;

/* Every prepared statement of the service, one bit each in db_conn.prepared. */
enum db_stmt_id {
    STMT_AUTH,
    STMT_DEVICE_KEY,
    STMT_DEVICE_INSERT,
    STMT_DEVICE_GET,
    STMT_DEVICE_STATE,
    STMT_DEVICE_AUTH_KEY,
    STMT_APP_INSTALL,
    STMT_APP_UNINSTALL,
    STMT_APP_UNINSTALL_ASSETS,
    STMT_ASSET_INSERT,
    STMT_ASSET_UPSERT,
    STMT_ASSET_GET,
    STMT_ASSET_GET_LOCK,
    STMT_ASSET_UPDATE,
    STMT_ASSET_DELETE,
    STMT_ASSET_COUNT,
    STMT_SERVICE_KEY_GET,
    STMT_SERVICE_KEY_PUT,
    STMT_INSTALLATION_HOLD,
    STMT_DEVICE_ROTATE,
    STMT_APP_ROTATE,
    STMT_BATCH_SELECT,
    STMT_BATCH_SELECT_LOCK,
    STMT_BATCH_INSERT,
    STMT_BATCH_UPSERT,
    STMT_BATCH_UPDATE,
    STMT_BATCH_DELETE,
    STMT_PRINCIPAL_CURRENT,
    STMT_ASSET_GET_CURRENT,
    STMT_GROUP_HOLD,
    STMT_GROUP_INSERT,
    STMT_GROUP_INSERT_NEW,
    STMT_GROUP_UPSERT,
    STMT_GROUP_GET,
    STMT_GROUP_DELETE,
    STMT_GROUP_LOCK,
    STMT_GROUP_UPDATE,
    STMT_COUNT_ /* keep below 64 */
};

/* A statement prepared once per connection, on first use. `id` < 64 indexes a bitmask. */
typedef struct {
    int id;
    const char *name;
    const char *sql;
} db_stmt;

typedef struct db_conn {
    PGconn *pg;
    unsigned long long prepared; /* bit per db_stmt id */
    bool broken;                 /* reconnect before the next use */
    bool retryable;              /* a statement failed with 40001/40P01 (db_tx runs again) */
    int index;                   /* slot in the pool */
    int timeout_ms; /* statement timeout; assetd's own waits end shortly after it (0: default) */
} db_conn;

#define DB_DEFAULT_TIMEOUT_MS 5000

WUR int db_pool_open(db_pool **out, const char *url, int size, int timeout_ms);
/* Waits for all connections to come back, then closes them. NULL-safe. */
void db_pool_close(db_pool *p);

/* Connections checked out now (for metrics). */
int db_pool_in_use(db_pool *p);

/* Check a connection out, waiting at most the pool's timeout. SERVICE_UNAVAILABLE when none
 * frees up or the database cannot be reached. */
WUR asset_err db_acquire(db_pool *p, db_conn **out);
/* Give it back; a connection left in a transaction or failed is reset. NULL-safe. */
void db_release(db_pool *p, db_conn *c);

/* Runs a prepared statement (unnamed, parsed on every call, under db_transaction_pooler()),
 * with text parameters (lens/fmts may be NULL for all-text). *out is a
 * result with status TUPLES_OK or COMMAND_OK, owned by the caller (PQclear); on failure *out is
 * NULL and the error is classified: connection loss, timeouts and shutdowns are
 * SERVICE_UNAVAILABLE, unique violations DUPLICATED, anything else DATABASE_ERROR. */
WUR asset_err db_exec_stmt(db_conn *c, const db_stmt *st, int n, const char *const *vals,
                           const int *lens, const int *fmts, PGresult **out);
/* db_exec_stmt with every result column in binary format (bytea as its bytes, no hex to
 * decode): for results read through row.c, whose readers take either format. */
WUR asset_err db_exec_stmt_binary(db_conn *c, const db_stmt *st, int n, const char *const *vals,
                                  const int *lens, const int *fmts, PGresult **out);
/* The same for a one-off statement. */
WUR asset_err db_exec(db_conn *c, const char *sql, int n, const char *const *vals, const int *lens,
                      const int *fmts, PGresult **out);
/* db_exec with every result column in binary format (bytea as its bytes, no hex to decode):
 * for results read through row.c, whose readers take either format. */
WUR asset_err db_exec_binary(db_conn *c, const char *sql, int n, const char *const *vals,
                             const int *lens, const int *fmts, PGresult **out);
/* Runs `COPY ... FROM STDIN` (copy_sql) with data[0..len) in COPY text format; errors
 * classified as db_exec's. Every wait of these calls on the server is bounded: a server that does
 * not answer (frozen, network gone) is SERVICE_UNAVAILABLE a little after the statement timeout,
 * and the connection is marked broken. */
WUR asset_err db_copy_in(db_conn *c, const char *copy_sql, const char *data, size_t len);
/* The same in pieces, so that the server inserts rows while the caller makes the next ones:
 * db_copy_start runs copy_sql; db_copy_put sends data (any split of the rows); db_copy_end ends
 * the data and returns the COPY's outcome. After a failed put the connection is broken. */
WUR asset_err db_copy_start(db_conn *c, const char *copy_sql);
WUR asset_err db_copy_put(db_conn *c, const char *data, size_t len);
WUR asset_err db_copy_end(db_conn *c);
/* BEGIN, COMMIT, ROLLBACK (rollback never fails the caller: it marks the connection broken). */
WUR asset_err db_begin(db_conn *c);
WUR asset_err db_commit(db_conn *c);
void db_rollback(db_conn *c);

/* The one way to run a transaction: acquire a connection, BEGIN at `iso`, fn, COMMIT (ROLLBACK
 * when fn fails), release. A serialization failure or deadlock (40001, 40P01) anywhere in it
 * rolls back and runs fn again, a bounded number of times with a short random backoff; so fn
 * must be re-runnable: it resets its outputs at its start and keeps no effect outside the
 * database from a failed attempt. Returns fn's error, or the first failure of BEGIN/COMMIT;
 * SERVICE_UNAVAILABLE when the retries run out. */
typedef enum { DB_READ_COMMITTED, DB_REPEATABLE_READ, DB_SERIALIZABLE } db_isolation;
typedef asset_err db_tx_fn(db_conn *c, void *ctx);
WUR asset_err db_tx(db_pool *p, db_isolation iso, db_tx_fn *fn, void *ctx);
/* The same without BEGIN/COMMIT (each statement of fn commits on its own): for reads and
 * single-statement writes. */
WUR asset_err db_run(db_pool *p, db_tx_fn *fn, void *ctx);
/* db_tx on a connection the caller holds outside the pool (a sync worker's own, which LISTENs
 * between transactions, db_listen.h): BEGIN, fn, COMMIT or ROLLBACK, the same retries; the
 * connection stays with the caller. */
WUR asset_err db_tx_on(db_conn *c, db_isolation iso, db_tx_fn *fn, void *ctx);

/* Behind a transaction-pooling proxy (pgbouncer pool_mode=transaction), consecutive
 * transactions of one client connection may run on different server connections, so nothing
 * may live in a session: when on, statements run unnamed (PQexecParams: parsed on every call)
 * instead of prepared once per connection, connections send no `options` startup parameter
 * (pgbouncer 1.18 refuses it; statement_timeout must then be set on the role or by the pooler),
 * and callers skip session state (the audit writer's synchronous_commit, the sync workers'
 * LISTEN). Set once at start-up, before any thread; off by default. */
void db_set_transaction_pooler(bool on);
bool db_transaction_pooler(void);

/* One statement on a pooled connection, run (and retried) as db_run runs fn: *out as
 * db_exec_stmt's / db_exec's. For reads and single-statement writes. */
WUR asset_err db_run_stmt(db_pool *p, const db_stmt *st, int n, const char *const *vals,
                          const int *lens, const int *fmts, PGresult **out);
WUR asset_err db_run_sql(db_pool *p, const char *sql, int n, const char *const *vals,
                         const int *lens, const int *fmts, PGresult **out);

/* Connects one connection outside any pool (migrations, LISTEN). */
WUR asset_err db_connect(const char *url, int timeout_ms, PGconn **out);

/* Applies migrations/NNNN_*.sql in order, each once, each in its own transaction under a
 * transaction-scoped advisory lock (so it works through a transaction pooler too). Returns the
 * number of the last migration or -1, printing the reason on stderr. */
WUR int db_migrate(const char *url, const char *dir);
/* Highest migration number found in dir (-1 if none or unreadable). */
int db_migrations_latest(const char *dir);
/* Highest migration number applied to the database (-1 if none). */
WUR asset_err db_schema_version(db_conn *c, int *out);

/* A text-format boolean column of row i. */
static inline bool db_bool(PGresult *r, int i, int col)
{
    return PQgetvalue(r, i, col)[0] == 't';
}

/* Decode a text-format bytea ("\x..." hex) into out (capacity cap). -1 if malformed. */
WUR int db_bytea_decode(unsigned char *out, size_t cap, size_t *out_len, const char *text,
                        size_t text_len);

#endif
