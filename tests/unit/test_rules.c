/* test_rules: the device-condition rules of spec §6 (local access) and §7 (restore), checked
 * exhaustively against oracles written straight from the spec text, plus named cases taken from
 * the seed sentences quoted in the §7 table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../service/rules.h"

/* ---- oracles, written from the spec text, sharing nothing with rules.c ---- */

/* A state as the three booleans of PUT /devices/{id}/state, bit-packed: 8 states. */
#define PWD 1u
#define LOCKED 2u
#define SINCE_BOOT 4u

static device_state state_of(unsigned bits)
{
    device_state s;
    s.lock_screen_password_set = (bits & PWD) != 0;
    s.screen_locked = (bits & LOCKED) != 0;
    s.unlocked_since_boot = (bits & SINCE_BOOT) != 0;
    return s;
}

/* §6: "locked = lockScreenPasswordSet and screenLocked" */
static int spec_locked(unsigned bits)
{
    int pwd = (bits & PWD) != 0, scr = (bits & LOCKED) != 0;
    return pwd && scr;
}

/* §6: "first unlocked = not lockScreenPasswordSet, or unlockedSinceBoot, or not screenLocked" */
static int spec_first_unlocked(unsigned bits)
{
    int pwd = (bits & PWD) != 0, scr = (bits & LOCKED) != 0, boot = (bits & SINCE_BOOT) != 0;
    return !pwd || boot || !scr;
}

static int spec_has_password(unsigned bits)
{
    return (bits & PWD) != 0;
}

/* §6 "accessible when all of these hold". acc: 0 POWERED_ON, 1 FIRST_UNLOCKED, 2 UNLOCKED. */
static int spec_accessible(int acc, int req_pwd, unsigned dev)
{
    if (req_pwd && !spec_has_password(dev))
        return 0;
    if (acc == 2 && spec_locked(dev))
        return 0;
    if (acc == 1 && !spec_first_unlocked(dev))
        return 0;
    return 1; /* DEVICE_POWERED_ON: always */
}

/* The §7 table: the name of the first failing rule, or "ok". */
static const char *spec_restore(int acc, int req_pwd, int auth_any, unsigned old_dev,
                                unsigned new_dev)
{
    /* password: requirePasswordSet and (OLD or NEW has no lock-screen password) */
    if (req_pwd && (!spec_has_password(old_dev) || !spec_has_password(new_dev)))
        return "password";
    /* unlocked: accessibility DEVICE_UNLOCKED and (OLD or NEW is locked) */
    if (acc == 2 && (spec_locked(old_dev) || spec_locked(new_dev)))
        return "unlocked";
    /* user_auth: authType ANY and OLD has no lock-screen password */
    if (auth_any && !spec_has_password(old_dev))
        return "user_auth";
    /* first_unlock: DEVICE_FIRST_UNLOCKED and (OLD or NEW is not first unlocked) */
    if (acc == 1 && (!spec_first_unlocked(old_dev) || !spec_first_unlocked(new_dev)))
        return "first_unlock";
    return "ok";
}

static const asset_accessibility accs[3] = {ACCESSIBILITY_DEVICE_POWERED_ON,
                                            ACCESSIBILITY_DEVICE_FIRST_UNLOCKED,
                                            ACCESSIBILITY_DEVICE_UNLOCKED};

static access_attrs attrs_of(int acc, int req_pwd, int auth_any)
{
    access_attrs a;
    a.accessibility = accs[acc];
    a.require_password_set = req_pwd != 0;
    a.auth_type = auth_any ? AUTH_TYPE_ANY : AUTH_TYPE_NONE;
    return a;
}

/* ---- tests ---- */

static void test_enum_values_match_kit(void **state)
{
    (void)state;
    /* Asset Store Kit values: Accessibility 0/1/2, AuthType NONE 0x00 / ANY 0xFF. */
    assert_int_equal(ACCESSIBILITY_DEVICE_POWERED_ON, 0);
    assert_int_equal(ACCESSIBILITY_DEVICE_FIRST_UNLOCKED, 1);
    assert_int_equal(ACCESSIBILITY_DEVICE_UNLOCKED, 2);
    assert_int_equal(AUTH_TYPE_NONE, 0);
    assert_int_equal(AUTH_TYPE_ANY, 0xff);
}

static void test_effective_state_all_8(void **state)
{
    (void)state;
    int locked = 0, first = 0;
    for (unsigned b = 0; b < 8; b++) {
        device_state s = state_of(b);
        assert_int_equal(rules_device_locked(&s), spec_locked(b));
        assert_int_equal(rules_device_first_unlocked(&s), spec_first_unlocked(b));
        locked += rules_device_locked(&s);
        first += rules_device_first_unlocked(&s);
    }
    /* locked only with pwd+screenLocked (2 of 8 states); not first unlocked only with
     * pwd+screenLocked+!sinceBoot (1 of 8). */
    assert_int_equal(locked, 2);
    assert_int_equal(first, 7);
}

static void test_accessible_exhaustive(void **state)
{
    (void)state;
    int checked = 0, denied = 0;
    for (int acc = 0; acc < 3; acc++)
        for (int pwd = 0; pwd < 2; pwd++)
            for (int any = 0; any < 2; any++)
                for (unsigned b = 0; b < 8; b++) {
                    access_attrs a = attrs_of(acc, pwd, any);
                    device_state s = state_of(b);
                    int want = spec_accessible(acc, pwd, b);
                    if (rules_accessible(&a, &s) != (want != 0))
                        fail_msg("accessible(acc=%d pwd=%d any=%d state=%u) = %d, spec says %d",
                                 acc, pwd, any, b, !want, want);
                    checked++;
                    denied += !want;
                }
    assert_int_equal(checked, 3 * 2 * 2 * 8);
    /* Sanity of the oracle itself: pwd-required denies 4 states of 8 for each acc, etc. */
    assert_true(denied > 0 && denied < checked);
}

static void test_restore_exhaustive_all_768(void **state)
{
    (void)state;
    int checked = 0;
    int per_rule[RULE_COUNT] = {0};
    for (int acc = 0; acc < 3; acc++)
        for (int pwd = 0; pwd < 2; pwd++)
            for (int any = 0; any < 2; any++)
                for (unsigned o = 0; o < 8; o++)
                    for (unsigned n = 0; n < 8; n++) {
                        access_attrs a = attrs_of(acc, pwd, any);
                        device_state so = state_of(o), sn = state_of(n);
                        restore_rule got = rules_check_restore(&a, &so, &sn);
                        const char *want = spec_restore(acc, pwd, any, o, n);
                        assert_true((unsigned)got < RULE_COUNT);
                        if (strcmp(rules_name(got), want) != 0)
                            fail_msg("restore(acc=%d pwd=%d any=%d old=%u new=%u) = %s, spec "
                                     "says %s",
                                     acc, pwd, any, o, n, rules_name(got), want);
                        /* §7 "in short": ok iff accessible on both and (auth-gated ->
                         * OLD has a password). */
                        int in_short = spec_accessible(acc, pwd, o) &&
                                       spec_accessible(acc, pwd, n) &&
                                       (!any || spec_has_password(o));
                        assert_int_equal(got == RULE_OK, in_short);
                        /* and consistent with the §6 function for both devices */
                        if (got == RULE_OK) {
                            assert_true(rules_accessible(&a, &so));
                            assert_true(rules_accessible(&a, &sn));
                        }
                        per_rule[got]++;
                        checked++;
                    }
    /* 3 accessibility x 2 requirePasswordSet x 2 authType x 8 OLD x 8 NEW */
    assert_int_equal(checked, 3 * 2 * 2 * 8 * 8);
    /* Every rule is reachable, so the comparison above exercised each branch. */
    for (int r = 0; r < RULE_COUNT; r++)
        assert_true(per_rule[r] > 0);
}

/* Order matters: a record failing several rules is counted under the first in table order. */
static void test_restore_rule_order(void **state)
{
    (void)state;
    device_state nothing = {false, false, true};    /* no password */
    device_state locked_cold = {true, true, false}; /* locked, not first unlocked */
    /* requirePasswordSet + DEVICE_UNLOCKED + ANY, old no password, new locked: password first */
    access_attrs a = {ACCESSIBILITY_DEVICE_UNLOCKED, true, AUTH_TYPE_ANY};
    assert_int_equal(rules_check_restore(&a, &nothing, &locked_cold), RULE_PASSWORD);
    /* without requirePasswordSet: unlocked (new locked) before user_auth (old no pwd) */
    a.require_password_set = false;
    assert_int_equal(rules_check_restore(&a, &nothing, &locked_cold), RULE_UNLOCKED);
    /* DEVICE_FIRST_UNLOCKED + ANY, old no pwd, new not first unlocked: user_auth first */
    a.accessibility = ACCESSIBILITY_DEVICE_FIRST_UNLOCKED;
    assert_int_equal(rules_check_restore(&a, &nothing, &locked_cold), RULE_USER_AUTH);
    a.auth_type = AUTH_TYPE_NONE;
    assert_int_equal(rules_check_restore(&a, &nothing, &locked_cold), RULE_FIRST_UNLOCK);
    a.accessibility = ACCESSIBILITY_DEVICE_POWERED_ON;
    assert_int_equal(rules_check_restore(&a, &nothing, &locked_cold), RULE_OK);
}

typedef struct {
    const char *seed;
    access_attrs a;
    device_state old_dev, new_dev;
    restore_rule want;
} named_case;

#define ST(pwd, scr, boot)                                                                         \
    {                                                                                              \
        pwd, scr, boot                                                                             \
    }
static const named_case named[] = {
    {"requirePasswordSet, no password on NEW -> password",
     {ACCESSIBILITY_DEVICE_POWERED_ON, true, AUTH_TYPE_NONE},
     ST(true, false, true),
     ST(false, false, true),
     RULE_PASSWORD},
    {"requirePasswordSet, no password on OLD -> password",
     {ACCESSIBILITY_DEVICE_POWERED_ON, true, AUTH_TYPE_NONE},
     ST(false, false, true),
     ST(true, false, true),
     RULE_PASSWORD},
    {"requirePasswordSet, password on both -> ok",
     {ACCESSIBILITY_DEVICE_POWERED_ON, true, AUTH_TYPE_NONE},
     ST(true, true, false),
     ST(true, true, false),
     RULE_OK},
    {"DEVICE_UNLOCKED, OLD device locked -> unlocked",
     {ACCESSIBILITY_DEVICE_UNLOCKED, false, AUTH_TYPE_NONE},
     ST(true, true, true),
     ST(true, false, true),
     RULE_UNLOCKED},
    {"DEVICE_UNLOCKED, NEW device locked -> unlocked",
     {ACCESSIBILITY_DEVICE_UNLOCKED, false, AUTH_TYPE_NONE},
     ST(true, false, true),
     ST(true, true, true),
     RULE_UNLOCKED},
    {"DEVICE_UNLOCKED, both unlocked -> ok",
     {ACCESSIBILITY_DEVICE_UNLOCKED, false, AUTH_TYPE_NONE},
     ST(true, false, false),
     ST(true, false, true),
     RULE_OK},
    {"effective state: screenLocked without a password is not locked",
     {ACCESSIBILITY_DEVICE_UNLOCKED, false, AUTH_TYPE_NONE},
     ST(false, true, false),
     ST(false, true, false),
     RULE_OK},
    {"authType ANY, no password on OLD -> user_auth",
     {ACCESSIBILITY_DEVICE_POWERED_ON, false, AUTH_TYPE_ANY},
     ST(false, false, true),
     ST(true, false, true),
     RULE_USER_AUTH},
    {"authType ANY, no password on NEW only -> ok (rule is about OLD)",
     {ACCESSIBILITY_DEVICE_POWERED_ON, false, AUTH_TYPE_ANY},
     ST(true, false, true),
     ST(false, false, true),
     RULE_OK},
    {"DEVICE_FIRST_UNLOCKED, OLD not unlocked since boot -> first_unlock",
     {ACCESSIBILITY_DEVICE_FIRST_UNLOCKED, false, AUTH_TYPE_NONE},
     ST(true, true, false),
     ST(true, false, true),
     RULE_FIRST_UNLOCK},
    {"DEVICE_FIRST_UNLOCKED, NEW not unlocked since boot -> first_unlock",
     {ACCESSIBILITY_DEVICE_FIRST_UNLOCKED, false, AUTH_TYPE_NONE},
     ST(true, false, true),
     ST(true, true, false),
     RULE_FIRST_UNLOCK},
    {"DEVICE_FIRST_UNLOCKED, locked but unlocked since boot -> ok",
     {ACCESSIBILITY_DEVICE_FIRST_UNLOCKED, false, AUTH_TYPE_NONE},
     ST(true, true, true),
     ST(true, true, true),
     RULE_OK},
    {"effective state: unlockedSinceBoot false without password is still first unlocked",
     {ACCESSIBILITY_DEVICE_FIRST_UNLOCKED, false, AUTH_TYPE_NONE},
     ST(false, true, false),
     ST(false, true, false),
     RULE_OK},
    {"DEVICE_POWERED_ON, everything locked -> ok",
     {ACCESSIBILITY_DEVICE_POWERED_ON, false, AUTH_TYPE_NONE},
     ST(true, true, false),
     ST(true, true, false),
     RULE_OK},
};

static void test_restore_named_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++) {
        restore_rule got = rules_check_restore(&named[i].a, &named[i].old_dev, &named[i].new_dev);
        if (got != named[i].want)
            fail_msg("%s: got %s, want %s", named[i].seed, rules_name(got),
                     rules_name(named[i].want));
    }
}

static void test_accessible_named_cases(void **state)
{
    (void)state;
    /* §6: "an add with requirePasswordSet: true on a device without a lock-screen password is
     * 409" — i.e. not accessible. */
    access_attrs a = {ACCESSIBILITY_DEVICE_POWERED_ON, true, AUTH_TYPE_NONE};
    device_state no_pwd = {false, false, true}, pwd = {true, false, true};
    assert_false(rules_accessible(&a, &no_pwd));
    assert_true(rules_accessible(&a, &pwd));
    /* DEVICE_UNLOCKED on a locked device is not accessible; screenLocked without password is */
    access_attrs u = {ACCESSIBILITY_DEVICE_UNLOCKED, false, AUTH_TYPE_NONE};
    device_state locked = {true, true, true}, fake_locked = {false, true, false};
    assert_false(rules_accessible(&u, &locked));
    assert_true(rules_accessible(&u, &fake_locked));
    /* DEVICE_FIRST_UNLOCKED: only the cold-booted locked device is refused */
    access_attrs f = {ACCESSIBILITY_DEVICE_FIRST_UNLOCKED, false, AUTH_TYPE_NONE};
    device_state cold = {true, true, false};
    assert_false(rules_accessible(&f, &cold));
    assert_true(rules_accessible(&f, &locked));
    /* authType does not take part in §6 local accessibility */
    access_attrs g = {ACCESSIBILITY_DEVICE_POWERED_ON, false, AUTH_TYPE_ANY};
    assert_true(rules_accessible(&g, &no_pwd));
    /* default device state (pwd false, locked false, sinceBoot true): defaults accessible */
    device_state def = {false, false, true};
    access_attrs d = {ACCESSIBILITY_DEVICE_FIRST_UNLOCKED, false, AUTH_TYPE_NONE};
    assert_true(rules_accessible(&d, &def));
}

static void test_rules_names(void **state)
{
    (void)state;
    assert_string_equal(rules_name(RULE_OK), "ok");
    assert_string_equal(rules_name(RULE_PASSWORD), "password");
    assert_string_equal(rules_name(RULE_UNLOCKED), "unlocked");
    assert_string_equal(rules_name(RULE_USER_AUTH), "user_auth");
    assert_string_equal(rules_name(RULE_FIRST_UNLOCK), "first_unlock");
    assert_int_equal(RULE_COUNT, 5);
    /* out of range never crashes and never looks like a rule */
    const char *bad = rules_name(RULE_COUNT);
    assert_non_null(bad);
    assert_string_not_equal(bad, "ok");
    assert_non_null(rules_name((restore_rule)-1));
    /* table order is the enum order */
    assert_true(RULE_PASSWORD < RULE_UNLOCKED && RULE_UNLOCKED < RULE_USER_AUTH &&
                RULE_USER_AUTH < RULE_FIRST_UNLOCK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_enum_values_match_kit),
        cmocka_unit_test(test_effective_state_all_8),
        cmocka_unit_test(test_accessible_exhaustive),
        cmocka_unit_test(test_restore_exhaustive_all_768),
        cmocka_unit_test(test_restore_rule_order),
        cmocka_unit_test(test_restore_named_cases),
        cmocka_unit_test(test_accessible_named_cases),
        cmocka_unit_test(test_rules_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
