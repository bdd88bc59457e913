/* test_audit_policy: service/audit.c's policy table — every operation has its own action name
 * (found back by name), and when a finished call is recorded after the fact: a refused change,
 * any call of a recorded-call operation, a secret read; never a successful change (it recorded
 * itself in its transaction), an attribute-only read or an operation that is not audited. A
 * batch's items are recorded as the single operation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../service/audit.h"

static void test_names_unique_and_found(void **state)
{
    (void)state;
    for (int op = AUDIT_OP_NONE + 1; op < AUDIT_OP_COUNT_; op++) {
        const char *name = audit_action((audit_op)op);
        assert_non_null(name);
        assert_true(strlen(name) > 0);
        assert_int_equal(audit_op_named(name), op);
        for (int other = op + 1; other < AUDIT_OP_COUNT_; other++)
            assert_string_not_equal(name, audit_action((audit_op)other));
    }
    assert_int_equal(audit_op_named("noSuchOperation"), AUDIT_OP_NONE);
    assert_int_equal(audit_op_named(""), AUDIT_OP_NONE);
    assert_int_equal(audit_op_named(NULL), AUDIT_OP_NONE);
    assert_string_equal(audit_action(AUDIT_OP_NONE), "");
    assert_string_equal(audit_action(AUDIT_OP_COUNT_), "");
    assert_string_equal(audit_action(AUDIT_OP_ADD_ASSET), "addAsset");
}

/* Every operationId of the contract is an operation of the table (the router finds a route's
 * policy by its operationId), and the table has no other but the service's own expireBackup.
 * Run from the repository's root (tests/run.sh). */
static void test_every_contract_operation_known(void **state)
{
    (void)state;
    FILE *f = fopen("openapi.yaml", "r");
    char line[512];
    int found = 0;
    assert_non_null(f);
    while (fgets(line, sizeof line, f)) {
        char name[128];
        if (sscanf(line, " operationId: %127s", name) != 1)
            continue;
        if (audit_op_named(name) == AUDIT_OP_NONE)
            fail_msg("operationId %s is not in the audit policy table", name);
        found++;
    }
    fclose(f);
    assert_int_equal(found, AUDIT_OP_COUNT_ - 2); /* but NONE and EXPIRE_BACKUP */
}

static bool recorded(audit_op op, bool refused, bool asks_secret)
{
    audit_call c = {
        .op = op, .refused = refused, .err = ASSET_NOT_FOUND, .asks_secret = asks_secret};
    return audit_call_recorded(&c);
}

static void test_when_recorded(void **state)
{
    (void)state;
    /* changes: success in their transaction, refusals after the fact */
    const audit_op changes[] = {
        AUDIT_OP_ADD_ASSET,      AUDIT_OP_UPDATE_ASSET,  AUDIT_OP_DELETE_ASSET,
        AUDIT_OP_DELETE_ASSETS,  AUDIT_OP_BATCH_ADD,     AUDIT_OP_BATCH_UPDATE,
        AUDIT_OP_BATCH_REMOVE,   AUDIT_OP_CREATE_BACKUP, AUDIT_OP_DELETE_BACKUP,
        AUDIT_OP_CREATE_RESTORE, AUDIT_OP_RETRY_RESTORE};
    for (size_t i = 0; i < sizeof changes / sizeof changes[0]; i++) {
        assert_int_equal(audit_when_of(changes[i]), AUDIT_CHANGE);
        assert_false(recorded(changes[i], false, true));
        assert_true(recorded(changes[i], true, false));
    }
    /* every call */
    const audit_op calls[] = {AUDIT_OP_AUTH_QUERY, AUDIT_OP_PRE_QUERY, AUDIT_OP_CREATE_DEVICE,
                              AUDIT_OP_INSTALL_APP, AUDIT_OP_LIST_BACKUPS};
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        assert_true(recorded(calls[i], false, false));
        assert_true(recorded(calls[i], true, false));
    }
    /* secret reads only */
    assert_false(recorded(AUDIT_OP_GET_ASSET, false, false));
    assert_false(recorded(AUDIT_OP_LIST_ASSETS, true, false));
    assert_true(recorded(AUDIT_OP_GET_ASSET, false, true));
    assert_true(recorded(AUDIT_OP_LIST_ASSETS, true, true));
    /* never */
    const audit_op never[] = {AUDIT_OP_NONE,
                              AUDIT_OP_GET_HEALTH,
                              AUDIT_OP_GET_DEVICE,
                              AUDIT_OP_GET_SYNC_RESULT,
                              AUDIT_OP_LIST_AUDIT_EVENTS,
                              AUDIT_OP_COUNT_};
    for (size_t i = 0; i < sizeof never / sizeof never[0]; i++) {
        assert_false(recorded(never[i], true, true));
        assert_false(recorded(never[i], false, false));
    }
}

static void test_batch_items(void **state)
{
    (void)state;
    assert_int_equal(audit_item_op(AUDIT_OP_BATCH_ADD), AUDIT_OP_ADD_ASSET);
    assert_int_equal(audit_item_op(AUDIT_OP_BATCH_UPDATE), AUDIT_OP_UPDATE_ASSET);
    assert_int_equal(audit_item_op(AUDIT_OP_BATCH_REMOVE), AUDIT_OP_DELETE_ASSET);
    assert_int_equal(audit_item_op(AUDIT_OP_ADD_ASSET), AUDIT_OP_ADD_ASSET);
    assert_int_equal(audit_item_op(AUDIT_OP_COUNT_), AUDIT_OP_COUNT_);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_unique_and_found),
        cmocka_unit_test(test_every_contract_operation_known),
        cmocka_unit_test(test_when_recorded),
        cmocka_unit_test(test_batch_items),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
