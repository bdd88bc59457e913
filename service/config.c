#include "config.h"

#include <errno.h>
#include <limits.h>
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

int config_load(config *c, unsigned need, char *err, size_t err_len)
{
    memset(c, 0, sizeof *c);
    bool missing = false;
    char *master = NULL, *admin = NULL;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int body = 0, batch_body = 0, max_assets = 0;
    const char *s;

    s = getenv("ASSETD_LISTEN_ADDR");
    snprintf(c->listen_addr, sizeof c->listen_addr, "%s", s && *s ? s : "0.0.0.0");
    if (env_int("ASSETD_PORT", 8080, 0, 65535, &c->port, err, err_len) ||
        env_int("ASSETD_HTTP_THREADS", ncpu > 0 ? (int)ncpu : 2, 1, 256, &c->http_threads, err,
                err_len) ||
        env_int("ASSETD_SYNC_WORKERS", 1, 0, 64, &c->sync_workers, err, err_len) ||
        env_int("ASSETD_REQUEST_WORKERS", 8, 1, 512, &c->request_workers, err, err_len) ||
        env_int("ASSETD_REQUEST_QUEUE", 1024, 1, 1000000, &c->request_queue, err, err_len) ||
        env_int("ASSETD_DB_POOL_SIZE", c->request_workers + 2, 1, 1000, &c->db_pool_size, err,
                err_len) ||
        env_int("ASSETD_BODY_LIMIT", 65536, 1024, 16 << 20, &body, err, err_len) ||
        env_int("ASSETD_BATCH_BODY_LIMIT", 1 << 20, 1024, 64 << 20, &batch_body, err, err_len) ||
        env_int("ASSETD_DB_TIMEOUT_MS", 5000, 100, 600000, &c->db_timeout_ms, err, err_len) ||
        env_int("ASSETD_DB_CONNECT_TIMEOUT_S", 30, 0, 3600, &c->db_connect_timeout_s, err,
                err_len) ||
        env_int("ASSETD_MAX_CONNECTIONS", 4096, 16, 1000000, &c->max_connections, err, err_len) ||
        env_int("ASSETD_PER_IP_CONNECTIONS", 0, 0, 1000000, &c->per_ip_connections, err, err_len) ||
        env_int("ASSETD_RATE_LIMIT", 0, 0, 1000000, &c->rate_limit, err, err_len) ||
        env_int("ASSETD_CONNECTION_TIMEOUT", 30, 1, 3600, &c->connection_timeout, err, err_len) ||
        env_int("ASSETD_MAX_ASSETS", 0, 0, INT_MAX, &max_assets, err, err_len) ||
        env_int("ASSETD_BACKUP_RETENTION_DAYS", 0, 0, 36500, &c->backup_retention_days, err,
                err_len))
        goto fail;
    c->body_limit = (size_t)body;
    c->batch_body_limit = (size_t)batch_body;
    c->max_assets = max_assets;

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
    int active = 0;
    if (env_int("ASSETD_MASTER_KEY_ACTIVE", 0, 0, INT_MAX, &active, err, err_len))
        goto fail;
    if (active && keyring_set_active(c->keys, active) != 0) {
        snprintf(err, err_len,
                 "ASSETD_MASTER_KEY_ACTIVE: version %d is not in ASSETD_MASTER_KEY's list", active);
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
