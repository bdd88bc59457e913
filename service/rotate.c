#include "rotate.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/db.h"
#include "crypto/keyring.h"
#include "log.h"
#include "sync/sync_internal.h"
#include "svc.h"

/* A table holding wrapped keys: how to list the stale ones and write one back. */
typedef struct {
    const char *select; /* -> key columns..., kek_version, wrapped; $1 = current version */
    const char *update; /* $1.. key columns, then new kek, new wrapped, old kek */
    int nkeys;
    void (*purpose)(char *out, size_t n, PGresult *r, int i);
} wrapped_table;

static void purpose_device(char *out, size_t n, PGresult *r, int i)
{
    svc_dek_purpose(out, n, PQgetvalue(r, i, 0), atoi(PQgetvalue(r, i, 1)));
}

static void purpose_service(char *out, size_t n, PGresult *r, int i)
{
    snprintf(out, n, "%s", PQgetvalue(r, i, 0));
}

static void purpose_backup(char *out, size_t n, PGresult *r, int i)
{
    char p[96];
    sync_backup_purpose(p, PQgetvalue(r, i, 0));
    snprintf(out, n, "%s", p);
}

static const wrapped_table tables[] = {
    {"SELECT device_id, version, kek_version, wrapped FROM device_keys WHERE kek_version <> $1 "
     "LIMIT 500",
     "UPDATE device_keys SET kek_version = $3, wrapped = $4 WHERE device_id = $1 AND "
     "version = $2 AND kek_version = $5",
     2, purpose_device},
    {"SELECT name, kek_version, wrapped FROM service_keys WHERE kek_version <> $1 LIMIT 500",
     "UPDATE service_keys SET kek_version = $2, wrapped = $3 WHERE name = $1 AND "
     "kek_version = $4",
     1, purpose_service},
    /* A backup being deleted has its key destroyed already (sync_backups.c): nothing to wrap. */
    {"SELECT id, kek_version, wrapped_key FROM backups WHERE kek_version <> $1 AND "
     "octet_length(wrapped_key) > 0 LIMIT 500",
     "UPDATE backups SET kek_version = $2, wrapped_key = $3 WHERE id = $1 AND kek_version = $4", 1,
     purpose_backup},
};

static long rewrap_table(db_conn *c, const keyring *k, const wrapped_table *t)
{
    char cur[16];
    long done = 0;
    snprintf(cur, sizeof cur, "%d", keyring_current_version(k));
    for (;;) {
        PGresult *r = NULL;
        const char *v[] = {cur};
        if (db_exec(c, t->select, 1, v, NULL, NULL, &r) != ASSET_OK)
            return -1;
        int n = PQntuples(r);
        for (int i = 0; i < n; i++) {
            unsigned char key[SEAL_KEY_LEN], wrapped[SEAL_WRAPPED_KEY_LEN],
                rewrapped[SEAL_WRAPPED_KEY_LEN];
            char purpose[128], newv[16];
            size_t len = 0;
            int kv = 0, old = atoi(PQgetvalue(r, i, t->nkeys));
            t->purpose(purpose, sizeof purpose, r, i);
            if (db_bytea_decode(wrapped, sizeof wrapped, &len, PQgetvalue(r, i, t->nkeys + 1),
                                (size_t)PQgetlength(r, i, t->nkeys + 1)) != 0 ||
                keyring_unwrap(key, wrapped, len, old, purpose, k) != 0) {
                log_error("a stored key does not open: is its version in ASSETD_MASTER_KEY?",
                          LOG_INT("keyVersion", old), LOG_STR("key", purpose));
                PQclear(r);
                return -1;
            }
            int rc = keyring_wrap(rewrapped, &kv, key, purpose, k);
            sodium_memzero(key, sizeof key);
            if (rc != 0) {
                PQclear(r);
                return -1;
            }
            snprintf(newv, sizeof newv, "%d", kv);
            const char *vals[6];
            int lens[6] = {0}, fmts[6] = {0}, m = 0;
            for (int c2 = 0; c2 < t->nkeys; c2++)
                vals[m++] = PQgetvalue(r, i, c2);
            vals[m++] = newv;
            lens[m] = sizeof rewrapped;
            fmts[m] = 1;
            vals[m++] = (const char *)rewrapped;
            vals[m++] = PQgetvalue(r, i, t->nkeys);
            PGresult *u = NULL;
            if (db_exec(c, t->update, m, vals, lens, fmts, &u) != ASSET_OK) {
                PQclear(r);
                return -1;
            }
            done += atol(PQcmdTuples(u));
            PQclear(u);
        }
        PQclear(r);
        if (n == 0)
            return done;
    }
}

long rotate_rewrap_all(const config *cfg)
{
    db_conn c = {.timeout_ms = cfg->db_timeout_ms};
    long total = 0;
    if (db_connect(cfg->database_url, cfg->db_timeout_ms, &c.pg) != ASSET_OK) {
        log_error("cannot connect to DATABASE_URL");
        return -1;
    }
    for (size_t i = 0; i < sizeof tables / sizeof tables[0] && total >= 0; i++) {
        long n = rewrap_table(&c, cfg->keys, &tables[i]);
        total = n < 0 ? -1 : total + n;
    }
    PQfinish(c.pg);
    return total;
}
