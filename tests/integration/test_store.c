/* test_store: the service layer against a real PostgreSQL (TEST_DATABASE_URL) with real
 * libsodium — migrations (idempotent, exactly once under concurrency), devices and
 * installations, authentication, the asset operations (add with OVERWRITE / THROW_ERROR,
 * query with filters, paging, cursors, orderBy, the encrypted store and its blind indexes,
 * update, remove), the §6 access rules, uninstall semantics, and tamper detection: rows changed
 * or moved by SQL must fail to open (DATA_CORRUPTED), never be served.
 *
 * The migration tests run on TEST_DATABASE_URL itself. The service tests run on a private
 * database created on the same server (dropped at the end), so the rows this test deliberately
 * corrupts never reach another test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../service/asset_ops.h"
#include "../../service/config.h"
#include "../../service/store/db.h"
#include "../../service/devices.h"
#include "../../service/svc.h"

static const char *test_url; /* TEST_DATABASE_URL */
static const char *mig_dir;  /* ASSETD_MIGRATIONS_DIR */
static PGconn *admin_pg;     /* on TEST_DATABASE_URL, for CREATE/DROP DATABASE */

/* The private database of the service tests. */
static char priv_name[64];
static char *priv_url;
static PGconn *priv_pg;
static config cfg;
static svc S;
static bool svc_up;
static const char *admin_token = "integration-admin-token-0123456789";

/* Text given to requests is borrowed: keep it here until the test ends. */
static arena mem;

/* ---- database helpers ---- */

static void append_kv(char *buf, size_t n, const char *k, const char *v)
{
    size_t len = strlen(buf);
    len += (size_t)snprintf(buf + len, n - len, "%s='", k);
    for (const char *p = v; *p && len + 3 < n; p++) {
        if (*p == '\'' || *p == '\\')
            buf[len++] = '\\';
        buf[len++] = *p;
    }
    snprintf(buf + len, n - len, "' ");
}

/* A conninfo string reaching the server of c, database dbname. */
static char *conninfo_for(PGconn *c, const char *dbname)
{
    static const char *keep[] = {"host",    "hostaddr", "port",        "user", "password",
                                 "sslmode", "passfile", "sslrootcert", NULL};
    char *buf = calloc(1, 4096);
    assert_non_null(buf);
    PQconninfoOption *opts = PQconninfo(c);
    assert_non_null(opts);
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val || !*o->val)
            continue;
        for (int i = 0; keep[i]; i++)
            if (strcmp(o->keyword, keep[i]) == 0)
                append_kv(buf, 4096, o->keyword, o->val);
    }
    PQconninfoFree(opts);
    append_kv(buf, 4096, "dbname", dbname);
    return buf;
}

static PGresult *sql(PGconn *c, const char *q, int n, const char *const *vals)
{
    PGresult *r = PQexecParams(c, q, n, NULL, vals, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        fail_msg("SQL failed: %s\n%s", q, PQerrorMessage(c));
    return r;
}

static void sql_do(PGconn *c, const char *q, int n, const char *const *vals)
{
    PQclear(sql(c, q, n, vals));
}

static long sql_long(PGconn *c, const char *q, int n, const char *const *vals)
{
    PGresult *r = sql(c, q, n, vals);
    assert_int_equal(PQntuples(r), 1);
    long v = atol(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

/* Creates a database on the test server; returns its conninfo (malloc'd). */
static char *create_db(const char *name, const char *options)
{
    char q[512];
    snprintf(q, sizeof q, "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)", name);
    sql_do(admin_pg, q, 0, NULL);
    snprintf(q, sizeof q, "CREATE DATABASE \"%s\" %s", name, options ? options : "");
    sql_do(admin_pg, q, 0, NULL);
    return conninfo_for(admin_pg, name);
}

static void drop_db(const char *name)
{
    char q[256];
    snprintf(q, sizeof q, "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)", name);
    PQclear(PQexec(admin_pg, q));
}

static void unique_name(char *out, size_t n, const char *prefix)
{
    snprintf(out, n, "%s_%d_%08x", prefix, (int)getpid(), (unsigned)randombytes_random());
}

/* Migration files, as db.c's rule says: NNNN_*.sql. */
static int count_migration_files(int *max_version)
{
    DIR *d = opendir(mig_dir);
    struct dirent *e;
    int n = 0;
    *max_version = -1;
    if (!d)
        fail_msg("cannot open the migrations folder %s", mig_dir);
    while ((e = readdir(d))) {
        const char *s = e->d_name;
        size_t len = strlen(s);
        if (len < 9 || s[4] != '_' || strcmp(s + len - 4, ".sql") != 0)
            continue;
        if (!(s[0] >= '0' && s[0] <= '9' && s[1] >= '0' && s[1] <= '9' && s[2] >= '0' &&
              s[2] <= '9' && s[3] >= '0' && s[3] <= '9'))
            continue;
        int v = atoi(s);
        if (v > *max_version)
            *max_version = v;
        n++;
    }
    closedir(d);
    return n;
}

/* schema_migrations holds exactly one row per migration file, with its number and name. */
static void check_schema_migrations(PGconn *c)
{
    int maxv = -1;
    int files = count_migration_files(&maxv);
    assert_true(files >= 1);
    assert_int_equal(sql_long(c, "SELECT count(*) FROM schema_migrations", 0, NULL), files);
    assert_int_equal(sql_long(c, "SELECT count(DISTINCT version) FROM schema_migrations", 0, NULL),
                     files);
    assert_int_equal(sql_long(c, "SELECT max(version) FROM schema_migrations", 0, NULL), maxv);
    DIR *d = opendir(mig_dir);
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *s = e->d_name;
        size_t len = strlen(s);
        if (len < 9 || s[4] != '_' || strcmp(s + len - 4, ".sql") != 0 || s[0] < '0' || s[0] > '9')
            continue;
        char ver[16];
        snprintf(ver, sizeof ver, "%d", atoi(s));
        const char *v[] = {ver, s};
        if (sql_long(c, "SELECT count(*) FROM schema_migrations WHERE version = $1 AND name = $2",
                     2, v) != 1)
            fail_msg("migration %s is not recorded exactly once", s);
    }
    closedir(d);
}

/* ---- request helpers ---- */

/* Builds a request for op from "name=value;name=value": text and base64 fields as given,
 * booleans "true"/"false", integers in decimal, enums by name, syncType as a comma list ("" for
 * []). Then asset_req_finish. Values live in `mem`. */
static asset_err build(asset_req *r, asset_op op, const char *spec)
{
    const char *why = NULL, *field = NULL;
    asset_req_init(r);
    char *copy = arena_strndup(&mem, spec, strlen(spec));
    assert_non_null(copy);
    char *save = NULL;
    for (char *item = strtok_r(copy, ";", &save); item; item = strtok_r(NULL, ";", &save)) {
        char *eq = strchr(item, '=');
        if (!eq)
            fail_msg("bad spec item %s", item);
        *eq = 0;
        const char *val = eq + 1;
        int f = asset_field_by_name(item, strlen(item));
        if (f < 0)
            fail_msg("no field %s", item);
        asset_err e = ASSET_OK;
        switch (asset_field_info((asset_field)f)->kind) {
        case KIND_BYTES:
        case KIND_TEXT:
            e = asset_req_set_text(r, (asset_field)f, val, strlen(val), &why);
            break;
        case KIND_BOOL:
            e = asset_req_set_bool(r, (asset_field)f, strcmp(val, "true") == 0, &why);
            break;
        case KIND_INT:
            e = asset_req_set_int(r, (asset_field)f, atoll(val), &why);
            break;
        case KIND_ENUM:
            e = asset_req_set_name(r, (asset_field)f, val, strlen(val), &why);
            break;
        case KIND_SYNC: {
            const char *p = val;
            while (*p && e == ASSET_OK) {
                const char *c = strchr(p, ',');
                size_t n = c ? (size_t)(c - p) : strlen(p);
                e = asset_req_set_name(r, (asset_field)f, p, n, &why);
                p += n + (c ? 1 : 0);
            }
            asset_req_mark(r, (asset_field)f);
            break;
        }
        }
        if (e != ASSET_OK)
            fail_msg("setting %s=%s: %s", item, val, why);
    }
    return asset_req_finish(r, op, &field, &why);
}

static const char *b64(const char *text)
{
    size_t n = strlen(text);
    size_t cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
    char *out = arena_alloc(&mem, cap);
    assert_non_null(out);
    sodium_bin2base64(out, cap, (const unsigned char *)text, n, sodium_base64_VARIANT_ORIGINAL);
    return out;
}

static const char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static const char *fmt(const char *f, ...)
{
    char *out = arena_alloc(&mem, 4096);
    va_list ap;
    va_start(ap, f);
    vsnprintf(out, 4096, f, ap);
    va_end(ap);
    return out;
}

/* Copies of what a query returned (the list and the request are freed at once). */
typedef struct {
    char alias[300];
    bool has_secret;
    char secret[1100];
    size_t secret_len;
    bool has_label[ASSET_LABELS];
    char label[ASSET_LABELS][128];
    uint8_t accessibility, auth_type, sync_type, wrap_type;
    bool req_pwd, persistent, attr_enc, has_group;
    char owner[300];
    int64_t update_ms;
} item;

typedef struct {
    int n;
    item it[64];
    bool replaced;
    char cursor[1024];
    bool has_cursor;
} result;

static result R;

static void copy_list(const asset_list *l)
{
    memset(&R, 0, sizeof R);
    R.n = (int)l->n;
    R.replaced = l->replaced;
    assert_true(l->n <= 64);
    for (size_t i = 0; i < l->n; i++) {
        const asset_out *o = &l->items[i];
        item *t = &R.it[i];
        snprintf(t->alias, sizeof t->alias, "%.*s", (int)o->rec.alias.n, o->rec.alias.p);
        snprintf(t->owner, sizeof t->owner, "%.*s", (int)o->rec.owner.n, o->rec.owner.p);
        if (o->secret) {
            assert_true(o->secret_len < sizeof t->secret);
            t->has_secret = true;
            memcpy(t->secret, o->secret, o->secret_len);
            t->secret_len = o->secret_len;
        }
        for (int k = 0; k < ASSET_LABELS; k++)
            if (o->rec.labels[k].p) {
                t->has_label[k] = true;
                snprintf(t->label[k], sizeof t->label[k], "%.*s", (int)o->rec.labels[k].n,
                         o->rec.labels[k].p);
            }
        t->accessibility = o->rec.accessibility;
        t->auth_type = o->rec.auth_type;
        t->sync_type = o->rec.sync_type;
        t->wrap_type = o->rec.wrap_type;
        t->req_pwd = o->rec.require_password_set;
        t->persistent = o->rec.is_persistent;
        t->attr_enc = o->rec.attr_enc;
        t->has_group = o->has_group;
        t->update_ms = o->rec.update_ms;
    }
    if (l->next_cursor) {
        R.has_cursor = true;
        snprintf(R.cursor, sizeof R.cursor, "%s", l->next_cursor);
    }
}

static asset_err add(const principal *p, const char *spec)
{
    asset_req q;
    asset_list l;
    asset_err e = build(&q, OP_ADD, spec);
    if (e != ASSET_OK)
        fail_msg("add spec refused: %s (%s)", spec, asset_err_name(e));
    memset(&R, 0, sizeof R);
    e = assets_add(&S, p, &q, &l);
    if (e == ASSET_OK) {
        copy_list(&l);
        assert_int_equal(l.n, 1);
        assert_false(R.it[0].has_secret); /* add never returns the secret */
    } else {
        assert_int_equal(l.n, 0);
    }
    asset_list_free(&l);
    asset_req_clear(&q);
    return e;
}

#define ADD_OK(p, spec)                                                                            \
    do {                                                                                           \
        asset_err e_ = add((p), (spec));                                                           \
        if (e_ != ASSET_OK)                                                                        \
            fail_msg("add %s: %s", (spec), asset_err_name(e_));                                    \
    } while (0)

static asset_err query_op(const principal *p, asset_op op, const char *spec)
{
    asset_req q;
    asset_list l;
    asset_err e = build(&q, op, spec);
    if (e != ASSET_OK)
        return e;
    memset(&R, 0, sizeof R);
    e = assets_query(&S, p, &q, &l);
    if (e == ASSET_OK)
        copy_list(&l);
    else
        assert_int_equal(l.n, 0);
    asset_list_free(&l);
    asset_req_clear(&q);
    return e;
}

static asset_err query(const principal *p, const char *spec)
{
    return query_op(p, OP_QUERY, spec);
}

/* GET /assets/{alias} with selectors. */
static asset_err get_one(const principal *p, const char *alias, const char *sel)
{
    return query_op(p, OP_GET_ONE, fmt("alias=%s%s%s", alias, *sel ? ";" : "", sel));
}

static asset_err update(const principal *p, const char *alias, const char *sel, const char *upd)
{
    asset_req qs, qu;
    asset_list l;
    assert_int_equal(build(&qs, OP_UPDATE_SEL, fmt("alias=%s%s%s", alias, *sel ? ";" : "", sel)),
                     ASSET_OK);
    assert_int_equal(build(&qu, OP_UPDATE, upd), ASSET_OK);
    memset(&R, 0, sizeof R);
    asset_err e = assets_update(&S, p, &qs, &qu, &l);
    if (e == ASSET_OK) {
        copy_list(&l);
        assert_int_equal(R.n, 1);
        assert_false(R.it[0].has_secret);
    }
    asset_list_free(&l);
    asset_req_clear(&qs);
    asset_req_clear(&qu);
    return e;
}

static asset_err remove_op(const principal *p, asset_op op, const char *spec, long *removed)
{
    asset_req q;
    asset_err e = build(&q, op, spec);
    if (e != ASSET_OK)
        return e;
    e = assets_remove(&S, p, &q, op == OP_REMOVE_ONE, removed);
    asset_req_clear(&q);
    return e;
}

/* "a,b,c" of R's aliases */
static const char *aliases(void)
{
    char *out = arena_alloc(&mem, 4096);
    size_t len = 0;
    for (int i = 0; i < R.n; i++)
        len += (size_t)snprintf(out + len, 4096 - len, "%s%s", i ? "," : "", R.it[i].alias);
    return out;
}

#define EXPECT(call, want)                                                                         \
    do {                                                                                           \
        asset_err got_ = (call);                                                                   \
        if (got_ != (want))                                                                        \
            fail_msg("%s: got %s, want %s", #call, asset_err_name(got_), asset_err_name(want));    \
    } while (0)

/* ---- devices and apps ---- */

typedef struct {
    char id[UUID_TEXT_LEN];
    char token[SEAL_TOKEN_TEXT_LEN];
} device_t;

static void new_device(device_t *d, const char *account)
{
    EXPECT(devices_register(&S, "test-device", account, NULL, d->id, d->token), ASSET_OK);
    assert_true(uuid_valid(d->id, strlen(d->id)));
}

static void install(const device_t *d, const char *app, const char *groups, bool perm,
                    char token[SEAL_TOKEN_TEXT_LEN])
{
    EXPECT(devices_install(&S, d->id, app, groups ? groups : "[]", perm, token), ASSET_OK);
}

static void auth(const char *token, principal *p)
{
    EXPECT(svc_authenticate(&S, token, strlen(token), p), ASSET_OK);
}

/* An app installed on a device, authenticated. */
static void app_on(const device_t *d, const char *app, const char *groups, bool perm, principal *p)
{
    char tok[SEAL_TOKEN_TEXT_LEN];
    install(d, app, groups, perm, tok);
    auth(tok, p);
}

static void set_state(const device_t *d, bool pwd, bool locked, bool since_boot)
{
    device_state st = {pwd, locked, since_boot};
    device_info info;
    EXPECT(devices_set_state(&S, d->id, &st, &info), ASSET_OK);
    assert_int_equal(info.state.lock_screen_password_set, pwd);
    assert_int_equal(info.state.screen_locked, locked);
    assert_int_equal(info.state.unlocked_since_boot, since_boot);
}

/* ---- group set-up ---- */

static void quiet_notice(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

static int group_setup(void **state)
{
    (void)state;
    if (sodium_init() < 0)
        return -1;
    admin_pg = PQconnectdb(test_url);
    if (PQstatus(admin_pg) != CONNECTION_OK) {
        fprintf(stderr, "test_store: cannot connect to TEST_DATABASE_URL: %s",
                PQerrorMessage(admin_pg));
        return -1;
    }
    PQsetNoticeProcessor(admin_pg, quiet_notice, NULL);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (svc_up)
        svc_close(&S);
    svc_up = false;
    config_free(&cfg);
    if (priv_pg)
        PQfinish(priv_pg);
    if (priv_name[0])
        drop_db(priv_name);
    free(priv_url);
    PQfinish(admin_pg);
    arena_free(&mem);
    return 0;
}

/* Opens the service on the private database (once; later tests reuse it). */
static int svc_setup(void **state)
{
    (void)state;
    if (svc_up)
        return 0;
    if (priv_name[0])
        return -1; /* set-up failed before: do not retry for every test */
    unique_name(priv_name, sizeof priv_name, "assetd_tstore");
    priv_url = create_db(priv_name, NULL);
    if (db_migrate(priv_url, mig_dir) < 0)
        return -1;
    priv_pg = PQconnectdb(priv_url);
    if (PQstatus(priv_pg) != CONNECTION_OK)
        return -1;
    const char *mk = getenv("TEST_MASTER_KEY");
    char key[64];
    if (!mk || !*mk) {
        unsigned char raw[32];
        randombytes_buf(raw, sizeof raw);
        sodium_bin2base64(key, sizeof key, raw, sizeof raw, sodium_base64_VARIANT_ORIGINAL);
        mk = key;
    }
    unsetenv("ASSETD_MASTER_KEY_FILE");
    unsetenv("ASSETD_ADMIN_TOKEN_FILE");
    unsetenv("ASSETD_MAX_ASSETS");
    setenv("DATABASE_URL", priv_url, 1);
    setenv("ASSETD_MASTER_KEY", mk, 1);
    setenv("ASSETD_ADMIN_TOKEN", admin_token, 1);
    setenv("ASSETD_MIGRATIONS_DIR", mig_dir, 1);
    setenv("ASSETD_DB_POOL_SIZE", "4", 1);
    char err[256];
    if (config_load(&cfg, CONFIG_NEED_MASTER_KEY | CONFIG_NEED_ADMIN_TOKEN, err, sizeof err) != 0) {
        fprintf(stderr, "test_store: config_load: %s\n", err);
        return -1;
    }
    const char *why = NULL;
    if (svc_open(&S, &cfg, &why) != 0) {
        fprintf(stderr, "test_store: svc_open: %s\n", why);
        return -1;
    }
    svc_up = true;
    return 0;
}

static void unswap(void);

static int test_teardown(void **state)
{
    (void)state;
    unswap();
    arena_free(&mem);
    return 0;
}

/* ---- migrations ---- */

static void test_migrations_idempotent(void **state)
{
    (void)state;
    int latest = db_migrations_latest(mig_dir);
    assert_true(latest >= 1);
    int a = db_migrate(test_url, mig_dir);
    int b = db_migrate(test_url, mig_dir);
    assert_int_equal(a, latest);
    assert_int_equal(b, a);
    check_schema_migrations(admin_pg);
    /* a third run still changes nothing */
    long before = sql_long(admin_pg, "SELECT count(*) FROM schema_migrations", 0, NULL);
    assert_int_equal(db_migrate(test_url, mig_dir), latest);
    assert_int_equal(sql_long(admin_pg, "SELECT count(*) FROM schema_migrations", 0, NULL), before);
    /* a missing folder is an error, not "nothing to do" */
    assert_int_equal(db_migrate(test_url, "/nonexistent/migrations"), -1);
}

typedef struct {
    const char *url;
    int result;
} mig_arg;

static void *mig_thread(void *p)
{
    mig_arg *a = p;
    a->result = db_migrate(a->url, mig_dir);
    return NULL;
}

static void test_migrate_concurrent_fresh_db(void **state)
{
    (void)state;
    int latest = db_migrations_latest(mig_dir);
    for (int round = 0; round < 3; round++) {
        char name[64];
        unique_name(name, sizeof name, "assetd_tmig");
        char *url = create_db(name, NULL);
        mig_arg args[2] = {{url, -2}, {url, -2}};
        pthread_t th[2];
        for (int i = 0; i < 2; i++)
            assert_int_equal(pthread_create(&th[i], NULL, mig_thread, &args[i]), 0);
        for (int i = 0; i < 2; i++)
            pthread_join(th[i], NULL);
        assert_int_equal(args[0].result, latest);
        assert_int_equal(args[1].result, latest);
        PGconn *c = PQconnectdb(url);
        assert_int_equal(PQstatus(c), CONNECTION_OK);
        check_schema_migrations(c);
        /* the schema is really there */
        assert_int_equal(sql_long(c, "SELECT count(*) FROM assets", 0, NULL), 0);
        PQfinish(c);
        drop_db(name);
        free(url);
    }
}

/* ---- devices, installations, authentication ---- */

static void test_authenticate(void **state)
{
    (void)state;
    device_t d, d2;
    principal p, pd, pa;
    new_device(&d, "acct-auth");
    new_device(&d2, NULL);
    assert_string_not_equal(d.token, d2.token);

    /* device token */
    auth(d.token, &pd);
    assert_int_equal(pd.kind, PRINCIPAL_DEVICE);
    assert_string_equal(pd.device_id, d.id);
    assert_false(pd.state.lock_screen_password_set);
    assert_false(pd.state.screen_locked);
    assert_true(pd.state.unlocked_since_boot); /* §6 defaults */
    assert_true(pd.has_account);
    assert_string_equal(pd.account_id, "acct-auth");
    assert_int_equal(pd.dek_version, 1);
    assert_true(principal_may_manage(&pd, d.id));
    assert_false(principal_may_manage(&pd, d2.id));

    /* installation token */
    char tok[SEAL_TOKEN_TEXT_LEN];
    install(&d, "com.example.auth", "[\"com.example.group1\", \"com.example.group2\"]", true, tok);
    auth(tok, &pa);
    assert_int_equal(pa.kind, PRINCIPAL_INSTALLATION);
    assert_string_equal(pa.device_id, d.id);
    assert_string_equal(pa.app_id, "com.example.auth");
    assert_true(pa.installation_id > 0);
    assert_int_equal(pa.ngroups, 2);
    assert_true(principal_in_group(&pa, "com.example.group1", 18));
    assert_true(principal_in_group(&pa, "com.example.group2", 18));
    assert_false(principal_in_group(&pa, "com.example.group", 17));
    assert_false(principal_in_group(&pa, "com.example.group12", 19));
    assert_true(pa.perm_persistent);
    assert_true(pa.state.unlocked_since_boot);
    assert_memory_equal(pa.dek, pd.dek, SEAL_KEY_LEN); /* the device's data key */
    assert_false(principal_may_manage(&pa, d.id));

    /* another device has another data key */
    principal p2;
    auth(d2.token, &p2);
    assert_false(p2.has_account);
    assert_memory_not_equal(p2.dek, pd.dek, SEAL_KEY_LEN);
    principal_clear(&p2);

    /* admin */
    auth(admin_token, &p);
    assert_int_equal(p.kind, PRINCIPAL_ADMIN);
    assert_true(principal_may_manage(&p, d.id));
    assert_true(principal_may_manage(&p, d2.id));

    /* unknown, altered, empty, oversized tokens */
    char bad[SEAL_TOKEN_TEXT_LEN + 1];
    seal_new_token(bad);
    EXPECT(svc_authenticate(&S, bad, strlen(bad), &p), ASSET_PERMISSION_DENIED);
    memcpy(bad, tok, sizeof bad - 1);
    bad[0] = bad[0] == 'A' ? 'B' : 'A';
    EXPECT(svc_authenticate(&S, bad, strlen(bad), &p), ASSET_PERMISSION_DENIED);
    EXPECT(svc_authenticate(&S, tok, strlen(tok) - 1, &p), ASSET_PERMISSION_DENIED);
    EXPECT(svc_authenticate(&S, "", 0, &p), ASSET_PERMISSION_DENIED);
    EXPECT(svc_authenticate(&S, admin_token, strlen(admin_token) - 1, &p), ASSET_PERMISSION_DENIED);
    char big[600];
    memset(big, 'a', sizeof big);
    EXPECT(svc_authenticate(&S, big, sizeof big, &p), ASSET_PERMISSION_DENIED);
    /* tokens are stored only as keyed hashes */
    const char *tv[] = {tok};
    assert_int_equal(sql_long(priv_pg,
                              "SELECT count(*) FROM installations WHERE position(convert_to($1, "
                              "'UTF8') in token_hash) > 0",
                              1, tv),
                     0);

    /* install twice; on an unknown device */
    char tok2[SEAL_TOKEN_TEXT_LEN];
    EXPECT(devices_install(&S, d.id, "com.example.auth", "[]", false, tok2), ASSET_DUPLICATED);
    char nodev[UUID_TEXT_LEN];
    uuid_new(nodev);
    EXPECT(devices_install(&S, nodev, "com.example.auth", "[]", false, tok2), ASSET_NOT_FOUND);
    device_info info;
    EXPECT(devices_get(&S, nodev, &info), ASSET_NOT_FOUND);
    EXPECT(devices_get(&S, d.id, &info), ASSET_OK);
    assert_string_equal(info.id, d.id);
    assert_string_equal(info.name, "test-device");
    assert_true(info.has_account);
    assert_string_equal(info.account_id, "acct-auth");
    assert_false(info.has_pk);

    /* a state change is seen by the next authentication */
    set_state(&d, true, true, false);
    auth(tok, &pa);
    assert_true(pa.state.lock_screen_password_set);
    assert_true(pa.state.screen_locked);
    assert_false(pa.state.unlocked_since_boot);
    auth(d.token, &pd);
    assert_true(pd.state.screen_locked);

    principal_clear(&p);
    principal_clear(&pd);
    principal_clear(&pa);
    /* principal_clear wipes the key */
    unsigned char zero[SEAL_KEY_LEN] = {0};
    assert_memory_equal(pa.dek, zero, SEAL_KEY_LEN);
    EXPECT(svc_ready(&S), ASSET_OK);

    /* uninstall revokes the token at once (last: see test_uninstall for the rest) */
    char tok3[SEAL_TOKEN_TEXT_LEN];
    install(&d, "com.example.auth2", NULL, false, tok3);
    auth(tok3, &p);
    EXPECT(devices_uninstall(&S, d.id, "com.example.auth2"), ASSET_OK);
    EXPECT(svc_authenticate(&S, tok3, strlen(tok3), &p), ASSET_PERMISSION_DENIED);
    EXPECT(devices_uninstall(&S, d.id, "com.example.auth2"), ASSET_NOT_FOUND);
    EXPECT(devices_uninstall(&S, d.id, "com.example.never"), ASSET_NOT_FOUND);
    auth(d.token, &pd); /* the device token still works */
    principal_clear(&p);
    principal_clear(&pd);
}

/* ---- add, query, conflicts ---- */

static void test_add_query_conflicts(void **state)
{
    (void)state;
    device_t d, d2;
    principal a, b, a2;
    new_device(&d, NULL);
    new_device(&d2, NULL);
    app_on(&d, "com.example.a", NULL, false, &a);
    app_on(&d, "com.example.b", NULL, false, &b);
    app_on(&d2, "com.example.a", NULL, false, &a2);

    ADD_OK(&a, fmt("alias=k1;secret=%s;dataLabelCritical1=c1;dataLabelNormal1=n1;"
                   "dataLabelNormalLocal2=l2;syncType=THIS_DEVICE",
                   b64("secret-1")));
    assert_int_equal(R.n, 1);
    assert_false(R.replaced);
    assert_string_equal(R.it[0].alias, "k1");
    assert_true(R.it[0].update_ms > 0);

    EXPECT(get_one(&a, "k1", "returnType=ALL"), ASSET_OK);
    assert_int_equal(R.n, 1);
    assert_true(R.it[0].has_secret);
    assert_int_equal(R.it[0].secret_len, 8);
    assert_memory_equal(R.it[0].secret, "secret-1", 8);
    assert_int_equal(R.it[0].accessibility, ACCESSIBILITY_DEVICE_FIRST_UNLOCKED);
    assert_int_equal(R.it[0].auth_type, AUTH_TYPE_NONE);
    assert_int_equal(R.it[0].sync_type, SYNC_THIS_DEVICE);
    assert_false(R.it[0].req_pwd);
    assert_false(R.it[0].persistent);
    assert_false(R.it[0].attr_enc);
    assert_false(R.it[0].has_group);
    assert_string_equal(R.it[0].label[LABEL_CRITICAL], "c1");
    assert_string_equal(R.it[0].label[LABEL_NORMAL], "n1");
    assert_string_equal(R.it[0].label[LABEL_LOCAL + 1], "l2");
    assert_false(R.it[0].has_label[LABEL_CRITICAL + 1]);
    /* ATTRIBUTES (the default) never carries the secret */
    EXPECT(get_one(&a, "k1", ""), ASSET_OK);
    assert_false(R.it[0].has_secret);
    EXPECT(query(&a, "alias=k1"), ASSET_OK);
    assert_false(R.it[0].has_secret);

    /* THROW_ERROR (default): DUPLICATED, nothing changed */
    EXPECT(add(&a, fmt("alias=k1;secret=%s", b64("other"))), ASSET_DUPLICATED);
    EXPECT(add(&a, fmt("alias=k1;secret=%s;conflictResolution=THROW_ERROR", b64("other"))),
           ASSET_DUPLICATED);
    EXPECT(get_one(&a, "k1", "returnType=ALL"), ASSET_OK);
    assert_memory_equal(R.it[0].secret, "secret-1", 8);
    assert_string_equal(R.it[0].label[LABEL_CRITICAL], "c1");

    /* OVERWRITE: replaced, attributes and secret are the new ones */
    ADD_OK(&a, fmt("alias=k1;secret=%s;conflictResolution=OVERWRITE;dataLabelNormal2=n2;"
                   "accessibility=DEVICE_POWERED_ON",
                   b64("secret-2")));
    assert_true(R.replaced);
    EXPECT(get_one(&a, "k1", "returnType=ALL"), ASSET_OK);
    assert_int_equal(R.it[0].secret_len, 8);
    assert_memory_equal(R.it[0].secret, "secret-2", 8);
    assert_false(R.it[0].has_label[LABEL_CRITICAL]);
    assert_false(R.it[0].has_label[LABEL_NORMAL]);
    assert_string_equal(R.it[0].label[LABEL_NORMAL + 1], "n2");
    assert_int_equal(R.it[0].accessibility, ACCESSIBILITY_DEVICE_POWERED_ON);
    assert_int_equal(R.it[0].sync_type, 0);
    /* OVERWRITE of an alias that does not exist inserts */
    ADD_OK(&a, fmt("alias=k2;secret=%s;conflictResolution=OVERWRITE", b64("s")));
    assert_false(R.replaced);
    const char *dv[] = {d.id};
    assert_int_equal(sql_long(priv_pg,
                              "SELECT count(*) FROM assets WHERE device_id = $1 AND alias = 'k1'",
                              1, dv),
                     1);

    /* another owner on the same device, the same owner on another device: not found, and
     * free to use the alias */
    EXPECT(get_one(&b, "k1", ""), ASSET_NOT_FOUND);
    EXPECT(query(&b, "alias=k1"), ASSET_NOT_FOUND);
    EXPECT(get_one(&a2, "k1", ""), ASSET_NOT_FOUND);
    ADD_OK(&b, fmt("alias=k1;secret=%s", b64("b-secret")));
    ADD_OK(&a2, fmt("alias=k1;secret=%s", b64("a2-secret")));
    EXPECT(get_one(&a, "k1", "returnType=ALL"), ASSET_OK);
    assert_memory_equal(R.it[0].secret, "secret-2", 8);
    EXPECT(get_one(&b, "k1", "returnType=ALL"), ASSET_OK);
    assert_memory_equal(R.it[0].secret, "b-secret", 8);

    /* the encrypted store is a store of its own: same alias again */
    ADD_OK(&a, fmt("alias=k1;secret=%s;requireAttrEncrypted=true", b64("enc-secret")));
    EXPECT(get_one(&a, "k1", "returnType=ALL;requireAttrEncrypted=true"), ASSET_OK);
    assert_memory_equal(R.it[0].secret, "enc-secret", 10);
    assert_true(R.it[0].attr_enc);
    EXPECT(get_one(&a, "k1", "returnType=ALL;requireAttrEncrypted=false"), ASSET_OK);
    assert_memory_equal(R.it[0].secret, "secret-2", 8);
    EXPECT(add(&a, fmt("alias=k1;secret=%s;requireAttrEncrypted=true", b64("x"))),
           ASSET_DUPLICATED);

    /* secrets are not stored in plaintext */
    assert_int_equal(sql_long(priv_pg,
                              "SELECT count(*) FROM assets WHERE position('secret-2'::bytea in "
                              "sealed) > 0 OR position('enc-secret'::bytea in sealed) > 0",
                              0, NULL),
                     0);
    /* a secret of the maximum size round-trips */
    unsigned char big[1024];
    randombytes_buf(big, sizeof big);
    char bigb64[1400];
    sodium_bin2base64(bigb64, sizeof bigb64, big, sizeof big, sodium_base64_VARIANT_ORIGINAL);
    ADD_OK(&a, fmt("alias=big;secret=%s", bigb64));
    EXPECT(get_one(&a, "big", "returnType=ALL"), ASSET_OK);
    assert_int_equal(R.it[0].secret_len, 1024);
    assert_memory_equal(R.it[0].secret, big, 1024);

    principal_clear(&a);
    principal_clear(&b);
    principal_clear(&a2);
}

/* ---- §6 access rules ---- */

/* "an add with requirePasswordSet: true on a device without a lock-screen password is 409" */
static void test_access_rules_password(void **state)
{
    (void)state;
    device_t d;
    char tok[SEAL_TOKEN_TEXT_LEN];
    principal a;
    new_device(&d, NULL);
    install(&d, "com.example.rules", NULL, false, tok);
    auth(tok, &a);
    EXPECT(add(&a, fmt("alias=p1;secret=%s;requirePasswordSet=true", b64("x"))),
           ASSET_STATUS_MISMATCH);
    EXPECT(get_one(&a, "p1", ""), ASSET_NOT_FOUND);
    const char *v[] = {d.id};
    assert_int_equal(sql_long(priv_pg, "SELECT count(*) FROM assets WHERE device_id = $1", 1, v),
                     0);
    /* with a password it is accepted */
    set_state(&d, true, false, true);
    auth(tok, &a);
    assert_true(a.state.lock_screen_password_set);
    ADD_OK(&a, fmt("alias=p1;secret=%s;requirePasswordSet=true", b64("pw")));
    EXPECT(get_one(&a, "p1", "returnType=ALL"), ASSET_OK);
    assert_true(R.it[0].req_pwd);
    assert_memory_equal(R.it[0].secret, "pw", 2);
    principal_clear(&a);
}

/* §6 lock states: secrets need the asset accessible, attributes and removal never do; the
 * state is read at authentication, so each change is followed by a new authentication. */
static void test_access_rules_locked(void **state)
{
    (void)state;
    device_t d;
    char tok[SEAL_TOKEN_TEXT_LEN];
    principal u;
    new_device(&d, NULL);
    install(&d, "com.example.lock", NULL, false, tok);
    set_state(&d, true, false, true);
    auth(tok, &u);
    ADD_OK(&u,
           fmt("alias=u1;secret=%s;accessibility=DEVICE_UNLOCKED;dataLabelNormal1=a", b64("unl")));
    ADD_OK(&u, fmt("alias=f1;secret=%s", b64("first")));
    ADD_OK(&u, fmt("alias=o1;secret=%s;accessibility=DEVICE_POWERED_ON", b64("on")));
    ADD_OK(&u, fmt("alias=p1;secret=%s;requirePasswordSet=true", b64("pw")));

    /* locked, unlocked since boot */
    set_state(&d, true, true, true);
    auth(tok, &u);
    EXPECT(get_one(&u, "u1", "returnType=ALL"), ASSET_STATUS_MISMATCH);
    EXPECT(get_one(&u, "u1", ""), ASSET_OK); /* attributes whatever the state */
    EXPECT(get_one(&u, "f1", "returnType=ALL"), ASSET_OK);
    assert_memory_equal(R.it[0].secret, "first", 5);
    EXPECT(get_one(&u, "o1", "returnType=ALL"), ASSET_OK);
    EXPECT(add(&u, fmt("alias=u2;secret=%s;accessibility=DEVICE_UNLOCKED", b64("x"))),
           ASSET_STATUS_MISMATCH);
    EXPECT(get_one(&u, "u2", ""), ASSET_NOT_FOUND);
    ADD_OK(&u, fmt("alias=f2;secret=%s", b64("x")));
    /* update: the secret needs access, labels do not */
    EXPECT(update(&u, "u1", "", fmt("secret=%s", b64("new"))), ASSET_STATUS_MISMATCH);
    EXPECT(update(&u, "u1", "", "dataLabelNormal1=b"), ASSET_OK);
    assert_string_equal(R.it[0].label[LABEL_NORMAL], "b");
    /* the refused update changed nothing */
    set_state(&d, true, false, true);
    auth(tok, &u);
    EXPECT(get_one(&u, "u1", "returnType=ALL"), ASSET_OK);
    assert_int_equal(R.it[0].secret_len, 3);
    assert_memory_equal(R.it[0].secret, "unl", 3);

    /* locked since boot: FIRST_UNLOCKED refused too, POWERED_ON fine */
    set_state(&d, true, true, false);
    auth(tok, &u);
    EXPECT(get_one(&u, "f1", "returnType=ALL"), ASSET_STATUS_MISMATCH);
    EXPECT(get_one(&u, "o1", "returnType=ALL"), ASSET_OK);
    EXPECT(add(&u, fmt("alias=f3;secret=%s", b64("x"))), ASSET_STATUS_MISMATCH);
    /* a batch read with returnType=ALL is refused as a whole when one secret is not
     * accessible (the alias filter makes it one asset here) */
    EXPECT(query(&u, "alias=f1;returnType=ALL"), ASSET_STATUS_MISMATCH);
    /* remove works whatever the state */
    long removed = 0;
    EXPECT(remove_op(&u, OP_REMOVE_ONE, "alias=u1", &removed), ASSET_OK);
    assert_int_equal(removed, 1);

    /* password removed: requirePasswordSet assets refuse their secret */
    set_state(&d, false, false, true);
    auth(tok, &u);
    EXPECT(get_one(&u, "p1", "returnType=ALL"), ASSET_STATUS_MISMATCH);
    EXPECT(get_one(&u, "p1", ""), ASSET_OK);
    /* screenLocked without a password is not locked (§6 effective state) */
    set_state(&d, false, true, false);
    auth(tok, &u);
    ADD_OK(&u, fmt("alias=u3;secret=%s;accessibility=DEVICE_UNLOCKED", b64("ok")));
    EXPECT(get_one(&u, "u3", "returnType=ALL"), ASSET_OK);
    EXPECT(get_one(&u, "f1", "returnType=ALL"), ASSET_OK);

    /* authType ANY: never through a plain read */
    ADD_OK(&u, fmt("alias=g1;secret=%s;authType=ANY", b64("gated")));
    EXPECT(get_one(&u, "g1", "returnType=ALL"), ASSET_ACCESS_DENIED);
    EXPECT(get_one(&u, "g1", ""), ASSET_OK);
    assert_int_equal(R.it[0].auth_type, AUTH_TYPE_ANY);
    principal_clear(&u);
}

/* ---- filters, paging, cursors ---- */

static void test_query_paging(void **state)
{
    (void)state;
    device_t d;
    principal a, b;
    new_device(&d, NULL);
    app_on(&d, "com.example.page", NULL, false, &a);
    app_on(&d, "com.example.page2", NULL, false, &b);
    const char *sync[] = {"THIS_DEVICE",
                          "TRUSTED_DEVICE",
                          "THIS_DEVICE,TRUSTED_DEVICE",
                          "",
                          "TRUSTED_ACCOUNT",
                          "THIS_DEVICE,TRUSTED_ACCOUNT",
                          "THIS_DEVICE"};
    for (int i = 0; i < 7; i++)
        ADD_OK(&a, fmt("alias=a%d;secret=%s;dataLabelNormal1=v%d;dataLabelCritical2=%s;"
                       "syncType=%s",
                       i, b64("s"), i, i % 2 ? "odd" : "even", sync[i]));

    EXPECT(query(&a, ""), ASSET_OK);
    assert_string_equal(aliases(), "a0,a1,a2,a3,a4,a5,a6"); /* insertion order */
    assert_false(R.has_cursor);

    /* pages of 3 by cursor */
    EXPECT(query(&a, "limit=3"), ASSET_OK);
    assert_string_equal(aliases(), "a0,a1,a2");
    assert_true(R.has_cursor);
    const char *c1 = fmt("%s", R.cursor);
    EXPECT(query(&a, fmt("limit=3;cursor=%s", c1)), ASSET_OK);
    assert_string_equal(aliases(), "a3,a4,a5");
    assert_true(R.has_cursor);
    const char *c2 = fmt("%s", R.cursor);
    EXPECT(query(&a, fmt("limit=3;cursor=%s", c2)), ASSET_OK);
    assert_string_equal(aliases(), "a6");
    assert_false(R.has_cursor);
    /* the limit may change between pages */
    EXPECT(query(&a, fmt("limit=10;cursor=%s", c1)), ASSET_OK);
    assert_string_equal(aliases(), "a3,a4,a5,a6");
    /* exactly a page's worth: no cursor pointing at nothing */
    EXPECT(query(&a, "limit=7"), ASSET_OK);
    assert_int_equal(R.n, 7);
    assert_false(R.has_cursor);

    /* a cursor belongs to its query and its caller */
    EXPECT(query(&a, fmt("limit=3;cursor=%s;dataLabelCritical2=odd", c1)),
           ASSET_PARAM_VERIFICATION_FAILED);
    EXPECT(query(&b, fmt("limit=3;cursor=%s", c1)), ASSET_PARAM_VERIFICATION_FAILED);
    char *forged = (char *)fmt("%s", c1);
    forged[2] = forged[2] == 'A' ? 'B' : 'A';
    EXPECT(query(&a, fmt("limit=3;cursor=%s", forged)), ASSET_PARAM_VERIFICATION_FAILED);
    EXPECT(query(&a, "cursor=garbage!"), ASSET_PARAM_VERIFICATION_FAILED);
    EXPECT(query(&a, "cursor=QUJD"), ASSET_PARAM_VERIFICATION_FAILED);
    EXPECT(query(&a, fmt("cursor=%s;offset=1", c1)), ASSET_PARAM_VERIFICATION_FAILED);

    /* offset */
    EXPECT(query(&a, "offset=2;limit=2"), ASSET_OK);
    assert_string_equal(aliases(), "a2,a3");
    EXPECT(query(&a, "offset=6"), ASSET_OK);
    assert_string_equal(aliases(), "a6");
    EXPECT(query(&a, "offset=7"), ASSET_NOT_FOUND);
    EXPECT(query(&a, "offset=1000000"), ASSET_NOT_FOUND);

    /* filters */
    EXPECT(query(&a, "dataLabelNormal1=v3"), ASSET_OK);
    assert_string_equal(aliases(), "a3");
    EXPECT(query(&a, "dataLabelNormal1=v9"), ASSET_NOT_FOUND);
    EXPECT(query(&a, "dataLabelCritical2=odd"), ASSET_OK);
    assert_string_equal(aliases(), "a1,a3,a5");
    EXPECT(query(&a, "dataLabelCritical2=odd;dataLabelNormal1=v5"), ASSET_OK);
    assert_string_equal(aliases(), "a5");
    /* syncType: assets whose set contains every value given */
    EXPECT(query(&a, "syncType=THIS_DEVICE"), ASSET_OK);
    assert_string_equal(aliases(), "a0,a2,a5,a6");
    EXPECT(query(&a, "syncType=THIS_DEVICE,TRUSTED_DEVICE"), ASSET_OK);
    assert_string_equal(aliases(), "a2");
    EXPECT(query(&a, "syncType=TRUSTED_ACCOUNT"), ASSET_OK);
    assert_string_equal(aliases(), "a4,a5");
    EXPECT(query(&a, "syncType=TRUSTED_DEVICE,TRUSTED_ACCOUNT"), ASSET_NOT_FOUND);
    EXPECT(query(&a, "accessibility=DEVICE_FIRST_UNLOCKED;authType=NONE;isPersistent=false;"
                     "requirePasswordSet=false;wrapType=NEVER"),
           ASSET_OK);
    assert_int_equal(R.n, 7);
    EXPECT(query(&a, "accessibility=DEVICE_UNLOCKED"), ASSET_NOT_FOUND);
    EXPECT(query(&a, "isPersistent=true"), ASSET_NOT_FOUND);
    /* paging with a filter */
    EXPECT(query(&a, "syncType=THIS_DEVICE;limit=2"), ASSET_OK);
    assert_string_equal(aliases(), "a0,a2");
    EXPECT(query(&a, fmt("syncType=THIS_DEVICE;limit=2;cursor=%s", R.cursor)), ASSET_OK);
    assert_string_equal(aliases(), "a5,a6");
    assert_false(R.has_cursor);
    /* returnType=ALL with the alias filter */
    EXPECT(query(&a, "alias=a4;returnType=ALL"), ASSET_OK);
    assert_true(R.it[0].has_secret);
    /* another app sees none of it */
    EXPECT(query(&b, ""), ASSET_NOT_FOUND);
    principal_clear(&a);
    principal_clear(&b);
}

static void check_order_by(principal *a)
{
    /* ascending by bytes: "B" (0x42) < "_" (0x5f) < "a" (0x61) < "b" < "\xc3\xa9" (é);
     * ties ("a") in insertion order */
    EXPECT(query(a, "orderBy=dataLabelNormal3;dataLabelNormal4=sorted"), ASSET_OK);
    const char *all = aliases();
    assert_string_equal(all, "o2,o5,o1,o4,o0,o3");
    /* pages of 2 give the same sequence */
    char joined[256] = "";
    const char *cur = NULL;
    for (int page = 0; page < 4; page++) {
        EXPECT(query(a, cur ? fmt("orderBy=dataLabelNormal3;dataLabelNormal4=sorted;limit=2;"
                                  "cursor=%s",
                                  cur)
                            : "orderBy=dataLabelNormal3;dataLabelNormal4=sorted;limit=2"),
               ASSET_OK);
        strcat(joined, *joined ? "," : "");
        strcat(joined, aliases());
        if (!R.has_cursor)
            break;
        cur = fmt("%s", R.cursor);
    }
    assert_string_equal(joined, all);
}

static void add_order_fixture(principal *a)
{
    const char *v[] = {"b", "a", "B", "\xc3\xa9", "a", "_"};
    for (int i = 0; i < 6; i++)
        ADD_OK(a, fmt("alias=o%d;secret=%s;dataLabelNormal3=%s;dataLabelNormal4=sorted", i,
                      b64("s"), v[i]));
}

static void test_order_by(void **state)
{
    (void)state;
    device_t d;
    principal a;
    new_device(&d, NULL);
    app_on(&d, "com.example.order", NULL, false, &a);
    add_order_fixture(&a);
    check_order_by(&a);
    principal_clear(&a);
}

/* "ascending by bytes" must not depend on the database's default collation. The service
 * under test is swapped for one on a database whose default collation is ICU en-US; the
 * per-test teardown swaps back even when an assertion fails. */
static svc saved_svc;
static bool swapped;
static config icu_cfg;
static char icu_name[64];
static char *icu_url;

static void unswap(void)
{
    if (swapped) {
        svc_close(&S);
        S = saved_svc;
        swapped = false;
        config_free(&icu_cfg);
        setenv("DATABASE_URL", priv_url, 1);
    }
    if (icu_name[0]) {
        drop_db(icu_name);
        icu_name[0] = 0;
    }
    free(icu_url);
    icu_url = NULL;
}

static void test_order_by_bytes_non_c_collation(void **state)
{
    (void)state;
    unique_name(icu_name, sizeof icu_name, "assetd_ticu");
    icu_url = create_db(icu_name,
                        "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' ENCODING UTF8");
    assert_int_equal(db_migrate(icu_url, mig_dir), db_migrations_latest(mig_dir));
    char err[256];
    setenv("DATABASE_URL", icu_url, 1);
    if (config_load(&icu_cfg, CONFIG_NEED_MASTER_KEY | CONFIG_NEED_ADMIN_TOKEN, err, sizeof err) !=
        0)
        fail_msg("config_load: %s", err);
    svc s2;
    const char *why = NULL;
    if (svc_open(&s2, &icu_cfg, &why) != 0)
        fail_msg("svc_open on the ICU database: %s", why);
    saved_svc = S;
    S = s2;
    swapped = true;
    /* the database really sorts differently from bytes */
    PGconn *c = PQconnectdb(icu_url);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PGresult *r = sql(c,
                      "SELECT string_agg(x, ',' ORDER BY x) FROM (VALUES ('B'), ('_'), "
                      "('a')) v(x)",
                      0, NULL);
    char sorted[32];
    snprintf(sorted, sizeof sorted, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(c);
    assert_string_not_equal(sorted, "B,_,a");

    device_t d;
    principal a;
    new_device(&d, NULL);
    app_on(&d, "com.example.order", NULL, false, &a);
    add_order_fixture(&a);
    EXPECT(query(&a, "orderBy=dataLabelNormal3;dataLabelNormal4=sorted"), ASSET_OK);
    const char *got = aliases();
    if (strcmp(got, "o2,o5,o1,o4,o0,o3") != 0)
        fail_msg("orderBy in a database whose default collation is not C gave %s; ascending "
                 "by bytes is o2,o5,o1,o4,o0,o3 (ORDER BY and the keyset comparison need "
                 "COLLATE \"C\")",
                 got);
    check_order_by(&a); /* paging agrees too */
    principal_clear(&a);
}

/* ---- the encrypted store ---- */

static void test_encrypted_store(void **state)
{
    (void)state;
    device_t d, d2;
    principal a, a2;
    new_device(&d, NULL);
    new_device(&d2, NULL);
    app_on(&d, "com.example.enc", NULL, false, &a);
    app_on(&d2, "com.example.enc", NULL, false, &a2);
    ADD_OK(&a, fmt("alias=e1;secret=%s;requireAttrEncrypted=true;dataLabelCritical1=crit-plain;"
                   "dataLabelNormal1=norm-plain;dataLabelNormalLocal1=local-plain",
                   b64("enc")));
    ADD_OK(&a,
           fmt("alias=e2;secret=%s;requireAttrEncrypted=true;dataLabelNormal1=other", b64("enc2")));
    ADD_OK(&a2, fmt("alias=e1;secret=%s;requireAttrEncrypted=true;dataLabelNormal1=norm-plain",
                    b64("enc")));

    /* at rest: no label plaintext anywhere in the row; the columns hold blind indexes */
    const char *v[] = {d.id};
    PGresult *r = sql(priv_pg,
                      "SELECT c1, n1, l1, labels_sealed IS NOT NULL, "
                      "position('norm-plain'::bytea in labels_sealed), "
                      "position('crit-plain'::bytea in labels_sealed) "
                      "FROM assets WHERE device_id = $1 AND alias = 'e1'",
                      1, v);
    assert_int_equal(PQntuples(r), 1);
    for (int col = 0; col < 3; col++) {
        const char *x = PQgetvalue(r, 0, col);
        assert_int_equal(strlen(x), SEAL_INDEX_HEX_LEN);
        assert_null(strstr(x, "plain"));
    }
    assert_string_equal(PQgetvalue(r, 0, 3), "t");
    assert_string_equal(PQgetvalue(r, 0, 4), "0");
    assert_string_equal(PQgetvalue(r, 0, 5), "0");
    char n1_dev1[SEAL_INDEX_HEX_LEN + 1];
    snprintf(n1_dev1, sizeof n1_dev1, "%s", PQgetvalue(r, 0, 1));
    PQclear(r);
    /* the same label on another device has another index */
    const char *v2[] = {d2.id};
    r = sql(priv_pg, "SELECT n1 FROM assets WHERE device_id = $1 AND alias = 'e1'", 1, v2);
    assert_string_not_equal(PQgetvalue(r, 0, 0), n1_dev1);
    PQclear(r);

    /* filterable through the index, answered in plaintext */
    EXPECT(query(&a, "requireAttrEncrypted=true;dataLabelNormal1=norm-plain"), ASSET_OK);
    assert_string_equal(aliases(), "e1");
    assert_true(R.it[0].attr_enc);
    assert_string_equal(R.it[0].label[LABEL_CRITICAL], "crit-plain");
    assert_string_equal(R.it[0].label[LABEL_NORMAL], "norm-plain");
    assert_string_equal(R.it[0].label[LABEL_LOCAL], "local-plain");
    EXPECT(query(&a, "requireAttrEncrypted=true;dataLabelCritical1=crit-plain"), ASSET_OK);
    assert_string_equal(aliases(), "e1");
    EXPECT(query(&a, "requireAttrEncrypted=true;dataLabelNormal1=nope"), ASSET_NOT_FOUND);
    /* the index itself is not a value that matches */
    EXPECT(query(&a, fmt("requireAttrEncrypted=true;dataLabelNormal1=%s", n1_dev1)),
           ASSET_NOT_FOUND);
    /* a label in another slot does not match */
    EXPECT(query(&a, "requireAttrEncrypted=true;dataLabelNormal2=norm-plain"), ASSET_NOT_FOUND);
    /* the plain store does not see it */
    EXPECT(query(&a, "dataLabelNormal1=norm-plain"), ASSET_NOT_FOUND);
    EXPECT(query(&a, ""), ASSET_NOT_FOUND);
    EXPECT(query(&a, "requireAttrEncrypted=true"), ASSET_OK);
    assert_string_equal(aliases(), "e1,e2");
    EXPECT(get_one(&a, "e1", "requireAttrEncrypted=true;returnType=ALL"), ASSET_OK);
    assert_memory_equal(R.it[0].secret, "enc", 3);

    /* update re-indexes */
    EXPECT(update(&a, "e1", "requireAttrEncrypted=true", "dataLabelNormal1=renamed"), ASSET_OK);
    assert_string_equal(R.it[0].label[LABEL_NORMAL], "renamed");
    assert_string_equal(R.it[0].label[LABEL_CRITICAL], "crit-plain");
    EXPECT(query(&a, "requireAttrEncrypted=true;dataLabelNormal1=renamed"), ASSET_OK);
    assert_string_equal(aliases(), "e1");
    assert_string_equal(R.it[0].label[LABEL_LOCAL], "local-plain");
    EXPECT(query(&a, "requireAttrEncrypted=true;dataLabelNormal1=norm-plain"), ASSET_NOT_FOUND);
    EXPECT(get_one(&a, "e1", "requireAttrEncrypted=true;returnType=ALL"), ASSET_OK);
    assert_memory_equal(R.it[0].secret, "enc", 3);

    /* remove by an encrypted label */
    long removed = 0;
    EXPECT(remove_op(&a, OP_REMOVE, "requireAttrEncrypted=true;dataLabelCritical1=crit-plain",
                     &removed),
           ASSET_OK);
    assert_int_equal(removed, 1);
    EXPECT(query(&a, "requireAttrEncrypted=true"), ASSET_OK);
    assert_string_equal(aliases(), "e2");
    /* the other device's asset is untouched */
    EXPECT(query(&a2, "requireAttrEncrypted=true;dataLabelNormal1=norm-plain"), ASSET_OK);
    assert_string_equal(aliases(), "e1");
    principal_clear(&a);
    principal_clear(&a2);
}

/* ---- update ---- */

static void test_update(void **state)
{
    (void)state;
    device_t d;
    principal a, b;
    new_device(&d, NULL);
    app_on(&d, "com.example.upd", NULL, false, &a);
    app_on(&d, "com.example.upd2", NULL, false, &b);
    ADD_OK(&a, fmt("alias=u;secret=%s;dataLabelCritical1=c;dataLabelNormal1=n;"
                   "dataLabelNormalLocal1=l",
                   b64("s1")));
    int64_t t0 = R.it[0].update_ms;
    struct timespec ts = {0, 30 * 1000000};
    nanosleep(&ts, NULL);

    /* local labels only: updateTime unchanged */
    EXPECT(update(&a, "u", "", "dataLabelNormalLocal1=l2;dataLabelNormalLocal3=l3"), ASSET_OK);
    assert_int_equal(R.it[0].update_ms, t0);
    assert_string_equal(R.it[0].label[LABEL_LOCAL], "l2");
    assert_string_equal(R.it[0].label[LABEL_LOCAL + 2], "l3");
    EXPECT(get_one(&a, "u", "returnType=ALL"), ASSET_OK);
    assert_int_equal(R.it[0].update_ms, t0);
    assert_string_equal(R.it[0].label[LABEL_LOCAL], "l2");
    assert_string_equal(R.it[0].label[LABEL_CRITICAL], "c");
    assert_string_equal(R.it[0].label[LABEL_NORMAL], "n");
    assert_memory_equal(R.it[0].secret, "s1", 2);

    /* a normal label refreshes it */
    nanosleep(&ts, NULL);
    EXPECT(update(&a, "u", "", "dataLabelNormal2=n2"), ASSET_OK);
    int64_t t1 = R.it[0].update_ms;
    assert_true(t1 > t0);
    EXPECT(get_one(&a, "u", ""), ASSET_OK);
    assert_int_equal(R.it[0].update_ms, t1);
    assert_string_equal(R.it[0].label[LABEL_NORMAL + 1], "n2");
    assert_string_equal(R.it[0].label[LABEL_NORMAL], "n");

    /* the secret refreshes it, and is re-sealed */
    nanosleep(&ts, NULL);
    EXPECT(update(&a, "u", "", fmt("secret=%s", b64("second secret"))), ASSET_OK);
    assert_true(R.it[0].update_ms > t1);
    EXPECT(get_one(&a, "u", "returnType=ALL"), ASSET_OK);
    assert_int_equal(R.it[0].secret_len, 13);
    assert_memory_equal(R.it[0].secret, "second secret", 13);
    assert_string_equal(R.it[0].label[LABEL_CRITICAL], "c");
    assert_string_equal(R.it[0].label[LABEL_LOCAL], "l2");

    /* not found: unknown alias, another owner, the other store, a group it is not in */
    EXPECT(update(&a, "nope", "", "dataLabelNormal1=x"), ASSET_NOT_FOUND);
    EXPECT(update(&b, "u", "", "dataLabelNormal1=x"), ASSET_NOT_FOUND);
    EXPECT(update(&a, "u", "requireAttrEncrypted=true", "dataLabelNormal1=x"), ASSET_NOT_FOUND);
    EXPECT(update(&a, "u", "groupId=com.example.nogroup", "dataLabelNormal1=x"),
           ASSET_PERMISSION_DENIED);
    EXPECT(get_one(&a, "u", ""), ASSET_OK);
    assert_string_equal(R.it[0].label[LABEL_NORMAL], "n");
    principal_clear(&a);
    principal_clear(&b);
}

/* ---- remove ---- */

static void test_remove(void **state)
{
    (void)state;
    device_t d;
    principal a, b;
    new_device(&d, NULL);
    app_on(&d, "com.example.rm", NULL, false, &a);
    app_on(&d, "com.example.rm2", NULL, false, &b);
    ADD_OK(&a, fmt("alias=r1;secret=%s;dataLabelNormal1=x", b64("s")));
    ADD_OK(&a, fmt("alias=r2;secret=%s;dataLabelNormal1=x;syncType=TRUSTED_DEVICE", b64("s")));
    ADD_OK(&a, fmt("alias=r3;secret=%s;dataLabelNormal1=y", b64("s")));
    ADD_OK(&b, fmt("alias=r1;secret=%s;dataLabelNormal1=x", b64("s")));
    long removed = -1;
    /* the guard: selectors only */
    EXPECT(remove_op(&a, OP_REMOVE, "requireAttrEncrypted=false", &removed),
           ASSET_INVALID_ARGUMENT);
    EXPECT(remove_op(&a, OP_REMOVE, "dataLabelNormal1=x;syncType=TRUSTED_DEVICE", &removed),
           ASSET_OK);
    assert_int_equal(removed, 1);
    EXPECT(remove_op(&a, OP_REMOVE, "dataLabelNormal1=x", &removed), ASSET_OK);
    assert_int_equal(removed, 1);
    EXPECT(remove_op(&a, OP_REMOVE, "dataLabelNormal1=x", &removed), ASSET_NOT_FOUND);
    assert_int_equal(removed, 0);
    EXPECT(remove_op(&a, OP_REMOVE_ONE, "alias=r3", &removed), ASSET_OK);
    assert_int_equal(removed, 1);
    EXPECT(remove_op(&a, OP_REMOVE_ONE, "alias=r3", &removed), ASSET_NOT_FOUND);
    EXPECT(query(&a, ""), ASSET_NOT_FOUND);
    /* the other owner's asset of the same alias and label is untouched */
    EXPECT(get_one(&b, "r1", "returnType=ALL"), ASSET_OK);
    EXPECT(remove_op(&a, OP_REMOVE_ONE, "alias=r1;groupId=com.example.nogroup", &removed),
           ASSET_PERMISSION_DENIED);
    principal_clear(&a);
    principal_clear(&b);
}

/* ---- groups and permissions ---- */

static void test_groups_and_permissions(void **state)
{
    (void)state;
    device_t d, d2;
    principal a, b, c, p, b2;
    const char *G = "com.example.shared";
    new_device(&d, NULL);
    new_device(&d2, NULL);
    app_on(&d, "com.example.ga", fmt("[\"%s\"]", G), false, &a);
    app_on(&d, "com.example.gb", fmt("[\"%s\", \"com.example.other\"]", G), false, &b);
    app_on(&d, "com.example.gc", NULL, false, &c);
    app_on(&d, "com.example.gp", NULL, true, &p);
    app_on(&d2, "com.example.gb", fmt("[\"%s\"]", G), false, &b2);

    ADD_OK(&a, fmt("alias=ga;secret=%s;groupId=%s", b64("group secret"), G));
    EXPECT(get_one(&b, "ga", fmt("groupId=%s;returnType=ALL", G)), ASSET_OK);
    assert_true(R.it[0].has_group);
    assert_string_equal(R.it[0].owner, G);
    assert_memory_equal(R.it[0].secret, "group secret", 12);
    /* the group's store is not the app's own */
    EXPECT(get_one(&a, "ga", ""), ASSET_NOT_FOUND);
    EXPECT(get_one(&b, "ga", ""), ASSET_NOT_FOUND);
    /* not a member */
    EXPECT(add(&c, fmt("alias=gc;secret=%s;groupId=%s", b64("x"), G)), ASSET_PERMISSION_DENIED);
    EXPECT(get_one(&c, "ga", fmt("groupId=%s", G)), ASSET_PERMISSION_DENIED);
    EXPECT(query(&c, fmt("groupId=%s", G)), ASSET_PERMISSION_DENIED);
    /* the group on another device is another store */
    EXPECT(get_one(&b2, "ga", fmt("groupId=%s", G)), ASSET_NOT_FOUND);
    /* a member updates and removes */
    EXPECT(update(&b, "ga", fmt("groupId=%s", G), "dataLabelNormal1=by-b"), ASSET_OK);
    EXPECT(get_one(&a, "ga", fmt("groupId=%s", G)), ASSET_OK);
    assert_string_equal(R.it[0].label[LABEL_NORMAL], "by-b");

    /* isPersistent needs the permission */
    EXPECT(add(&a, fmt("alias=pp;secret=%s;isPersistent=true", b64("x"))), ASSET_PERMISSION_DENIED);
    EXPECT(get_one(&a, "pp", ""), ASSET_NOT_FOUND);
    ADD_OK(&a, fmt("alias=pf;secret=%s;isPersistent=false", b64("x"))); /* only true needs it */
    ADD_OK(&p, fmt("alias=pp;secret=%s;isPersistent=true", b64("x")));
    EXPECT(get_one(&p, "pp", ""), ASSET_OK);
    assert_true(R.it[0].persistent);
    principal_clear(&a);
    principal_clear(&b);
    principal_clear(&c);
    principal_clear(&p);
    principal_clear(&b2);
}

/* ---- uninstall ---- */

static long count_alias(const char *device_id, const char *alias)
{
    const char *v[] = {device_id, alias};
    return sql_long(priv_pg, "SELECT count(*) FROM assets WHERE device_id = $1 AND alias = $2", 2,
                    v);
}

static void test_uninstall(void **state)
{
    (void)state;
    device_t d, d2;
    principal a, b, a2, a_again;
    const char *G = "com.example.ugroup";
    char atok[SEAL_TOKEN_TEXT_LEN];
    new_device(&d, NULL);
    new_device(&d2, NULL);
    install(&d, "com.example.ua", fmt("[\"%s\"]", G), true, atok);
    auth(atok, &a);
    app_on(&d, "com.example.ub", fmt("[\"%s\"]", G), false, &b);
    app_on(&d2, "com.example.ua", NULL, false, &a2);

    ADD_OK(&a, fmt("alias=plain;secret=%s", b64("p")));
    ADD_OK(&a, fmt("alias=tdev;secret=%s;syncType=THIS_DEVICE,TRUSTED_DEVICE", b64("t")));
    ADD_OK(&a, fmt("alias=persist;secret=%s;isPersistent=true", b64("kept-1")));
    ADD_OK(&a, fmt("alias=tacct;secret=%s;syncType=TRUSTED_ACCOUNT", b64("kept-2")));
    ADD_OK(&a, fmt("alias=tacct2;secret=%s;syncType=THIS_DEVICE,TRUSTED_ACCOUNT", b64("kept-3")));
    ADD_OK(&a, fmt("alias=encp;secret=%s;requireAttrEncrypted=true", b64("e")));
    ADD_OK(&a, fmt("alias=grp;secret=%s;groupId=%s", b64("g"), G));
    ADD_OK(&a2, fmt("alias=plain;secret=%s", b64("other device")));

    EXPECT(devices_uninstall(&S, d.id, "com.example.ua"), ASSET_OK);
    principal gone;
    EXPECT(svc_authenticate(&S, atok, strlen(atok), &gone), ASSET_PERMISSION_DENIED);
    assert_int_equal(count_alias(d.id, "plain"), 0);
    assert_int_equal(count_alias(d.id, "tdev"), 0);
    assert_int_equal(count_alias(d.id, "encp"), 0);
    assert_int_equal(count_alias(d.id, "persist"), 1);
    assert_int_equal(count_alias(d.id, "tacct"), 1);
    assert_int_equal(count_alias(d.id, "tacct2"), 1);
    /* the group's asset stays while another app of the group is installed */
    assert_int_equal(count_alias(d.id, "grp"), 1);
    EXPECT(get_one(&b, "grp", fmt("groupId=%s;returnType=ALL", G)), ASSET_OK);
    /* the app on another device is untouched */
    assert_int_equal(count_alias(d2.id, "plain"), 1);
    EXPECT(get_one(&a2, "plain", "returnType=ALL"), ASSET_OK);

    /* reinstalled: the kept assets are its own again, intact */
    app_on(&d, "com.example.ua", NULL, false, &a_again);
    EXPECT(query(&a_again, ""), ASSET_OK);
    assert_string_equal(aliases(), "persist,tacct,tacct2");
    EXPECT(get_one(&a_again, "persist", "returnType=ALL"), ASSET_OK);
    assert_memory_equal(R.it[0].secret, "kept-1", 6);
    EXPECT(get_one(&a_again, "tacct", "returnType=ALL"), ASSET_OK);
    assert_memory_equal(R.it[0].secret, "kept-2", 6);
    EXPECT(get_one(&a_again, "plain", ""), ASSET_NOT_FOUND);

    /* the last app of the group goes: so does the group's asset */
    EXPECT(devices_uninstall(&S, d.id, "com.example.ub"), ASSET_OK);
    assert_int_equal(count_alias(d.id, "grp"), 0);
    assert_int_equal(count_alias(d.id, "persist"), 1);
    principal_clear(&a);
    principal_clear(&b);
    principal_clear(&a2);
    principal_clear(&a_again);
}

/* ---- tamper detection ---- */

typedef struct {
    const char *what;
    const char *add2;   /* spec of the victim row "t1" (secret added) */
    const char *sql;    /* the tampering; $1 device id, $2 owner */
    const char *reader; /* "self", "other" (second app of the device), "moved" (app on d2) */
    const char *sel;    /* selectors for the read */
} tamper_case;

static void test_tamper_detection(void **state)
{
    (void)state;
    const tamper_case cases[] = {
        {"alias renamed", "",
         "UPDATE assets SET alias = 't9' WHERE device_id = $1 AND owner = $2 "
         "AND alias = 't1'",
         "self-t9", ""},
        {"owner changed", "",
         "UPDATE assets SET owner = $2 || '.other' WHERE device_id = $1 AND owner = $2 AND "
         "alias = 't1'",
         "other", ""},
        {"critical label changed", ";dataLabelCritical1=genuine",
         "UPDATE assets SET c1 = 'forged' WHERE device_id = $1 AND owner = $2 AND alias = 't1'",
         "self", ""},
        {"critical label added", "",
         "UPDATE assets SET c2 = 'forged' WHERE device_id = $1 AND owner = $2 AND alias = 't1'",
         "self", ""},
        {"critical label removed", ";dataLabelCritical4=genuine",
         "UPDATE assets SET c4 = NULL WHERE device_id = $1 AND owner = $2 AND alias = 't1'", "self",
         ""},
        {"accessibility downgraded", ";accessibility=DEVICE_UNLOCKED",
         "UPDATE assets SET accessibility = 0 WHERE device_id = $1 AND owner = $2 AND "
         "alias = 't1'",
         "self", ""},
        {"requirePasswordSet changed", "",
         "UPDATE assets SET req_pwd = true WHERE device_id = $1 AND owner = $2 AND alias = 't1'",
         "self", ""},
        {"authType ANY -> NONE", ";authType=ANY",
         "UPDATE assets SET auth_type = 0 WHERE device_id = $1 AND owner = $2 AND alias = 't1'",
         "self", ""},
        {"syncType changed", "",
         "UPDATE assets SET sync_type = 2 WHERE device_id = $1 AND owner = $2 AND alias = 't1'",
         "self", ""},
        {"isPersistent changed", "",
         "UPDATE assets SET persistent = true WHERE device_id = $1 AND owner = $2 AND "
         "alias = 't1'",
         "self", ""},
        {"wrapType changed", "",
         "UPDATE assets SET wrap_type = 1 WHERE device_id = $1 AND owner = $2 AND alias = 't1'",
         "self", ""},
        {"sealed copied from another row", "",
         "UPDATE assets SET sealed = (SELECT sealed FROM assets WHERE device_id = $1 AND "
         "owner = $2 AND alias = 't2') WHERE device_id = $1 AND owner = $2 AND alias = 't1'",
         "self", ""},
        {"moved to another device", "",
         "UPDATE assets SET device_id = (SELECT device_id FROM installations WHERE app_id = $2 "
         "AND device_id <> $1) WHERE device_id = $1 AND owner = $2 AND alias = 't1'",
         "moved", ""},
        {"key version changed", "",
         "UPDATE assets SET key_version = key_version + 1 WHERE device_id = $1 AND owner = $2 "
         "AND alias = 't1'",
         "self", ""},
        {"attr_enc flipped", "",
         "UPDATE assets SET attr_enc = true WHERE device_id = $1 AND owner = $2 AND alias = 't1'",
         "self", "requireAttrEncrypted=true"},
        {"encrypted labels copied from another row", ";requireAttrEncrypted=true",
         "UPDATE assets SET labels_sealed = (SELECT labels_sealed FROM assets WHERE "
         "device_id = $1 AND owner = $2 AND alias = 't2') WHERE device_id = $1 AND owner = $2 "
         "AND alias = 't1'",
         "self", "requireAttrEncrypted=true"},
        {"encrypted labels flipped byte", ";requireAttrEncrypted=true;dataLabelNormal1=x",
         "UPDATE assets SET labels_sealed = set_byte(labels_sealed, 30, get_byte(labels_sealed, "
         "30) # 1) WHERE device_id = $1 AND owner = $2 AND alias = 't1'",
         "self", "requireAttrEncrypted=true"},
        {"sealed flipped byte", "",
         "UPDATE assets SET sealed = set_byte(sealed, 40, get_byte(sealed, 40) # 128) WHERE "
         "device_id = $1 AND owner = $2 AND alias = 't1'",
         "self", ""},
    };
    device_t d, d2;
    new_device(&d, NULL);
    new_device(&d2, NULL);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const tamper_case *tc = &cases[i];
        const char *app = fmt("com.example.tamper%zu", i);
        principal self, other, moved;
        app_on(&d, app, NULL, false, &self);
        app_on(&d, fmt("%s.other", app), NULL, false, &other);
        app_on(&d2, app, NULL, false, &moved);
        const char *enc =
            strstr(tc->add2, "requireAttrEncrypted=true") ? ";requireAttrEncrypted=true" : "";
        ADD_OK(&self, fmt("alias=t1;secret=%s%s", b64("victim"), tc->add2));
        ADD_OK(&self, fmt("alias=t2;secret=%s%s;dataLabelNormal2=y", b64("donor"), enc));
        const char *v[] = {d.id, app};
        PGresult *r = sql(priv_pg, tc->sql, 2, v);
        if (atol(PQcmdTuples(r)) != 1)
            fail_msg("%s: the tampering SQL changed %s rows", tc->what, PQcmdTuples(r));
        PQclear(r);

        principal *reader = &self;
        const char *alias = "t1";
        if (strcmp(tc->reader, "other") == 0)
            reader = &other;
        else if (strcmp(tc->reader, "moved") == 0)
            reader = &moved;
        else if (strcmp(tc->reader, "self-t9") == 0)
            alias = "t9";
        const char *sel = tc->sel;
        /* by alias (the prepared single-row path), attributes and secret */
        asset_err e1 = get_one(reader, alias, sel);
        asset_err e2 = get_one(reader, alias, fmt("%s%sreturnType=ALL", sel, *sel ? ";" : ""));
        /* as part of a listing (the filtered path) */
        asset_err e3 = query(reader, sel);
        if (e1 != ASSET_DATA_CORRUPTED || e2 != ASSET_DATA_CORRUPTED || e3 != ASSET_DATA_CORRUPTED)
            fail_msg("%s: reads gave %s / %s / %s, want DATA_CORRUPTED", tc->what,
                     asset_err_name(e1), asset_err_name(e2), asset_err_name(e3));
        /* update must not launder a tampered row */
        asset_err e4 = update(reader, alias, sel, "dataLabelNormalLocal1=z");
        if (e4 != ASSET_DATA_CORRUPTED)
            fail_msg("%s: update gave %s, want DATA_CORRUPTED", tc->what, asset_err_name(e4));
        principal_clear(&self);
        principal_clear(&other);
        principal_clear(&moved);
    }
    /* and an untouched row of the same kind reads fine (the checks above are not vacuous) */
    principal ok;
    app_on(&d, "com.example.tamper-control", NULL, false, &ok);
    ADD_OK(&ok, fmt("alias=t1;secret=%s;dataLabelCritical1=genuine;authType=NONE", b64("v")));
    EXPECT(get_one(&ok, "t1", "returnType=ALL"), ASSET_OK);
    EXPECT(query(&ok, ""), ASSET_OK);
    /* a normal label is not integrity-protected: changing it by SQL is not corruption */
    const char *v[] = {d.id};
    sql_do(priv_pg,
           "UPDATE assets SET n1 = 'changed' WHERE device_id = $1 AND owner = "
           "'com.example.tamper-control'",
           1, v);
    EXPECT(get_one(&ok, "t1", "returnType=ALL"), ASSET_OK);
    assert_string_equal(R.it[0].label[LABEL_NORMAL], "changed");
    principal_clear(&ok);
}

int main(void)
{
    test_url = getenv("TEST_DATABASE_URL");
    if (!test_url || !*test_url) {
        fprintf(stderr, "test_store: TEST_DATABASE_URL is not set: this test needs a real "
                        "PostgreSQL (tests/run.sh sets it)\n");
        return 1;
    }
    mig_dir = getenv("ASSETD_MIGRATIONS_DIR");
    if (!mig_dir || !*mig_dir)
        mig_dir = "migrations";
    if (db_migrations_latest(mig_dir) < 1) {
        fprintf(stderr, "test_store: no migrations in %s (set ASSETD_MIGRATIONS_DIR)\n", mig_dir);
        return 1;
    }
#define SVC_TEST(t) cmocka_unit_test_setup_teardown(t, svc_setup, test_teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_migrations_idempotent, test_teardown),
        cmocka_unit_test_teardown(test_migrate_concurrent_fresh_db, test_teardown),
        SVC_TEST(test_authenticate),
        SVC_TEST(test_add_query_conflicts),
        SVC_TEST(test_access_rules_password),
        SVC_TEST(test_access_rules_locked),
        SVC_TEST(test_query_paging),
        SVC_TEST(test_order_by),
        SVC_TEST(test_order_by_bytes_non_c_collation),
        SVC_TEST(test_encrypted_store),
        SVC_TEST(test_update),
        SVC_TEST(test_remove),
        SVC_TEST(test_groups_and_permissions),
        SVC_TEST(test_uninstall),
        SVC_TEST(test_tamper_detection),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
