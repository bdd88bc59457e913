#include "devices.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asset_req.h"
#include "authcache.h"
#include "crypto/keyring.h"

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
    "ON CONFLICT (device_id, app_id) DO NOTHING RETURNING id, "
    "(SELECT count(*) FROM devices WHERE id = $1)"};
/* Uninstall is two statements in one transaction. The first takes the installation's lock
 * (SVC_INSTALLATION_LOCK): it waits for any write still holding it (svc_installation_hold) to
 * commit, and from then on no write of that installation can start; then it deletes it. The second,
 * with a snapshot taken after that, removes the assets, those just written included. Group assets
 * go when no installation left on the device belongs to the group. */
static const db_stmt st_uninstall = {
    STMT_APP_UNINSTALL, "app_uninstall",
    "WITH l AS (SELECT " SVC_INSTALLATION_LOCK(
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
    "WITH l AS (SELECT " SVC_INSTALLATION_LOCK(
        "id") " FROM installations "
              "  WHERE device_id = $1 AND app_id = $2), "
              "i AS (UPDATE installations SET token_hash = $3 WHERE device_id = $1 AND app_id = $2 "
              "  AND (SELECT count(*) FROM l) >= 0 RETURNING id), "
              "c AS (DELETE FROM challenges WHERE installation_id IN (SELECT id FROM i) RETURNING "
              "1) "
              "SELECT (SELECT count(*) FROM i), (SELECT count(*) FROM c)"};

bool devices_valid_name(const char *p, size_t n)
{
    return n >= 1 && n <= NAME_MAX_BYTES && text_valid_utf8(p, n);
}

static asset_err read_device(PGresult *r, device_info *out)
{
    memset(out, 0, sizeof *out);
    if (PQntuples(r) != 1)
        return ASSET_NOT_FOUND;
    snprintf(out->id, sizeof out->id, "%s", PQgetvalue(r, 0, 0));
    snprintf(out->name, sizeof out->name, "%s", PQgetvalue(r, 0, 1));
    out->has_account = !PQgetisnull(r, 0, 2);
    snprintf(out->account_id, sizeof out->account_id, "%s", PQgetvalue(r, 0, 2));
    size_t len = 0;
    if (!PQgetisnull(r, 0, 3)) {
        if (db_bytea_decode(out->pk, sizeof out->pk, &len, PQgetvalue(r, 0, 3),
                            (size_t)PQgetlength(r, 0, 3)) != 0 ||
            len != USER_AUTH_PK_LEN)
            return ASSET_DATA_CORRUPTED;
        out->has_pk = true;
    }
    out->state = svc_device_state_row(r, 0, 4);
    return ASSET_OK;
}

static asset_err run_device(svc *s, const db_stmt *st, int n, const char *const *vals,
                            const int *lens, const int *fmts, device_info *out)
{
    PGresult *r = NULL;
    asset_err e = db_run_stmt(s->pool, st, n, vals, lens, fmts, &r);
    if (e == ASSET_OK)
        e = read_device(r, out);
    PQclear(r);
    return e;
}

asset_err devices_register(svc *s, const char *name, const char *account_id,
                           const unsigned char *pk, char id[UUID_TEXT_LEN],
                           char token[SEAL_TOKEN_TEXT_LEN])
{
    unsigned char dek[SEAL_KEY_LEN], wrapped[SEAL_WRAPPED_KEY_LEN], th[SEAL_TOKEN_HASH_LEN];
    char purpose[96], kek[16];
    int kv = 0;
    PGresult *r = NULL;
    uuid_new(id);
    seal_new_token(token);
    seal_token_hash(th, token, strlen(token), s->token_key);
    randombytes_buf(dek, sizeof dek);
    svc_dek_purpose(purpose, sizeof purpose, id, 1);
    int rc = keyring_wrap(wrapped, &kv, dek, purpose, s->cfg->keys);
    sodium_memzero(dek, sizeof dek);
    if (rc != 0)
        return ASSET_CRYPTO_ERROR;
    snprintf(kek, sizeof kek, "%d", kv);
    const char *vals[] = {
        id, name, account_id, (const char *)th, (const char *)pk, kek, (const char *)wrapped};
    const int lens[] = {0, 0, 0, sizeof th, pk ? USER_AUTH_PK_LEN : 0, 0, sizeof wrapped};
    const int fmts[] = {0, 0, 0, 1, 1, 0, 1};
    asset_err e = db_run_stmt(s->pool, &st_insert, 7, vals, lens, fmts, &r);
    PQclear(r);
    if (e != ASSET_OK)
        sodium_memzero(token, SEAL_TOKEN_TEXT_LEN);
    return e;
}

asset_err devices_get(svc *s, const char *id, device_info *out)
{
    const char *vals[] = {id};
    return run_device(s, &st_get, 1, vals, NULL, NULL, out);
}

asset_err devices_set_state(svc *s, const char *id, const device_state *st, device_info *out)
{
    const char *vals[] = {id, st->lock_screen_password_set ? "t" : "f",
                          st->screen_locked ? "t" : "f", st->unlocked_since_boot ? "t" : "f"};
    asset_err e = run_device(s, &st_state, 4, vals, NULL, NULL, out);
    authcache_forget_device(s->auth_cache, id);
    return e;
}

asset_err devices_set_auth_key(svc *s, const char *id, const unsigned char *pk, device_info *out)
{
    const char *vals[] = {id, (const char *)pk};
    const int lens[] = {0, pk ? USER_AUTH_PK_LEN : 0}, fmts[] = {0, 1};
    return run_device(s, &st_auth_key, 2, vals, lens, fmts, out);
}

asset_err devices_install(svc *s, const char *device_id, const char *app_id,
                          const char *groups_json, bool perm_persistent,
                          char token[SEAL_TOKEN_TEXT_LEN])
{
    unsigned char th[SEAL_TOKEN_HASH_LEN];
    PGresult *r = NULL;
    seal_new_token(token);
    seal_token_hash(th, token, strlen(token), s->token_key);
    const char *vals[] = {device_id, app_id, (const char *)th, groups_json,
                          perm_persistent ? "t" : "f"};
    const int lens[] = {0, 0, sizeof th, 0, 0}, fmts[] = {0, 0, 1, 0, 0};
    asset_err e = db_run_stmt(s->pool, &st_install, 5, vals, lens, fmts, &r);
    if (e == ASSET_OK && PQntuples(r) == 0) {
        /* Nothing inserted: either no such device or already installed. */
        PQclear(r);
        const char *v1[] = {device_id};
        device_info d;
        e = run_device(s, &st_get, 1, v1, NULL, NULL, &d);
        e = e == ASSET_OK ? ASSET_DUPLICATED : e;
        r = NULL;
    }
    PQclear(r);
    if (e != ASSET_OK)
        sodium_memzero(token, SEAL_TOKEN_TEXT_LEN);
    return e;
}

typedef struct {
    const char *device_id, *app_id;
} uninstall_ctx;

static asset_err uninstall_tx(db_conn *c, void *arg)
{
    uninstall_ctx *u = arg;
    PGresult *r = NULL;
    const char *vals[] = {u->device_id, u->app_id, NULL};
    asset_err e = db_exec_stmt(c, &st_uninstall, 2, vals, NULL, NULL, &r);
    if (e == ASSET_OK && PQntuples(r) != 1)
        e = ASSET_NOT_FOUND;
    if (e == ASSET_OK) {
        PGresult *r2 = NULL;
        vals[2] = PQgetvalue(r, 0, 0); /* the groups, as a text[] literal */
        e = db_exec_stmt(c, &st_uninstall_assets, 3, vals, NULL, NULL, &r2);
        PQclear(r2);
    }
    PQclear(r);
    return e;
}

asset_err devices_uninstall(svc *s, const char *device_id, const char *app_id)
{
    uninstall_ctx u = {device_id, app_id};
    asset_err e = db_tx(s->pool, DB_READ_COMMITTED, uninstall_tx, &u);
    authcache_forget_device(s->auth_cache, device_id);
    return e;
}

/* A fresh token and its keyed hash. */
static void new_token(svc *s, char token[SEAL_TOKEN_TEXT_LEN],
                      unsigned char th[SEAL_TOKEN_HASH_LEN])
{
    seal_new_token(token);
    seal_token_hash(th, token, strlen(token), s->token_key);
}

asset_err devices_rotate_token(svc *s, const char *device_id, char token[SEAL_TOKEN_TEXT_LEN])
{
    unsigned char th[SEAL_TOKEN_HASH_LEN];
    PGresult *r = NULL;
    new_token(s, token, th);
    const char *vals[] = {device_id, (const char *)th};
    const int lens[] = {0, sizeof th}, fmts[] = {0, 1};
    asset_err e = db_run_stmt(s->pool, &st_rotate, 2, vals, lens, fmts, &r);
    authcache_forget_device(s->auth_cache, device_id);
    if (e == ASSET_OK && PQntuples(r) != 1)
        e = ASSET_NOT_FOUND;
    PQclear(r);
    if (e != ASSET_OK)
        sodium_memzero(token, SEAL_TOKEN_TEXT_LEN);
    return e;
}

asset_err devices_rotate_app_token(svc *s, const char *device_id, const char *app_id,
                                   char token[SEAL_TOKEN_TEXT_LEN])
{
    unsigned char th[SEAL_TOKEN_HASH_LEN];
    PGresult *r = NULL;
    new_token(s, token, th);
    const char *vals[] = {device_id, app_id, (const char *)th};
    const int lens[] = {0, 0, sizeof th}, fmts[] = {0, 0, 1};
    asset_err e = db_run_stmt(s->pool, &st_rotate_app, 3, vals, lens, fmts, &r);
    authcache_forget_device(s->auth_cache, device_id);
    if (e == ASSET_OK && atol(PQgetvalue(r, 0, 0)) == 0)
        e = ASSET_NOT_FOUND;
    PQclear(r);
    if (e != ASSET_OK)
        sodium_memzero(token, SEAL_TOKEN_TEXT_LEN);
    return e;
}
