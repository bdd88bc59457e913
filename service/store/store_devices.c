#include "store_devices.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../asset_req.h"
#include "row.h"

#define DEVICE_COLS                                                                                \
    "id, name, account_id, user_auth_pk, pwd_set, screen_locked, unlocked_since_boot"

static const db_stmt st_insert = {
    STMT_DEVICE_INSERT, "device_insert",
    "WITH d AS (INSERT INTO devices (id, name, account_id, token_hash, user_auth_pk) "
    "VALUES ($1, $2, $3, $4, $5) RETURNING id) "
    "INSERT INTO device_keys (device_id, version, kek_version, wrapped) "
    "SELECT id, 1, $6, $7 FROM d"};
static const db_stmt st_get = {STMT_DEVICE_GET, "device_get",
                               "SELECT " DEVICE_COLS " FROM devices WHERE id = $1"};
static const db_stmt st_state = {
    STMT_DEVICE_STATE, "device_state",
    "UPDATE devices SET pwd_set = $2, screen_locked = $3, unlocked_since_boot = $4 "
    "WHERE id = $1 RETURNING " DEVICE_COLS};
static const db_stmt st_auth_key = {
    STMT_DEVICE_AUTH_KEY, "device_auth_key",
    "UPDATE devices SET user_auth_pk = $2 WHERE id = $1 RETURNING " DEVICE_COLS};
static const db_stmt st_install = {
    STMT_APP_INSTALL, "app_install",
    "INSERT INTO installations (device_id, app_id, token_hash, groups, perm_persistent) "
    "SELECT d.id, $2, $3, ARRAY(SELECT json_array_elements_text($4::json)), $5 "
    "FROM devices d WHERE d.id = $1 "
    "ON CONFLICT (device_id, app_id) DO NOTHING RETURNING id"};
/* Uninstall is two statements in one transaction. The first takes the installation's lock
 * (STORE_INSTALLATION_LOCK): it waits for any write still holding it (store_installation_hold) to
 * commit, and from then on no write of that installation can start; then it deletes it. The second,
 * with a snapshot taken after that, removes the assets, those just written included. Group assets
 * go when no installation left on the device belongs to the group. */
static const db_stmt st_uninstall = {
    STMT_APP_UNINSTALL, "app_uninstall",
    "WITH l AS (SELECT " STORE_INSTALLATION_LOCK(
        "id") " FROM installations "
              "  WHERE device_id = $1 AND app_id = $2) "
              "DELETE FROM installations WHERE device_id = $1 AND app_id = $2 "
              "  AND (SELECT count(*) FROM l) >= 0 RETURNING groups"};
static const db_stmt st_uninstall_assets = {
    STMT_APP_UNINSTALL_ASSETS, "app_uninstall_assets",
    "WITH own AS (DELETE FROM assets WHERE device_id = $1 AND owner_kind = " SQL_OWNER_APP " "
    "  AND owner = $2 AND NOT persistent AND (sync_type & " SQL_SYNC_TRUSTED_ACCOUNT ") = 0 "
    "  RETURNING 1), "
    "grp AS (DELETE FROM assets a WHERE a.device_id = $1 AND a.owner_kind = " SQL_OWNER_GROUP " "
    "  AND a.owner = ANY ($3::text[]) "
    "  AND NOT EXISTS (SELECT 1 FROM installations i WHERE i.device_id = $1 "
    "    AND a.owner = ANY (i.groups)) RETURNING 1) "
    "SELECT (SELECT count(*) FROM own), (SELECT count(*) FROM grp)"};

static const db_stmt st_rotate = {STMT_DEVICE_ROTATE, "device_rotate",
                                  "UPDATE devices SET token_hash = $2 WHERE id = $1 RETURNING id"};
/* One statement: the new token and the end of the installation's live challenges together. */
static const db_stmt st_rotate_app = {
    STMT_APP_ROTATE, "app_rotate",
    "WITH l AS (SELECT " STORE_INSTALLATION_LOCK(
        "id") " FROM installations "
              "  WHERE device_id = $1 AND app_id = $2), "
              "i AS (UPDATE installations SET token_hash = $3 WHERE device_id = $1 AND app_id = $2 "
              "  AND (SELECT count(*) FROM l) >= 0 RETURNING id), "
              "c AS (DELETE FROM challenges WHERE installation_id IN (SELECT id FROM i) RETURNING "
              "1) "
              "SELECT (SELECT count(*) FROM i) AS installations, (SELECT count(*) FROM c) AS "
              "challenges"};

/* The row read here (with the statement's snapshot) only makes the statement routable by
 * device; the function decides, with a snapshot taken after its lock. */
static const db_stmt st_installation_hold = {
    STMT_INSTALLATION_HOLD, "installation_hold",
    "SELECT assetd_installation_hold(id, $2) AS held FROM installations "
    "WHERE device_id = $3 AND id = $1"};

static const db_stmt st_auth = {
    STMT_AUTH, "auth",
    "SELECT 'i' AS kind, d.id AS device_id, i.id AS installation_id, i.app_id, "
    "array_to_json(i.groups) AS groups, i.perm_persistent, d.pwd_set, d.screen_locked, "
    "d.unlocked_since_boot, d.account_id, k.version AS dek_version, k.kek_version, k.wrapped, "
    "d.generation AS device_generation, i.generation AS installation_generation "
    "FROM installations i JOIN devices d ON d.id = i.device_id "
    "JOIN device_keys k ON k.device_id = d.id AND k.version = d.dek_version "
    "WHERE i.token_hash = $1 "
    "UNION ALL "
    "SELECT 'd', d.id, 0, NULL, NULL, false, d.pwd_set, d.screen_locked, d.unlocked_since_boot, "
    "d.account_id, k.version, k.kek_version, k.wrapped, d.generation, 0 FROM devices d "
    "JOIN device_keys k ON k.device_id = d.id AND k.version = d.dek_version "
    "WHERE d.token_hash = $1"};

/* A device principal: its token and generation; an installation principal: see
 * STORE_INSTALLATION_CURRENT. */
static const db_stmt st_principal_current = {
    STMT_PRINCIPAL_CURRENT, "principal_current",
    "SELECT ($2::bigint = 0 AND EXISTS (SELECT 1 FROM devices d WHERE d.id = $1 "
    "AND d.token_hash = $3 AND d.generation = $4)) OR " STORE_INSTALLATION_CURRENT(
        "$1", "$2", "$3", "$4", "$5") " AS current"};

/* ---- a device row (DEVICE_COLS) ---- */

enum { DEV_ID, DEV_NAME, DEV_ACCOUNT, DEV_PK, DEV_PWD_SET, DEV_LOCKED, DEV_UNLOCKED, DEV_NCOLS };
static const char *const device_names[DEV_NCOLS] = {
    "id", "name", "account_id", "user_auth_pk", "pwd_set", "screen_locked", "unlocked_since_boot"};
static const row_type device_row = {device_names, DEV_NCOLS};

/* The state from the row's pwd_set column and the two after it in its row type. */
static device_state state_of(const row_reader *r, int i, int pwd_set)
{
    device_state st = {row_bool(r, i, pwd_set), row_bool(r, i, pwd_set + 1),
                       row_bool(r, i, pwd_set + 2)};
    return st;
}

static void copy_text(char *dst, size_t cap, const row_reader *r, int i, int k)
{
    snprintf(dst, cap, "%s", row_text(r, i, k, NULL));
}

/* Every statement returning DEVICE_COLS shares one cache: their columns are the same. */
static asset_err read_device(PGresult *res, store_device *out)
{
    static row_cache cache;
    row_reader r;
    memset(out, 0, sizeof *out);
    if (row_bind(&r, res, &device_row, &cache) != 0)
        return ASSET_DATA_CORRUPTED;
    if (row_count(&r) != 1)
        return ASSET_NOT_FOUND;
    copy_text(out->id, sizeof out->id, &r, 0, DEV_ID);
    copy_text(out->name, sizeof out->name, &r, 0, DEV_NAME);
    out->has_account = !row_null(&r, 0, DEV_ACCOUNT);
    copy_text(out->account_id, sizeof out->account_id, &r, 0, DEV_ACCOUNT);
    if (!row_null(&r, 0, DEV_PK)) {
        size_t tl = 0, len = 0;
        const char *text = row_text(&r, 0, DEV_PK, &tl);
        if (db_bytea_decode(out->pk, sizeof out->pk, &len, text, tl) != 0 ||
            len != STORE_USER_AUTH_PK_LEN)
            return ASSET_DATA_CORRUPTED;
        out->has_pk = true;
    }
    out->state = state_of(&r, 0, DEV_PWD_SET);
    return ASSET_OK;
}

static asset_err exec_device(db_conn *c, const db_stmt *st, int n, const char *const *vals,
                             const int *lens, const int *fmts, store_device *out)
{
    PGresult *res = NULL;
    asset_err e = db_exec_stmt(c, st, n, vals, lens, fmts, &res);
    if (e == ASSET_OK)
        e = read_device(res, out);
    else
        memset(out, 0, sizeof *out);
    PQclear(res);
    return e;
}

asset_err store_device_insert(db_conn *c, const char *id, const char *name, const char *account_id,
                              const unsigned char th[SEAL_TOKEN_HASH_LEN], const unsigned char *pk,
                              const store_wrapped_key *dek)
{
    char kek[16];
    PGresult *res = NULL;
    snprintf(kek, sizeof kek, "%d", dek->kek_version);
    const char *vals[] = {
        id, name, account_id, (const char *)th, (const char *)pk, kek, (const char *)dek->wrapped};
    const int lens[] = {
        0, 0, 0, SEAL_TOKEN_HASH_LEN, pk ? STORE_USER_AUTH_PK_LEN : 0, 0, (int)dek->len};
    const int fmts[] = {0, 0, 0, 1, 1, 0, 1};
    asset_err e = db_exec_stmt(c, &st_insert, 7, vals, lens, fmts, &res);
    PQclear(res);
    return e;
}

asset_err store_device_get(db_conn *c, const char *id, store_device *out)
{
    const char *vals[] = {id};
    return exec_device(c, &st_get, 1, vals, NULL, NULL, out);
}

asset_err store_device_set_state(db_conn *c, const char *id, const device_state *st,
                                 store_device *out)
{
    const char *vals[] = {id, st->lock_screen_password_set ? "t" : "f",
                          st->screen_locked ? "t" : "f", st->unlocked_since_boot ? "t" : "f"};
    return exec_device(c, &st_state, 4, vals, NULL, NULL, out);
}

asset_err store_device_set_auth_key(db_conn *c, const char *id, const unsigned char *pk,
                                    store_device *out)
{
    const char *vals[] = {id, (const char *)pk};
    const int lens[] = {0, pk ? STORE_USER_AUTH_PK_LEN : 0}, fmts[] = {0, 1};
    return exec_device(c, &st_auth_key, 2, vals, lens, fmts, out);
}

/* A statement whose result has a row per thing it changed: NOT_FOUND when none. */
static asset_err exec_some(db_conn *c, const db_stmt *st, int n, const char *const *vals,
                           const int *lens, const int *fmts)
{
    PGresult *res = NULL;
    asset_err e = db_exec_stmt(c, st, n, vals, lens, fmts, &res);
    if (e == ASSET_OK && PQntuples(res) == 0)
        e = ASSET_NOT_FOUND;
    PQclear(res);
    return e;
}

asset_err store_device_set_token(db_conn *c, const char *id,
                                 const unsigned char th[SEAL_TOKEN_HASH_LEN])
{
    const char *vals[] = {id, (const char *)th};
    const int lens[] = {0, SEAL_TOKEN_HASH_LEN}, fmts[] = {0, 1};
    return exec_some(c, &st_rotate, 2, vals, lens, fmts);
}

asset_err store_installation_insert(db_conn *c, const char *device_id, const char *app_id,
                                    const unsigned char th[SEAL_TOKEN_HASH_LEN],
                                    const char *groups_json, bool perm_persistent, bool *inserted)
{
    const char *vals[] = {device_id, app_id, (const char *)th, groups_json,
                          perm_persistent ? "t" : "f"};
    const int lens[] = {0, 0, SEAL_TOKEN_HASH_LEN, 0, 0}, fmts[] = {0, 0, 1, 0, 0};
    asset_err e = exec_some(c, &st_install, 5, vals, lens, fmts);
    *inserted = e == ASSET_OK;
    return e == ASSET_NOT_FOUND ? ASSET_OK : e;
}

asset_err store_installation_remove(db_conn *c, const char *device_id, const char *app_id)
{
    static row_cache cache;
    static const char *const names[] = {"groups"};
    static const row_type groups_row = {names, 1};
    PGresult *res = NULL, *assets = NULL;
    row_reader r;
    const char *vals[] = {device_id, app_id, NULL};
    asset_err e = db_exec_stmt(c, &st_uninstall, 2, vals, NULL, NULL, &res);
    if (e == ASSET_OK)
        e = row_bind_one(&r, res, &groups_row, &cache);
    if (e == ASSET_OK) {
        vals[2] = row_text(&r, 0, 0, NULL); /* the groups, as a text[] literal */
        e = db_exec_stmt(c, &st_uninstall_assets, 3, vals, NULL, NULL, &assets);
    }
    PQclear(assets);
    PQclear(res);
    return e;
}

asset_err store_installation_set_token(db_conn *c, const char *device_id, const char *app_id,
                                       const unsigned char th[SEAL_TOKEN_HASH_LEN])
{
    static row_cache cache;
    static const char *const names[] = {"installations"};
    static const row_type count_row = {names, 1};
    PGresult *res = NULL;
    row_reader r;
    const char *vals[] = {device_id, app_id, (const char *)th};
    const int lens[] = {0, 0, SEAL_TOKEN_HASH_LEN}, fmts[] = {0, 0, 1};
    asset_err e = db_exec_stmt(c, &st_rotate_app, 3, vals, lens, fmts, &res);
    if (e == ASSET_OK && (row_bind(&r, res, &count_row, &cache) != 0 || row_count(&r) != 1))
        e = ASSET_DATA_CORRUPTED;
    if (e == ASSET_OK && row_i64(&r, 0, 0) == 0)
        e = ASSET_NOT_FOUND;
    PQclear(res);
    return e;
}

asset_err store_installation_hold(db_conn *c, const char *device_id, int64_t installation_id,
                                  const unsigned char th[SEAL_TOKEN_HASH_LEN])
{
    static row_cache cache;
    static const char *const names[] = {"held"};
    static const row_type held_row = {names, 1};
    char id[24];
    PGresult *res = NULL;
    row_reader r;
    snprintf(id, sizeof id, "%lld", (long long)installation_id);
    const char *vals[] = {id, (const char *)th, device_id};
    const int lens[] = {0, SEAL_TOKEN_HASH_LEN, 0}, fmts[] = {0, 1, 0};
    asset_err e = db_exec_stmt(c, &st_installation_hold, 3, vals, lens, fmts, &res);
    if (e == ASSET_OK &&
        (row_bind(&r, res, &held_row, &cache) != 0 || row_count(&r) != 1 || !row_bool(&r, 0, 0)))
        e = ASSET_UNAUTHENTICATED;
    PQclear(res);
    return e;
}

asset_err store_principal_current(db_conn *c, const store_principal_ref *p, bool *current)
{
    static row_cache cache;
    static const char *const names[] = {"current"};
    static const row_type current_row = {names, 1};
    char inst[24], gd[24], gi[24];
    PGresult *res = NULL;
    row_reader r;
    *current = false;
    snprintf(inst, sizeof inst, "%lld", (long long)p->installation_id);
    snprintf(gd, sizeof gd, "%lld", (long long)p->device_generation);
    snprintf(gi, sizeof gi, "%lld", (long long)p->installation_generation);
    const char *vals[] = {p->device_id, inst, (const char *)p->token_hash, gd, gi};
    const int lens[] = {0, 0, SEAL_TOKEN_HASH_LEN, 0, 0}, fmts[] = {0, 0, 1, 0, 0};
    asset_err e = db_exec_stmt(c, &st_principal_current, 5, vals, lens, fmts, &res);
    if (e == ASSET_OK && (row_bind(&r, res, &current_row, &cache) != 0 || row_count(&r) != 1))
        e = ASSET_DATA_CORRUPTED;
    if (e == ASSET_OK)
        *current = row_bool(&r, 0, 0);
    PQclear(res);
    return e;
}

/* ---- the owner of a token ---- */

enum {
    AUTH_KIND,
    AUTH_DEVICE,
    AUTH_INSTALLATION,
    AUTH_APP,
    AUTH_GROUPS,
    AUTH_PERM_PERSISTENT,
    AUTH_PWD_SET, /* then screen_locked, unlocked_since_boot */
    AUTH_LOCKED,
    AUTH_UNLOCKED,
    AUTH_ACCOUNT,
    AUTH_DEK_VERSION,
    AUTH_KEK,
    AUTH_WRAPPED,
    AUTH_DEVICE_GENERATION,
    AUTH_INSTALLATION_GENERATION,
    AUTH_NCOLS
};
static const char *const auth_names[AUTH_NCOLS] = {"kind",
                                                   "device_id",
                                                   "installation_id",
                                                   "app_id",
                                                   "groups",
                                                   "perm_persistent",
                                                   "pwd_set",
                                                   "screen_locked",
                                                   "unlocked_since_boot",
                                                   "account_id",
                                                   "dek_version",
                                                   "kek_version",
                                                   "wrapped",
                                                   "device_generation",
                                                   "installation_generation"};
static const row_type auth_row = {auth_names, AUTH_NCOLS};

static asset_err read_owner(const row_reader *r, store_token_owner *out)
{
    out->installation = row_text(r, 0, AUTH_KIND, NULL)[0] == 'i';
    copy_text(out->device_id, sizeof out->device_id, r, 0, AUTH_DEVICE);
    out->installation_id = row_i64(r, 0, AUTH_INSTALLATION);
    copy_text(out->app_id, sizeof out->app_id, r, 0, AUTH_APP);
    out->perm_persistent = row_bool(r, 0, AUTH_PERM_PERSISTENT);
    out->state = state_of(r, 0, AUTH_PWD_SET);
    out->has_account = !row_null(r, 0, AUTH_ACCOUNT);
    copy_text(out->account_id, sizeof out->account_id, r, 0, AUTH_ACCOUNT);
    out->dek_version = row_int(r, 0, AUTH_DEK_VERSION);
    out->device_generation = row_i64(r, 0, AUTH_DEVICE_GENERATION);
    out->installation_generation = row_i64(r, 0, AUTH_INSTALLATION_GENERATION);
    if (store_wrapped_key_read(r, 0, AUTH_KEK, AUTH_WRAPPED, &out->dek) != 0)
        return ASSET_DATA_CORRUPTED;
    if (out->installation && !(out->groups_json = strdup(row_text(r, 0, AUTH_GROUPS, NULL))))
        return ASSET_OUT_OF_MEMORY;
    return ASSET_OK;
}

asset_err store_token_owner_get(db_conn *c, const unsigned char th[SEAL_TOKEN_HASH_LEN],
                                store_token_owner *out)
{
    static row_cache cache;
    PGresult *res = NULL;
    row_reader r;
    memset(out, 0, sizeof *out);
    const char *vals[] = {(const char *)th};
    const int lens[] = {SEAL_TOKEN_HASH_LEN}, fmts[] = {1};
    asset_err e = db_exec_stmt(c, &st_auth, 1, vals, lens, fmts, &res);
    if (e == ASSET_OK)
        e = row_bind_one(&r, res, &auth_row, &cache);
    if (e == ASSET_OK)
        e = read_owner(&r, out);
    PQclear(res);
    if (e != ASSET_OK)
        store_token_owner_clear(out);
    return e;
}

void store_token_owner_clear(store_token_owner *o)
{
    if (!o)
        return;
    free(o->groups_json);
    sodium_memzero(o, sizeof *o);
}
