#include "svc.h"

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "authcache.h"
#include "crypto/keyring.h"

static const db_stmt st_auth = {
    STMT_AUTH, "auth",
    "SELECT 'i', d.id, i.id, i.app_id, array_to_json(i.groups), i.perm_persistent, d.pwd_set, "
    "d.screen_locked, d.unlocked_since_boot, d.account_id, k.version, k.kek_version, k.wrapped "
    "FROM installations i JOIN devices d ON d.id = i.device_id "
    "JOIN device_keys k ON k.device_id = d.id AND k.version = d.dek_version "
    "WHERE i.token_hash = $1 "
    "UNION ALL "
    "SELECT 'd', d.id, 0, NULL, NULL, false, d.pwd_set, d.screen_locked, d.unlocked_since_boot, "
    "d.account_id, k.version, k.kek_version, k.wrapped FROM devices d "
    "JOIN device_keys k ON k.device_id = d.id AND k.version = d.dek_version "
    "WHERE d.token_hash = $1"};

/* The row read here (with the statement's snapshot) only makes the statement routable by
 * device; the function decides, with a snapshot taken after its lock. */
static const db_stmt st_installation_hold = {
    STMT_INSTALLATION_HOLD, "installation_hold",
    "SELECT assetd_installation_hold(id, $2) FROM installations WHERE device_id = $3 AND id = $1"};

static const db_stmt st_device_key = {
    STMT_DEVICE_KEY, "device_key",
    "SELECT kek_version, wrapped FROM device_keys WHERE device_id = $1 AND version = $2"};

static const db_stmt st_key_get = {STMT_SERVICE_KEY_GET, "service_key_get",
                                   "SELECT kek_version, wrapped FROM service_keys WHERE name = $1"};
static const db_stmt st_key_put = {STMT_SERVICE_KEY_PUT, "service_key_put",
                                   "INSERT INTO service_keys (name, kek_version, wrapped) "
                                   "VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING"};

bool uuid_valid(const char *p, size_t n)
{
    if (n != 36)
        return false;
    for (size_t i = 0; i < 36; i++) {
        char c = p[i];
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? c != '-'
                 : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return false;
    }
    return true;
}

void uuid_lower(char *p)
{
    for (; *p; p++)
        if (*p >= 'A' && *p <= 'F')
            *p = (char)(*p - 'A' + 'a');
}

void uuid_new(char out[UUID_TEXT_LEN])
{
    unsigned char b[16];
    randombytes_buf(b, sizeof b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    snprintf(out, UUID_TEXT_LEN,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
}

/* Unwrap a key stored as (kek_version text, wrapped bytea text) in row 0 of r: DATA_CORRUPTED
 * if it fails to open; SERVICE_UNAVAILABLE if it is wrapped under a master key version this
 * process does not hold yet (a rolling rotation: another process has it, a retry may land
 * there, and this one will have it after its restart). */
static asset_err unwrap_row(svc *s, PGresult *r, int col, const char *purpose,
                            unsigned char key[SEAL_KEY_LEN])
{
    unsigned char wrapped[SEAL_WRAPPED_KEY_LEN];
    size_t len = 0;
    int kek = atoi(PQgetvalue(r, 0, col));
    if (db_bytea_decode(wrapped, sizeof wrapped, &len, PQgetvalue(r, 0, col + 1),
                        (size_t)PQgetlength(r, 0, col + 1)) != 0)
        return ASSET_DATA_CORRUPTED;
    int rc = keyring_unwrap(key, wrapped, len, kek, purpose, s->cfg->keys);
    if (rc == KEYRING_UNKNOWN_VERSION) {
        asset_err_note("this instance does not hold the master key version the data is wrapped "
                       "under yet (a key rotation is rolling out); retry");
        return ASSET_SERVICE_UNAVAILABLE;
    }
    return rc == 0 ? ASSET_OK : ASSET_DATA_CORRUPTED;
}

static void dek_purpose(char *out, size_t n, const char *device_id, int version)
{
    snprintf(out, n, "assetd.dek:%s:%d", device_id, version);
}

asset_err svc_device_key(svc *s, db_conn *c, const char *device_id, int version,
                         unsigned char key[SEAL_KEY_LEN])
{
    char ver[16], purpose[96];
    PGresult *r = NULL;
    snprintf(ver, sizeof ver, "%d", version);
    const char *vals[] = {device_id, ver};
    asset_err e = db_exec_stmt(c, &st_device_key, 2, vals, NULL, NULL, &r);
    if (e != ASSET_OK)
        return e;
    dek_purpose(purpose, sizeof purpose, device_id, version);
    e = PQntuples(r) != 1 ? ASSET_DATA_CORRUPTED : unwrap_row(s, r, 0, purpose, key);
    PQclear(r);
    return e;
}

static asset_err load_service_key(svc *s, db_conn *c, const char *name)
{
    PGresult *r = NULL;
    const char *vals[3] = {name};
    asset_err e = db_exec_stmt(c, &st_key_get, 1, vals, NULL, NULL, &r);
    if (e == ASSET_OK && PQntuples(r) == 0) {
        unsigned char fresh[SEAL_KEY_LEN], wrapped[SEAL_WRAPPED_KEY_LEN];
        char kek[16];
        int kv = 0;
        randombytes_buf(fresh, sizeof fresh);
        int rc = keyring_wrap(wrapped, &kv, fresh, name, s->cfg->keys);
        sodium_memzero(fresh, sizeof fresh);
        PQclear(r);
        r = NULL;
        if (rc != 0)
            return ASSET_CRYPTO_ERROR;
        snprintf(kek, sizeof kek, "%d", kv);
        vals[1] = kek;
        vals[2] = (const char *)wrapped;
        const int lens[] = {0, 0, sizeof wrapped}, fmts[] = {0, 0, 1};
        e = db_exec_stmt(c, &st_key_put, 3, vals, lens, fmts, &r);
        PQclear(r);
        r = NULL;
        /* Another instance may have won the race: read back whichever key is stored. */
        if (e == ASSET_OK)
            e = db_exec_stmt(c, &st_key_get, 1, vals, NULL, NULL, &r);
    }
    /* At start a service key that does not open, whatever the reason (a wrong key, a version
     * missing from the list), means this process cannot run. */
    if (e == ASSET_OK && (PQntuples(r) != 1 || unwrap_row(s, r, 0, name, s->token_key) != ASSET_OK))
        e = ASSET_DATA_CORRUPTED;
    PQclear(r);
    return e;
}

int svc_open(svc *s, const config *cfg, const char **why)
{
    db_conn *c = NULL;
    memset(s, 0, sizeof *s);
    s->cfg = cfg;
    s->migrations_latest = db_migrations_latest(cfg->migrations_dir);
    if (!(s->token_key = sodium_malloc(SEAL_KEY_LEN)) ||
        db_pool_open(&s->pool, cfg->database_url, cfg->db_pool_size, cfg->db_timeout_ms) != 0) {
        *why = "out of memory";
        goto fail;
    }
    if (db_acquire(s->pool, &c) != ASSET_OK) {
        *why = "cannot connect to DATABASE_URL";
        goto fail;
    }
    asset_err e = load_service_key(s, c, "token");
    db_release(s->pool, c);
    if (e != ASSET_OK) {
        *why = e == ASSET_DATA_CORRUPTED
                   ? "the stored service key does not open with ASSETD_MASTER_KEY (wrong key?)"
                   : "cannot read the service keys (are migrations applied?)";
        goto fail;
    }
    sodium_mprotect_readonly(s->token_key);
    s->auth_cache = authcache_new(cfg->auth_cache_ms);
    if (audit_writer_start(s) != 0) {
        *why = "cannot start the audit writer";
        goto fail;
    }
    return 0;
fail:
    svc_close(s);
    return -1;
}

void svc_close(svc *s)
{
    audit_writer_stop(s);
    authcache_free(s->auth_cache);
    s->auth_cache = NULL;
    db_pool_close(s->pool);
    if (s->token_key)
        sodium_free(s->token_key);
    s->pool = NULL;
    s->token_key = NULL;
}

void principal_clear(principal *p)
{
    sodium_memzero(p, sizeof *p);
}

asset_err svc_installation_hold(db_conn *c, const principal *p)
{
    char id[24];
    PGresult *r = NULL;
    if (p->kind != PRINCIPAL_INSTALLATION)
        return ASSET_OK;
    snprintf(id, sizeof id, "%lld", (long long)p->installation_id);
    const char *vals[] = {id, (const char *)p->token_hash, p->device_id};
    const int lens[] = {0, SEAL_TOKEN_HASH_LEN, 0}, fmts[] = {0, 1, 0};
    asset_err e = db_exec_stmt(c, &st_installation_hold, 3, vals, lens, fmts, &r);
    if (e == ASSET_OK && (PQntuples(r) != 1 || !db_bool(r, 0, 0)))
        e = ASSET_UNAUTHENTICATED;
    PQclear(r);
    return e;
}

bool principal_may_manage(const principal *p, const char *device_id)
{
    return p->kind == PRINCIPAL_ADMIN ||
           (p->kind == PRINCIPAL_DEVICE && strcmp(p->device_id, device_id) == 0);
}

bool principal_in_group(const principal *p, const char *g, size_t n)
{
    for (int i = 0; i < p->ngroups; i++)
        if (strlen(p->groups[i]) == n && memcmp(p->groups[i], g, n) == 0)
            return true;
    return false;
}

static int parse_groups(principal *p, const char *text)
{
    json_t *arr = json_loads(text, 0, NULL);
    size_t i;
    json_t *v;
    int rc = json_is_array(arr) ? 0 : -1;
    if (rc == 0)
        json_array_foreach(arr, i, v)
        {
            if (p->ngroups == APP_GROUPS_MAX || !json_is_string(v) ||
                json_string_length(v) >= sizeof p->groups[0]) {
                rc = -1;
                break;
            }
            memcpy(p->groups[p->ngroups], json_string_value(v), json_string_length(v) + 1);
            p->ngroups++;
        }
    json_decref(arr);
    return rc;
}

asset_err svc_authenticate(svc *s, const char *token, size_t len, principal *out)
{
    unsigned char h[SEAL_TOKEN_HASH_LEN];
    PGresult *r = NULL;
    char purpose[96];
    memset(out, 0, sizeof *out);
    if (len == 0 || len > 512)
        return ASSET_PERMISSION_DENIED;
    if (config_is_admin_token(s->cfg, token, len)) {
        out->kind = PRINCIPAL_ADMIN;
        return ASSET_OK;
    }
    seal_token_hash(h, token, len, s->token_key);
    if (authcache_get(s->auth_cache, h, out))
        return ASSET_OK;
    memcpy(out->token_hash, h, sizeof h);
    const char *vals[] = {(const char *)h};
    const int lens[] = {sizeof h}, fmts[] = {1};
    asset_err e = db_run_stmt(s->pool, &st_auth, 1, vals, lens, fmts, &r);
    if (e != ASSET_OK)
        return e;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return ASSET_PERMISSION_DENIED;
    }
    out->kind = PQgetvalue(r, 0, 0)[0] == 'i' ? PRINCIPAL_INSTALLATION : PRINCIPAL_DEVICE;
    snprintf(out->device_id, sizeof out->device_id, "%s", PQgetvalue(r, 0, 1));
    out->installation_id = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
    snprintf(out->app_id, sizeof out->app_id, "%s", PQgetvalue(r, 0, 3));
    out->perm_persistent = PQgetvalue(r, 0, 5)[0] == 't';
    out->state = svc_device_state_row(r, 0, 6);
    out->has_account = !PQgetisnull(r, 0, 9);
    snprintf(out->account_id, sizeof out->account_id, "%s", PQgetvalue(r, 0, 9));
    out->dek_version = atoi(PQgetvalue(r, 0, 10));
    dek_purpose(purpose, sizeof purpose, out->device_id, out->dek_version);
    if (out->kind == PRINCIPAL_INSTALLATION && parse_groups(out, PQgetvalue(r, 0, 4)) != 0)
        e = ASSET_DATA_CORRUPTED;
    else
        e = unwrap_row(s, r, 11, purpose, out->dek);
    PQclear(r);
    if (e != ASSET_OK)
        principal_clear(out);
    else
        authcache_put(s->auth_cache, h, out);
    return e;
}

asset_err svc_ready(svc *s)
{
    PGresult *r = NULL;
    asset_err e = db_run_sql(s->pool, "SELECT coalesce(max(version), -1) FROM schema_migrations", 0,
                             NULL, NULL, NULL, &r);
    if (e == ASSET_OK && atoi(PQgetvalue(r, 0, 0)) < s->migrations_latest)
        e = ASSET_SERVICE_UNAVAILABLE;
    PQclear(r);
    return e == ASSET_OK ? ASSET_OK : ASSET_SERVICE_UNAVAILABLE;
}

/* Exposed for devices.c: the purpose string that binds a wrapped data key to its device. */
void svc_dek_purpose(char *out, size_t n, const char *device_id, int version)
{
    dek_purpose(out, n, device_id, version);
}

device_state svc_device_state_row(PGresult *r, int i, int col)
{
    device_state st = {db_bool(r, i, col), db_bool(r, i, col + 1), db_bool(r, i, col + 2)};
    return st;
}
