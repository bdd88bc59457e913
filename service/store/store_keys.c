#include "store_keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const db_stmt st_device_key = {
    STMT_DEVICE_KEY, "device_key",
    "SELECT kek_version, wrapped FROM device_keys WHERE device_id = $1 AND version = $2"};
static const db_stmt st_service_key_get = {
    STMT_SERVICE_KEY_GET, "service_key_get",
    "SELECT kek_version, wrapped FROM service_keys WHERE name = $1"};
static const db_stmt st_service_key_put = {STMT_SERVICE_KEY_PUT, "service_key_put",
                                           "INSERT INTO service_keys (name, kek_version, wrapped) "
                                           "VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING"};

/* A wrapped key alone: (kek_version, wrapped). */
enum { KEY_KEK, KEY_WRAPPED, KEY_NCOLS };
static const char *const key_names[KEY_NCOLS] = {"kek_version", "wrapped"};
static const row_type key_row = {key_names, KEY_NCOLS};

int store_wrapped_key_read(const row_reader *r, int i, int kek, int wrapped, store_wrapped_key *out)
{
    size_t tl = 0;
    const char *text = row_text(r, i, wrapped, &tl);
    out->kek_version = row_int(r, i, kek);
    out->len = 0;
    return db_bytea_decode(out->wrapped, sizeof out->wrapped, &out->len, text, tl);
}

/* The one row of a (kek_version, wrapped) result: NOT_FOUND when none, DATA_CORRUPTED when
 * malformed. */
static asset_err read_key(PGresult *res, row_cache *cache, store_wrapped_key *out)
{
    row_reader r;
    if (row_bind(&r, res, &key_row, cache) != 0)
        return ASSET_DATA_CORRUPTED;
    if (row_count(&r) != 1)
        return ASSET_NOT_FOUND;
    return store_wrapped_key_read(&r, 0, KEY_KEK, KEY_WRAPPED, out) == 0 ? ASSET_OK
                                                                         : ASSET_DATA_CORRUPTED;
}

asset_err store_device_key_get(db_conn *c, const char *device_id, int version,
                               store_wrapped_key *out)
{
    static row_cache cache;
    char ver[16];
    PGresult *res = NULL;
    snprintf(ver, sizeof ver, "%d", version);
    const char *vals[] = {device_id, ver};
    asset_err e = db_exec_stmt(c, &st_device_key, 2, vals, NULL, NULL, &res);
    if (e == ASSET_OK)
        e = read_key(res, &cache, out);
    PQclear(res);
    return e;
}

asset_err store_service_key_get(db_conn *c, const char *name, store_wrapped_key *out)
{
    static row_cache cache;
    PGresult *res = NULL;
    const char *vals[] = {name};
    asset_err e = db_exec_stmt(c, &st_service_key_get, 1, vals, NULL, NULL, &res);
    if (e == ASSET_OK)
        e = read_key(res, &cache, out);
    PQclear(res);
    return e;
}

asset_err store_service_key_put(db_conn *c, const char *name, const store_wrapped_key *k)
{
    char kek[16];
    PGresult *res = NULL;
    snprintf(kek, sizeof kek, "%d", k->kek_version);
    const char *vals[] = {name, kek, (const char *)k->wrapped};
    const int lens[] = {0, 0, (int)k->len}, fmts[] = {0, 0, 1};
    asset_err e = db_exec_stmt(c, &st_service_key_put, 3, vals, lens, fmts, &res);
    PQclear(res);
    return e;
}

/* ---- master key rotation ---- */

/* A stale key row: its id, the data key version (device keys only), kek_version, wrapped. */
enum { STALE_ID, STALE_VERSION, STALE_KEK, STALE_WRAPPED, STALE_NCOLS };

/* A table holding wrapped keys: how to list the stale ones and write one back. */
typedef struct {
    const char *select; /* -> id, version, kek_version, wrapped; $1 = current version */
    const char *update; /* $1 id, $2 new kek, $3 new wrapped, $4 old kek[, $5 version] */
    bool versioned;     /* keys of one id have versions (else version is 0) */
} wrapped_table;

_Static_assert(STORE_STALE_BATCH == 500, "the LIMIT of the selects below");
static const wrapped_table tables[STORE_KEYS_TABLES] = {
    [STORE_KEYS_DEVICE] = {"SELECT device_id AS id, version, kek_version, wrapped FROM device_keys "
                           "WHERE kek_version <> $1 LIMIT 500",
                           "UPDATE device_keys SET kek_version = $2, wrapped = $3 "
                           "WHERE device_id = $1 AND kek_version = $4 AND version = $5",
                           true},
    [STORE_KEYS_SERVICE] = {"SELECT name AS id, 0 AS version, kek_version, wrapped "
                            "FROM service_keys WHERE kek_version <> $1 LIMIT 500",
                            "UPDATE service_keys SET kek_version = $2, wrapped = $3 "
                            "WHERE name = $1 AND kek_version = $4",
                            false},
    /* A backup being deleted has its key destroyed already (sync_backups.c): nothing to wrap. */
    [STORE_KEYS_BACKUP] = {"SELECT id, 0 AS version, kek_version, wrapped_key AS wrapped "
                           "FROM backups WHERE kek_version <> $1 AND octet_length(wrapped_key) > 0 "
                           "LIMIT 500",
                           "UPDATE backups SET kek_version = $2, wrapped_key = $3 "
                           "WHERE id = $1 AND kek_version = $4",
                           false},
};

static const char *const stale_names[STALE_NCOLS] = {"id", "version", "kek_version", "wrapped"};
static const row_type stale_row = {stale_names, STALE_NCOLS};

asset_err store_keys_stale(db_conn *c, store_key_table t, int current, store_stale_key *out, int *n)
{
    char cur[16];
    PGresult *res = NULL;
    row_reader r;
    *n = 0;
    snprintf(cur, sizeof cur, "%d", current);
    const char *vals[] = {cur};
    asset_err e = db_exec(c, tables[t].select, 1, vals, NULL, NULL, &res);
    if (e != ASSET_OK)
        return e;
    if (row_bind(&r, res, &stale_row, NULL) != 0 || row_count(&r) > STORE_STALE_BATCH)
        e = ASSET_DATA_CORRUPTED;
    for (int i = 0; e == ASSET_OK && i < row_count(&r); i++) {
        store_stale_key *k = &out[i];
        size_t idlen = 0;
        const char *id = row_text(&r, i, STALE_ID, &idlen);
        if (idlen >= sizeof k->id) {
            e = ASSET_DATA_CORRUPTED;
            break;
        }
        memcpy(k->id, id, idlen + 1);
        k->version = row_int(&r, i, STALE_VERSION);
        if (store_wrapped_key_read(&r, i, STALE_KEK, STALE_WRAPPED, &k->key) != 0)
            k->key.len = 0;
        *n = i + 1;
    }
    PQclear(res);
    return e;
}

asset_err store_keys_rewrap(db_conn *c, store_key_table t, const store_stale_key *old,
                            const store_wrapped_key *k, long *written)
{
    char ver[16], kek[16], old_kek[16];
    PGresult *res = NULL;
    *written = 0;
    snprintf(ver, sizeof ver, "%d", old->version);
    snprintf(kek, sizeof kek, "%d", k->kek_version);
    snprintf(old_kek, sizeof old_kek, "%d", old->key.kek_version);
    const char *vals[] = {old->id, kek, (const char *)k->wrapped, old_kek, ver};
    const int lens[] = {0, 0, (int)k->len, 0, 0}, fmts[] = {0, 0, 1, 0, 0};
    asset_err e = db_exec(c, tables[t].update, tables[t].versioned ? 5 : 4, vals, lens, fmts, &res);
    if (e == ASSET_OK)
        *written = atol(PQcmdTuples(res));
    PQclear(res);
    return e;
}
