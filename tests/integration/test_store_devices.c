/* test_store_devices: the store modules of devices, tokens, challenges, wrapped keys and device
 * removal (service/store/store_devices.c, store_challenges.c, store_keys.c, store_removal.c)
 * called directly on one connection, in a database of their own: what each returns as a typed
 * row, and the answers the operations build on (NOT_FOUND, an install that inserts nothing,
 * UNAUTHENTICATED after a token change, a re-wrap guarded by its old version), and the
 * generations that tell a remembered principal from a stale one (migration 0012). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../service/store/db.h"
#include "../../service/store/store_challenges.h"
#include "../../service/store/store_devices.h"
#include "../../service/store/store_keys.h"
#include "../../service/store/store_removal.h"
#include "../lib/testlib.h"

#define DEV_A "5e1f0b7e-0000-4000-8000-0000000000a1"
#define DEV_B "5e1f0b7e-0000-4000-8000-0000000000b2"
#define NO_DEV "5e1f0b7e-0000-4000-8000-00000000dead"

static char db_name[64];
static char *db_url;
static db_conn C;

static int setup(void **st)
{
    (void)st;
    char q[256];
    tl_unique(db_name, sizeof db_name, "storedev");
    for (char *p = db_name; *p; p++)
        if (*p == '-')
            *p = '_';
    snprintf(q, sizeof q, "CREATE DATABASE %s", db_name);
    PQclear(tl_db_exec(q, NULL));
    const char *url = getenv("TEST_DATABASE_URL"), *query = strchr(url, '?');
    assert_non_null(query);
    db_url = malloc(strlen(url) + 80);
    sprintf(db_url, "postgresql:///%s%s", db_name, query);
    const char *mig = getenv("ASSETD_MIGRATIONS_DIR");
    assert_true(db_migrate(db_url, mig && *mig ? mig : "migrations") > 0);
    C.timeout_ms = 5000;
    assert_int_equal(db_connect(db_url, C.timeout_ms, &C.pg), ASSET_OK);
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    char q[256];
    PQfinish(C.pg);
    snprintf(q, sizeof q, "DROP DATABASE IF EXISTS %s WITH (FORCE)", db_name);
    PQclear(tl_db_exec(q, NULL));
    free(db_url);
    return 0;
}

/* The count a `SELECT count(*) ... $1` returns in the test's database. */
static long count_of(const char *sql, const char *arg)
{
    PGresult *r = NULL;
    const char *vals[] = {arg};
    assert_int_equal(db_exec(&C, sql, 1, vals, NULL, NULL, &r), ASSET_OK);
    long n = atol(PQgetvalue(r, 0, 0));
    PQclear(r);
    return n;
}

/* A wrapped key of recognisable bytes (nothing here unwraps). */
static store_wrapped_key key_of(unsigned char fill, int kek)
{
    store_wrapped_key k = {.kek_version = kek, .len = SEAL_WRAPPED_KEY_LEN};
    memset(k.wrapped, fill, sizeof k.wrapped);
    return k;
}

static void hash_of(unsigned char th[SEAL_TOKEN_HASH_LEN], unsigned char fill)
{
    memset(th, fill, SEAL_TOKEN_HASH_LEN);
}

/* Device id registered with token hash fill `t` and data key fill `k`. */
static void new_device(const char *id, unsigned char t, unsigned char k)
{
    unsigned char th[SEAL_TOKEN_HASH_LEN];
    store_wrapped_key dek = key_of(k, 1);
    hash_of(th, t);
    assert_int_equal(store_device_insert(&C, id, "phone", NULL, th, NULL, &dek), ASSET_OK);
}

static void install(const char *device_id, const char *app, unsigned char t, const char *groups,
                    bool expect_inserted)
{
    unsigned char th[SEAL_TOKEN_HASH_LEN];
    bool inserted = !expect_inserted;
    hash_of(th, t);
    assert_int_equal(store_installation_insert(&C, device_id, app, th, groups, false, &inserted),
                     ASSET_OK);
    assert_int_equal(inserted, expect_inserted);
}

static void test_device_rows(void **st)
{
    (void)st;
    store_device d;
    unsigned char pk[STORE_USER_AUTH_PK_LEN];
    memset(pk, 0x5a, sizeof pk);
    new_device(DEV_A, 0x01, 0x11);

    assert_int_equal(store_device_get(&C, DEV_A, &d), ASSET_OK);
    assert_string_equal(d.id, DEV_A);
    assert_string_equal(d.name, "phone");
    assert_false(d.has_account);
    assert_false(d.has_pk);

    device_state s = {.lock_screen_password_set = true, .screen_locked = true};
    assert_int_equal(store_device_set_state(&C, DEV_A, &s, &d), ASSET_OK);
    assert_true(d.state.lock_screen_password_set);
    assert_true(d.state.screen_locked);
    assert_false(d.state.unlocked_since_boot);

    assert_int_equal(store_device_set_auth_key(&C, DEV_A, pk, &d), ASSET_OK);
    assert_true(d.has_pk);
    assert_memory_equal(d.pk, pk, sizeof pk);
    assert_int_equal(store_device_get(&C, DEV_A, &d), ASSET_OK);
    assert_true(d.has_pk && d.state.screen_locked);
    assert_int_equal(store_device_set_auth_key(&C, DEV_A, NULL, &d), ASSET_OK);
    assert_false(d.has_pk);

    assert_int_equal(store_device_get(&C, NO_DEV, &d), ASSET_NOT_FOUND);
    assert_int_equal(store_device_set_state(&C, NO_DEV, &s, &d), ASSET_NOT_FOUND);
    /* The same id again: the unique key answers. */
    unsigned char th[SEAL_TOKEN_HASH_LEN];
    store_wrapped_key dek = key_of(0x12, 1);
    hash_of(th, 0x02);
    assert_int_equal(store_device_insert(&C, DEV_A, "again", NULL, th, NULL, &dek),
                     ASSET_DUPLICATED);
}

static void test_token_owners_and_hold(void **st)
{
    (void)st;
    unsigned char th[SEAL_TOKEN_HASH_LEN], fresh[SEAL_TOKEN_HASH_LEN];
    store_token_owner o;
    new_device(DEV_B, 0x21, 0x22);
    install(DEV_B, "com.example.app", 0x23, "[\"g1\",\"g2\"]", true);
    install(DEV_B, "com.example.app", 0x24, "[]", false);  /* installed already */
    install(NO_DEV, "com.example.app", 0x25, "[]", false); /* no such device */

    hash_of(th, 0x23);
    assert_int_equal(store_token_owner_get(&C, th, &o), ASSET_OK);
    assert_true(o.installation);
    assert_string_equal(o.device_id, DEV_B);
    assert_string_equal(o.app_id, "com.example.app");
    assert_true(o.installation_id > 0);
    assert_non_null(o.groups_json);
    assert_string_equal(o.groups_json, "[\"g1\",\"g2\"]");
    assert_int_equal(o.dek_version, 1);
    store_wrapped_key dek = key_of(0x22, 1);
    assert_int_equal(o.dek.kek_version, 1);
    assert_int_equal(o.dek.len, SEAL_WRAPPED_KEY_LEN);
    assert_memory_equal(o.dek.wrapped, dek.wrapped, SEAL_WRAPPED_KEY_LEN);
    int64_t inst = o.installation_id;
    store_token_owner_clear(&o);

    hash_of(th, 0x21);
    assert_int_equal(store_token_owner_get(&C, th, &o), ASSET_OK);
    assert_false(o.installation);
    assert_null(o.groups_json);
    assert_string_equal(o.device_id, DEV_B);
    store_token_owner_clear(&o);
    hash_of(th, 0x7f);
    assert_int_equal(store_token_owner_get(&C, th, &o), ASSET_NOT_FOUND);

    /* The hold: granted with the current token, refused once it changed. */
    hash_of(th, 0x23);
    assert_int_equal(db_begin(&C), ASSET_OK);
    assert_int_equal(store_installation_hold(&C, DEV_B, inst, th), ASSET_OK);
    assert_int_equal(db_commit(&C), ASSET_OK);
    hash_of(fresh, 0x26);
    assert_int_equal(store_installation_set_token(&C, DEV_B, "com.example.app", fresh), ASSET_OK);
    assert_int_equal(db_begin(&C), ASSET_OK);
    assert_int_equal(store_installation_hold(&C, DEV_B, inst, th), ASSET_UNAUTHENTICATED);
    db_rollback(&C);
    assert_int_equal(store_installation_set_token(&C, DEV_B, "com.example.none", fresh),
                     ASSET_NOT_FOUND);
    assert_int_equal(store_device_set_token(&C, NO_DEV, fresh), ASSET_NOT_FOUND);
    hash_of(fresh, 0x27);
    assert_int_equal(store_device_set_token(&C, DEV_B, fresh), ASSET_OK);
    assert_int_equal(store_token_owner_get(&C, fresh, &o), ASSET_OK);
    assert_false(o.installation);
    store_token_owner_clear(&o);

    /* Uninstall: once, then NOT_FOUND. */
    assert_int_equal(db_begin(&C), ASSET_OK);
    assert_int_equal(store_installation_remove(&C, DEV_B, "com.example.app"), ASSET_OK);
    assert_int_equal(db_commit(&C), ASSET_OK);
    assert_int_equal(store_installation_remove(&C, DEV_B, "com.example.app"), ASSET_NOT_FOUND);
}

static void test_keys(void **st)
{
    (void)st;
    store_wrapped_key k, first = key_of(0x31, 1), second = key_of(0x32, 1);
    assert_int_equal(store_service_key_get(&C, "test-key", &k), ASSET_NOT_FOUND);
    assert_int_equal(store_service_key_put(&C, "test-key", &first), ASSET_OK);
    assert_int_equal(store_service_key_put(&C, "test-key", &second), ASSET_OK);
    assert_int_equal(store_service_key_get(&C, "test-key", &k), ASSET_OK);
    assert_memory_equal(k.wrapped, first.wrapped, SEAL_WRAPPED_KEY_LEN); /* the first stays */

    new_device("5e1f0b7e-0000-4000-8000-0000000000c3", 0x33, 0x34);
    assert_int_equal(store_device_key_get(&C, "5e1f0b7e-0000-4000-8000-0000000000c3", 1, &k),
                     ASSET_OK);
    assert_int_equal(k.kek_version, 1);
    assert_int_equal(store_device_key_get(&C, "5e1f0b7e-0000-4000-8000-0000000000c3", 2, &k),
                     ASSET_NOT_FOUND);

    /* Rotation to version 2: every key is stale; each is written back once, guarded by its old
     * version, and then none is left. */
    store_stale_key *batch = calloc(STORE_STALE_BATCH, sizeof *batch);
    int n = 0;
    assert_non_null(batch);
    assert_int_equal(store_keys_stale(&C, STORE_KEYS_DEVICE, 2, batch, &n), ASSET_OK);
    assert_true(n >= 1);
    int mine = -1;
    for (int i = 0; i < n; i++)
        if (strcmp(batch[i].id, "5e1f0b7e-0000-4000-8000-0000000000c3") == 0)
            mine = i;
    assert_true(mine >= 0);
    assert_int_equal(batch[mine].version, 1);
    assert_memory_equal(batch[mine].key.wrapped, key_of(0x34, 1).wrapped, SEAL_WRAPPED_KEY_LEN);
    store_wrapped_key v2 = key_of(0x35, 2);
    long written = -1;
    for (int i = 0; i < n; i++) {
        assert_int_equal(store_keys_rewrap(&C, STORE_KEYS_DEVICE, &batch[i], &v2, &written),
                         ASSET_OK);
        assert_int_equal(written, 1);
    }
    assert_int_equal(store_keys_rewrap(&C, STORE_KEYS_DEVICE, &batch[mine], &v2, &written),
                     ASSET_OK);
    assert_int_equal(written, 0); /* its old version is gone */
    assert_int_equal(store_keys_stale(&C, STORE_KEYS_DEVICE, 2, batch, &n), ASSET_OK);
    assert_int_equal(n, 0);
    assert_int_equal(store_device_key_get(&C, "5e1f0b7e-0000-4000-8000-0000000000c3", 1, &k),
                     ASSET_OK);
    assert_int_equal(k.kek_version, 2);

    assert_int_equal(store_keys_stale(&C, STORE_KEYS_SERVICE, 2, batch, &n), ASSET_OK);
    assert_true(n >= 1);
    assert_int_equal(batch[0].version, 0);
    free(batch);
}

static void test_challenges(void **st)
{
    (void)st;
    const char *dev = "5e1f0b7e-0000-4000-8000-0000000000d4";
    unsigned char ch[ASSET_CHALLENGE_LEN], th[SEAL_TOKEN_HASH_LEN], pk[STORE_USER_AUTH_PK_LEN];
    store_token_owner o;
    store_challenge got;
    store_device d;
    arena a = {0};
    long live = -1;
    int retry = -1;
    int64_t expires = 0;
    new_device(dev, 0x41, 0x42);
    install(dev, "com.example.auth", 0x43, "[]", true);
    hash_of(th, 0x43);
    assert_int_equal(store_token_owner_get(&C, th, &o), ASSET_OK);
    int64_t inst = o.installation_id;
    store_token_owner_clear(&o);
    memset(ch, 0x44, sizeof ch);

    assert_int_equal(db_begin(&C), ASSET_OK);
    assert_int_equal(store_challenge_live(&C, inst, &live, &retry), ASSET_OK);
    assert_int_equal(live, 0);
    assert_int_equal(store_challenge_insert(&C, ch, inst, "{3,5}", 60, &expires), ASSET_OK);
    assert_int_equal(store_challenge_live(&C, inst, &live, &retry), ASSET_OK);
    assert_int_equal(db_commit(&C), ASSET_OK);
    assert_int_equal(live, 1);
    assert_true(retry >= 1 && retry <= 60);
    assert_true(expires > 0);

    /* No user-auth key yet: the challenge comes back without one. */
    assert_int_equal(store_challenge_get(&C, ch, &a, &got), ASSET_OK);
    assert_int_equal(got.installation_id, inst);
    assert_string_equal(got.asset_seqs, "{3,5}");
    assert_false(got.has_pk);
    memset(pk, 0x45, sizeof pk);
    assert_int_equal(store_device_set_auth_key(&C, dev, pk, &d), ASSET_OK);
    assert_int_equal(store_challenge_get(&C, ch, &a, &got), ASSET_OK);
    assert_true(got.has_pk);
    assert_memory_equal(got.pk, pk, sizeof pk);

    /* Only its own installation ends it. */
    assert_int_equal(store_challenge_delete(&C, ch, inst + 1000), ASSET_OK);
    assert_int_equal(store_challenge_get(&C, ch, &a, &got), ASSET_OK);
    assert_int_equal(store_challenge_delete(&C, ch, inst), ASSET_OK);
    assert_int_equal(store_challenge_get(&C, ch, &a, &got), ASSET_NOT_FOUND);
    arena_free(&a);
}

static void test_device_removal(void **st)
{
    (void)st;
    const char *dev = "5e1f0b7e-0000-4000-8000-0000000000e5";
    store_device d;
    new_device(dev, 0x51, 0x52);
    install(dev, "com.example.gone", 0x53, "[]", true);
    assert_int_equal(count_of("SELECT count(*) FROM installations WHERE device_id = $1", dev), 1);

    assert_int_equal(db_begin(&C), ASSET_OK);
    assert_int_equal(store_device_remove(&C, dev, true, "assetd_test_channel"), ASSET_OK);
    assert_int_equal(db_commit(&C), ASSET_OK);
    assert_int_equal(store_device_get(&C, dev, &d), ASSET_NOT_FOUND);
    assert_int_equal(count_of("SELECT count(*) FROM device_keys WHERE device_id = $1", dev), 0);
    assert_int_equal(count_of("SELECT count(*) FROM installations WHERE device_id = $1", dev), 0);
    assert_int_equal(db_begin(&C), ASSET_OK);
    assert_int_equal(store_device_remove(&C, dev, false, "assetd_test_channel"), ASSET_NOT_FOUND);
    db_rollback(&C);
}

/* ---- the generations of migration 0012: each change that affects a principal makes a
 * principal read before it stale (store_principal_current), whatever statement made it ---- */

#define DEV_G "5e1f0b7e-0000-4000-8000-0000000000f6"

/* The principal of token hash fill t, as the auth statement reads it. */
static void owner_of(unsigned char t, store_token_owner *o)
{
    unsigned char th[SEAL_TOKEN_HASH_LEN];
    hash_of(th, t);
    assert_int_equal(store_token_owner_get(&C, th, o), ASSET_OK);
}

static bool is_current(const store_token_owner *o, unsigned char t)
{
    unsigned char th[SEAL_TOKEN_HASH_LEN];
    bool current = false;
    hash_of(th, t);
    store_principal_ref ref = {o->device_id, o->installation ? o->installation_id : 0, th,
                               o->device_generation, o->installation_generation};
    assert_int_equal(store_principal_current(&C, &ref, &current), ASSET_OK);
    return current;
}

/* Reads the device's (token t_dev) and an app's (t_app) principals again: current. */
static void reread(store_token_owner *dev, unsigned char t_dev, store_token_owner *app,
                   unsigned char t_app)
{
    store_token_owner_clear(dev);
    store_token_owner_clear(app);
    owner_of(t_dev, dev);
    owner_of(t_app, app);
    assert_true(is_current(dev, t_dev));
    assert_true(is_current(app, t_app));
}

static void test_principal_generations(void **st)
{
    (void)st;
    store_token_owner dev, app, other;
    store_device d;
    unsigned char th[SEAL_TOKEN_HASH_LEN], pk[STORE_USER_AUTH_PK_LEN];
    memset(pk, 0x6a, sizeof pk);
    new_device(DEV_G, 0x61, 0x62);
    install(DEV_G, "com.example.gen", 0x63, "[\"g\"]", true);
    install(DEV_G, "com.example.other", 0x64, "[]", true);
    owner_of(0x61, &dev);
    owner_of(0x63, &app);
    owner_of(0x64, &other);
    assert_false(dev.installation);
    assert_true(app.installation);
    assert_true(is_current(&dev, 0x61) && is_current(&app, 0x63) && is_current(&other, 0x64));
    /* Presented with another token, a principal is not current. */
    assert_false(is_current(&app, 0x64));
    assert_false(is_current(&dev, 0x63));

    /* Installing another app changes no principal. */
    install(DEV_G, "com.example.third", 0x65, "[]", true);
    assert_true(is_current(&dev, 0x61) && is_current(&app, 0x63));

    /* The device's state: every principal of the device is stale, and reads again current with
     * a higher generation. */
    int64_t before = dev.device_generation;
    device_state locked = {.lock_screen_password_set = true, .screen_locked = true};
    assert_int_equal(store_device_set_state(&C, DEV_G, &locked, &d), ASSET_OK);
    assert_false(is_current(&dev, 0x61));
    assert_false(is_current(&app, 0x63));
    reread(&dev, 0x61, &app, 0x63);
    assert_true(dev.device_generation > before);
    assert_true(app.state.screen_locked);
    /* The same state written again still counts (a needless re-read, never a missed change). */
    assert_int_equal(store_device_set_state(&C, DEV_G, &locked, &d), ASSET_OK);
    assert_false(is_current(&app, 0x63));
    reread(&dev, 0x61, &app, 0x63);

    /* The user-auth key. */
    assert_int_equal(store_device_set_auth_key(&C, DEV_G, pk, &d), ASSET_OK);
    assert_false(is_current(&dev, 0x61));
    assert_false(is_current(&app, 0x63));
    reread(&dev, 0x61, &app, 0x63);

    /* The device's token: its old principal is stale, the one of the new token current. */
    hash_of(th, 0x66);
    assert_int_equal(store_device_set_token(&C, DEV_G, th), ASSET_OK);
    assert_false(is_current(&dev, 0x61));
    assert_false(is_current(&app, 0x63));
    reread(&dev, 0x66, &app, 0x63);

    /* Anything else of the device row, whatever statement changes it (the data key version). */
    PGresult *r = NULL;
    const char *vals[] = {DEV_G};
    assert_int_equal(db_exec(&C, "UPDATE devices SET dek_version = dek_version WHERE id = $1", 1,
                             vals, NULL, NULL, &r),
                     ASSET_OK);
    PQclear(r);
    assert_false(is_current(&dev, 0x66));
    assert_false(is_current(&app, 0x63));
    reread(&dev, 0x66, &app, 0x63);

    /* The app's token: that installation is stale; the device and the other app are not. */
    store_token_owner_clear(&other);
    owner_of(0x64, &other);
    hash_of(th, 0x67);
    assert_int_equal(store_installation_set_token(&C, DEV_G, "com.example.gen", th), ASSET_OK);
    assert_false(is_current(&app, 0x63));
    assert_true(is_current(&dev, 0x66));
    assert_true(is_current(&other, 0x64));
    reread(&dev, 0x66, &app, 0x67);

    /* Anything else of the installation row (its groups). */
    const char *gvals[] = {DEV_G, "com.example.gen"};
    assert_int_equal(db_exec(&C,
                             "UPDATE installations SET groups = groups WHERE device_id = $1 AND "
                             "app_id = $2",
                             2, gvals, NULL, NULL, &r),
                     ASSET_OK);
    PQclear(r);
    assert_false(is_current(&app, 0x67));
    reread(&dev, 0x66, &app, 0x67);

    /* Uninstall: that app's principal is stale for good; the others stay current. */
    assert_int_equal(db_begin(&C), ASSET_OK);
    assert_int_equal(store_installation_remove(&C, DEV_G, "com.example.other"), ASSET_OK);
    assert_int_equal(db_commit(&C), ASSET_OK);
    assert_false(is_current(&other, 0x64));
    assert_true(is_current(&dev, 0x66) && is_current(&app, 0x67));

    /* Device removal: every principal of it is stale. */
    assert_int_equal(db_begin(&C), ASSET_OK);
    assert_int_equal(store_device_remove(&C, DEV_G, true, "assetd_test_channel"), ASSET_OK);
    assert_int_equal(db_commit(&C), ASSET_OK);
    assert_false(is_current(&dev, 0x66));
    assert_false(is_current(&app, 0x67));
    store_token_owner_clear(&dev);
    store_token_owner_clear(&app);
    store_token_owner_clear(&other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_device_rows),    cmocka_unit_test(test_token_owners_and_hold),
        cmocka_unit_test(test_keys),           cmocka_unit_test(test_challenges),
        cmocka_unit_test(test_device_removal), cmocka_unit_test(test_principal_generations),
    };
    return tl_finish(cmocka_run_group_tests(tests, setup, teardown));
}
