/* config: the service's settings, from environment variables only (12-factor). Every variable
 * is documented in README.md. config_load() fails fast with one line naming the variable. */
#ifndef ASSETD_CONFIG_H
#define ASSETD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "crypto/keyring.h"

/* The most reads one group read may look up (ASSETD_GROUP_READ_MAX's bound, asset_get.h). */
#define CONFIG_GROUP_READ_MAX 32

typedef struct {
    char listen_addr[64];
    int port;
    char *database_url; /* owned */
    keyring *keys;      /* owned */
    unsigned char admin_token_hash[32];
    int http_threads;
    int request_workers; /* threads that run handlers (they wait on the database) */
    int request_queue;   /* requests waiting for a worker before 503 */
    int db_pool_size;
    int sync_workers;
    size_t body_limit;
    size_t batch_body_limit; /* the batch routes (spec §11): 100 items need more */
    int db_timeout_ms;
    int db_connect_timeout_s;   /* how long start-up waits for the database (db_wait.h) */
    bool db_transaction_pooler; /* ASSETD_DB_POOLER=transaction: see db_set_transaction_pooler */
    int max_connections;
    int per_ip_connections;
    int connection_timeout;    /* seconds an idle connection is kept */
    int rate_limit;            /* requests per second per token; 0 = off */
    long max_assets;           /* per owner and store; 0 = no limit */
    int group_commit_max;      /* adds one transaction may write together (asset_add.h); 1 = off */
    int group_read_max;        /* reads by alias one statement may look up (asset_get.h); 1 = off */
    int backup_retention_days; /* backups older than this are deleted; 0 = kept */
    int auth_cache_ms;         /* how long a principal is remembered (checked each use); 0 = off */
    int restore_batch;         /* restore records per chunk */
    int lease_seconds;         /* how far ahead a restore job's lease_until is set */
    bool log_requests;         /* a JSON line per request (else only 5xx ones) */
    int master_key_active;     /* the wrapping master key version; 0 = the highest */
    char *migrations_dir;      /* owned */
} config;

/* What a command needs beyond DATABASE_URL: `migrate` needs no secret, `worker` the master key,
 * `serve` both. */
enum { CONFIG_NEED_MASTER_KEY = 1, CONFIG_NEED_ADMIN_TOKEN = 2 };

/* Reads the environment. On failure writes one line into err and leaves *c freed. */
WUR int config_load(config *c, unsigned need, char *err, size_t err_len);
void config_free(config *c);

/* Constant-time check of a presented admin token. */
bool config_is_admin_token(const config *c, const char *token, size_t len);

#endif
