#include "devices.h"

#include <sodium.h>
#include <string.h>

#include "asset_req.h"
#include "authcache.h"
#include "crypto/keyring.h"

_Static_assert(STORE_NAME_MAX == NAME_MAX_BYTES && STORE_NAME_MAX == APP_ID_MAX,
               "device_info and store_device are one type");

bool devices_valid_name(const char *p, size_t n)
{
    return n >= 1 && n <= NAME_MAX_BYTES && text_valid_utf8(p, n);
}

/* One call of the store on a pooled connection: each function below runs one of these. */
typedef struct {
    const char *id, *app_id;
    const char *name, *account_id, *groups_json; /* register, install */
    const unsigned char *pk, *th;                /* user-auth key; token hash */
    const device_state *st;
    const store_wrapped_key *dek;
    bool perm_persistent;
    device_info *out;
} device_call;

static asset_err register_fn(db_conn *c, void *arg)
{
    device_call *d = arg;
    return store_device_insert(c, d->id, d->name, d->account_id, d->th, d->pk, d->dek);
}

asset_err devices_register(svc *s, const char *name, const char *account_id,
                           const unsigned char *pk, char id[UUID_TEXT_LEN],
                           char token[SEAL_TOKEN_TEXT_LEN])
{
    unsigned char dek[SEAL_KEY_LEN], th[SEAL_TOKEN_HASH_LEN];
    store_wrapped_key wrapped = {.len = sizeof wrapped.wrapped};
    char purpose[96];
    uuid_new(id);
    seal_new_token(token);
    seal_token_hash(th, token, strlen(token), s->token_key);
    randombytes_buf(dek, sizeof dek);
    svc_dek_purpose(purpose, sizeof purpose, id, 1);
    int rc = keyring_wrap(wrapped.wrapped, &wrapped.kek_version, dek, purpose, s->cfg->keys);
    sodium_memzero(dek, sizeof dek);
    if (rc != 0)
        return ASSET_CRYPTO_ERROR;
    device_call d = {
        .id = id, .name = name, .account_id = account_id, .pk = pk, .th = th, .dek = &wrapped};
    asset_err e = db_run(s->pool, register_fn, &d);
    if (e != ASSET_OK)
        sodium_memzero(token, SEAL_TOKEN_TEXT_LEN);
    return e;
}

static asset_err get_fn(db_conn *c, void *arg)
{
    device_call *d = arg;
    return store_device_get(c, d->id, d->out);
}

asset_err devices_get(svc *s, const char *id, device_info *out)
{
    device_call d = {.id = id, .out = out};
    return db_run(s->pool, get_fn, &d);
}

static asset_err set_state_fn(db_conn *c, void *arg)
{
    device_call *d = arg;
    return store_device_set_state(c, d->id, d->st, d->out);
}

asset_err devices_set_state(svc *s, const char *id, const device_state *st, device_info *out)
{
    device_call d = {.id = id, .st = st, .out = out};
    asset_err e = db_run(s->pool, set_state_fn, &d);
    authcache_forget_device(s->auth_cache, id);
    return e;
}

static asset_err set_auth_key_fn(db_conn *c, void *arg)
{
    device_call *d = arg;
    return store_device_set_auth_key(c, d->id, d->pk, d->out);
}

asset_err devices_set_auth_key(svc *s, const char *id, const unsigned char *pk, device_info *out)
{
    device_call d = {.id = id, .pk = pk, .out = out};
    return db_run(s->pool, set_auth_key_fn, &d);
}

/* Nothing inserted: either no such device (NOT_FOUND) or already installed (DUPLICATED). */
static asset_err install_fn(db_conn *c, void *arg)
{
    device_call *d = arg;
    device_info dev;
    bool inserted = false;
    asset_err e = store_installation_insert(c, d->id, d->app_id, d->th, d->groups_json,
                                            d->perm_persistent, &inserted);
    if (e != ASSET_OK || inserted)
        return e;
    e = store_device_get(c, d->id, &dev);
    return e == ASSET_OK ? ASSET_DUPLICATED : e;
}

asset_err devices_install(svc *s, const char *device_id, const char *app_id,
                          const char *groups_json, bool perm_persistent,
                          char token[SEAL_TOKEN_TEXT_LEN])
{
    unsigned char th[SEAL_TOKEN_HASH_LEN];
    seal_new_token(token);
    seal_token_hash(th, token, strlen(token), s->token_key);
    device_call d = {.id = device_id,
                     .app_id = app_id,
                     .th = th,
                     .groups_json = groups_json,
                     .perm_persistent = perm_persistent};
    asset_err e = db_run(s->pool, install_fn, &d);
    if (e != ASSET_OK)
        sodium_memzero(token, SEAL_TOKEN_TEXT_LEN);
    return e;
}

static asset_err uninstall_fn(db_conn *c, void *arg)
{
    device_call *d = arg;
    return store_installation_remove(c, d->id, d->app_id);
}

asset_err devices_uninstall(svc *s, const char *device_id, const char *app_id)
{
    device_call d = {.id = device_id, .app_id = app_id};
    asset_err e = db_tx(s->pool, DB_READ_COMMITTED, uninstall_fn, &d);
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

static asset_err rotate_fn(db_conn *c, void *arg)
{
    device_call *d = arg;
    return d->app_id ? store_installation_set_token(c, d->id, d->app_id, d->th)
                     : store_device_set_token(c, d->id, d->th);
}

/* The token of the device (app_id NULL) or of the app on it. */
static asset_err rotate(svc *s, const char *device_id, const char *app_id,
                        char token[SEAL_TOKEN_TEXT_LEN])
{
    unsigned char th[SEAL_TOKEN_HASH_LEN];
    new_token(s, token, th);
    device_call d = {.id = device_id, .app_id = app_id, .th = th};
    asset_err e = db_run(s->pool, rotate_fn, &d);
    authcache_forget_device(s->auth_cache, device_id);
    if (e != ASSET_OK)
        sodium_memzero(token, SEAL_TOKEN_TEXT_LEN);
    return e;
}

asset_err devices_rotate_token(svc *s, const char *device_id, char token[SEAL_TOKEN_TEXT_LEN])
{
    return rotate(s, device_id, NULL, token);
}

asset_err devices_rotate_app_token(svc *s, const char *device_id, const char *app_id,
                                   char token[SEAL_TOKEN_TEXT_LEN])
{
    return rotate(s, device_id, app_id, token);
}
