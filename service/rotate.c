#include "rotate.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/keyring.h"
#include "log.h"
#include "store/store_keys.h"
#include "sync/sync_internal.h"
#include "svc.h"

/* The purpose a key of table t was wrapped for. */
static void purpose_of(char *out, size_t n, store_key_table t, const store_stale_key *k)
{
    char p[96];
    switch (t) {
    case STORE_KEYS_DEVICE:
        svc_dek_purpose(out, n, k->id, k->version);
        return;
    case STORE_KEYS_BACKUP:
        sync_backup_purpose(p, k->id);
        snprintf(out, n, "%s", p);
        return;
    default:
        snprintf(out, n, "%s", k->id);
        return;
    }
}

/* Re-wraps one key under the newest master key version and writes it back: *written 0 or 1;
 * -1 when it does not open. */
static asset_err rewrap_one(db_conn *c, const keyring *k, store_key_table t,
                            const store_stale_key *old, long *written)
{
    unsigned char key[SEAL_KEY_LEN];
    store_wrapped_key fresh = {.len = sizeof fresh.wrapped};
    char purpose[128];
    *written = 0;
    purpose_of(purpose, sizeof purpose, t, old);
    if (keyring_unwrap(key, old->key.wrapped, old->key.len, old->key.kek_version, purpose, k) !=
        0) {
        log_error("a stored key does not open: is its version in ASSETD_MASTER_KEY?",
                  LOG_INT("keyVersion", old->key.kek_version), LOG_STR("key", purpose));
        return ASSET_DATA_CORRUPTED;
    }
    int rc = keyring_wrap(fresh.wrapped, &fresh.kek_version, key, purpose, k);
    sodium_memzero(key, sizeof key);
    if (rc != 0)
        return ASSET_CRYPTO_ERROR;
    return store_keys_rewrap(c, t, old, &fresh, written);
}

typedef struct {
    const keyring *keys;
    store_stale_key *batch; /* STORE_STALE_BATCH */
    bool connected;
    long done; /* not reset by a retried attempt: each write committed on its own */
} rewrap_ctx;

/* Every table, batch after batch, until no key is under an older version. Without a
 * transaction: each row is written in its own statement guarded by its old version. */
static asset_err rewrap_all(db_conn *c, void *arg)
{
    rewrap_ctx *x = arg;
    asset_err e = ASSET_OK;
    x->connected = true;
    for (int t = 0; e == ASSET_OK && t < STORE_KEYS_TABLES; t++) {
        int n = 1;
        while (e == ASSET_OK && n > 0) {
            e = store_keys_stale(c, (store_key_table)t, keyring_current_version(x->keys), x->batch,
                                 &n);
            for (int i = 0; e == ASSET_OK && i < n; i++) {
                long w = 0;
                e = rewrap_one(c, x->keys, (store_key_table)t, &x->batch[i], &w);
                x->done += w;
            }
        }
    }
    return e;
}

long rotate_rewrap_all(const config *cfg)
{
    db_pool *pool = NULL;
    rewrap_ctx x = {.keys = cfg->keys};
    if (!(x.batch = calloc(STORE_STALE_BATCH, sizeof *x.batch)) ||
        db_pool_open(&pool, cfg->database_url, 1, cfg->db_timeout_ms) != 0) {
        free(x.batch);
        log_error("out of memory");
        return -1;
    }
    asset_err e = db_run(pool, rewrap_all, &x);
    if (!x.connected)
        log_error("cannot connect to DATABASE_URL");
    db_pool_close(pool);
    free(x.batch);
    return e == ASSET_OK ? x.done : -1;
}
