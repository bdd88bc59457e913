/* test_devices: devices, installations and their tokens (service/devices.c, service/svc.c)
 * against a real PostgreSQL: registration, authentication of admin, device and app tokens,
 * rotation, and what uninstalling an app keeps or removes. */
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

/* ---- remembered principals (service/authcache.c) ---- */

/* Changes written straight to the database stand for changes made through another instance:
 * this one hears nothing of them, and must still see each at the next use of a principal it
 * remembers, deferred (checked in the operation's statement) or not. */
static void test_remembered_principals(void **state)
{
    (void)state;
    device_t d;
    principal p, q;
    char tok[SEAL_TOKEN_TEXT_LEN];
    const char *dev[] = {NULL};
    new_device(&d, NULL);
    dev[0] = d.id;
    install(&d, "com.example.rem", NULL, false, tok);
    auth(tok, &p); /* read, and remembered */
    ADD_OK(&p, fmt("alias=unl;secret=%s;accessibility=DEVICE_UNLOCKED", b64("u")));
    principal_clear(&p);

    /* Remembered: the deferred form hands it out unchecked, the other checks it. */
    EXPECT(svc_authenticate_deferred(&S, tok, strlen(tok), &p), ASSET_OK);
    assert_true(p.unverified);
    EXPECT(svc_authenticate(&S, tok, strlen(tok), &q), ASSET_OK);
    assert_false(q.unverified);
    assert_int_equal(q.device_generation, p.device_generation);
    principal_clear(&q);
    EXPECT(get_one(&p, "unl", "returnType=ALL"), ASSET_OK);

    /* Screen locked elsewhere: the remembered principal still says unlocked, but the read checks
     * it in its statement, reads it afresh and refuses; the list does too. */
    sql_do(priv_pg, "UPDATE devices SET pwd_set = true, screen_locked = true WHERE id = $1", 1, dev);
    assert_false(p.state.screen_locked);
    EXPECT(get_one(&p, "unl", "returnType=ALL"), ASSET_STATUS_MISMATCH);
    EXPECT(svc_principal_verify(&S, &p), ASSET_OK); /* stale, but its token is still valid */
    principal_clear(&p);
    EXPECT(svc_authenticate_deferred(&S, tok, strlen(tok), &p), ASSET_OK);
    assert_true(p.unverified && p.state.screen_locked); /* the fresh one was remembered */
    sql_do(priv_pg, "UPDATE devices SET screen_locked = false WHERE id = $1", 1, dev);
    EXPECT(get_one(&p, "unl", "returnType=ALL"), ASSET_OK);
    sql_do(priv_pg, "UPDATE devices SET pwd_set = true, screen_locked = true WHERE id = $1", 1, dev);
    EXPECT(query(&p, "alias=unl;returnType=ALL"), ASSET_STATUS_MISMATCH);
    sql_do(priv_pg, "UPDATE devices SET screen_locked = false WHERE id = $1", 1, dev);
    /* A missing alias is NOT_FOUND, for a current principal and for a stale one alike. */
    principal_clear(&p);
    EXPECT(svc_authenticate_deferred(&S, tok, strlen(tok), &p), ASSET_OK);
    EXPECT(get_one(&p, "none", ""), ASSET_NOT_FOUND);
    sql_do(priv_pg, "UPDATE devices SET pwd_set = pwd_set WHERE id = $1", 1, dev);
    EXPECT(get_one(&p, "none", ""), ASSET_NOT_FOUND);
    principal_clear(&p);

    /* Uninstalled elsewhere: 401 (UNAUTHENTICATED) for the remembered principal, deferred or
     * not, and the token is unknown from then on. */
    EXPECT(svc_authenticate_deferred(&S, tok, strlen(tok), &p), ASSET_OK);
    sql_do(priv_pg, "DELETE FROM installations WHERE device_id = $1", 1, dev);
    EXPECT(svc_principal_verify(&S, &p), ASSET_UNAUTHENTICATED);
    EXPECT(get_one(&p, "unl", "returnType=ALL"), ASSET_UNAUTHENTICATED);
    EXPECT(query(&p, ""), ASSET_UNAUTHENTICATED);
    EXPECT(svc_authenticate(&S, tok, strlen(tok), &q), ASSET_PERMISSION_DENIED);
    principal_clear(&p);

    /* The device's own token rotated elsewhere: the old one is refused. */
    EXPECT(svc_authenticate(&S, d.token, strlen(d.token), &p), ASSET_OK);
    EXPECT(svc_authenticate(&S, d.token, strlen(d.token), &p), ASSET_OK);
    sql_do(priv_pg, "UPDATE devices SET token_hash = sha256(token_hash) WHERE id = $1", 1, dev);
    EXPECT(svc_authenticate(&S, d.token, strlen(d.token), &p), ASSET_PERMISSION_DENIED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        IT_SVC_TEST(test_authenticate),
        IT_SVC_TEST(test_uninstall),
        IT_SVC_TEST(test_remembered_principals),
    };
    return IT_MAIN("test_devices", tests);
}
