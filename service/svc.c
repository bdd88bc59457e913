#include "svc.h"

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "asset_add.h"
#include "audit.h"
#include "authcache.h"
#include "crypto/keyring.h"
#include "store/store_devices.h"
#include "store/store_keys.h"

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

/* Unwrap a stored key: DATA_CORRUPTED if it fails to open; SERVICE_UNAVAILABLE if it is wrapped
 * under a master key version this process does not hold yet (a rolling rotation: another
 * process has it, a retry may land there, and this one will have it after its restart). */
static asset_err unwrap(svc *s, const store_wrapped_key *k, const char *purpose,
                        unsigned char key[SEAL_KEY_LEN])
{
    int rc = keyring_unwrap(key, k->wrapped, k->len, k->kek_version, purpose, s->cfg->keys);
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
    char purpose[96];
    store_wrapped_key k;
    asset_err e = store_device_key_get(c, device_id, version, &k);
    if (e != ASSET_OK)
        return e == ASSET_NOT_FOUND ? ASSET_DATA_CORRUPTED : e;
    dek_purpose(purpose, sizeof purpose, device_id, version);
    return unwrap(s, &k, purpose, key);
}

/* The service key `name` into key, created (wrapped under the newest master key) on the first
 * start. Re-runnable: each statement commits on its own, and a retry reads back what is stored. */
typedef struct {
    svc *s;
    const char *name;
    unsigned char *key;
    bool connected; /* the database answered */
} service_key_ctx;

static asset_err create_service_key(db_conn *c, service_key_ctx *k)
{
    unsigned char fresh[SEAL_KEY_LEN];
    store_wrapped_key w = {.len = sizeof w.wrapped};
    randombytes_buf(fresh, sizeof fresh);
    int rc = keyring_wrap(w.wrapped, &w.kek_version, fresh, k->name, k->s->cfg->keys);
    sodium_memzero(fresh, sizeof fresh);
    if (rc != 0)
        return ASSET_CRYPTO_ERROR;
    return store_service_key_put(c, k->name, &w);
}

static asset_err load_service_key(db_conn *c, void *arg)
{
    service_key_ctx *k = arg;
    store_wrapped_key w;
    k->connected = true;
    asset_err e = store_service_key_get(c, k->name, &w);
    if (e == ASSET_NOT_FOUND && (e = create_service_key(c, k)) == ASSET_OK)
        /* Another instance may have won the race: read back whichever key is stored. */
        e = store_service_key_get(c, k->name, &w);
    /* At start a service key that does not open, whatever the reason (a wrong key, a version
     * missing from the list), means this process cannot run. */
    if (e == ASSET_NOT_FOUND || (e == ASSET_OK && unwrap(k->s, &w, k->name, k->key) != ASSET_OK))
        e = ASSET_DATA_CORRUPTED;
    return e;
}

int svc_open(svc *s, const config *cfg, const char **why)
{
    memset(s, 0, sizeof *s);
    s->cfg = cfg;
    s->migrations_latest = db_migrations_latest(cfg->migrations_dir);
    if (!(s->token_key = sodium_malloc(SEAL_KEY_LEN)) ||
        db_pool_open(&s->pool, cfg->database_url, cfg->db_pool_size, cfg->db_timeout_ms) != 0) {
        *why = "out of memory";
        goto fail;
    }
    service_key_ctx k = {s, "token", s->token_key, false};
    asset_err e = db_run(s->pool, load_service_key, &k);
    if (e != ASSET_OK) {
        *why = !k.connected ? "cannot connect to DATABASE_URL"
               : e == ASSET_DATA_CORRUPTED
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
    if (add_group_start(s) != 0) {
        *why = "out of memory";
        goto fail;
    }
    return 0;
fail:
    svc_close(s);
    return -1;
}

void svc_close(svc *s)
{
    add_group_stop(s);
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
    if (p->kind != PRINCIPAL_INSTALLATION)
        return ASSET_OK;
    return store_installation_hold(c, p->device_id, p->installation_id, p->token_hash);
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

typedef struct {
    const unsigned char *hash;
    store_token_owner *owner;
} owner_ctx;

static asset_err find_owner(db_conn *c, void *arg)
{
    owner_ctx *o = arg;
    store_token_owner_clear(o->owner); /* a retried attempt starts afresh */
    return store_token_owner_get(c, o->hash, o->owner);
}

/* The principal of a token's owner, its data key unwrapped. */
static asset_err principal_of(svc *s, const store_token_owner *o, principal *out)
{
    char purpose[96];
    out->kind = o->installation ? PRINCIPAL_INSTALLATION : PRINCIPAL_DEVICE;
    snprintf(out->device_id, sizeof out->device_id, "%s", o->device_id);
    out->installation_id = o->installation_id;
    snprintf(out->app_id, sizeof out->app_id, "%s", o->app_id);
    out->perm_persistent = o->perm_persistent;
    out->state = o->state;
    out->has_account = o->has_account;
    snprintf(out->account_id, sizeof out->account_id, "%s", o->account_id);
    out->dek_version = o->dek_version;
    out->device_generation = o->device_generation;
    out->installation_generation = o->installation_generation;
    dek_purpose(purpose, sizeof purpose, out->device_id, out->dek_version);
    if (o->installation && parse_groups(out, o->groups_json) != 0)
        return ASSET_DATA_CORRUPTED;
    return unwrap(s, &o->dek, purpose, out->dek);
}

/* The owner of token hash h, read from the database and remembered. PERMISSION_DENIED when the
 * token is unknown. */
static asset_err read_principal(svc *s, const unsigned char h[SEAL_TOKEN_HASH_LEN], principal *out)
{
    store_token_owner owner = {0};
    memset(out, 0, sizeof *out);
    memcpy(out->token_hash, h, SEAL_TOKEN_HASH_LEN);
    owner_ctx o = {h, &owner};
    asset_err e = db_run(s->pool, find_owner, &o);
    if (e == ASSET_NOT_FOUND)
        e = ASSET_PERMISSION_DENIED;
    else if (e == ASSET_OK)
        e = principal_of(s, &owner, out);
    store_token_owner_clear(&owner);
    if (e != ASSET_OK)
        principal_clear(out);
    else
        authcache_put(s->auth_cache, h, out);
    return e;
}

void svc_principal_ref(const principal *p, store_principal_ref *ref)
{
    ref->device_id = p->device_id;
    ref->installation_id = p->kind == PRINCIPAL_INSTALLATION ? p->installation_id : 0;
    ref->token_hash = p->token_hash;
    ref->device_generation = p->device_generation;
    ref->installation_generation = p->installation_generation;
}

int svc_principal_ref_index(const principal *p, store_principal_ref *refs, int *n)
{
    store_principal_ref r;
    svc_principal_ref(p, &r);
    int j = 0;
    while (j < *n && !(refs[j].installation_id == r.installation_id &&
                       refs[j].device_generation == r.device_generation &&
                       refs[j].installation_generation == r.installation_generation &&
                       strcmp(refs[j].device_id, r.device_id) == 0 &&
                       memcmp(refs[j].token_hash, r.token_hash, SEAL_TOKEN_HASH_LEN) == 0))
        j++;
    if (j == *n)
        refs[(*n)++] = r;
    return j;
}

asset_err svc_principal_current(db_conn *c, const principal *p, bool *current)
{
    store_principal_ref ref;
    svc_principal_ref(p, &ref);
    return store_principal_current(c, &ref, current);
}

typedef struct {
    const principal *p;
    bool current;
} current_ctx;

static asset_err check_current(db_conn *c, void *arg)
{
    current_ctx *x = arg;
    return svc_principal_current(c, x->p, &x->current);
}

static asset_err authenticate(svc *s, const char *token, size_t len, bool defer, principal *out)
{
    unsigned char h[SEAL_TOKEN_HASH_LEN];
    memset(out, 0, sizeof *out);
    if (len == 0 || len > 512)
        return ASSET_PERMISSION_DENIED;
    if (config_is_admin_token(s->cfg, token, len)) {
        out->kind = PRINCIPAL_ADMIN;
        return ASSET_OK;
    }
    seal_token_hash(h, token, len, s->token_key);
    if (authcache_get(s->auth_cache, h, out)) {
        if (defer) {
            out->unverified = true;
            return ASSET_OK;
        }
        current_ctx x = {out, false};
        asset_err e = db_run(s->pool, check_current, &x);
        if (e != ASSET_OK || x.current) {
            if (e != ASSET_OK)
                principal_clear(out);
            return e;
        }
        authcache_forget(s->auth_cache, h);
        principal_clear(out);
    }
    return read_principal(s, h, out);
}

asset_err svc_authenticate(svc *s, const char *token, size_t len, principal *out)
{
    return authenticate(s, token, len, false, out);
}

asset_err svc_authenticate_deferred(svc *s, const char *token, size_t len, principal *out)
{
    return authenticate(s, token, len, true, out);
}

asset_err svc_principal_check(svc *s, const principal *p, bool *current)
{
    current_ctx x = {p, true};
    asset_err e = p->unverified ? db_run(s->pool, check_current, &x) : ASSET_OK;
    *current = e == ASSET_OK && x.current;
    return e;
}

asset_err svc_principal_verify(svc *s, const principal *p)
{
    current_ctx x = {p, false};
    principal fresh;
    if (!p->unverified)
        return ASSET_OK;
    asset_err e = db_run(s->pool, check_current, &x);
    if (e != ASSET_OK || x.current)
        return e;
    e = svc_principal_refresh(s, p, &fresh);
    principal_clear(&fresh);
    return e;
}

asset_err svc_principal_refresh(svc *s, const principal *p, principal *fresh)
{
    authcache_forget(s->auth_cache, p->token_hash);
    asset_err e = read_principal(s, p->token_hash, fresh);
    return e == ASSET_PERMISSION_DENIED ? ASSET_UNAUTHENTICATED : e;
}

static asset_err schema_version(db_conn *c, void *arg)
{
    return db_schema_version(c, arg);
}

asset_err svc_ready(svc *s)
{
    int version = -1;
    asset_err e = db_run(s->pool, schema_version, &version);
    if (e == ASSET_OK && version < s->migrations_latest)
        e = ASSET_SERVICE_UNAVAILABLE;
    return e == ASSET_OK ? ASSET_OK : ASSET_SERVICE_UNAVAILABLE;
}

/* Exposed for devices.c: the purpose string that binds a wrapped data key to its device. */
void svc_dek_purpose(char *out, size_t n, const char *device_id, int version)
{
    dek_purpose(out, n, device_id, version);
}
