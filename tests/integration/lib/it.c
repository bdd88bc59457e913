/* it: what the integration tests share (see it.h). Who frees what: the private database, its
 * connection and the service live for the whole binary (it_group_teardown); request text in
 * `mem` and a swapped service for one test (test_teardown). */
#include "it.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *test_url;
const char *mig_dir;
PGconn *admin_pg;
PGconn *priv_pg;
svc S;
const char *const admin_token = "integration-admin-token-0123456789";
arena mem;

/* The private database of the service tests. */
static char priv_name[64];
static char *priv_url;
static config cfg;
static bool svc_up;

static void unswap(void);

/* The binary's name, for messages. */
static const char *prog = "integration test";

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

PGresult *sql(PGconn *c, const char *q, int n, const char *const *vals)
{
    PGresult *r = PQexecParams(c, q, n, NULL, vals, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        fail_msg("SQL failed: %s\n%s", q, PQerrorMessage(c));
    return r;
}

void sql_do(PGconn *c, const char *q, int n, const char *const *vals)
{
    PQclear(sql(c, q, n, vals));
}

long sql_long(PGconn *c, const char *q, int n, const char *const *vals)
{
    PGresult *r = sql(c, q, n, vals);
    assert_int_equal(PQntuples(r), 1);
    long v = atol(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

/* Creates a database on the test server; returns its conninfo (malloc'd). */
char *create_db(const char *name, const char *options)
{
    char q[512];
    snprintf(q, sizeof q, "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)", name);
    sql_do(admin_pg, q, 0, NULL);
    snprintf(q, sizeof q, "CREATE DATABASE \"%s\" %s", name, options ? options : "");
    sql_do(admin_pg, q, 0, NULL);
    return conninfo_for(admin_pg, name);
}

void drop_db(const char *name)
{
    char q[256];
    snprintf(q, sizeof q, "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)", name);
    PQclear(PQexec(admin_pg, q));
}

void unique_name(char *out, size_t n, const char *prefix)
{
    snprintf(out, n, "%s_%d_%08x", prefix, (int)getpid(), (unsigned)randombytes_random());
}

/* ---- request helpers ---- */

asset_err build(asset_req *r, asset_op op, const char *spec)
{
    const char *why = NULL, *field = NULL;
    asset_req_init(r);
    char *copy = arena_strndup(&mem, spec, strlen(spec));
    assert_non_null(copy);
    char *save = NULL;
    for (char *kv = strtok_r(copy, ";", &save); kv; kv = strtok_r(NULL, ";", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq)
            fail_msg("bad spec kv %s", kv);
        *eq = 0;
        const char *val = eq + 1;
        int f = asset_field_by_name(kv, strlen(kv));
        if (f < 0)
            fail_msg("no field %s", kv);
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
            fail_msg("setting %s=%s: %s", kv, val, why);
    }
    return asset_req_finish(r, op, &field, &why);
}

const char *b64(const char *text)
{
    size_t n = strlen(text);
    size_t cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
    char *out = arena_alloc(&mem, cap);
    assert_non_null(out);
    sodium_bin2base64(out, cap, (const unsigned char *)text, n, sodium_base64_VARIANT_ORIGINAL);
    return out;
}

const char *fmt(const char *f, ...)
{
    char *out = arena_alloc(&mem, 4096);
    va_list ap;
    va_start(ap, f);
    vsnprintf(out, 4096, f, ap);
    va_end(ap);
    return out;
}

result R;

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

asset_err add(const principal *p, const char *spec)
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

asset_err query_op(const principal *p, asset_op op, const char *spec)
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

asset_err query(const principal *p, const char *spec)
{
    return query_op(p, OP_QUERY, spec);
}

/* GET /assets/{alias} with selectors. */
asset_err get_one(const principal *p, const char *alias, const char *sel)
{
    return query_op(p, OP_GET_ONE, fmt("alias=%s%s%s", alias, *sel ? ";" : "", sel));
}

asset_err update(const principal *p, const char *alias, const char *sel, const char *upd)
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

asset_err remove_op(const principal *p, asset_op op, const char *spec, long *removed)
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
const char *aliases(void)
{
    char *out = arena_alloc(&mem, 4096);
    size_t len = 0;
    for (int i = 0; i < R.n; i++)
        len += (size_t)snprintf(out + len, 4096 - len, "%s%s", i ? "," : "", R.it[i].alias);
    return out;
}

/* ---- devices and apps ---- */

void new_device(device_t *d, const char *account)
{
    EXPECT(devices_register(&S, "test-device", account, NULL, d->id, d->token), ASSET_OK);
    assert_true(uuid_valid(d->id, strlen(d->id)));
}

void install(const device_t *d, const char *app, const char *groups, bool perm,
             char token[SEAL_TOKEN_TEXT_LEN])
{
    EXPECT(devices_install(&S, d->id, app, groups ? groups : "[]", perm, token), ASSET_OK);
}

void auth(const char *token, principal *p)
{
    EXPECT(svc_authenticate(&S, token, strlen(token), p), ASSET_OK);
}

/* An app installed on a device, authenticated. */
void app_on(const device_t *d, const char *app, const char *groups, bool perm, principal *p)
{
    char tok[SEAL_TOKEN_TEXT_LEN];
    install(d, app, groups, perm, tok);
    auth(tok, p);
}

void set_state(const device_t *d, bool pwd, bool locked, bool since_boot)
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

static int it_group_setup(void **state)
{
    (void)state;
    if (sodium_init() < 0)
        return -1;
    admin_pg = PQconnectdb(test_url);
    if (PQstatus(admin_pg) != CONNECTION_OK) {
        fprintf(stderr, "%s: cannot connect to TEST_DATABASE_URL: %s", prog,
                PQerrorMessage(admin_pg));
        return -1;
    }
    PQsetNoticeProcessor(admin_pg, quiet_notice, NULL);
    return 0;
}

static int it_group_teardown(void **state)
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
int svc_setup(void **state)
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
        fprintf(stderr, "%s: config_load: %s\n", prog, err);
        return -1;
    }
    const char *why = NULL;
    if (svc_open(&S, &cfg, &why) != 0) {
        fprintf(stderr, "%s: svc_open: %s\n", prog, why);
        return -1;
    }
    svc_up = true;
    return 0;
}

int test_teardown(void **state)
{
    (void)state;
    unswap();
    arena_free(&mem);
    return 0;
}

/* ---- another database for one test ---- */

static svc saved_svc;
static bool swapped;
static config swap_cfg;
static char swap_name[64];
static char *swap_url;

static void unswap(void)
{
    if (swapped) {
        svc_close(&S);
        S = saved_svc;
        swapped = false;
        config_free(&swap_cfg);
        setenv("DATABASE_URL", priv_url, 1);
    }
    if (swap_name[0]) {
        drop_db(swap_name);
        swap_name[0] = 0;
    }
    free(swap_url);
    swap_url = NULL;
}

const char *swap_db_create(const char *prefix, const char *options)
{
    unique_name(swap_name, sizeof swap_name, prefix);
    swap_url = create_db(swap_name, options);
    return swap_url;
}

void swap_svc_to(const char *url)
{
    char err[256];
    setenv("DATABASE_URL", url, 1);
    if (config_load(&swap_cfg, CONFIG_NEED_MASTER_KEY | CONFIG_NEED_ADMIN_TOKEN, err, sizeof err) !=
        0)
        fail_msg("config_load: %s", err);
    svc s2;
    const char *why = NULL;
    if (svc_open(&s2, &swap_cfg, &why) != 0)
        fail_msg("svc_open on %s: %s", url, why);
    saved_svc = S;
    S = s2;
    swapped = true;
}

int it_main(const char *name, const struct CMUnitTest *tests, size_t n)
{
    prog = name;
    test_url = getenv("TEST_DATABASE_URL");
    if (!test_url || !*test_url) {
        fprintf(stderr,
                "%s: TEST_DATABASE_URL is not set: this test needs a real PostgreSQL "
                "(tests/run.sh sets it)\n",
                prog);
        return 1;
    }
    mig_dir = getenv("ASSETD_MIGRATIONS_DIR");
    if (!mig_dir || !*mig_dir)
        mig_dir = "migrations";
    if (db_migrations_latest(mig_dir) < 1) {
        fprintf(stderr, "%s: no migrations in %s (set ASSETD_MIGRATIONS_DIR)\n", prog, mig_dir);
        return 1;
    }
    return _cmocka_run_group_tests(name, tests, n, it_group_setup, it_group_teardown);
}
