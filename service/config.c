#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ENV_VALUE_MAX 65536

/* Reads NAME or NAME_FILE (exactly one); returns a malloc'd string, trailing newline cut.
 * *missing is set when neither is given. */
static char *env_or_file(const char *name, bool *missing, char *err, size_t err_len)
{
    char file_var[128];
    snprintf(file_var, sizeof file_var, "%s_FILE", name);
    const char *v = getenv(name), *f = getenv(file_var);
    *missing = false;
    if (v && *v && f && *f) {
        snprintf(err, err_len, "%s and %s are both set: give one", name, file_var);
        return NULL;
    }
    if (v && *v)
        return strdup(v);
    if (!f || !*f) {
        *missing = true;
        return NULL;
    }
    FILE *fp = fopen(f, "r");
    if (!fp) {
        snprintf(err, err_len, "%s: cannot read %s: %s", file_var, f, strerror(errno));
        return NULL;
    }
    char *buf = calloc(1, ENV_VALUE_MAX + 1);
    size_t n = buf ? fread(buf, 1, ENV_VALUE_MAX, fp) : 0;
    fclose(fp);
    if (!buf) {
        snprintf(err, err_len, "%s: out of memory", file_var);
        return NULL;
    }
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = 0;
    return buf;
}

static int env_int(const char *name, int def, int min, int max, int *out, char *err, size_t err_len)
{
    const char *v = getenv(name);
    if (!v || !*v) {
        *out = def;
        return 0;
    }
    char *end = NULL;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || *end || x < min || x > max) {
        snprintf(err, err_len, "%s must be an integer from %d to %d (got \"%.40s\")", name, min,
                 max, v);
        return -1;
    }
    *out = (int)x;
    return 0;
}

static void secret_free(char *s)
{
    if (s) {
        sodium_memzero(s, strlen(s));
        free(s);
    }
}

/* Every numeric setting, in one table (pgbouncer's bouncer_params): name, default, range and
 * where it goes. A value that is not an integer in range stops the process with one line
 * naming the variable (README, "Configuration"). */
typedef enum { S_INT, S_LONG, S_SIZE, S_BOOL } setting_kind;

typedef struct {
    const char *name;
    setting_kind kind;
    long def, min, max;
    size_t offset; /* of the field in config */
} setting;

#define F(field) offsetof(config, field)
#define DEF_FROM_CPUS (-1)    /* default: the number of CPUs */
#define DEF_FROM_WORKERS (-2) /* default: request workers + 2 */

static const setting settings[] = {
    {"ASSETD_PORT", S_INT, 8080, 0, 65535, F(port)},
    {"ASSETD_HTTP_THREADS", S_INT, DEF_FROM_CPUS, 1, 256, F(http_threads)},
    {"ASSETD_SYNC_WORKERS", S_INT, 1, 0, 64, F(sync_workers)},
    {"ASSETD_REQUEST_WORKERS", S_INT, 8, 1, 512, F(request_workers)},
    {"ASSETD_REQUEST_QUEUE", S_INT, 1024, 1, 1000000, F(request_queue)},
    {"ASSETD_DB_POOL_SIZE", S_INT, DEF_FROM_WORKERS, 1, 1000, F(db_pool_size)},
    {"ASSETD_BODY_LIMIT", S_SIZE, 65536, 1024, 16 << 20, F(body_limit)},
    {"ASSETD_BATCH_BODY_LIMIT", S_SIZE, 1 << 20, 1024, 64 << 20, F(batch_body_limit)},
    {"ASSETD_DB_TIMEOUT_MS", S_INT, 5000, 100, 600000, F(db_timeout_ms)},
    {"ASSETD_DB_CONNECT_TIMEOUT_S", S_INT, 30, 0, 3600, F(db_connect_timeout_s)},
    {"ASSETD_MAX_CONNECTIONS", S_INT, 4096, 16, 1000000, F(max_connections)},
    {"ASSETD_PER_IP_CONNECTIONS", S_INT, 0, 0, 1000000, F(per_ip_connections)},
    {"ASSETD_RATE_LIMIT", S_INT, 0, 0, 1000000, F(rate_limit)},
    {"ASSETD_CONNECTION_TIMEOUT", S_INT, 30, 1, 3600, F(connection_timeout)},
    {"ASSETD_MAX_ASSETS", S_LONG, 0, 0, INT_MAX, F(max_assets)},
    {"ASSETD_GROUP_COMMIT_MAX", S_INT, 64, 1, 256, F(group_commit_max)},
    {"ASSETD_GROUP_READ_MAX", S_INT, CONFIG_GROUP_READ_MAX, 1, CONFIG_GROUP_READ_MAX,
     F(group_read_max)},
    {"ASSETD_BACKUP_RETENTION_DAYS", S_INT, 0, 0, 36500, F(backup_retention_days)},
    {"ASSETD_AUTH_CACHE_MS", S_INT, 60000, 0, 3600000, F(auth_cache_ms)},
    {"ASSETD_RESTORE_BATCH", S_INT, 2000, 1, 2000, F(restore_batch)},
    {"ASSETD_LEASE_SECONDS", S_INT, 30, 1, 3600, F(lease_seconds)},
    {"ASSETD_LOG_REQUESTS", S_BOOL, 1, 0, 1, F(log_requests)},
    {"ASSETD_MASTER_KEY_ACTIVE", S_INT, 0, 0, INT_MAX, F(master_key_active)},
};

static int load_setting(config *c, const setting *st, char *err, size_t err_len)
{
    long def = st->def;
    if (def == DEF_FROM_CPUS) {
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        def = ncpu > 0 ? ncpu : 2;
    } else if (def == DEF_FROM_WORKERS) {
        def = c->request_workers + 2;
    }
    int v = 0;
    if (env_int(st->name, (int)def, (int)st->min, (int)st->max, &v, err, err_len) != 0)
        return -1;
    char *field = (char *)c + st->offset;
    switch (st->kind) {
    case S_INT:
        *(int *)field = v;
        break;
    case S_LONG:
        *(long *)field = v;
        break;
    case S_SIZE:
        *(size_t *)field = (size_t)v;
        break;
    case S_BOOL:
        *(bool *)field = v != 0;
        break;
    }
    return 0;
}

int config_load(config *c, unsigned need, char *err, size_t err_len)
{
    memset(c, 0, sizeof *c);
    bool missing = false;
    char *master = NULL, *admin = NULL;
    const char *s;

    s = getenv("ASSETD_LISTEN_ADDR");
    snprintf(c->listen_addr, sizeof c->listen_addr, "%s", s && *s ? s : "0.0.0.0");
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++)
        if (load_setting(c, &settings[i], err, err_len) != 0)
            goto fail;

    s = getenv("ASSETD_DB_POOLER");
    if (s && *s && strcmp(s, "none") != 0 && strcmp(s, "transaction") != 0) {
        snprintf(err, err_len, "ASSETD_DB_POOLER must be none or transaction (got \"%.40s\")", s);
        goto fail;
    }
    c->db_transaction_pooler = s && strcmp(s, "transaction") == 0;

    s = getenv("DATABASE_URL");
    if (!s || !*s) {
        snprintf(err, err_len, "DATABASE_URL is not set (a libpq connection URI)");
        goto fail;
    }
    c->database_url = strdup(s);
    s = getenv("ASSETD_MIGRATIONS_DIR");
    c->migrations_dir = strdup(s && *s ? s : "migrations");
    if (!c->database_url || !c->migrations_dir) {
        snprintf(err, err_len, "out of memory");
        goto fail;
    }

    if (!(need & CONFIG_NEED_MASTER_KEY))
        return 0;
    master = env_or_file("ASSETD_MASTER_KEY", &missing, err, err_len);
    if (!master) {
        if (missing)
            snprintf(err, err_len,
                     "ASSETD_MASTER_KEY (or ASSETD_MASTER_KEY_FILE) is not set: base64 of 32 "
                     "random bytes, e.g. from `head -c32 /dev/urandom | base64`");
        goto fail;
    }
    const char *why = NULL;
    if (keyring_parse(&c->keys, master, &why) != 0) {
        snprintf(err, err_len, "ASSETD_MASTER_KEY: %s", why);
        goto fail;
    }
    if (c->master_key_active && keyring_set_active(c->keys, c->master_key_active) != 0) {
        snprintf(err, err_len,
                 "ASSETD_MASTER_KEY_ACTIVE: version %d is not in ASSETD_MASTER_KEY's list",
                 c->master_key_active);
        goto fail;
    }
    if (!(need & CONFIG_NEED_ADMIN_TOKEN)) {
        secret_free(master);
        return 0;
    }
    admin = env_or_file("ASSETD_ADMIN_TOKEN", &missing, err, err_len);
    if (!admin) {
        if (missing)
            snprintf(err, err_len, "ASSETD_ADMIN_TOKEN (or ASSETD_ADMIN_TOKEN_FILE) is not set");
        goto fail;
    }
    if (strlen(admin) < 16) {
        snprintf(err, err_len, "ASSETD_ADMIN_TOKEN must be at least 16 characters");
        goto fail;
    }
    crypto_generichash(c->admin_token_hash, sizeof c->admin_token_hash,
                       (const unsigned char *)admin, strlen(admin), NULL, 0);
    secret_free(master);
    secret_free(admin);
    return 0;
fail:
    secret_free(master);
    secret_free(admin);
    config_free(c);
    return -1;
}

void config_free(config *c)
{
    if (!c)
        return;
    keyring_free(c->keys);
    free(c->database_url);
    free(c->migrations_dir);
    sodium_memzero(c, sizeof *c);
}

bool config_is_admin_token(const config *c, const char *token, size_t len)
{
    unsigned char h[32];
    crypto_generichash(h, sizeof h, (const unsigned char *)token, len, NULL, 0);
    return sodium_memcmp(h, c->admin_token_hash, sizeof h) == 0;
}
