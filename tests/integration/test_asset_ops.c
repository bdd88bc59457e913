/* test_asset_ops: the asset operations (service/asset_ops.c) against a real PostgreSQL: add
 * with OVERWRITE / THROW_ERROR, query, update, remove, the §6 access rules on reads, and groups
 * and permissions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/it.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        IT_SVC_TEST(test_add_query_conflicts),
        IT_SVC_TEST(test_access_rules_password),
        IT_SVC_TEST(test_access_rules_locked),
        IT_SVC_TEST(test_update),
        IT_SVC_TEST(test_remove),
        IT_SVC_TEST(test_groups_and_permissions),
    };
    return IT_MAIN("test_asset_ops", tests);
}
