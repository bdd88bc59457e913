/* test_store: what the asset store (service/store/store.c) does with rows, against a real
 * PostgreSQL: the alias key assetd writes equals the one lookups compute in SQL, query filters,
 * paging and cursors, orderBy (ascending by bytes, whatever the database's collation), the
 * encrypted store and its blind indexes, and tamper detection: rows changed or moved by SQL must
 * fail to open (DATA_CORRUPTED), never be served. */
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

#include "../../service/store/store.h"

/* ---- filters, paging, cursors ---- */

/* store_alias_key (written with every row, migration 0015) and ALIAS_KEY_SQL (every lookup)
 * must give the same bytes, or rows would go missing: owners and aliases with backslashes,
 * quotes, the separators themselves, multi-byte characters (length() counts characters),
 * both owner kinds and stores. */
static void test_alias_key_matches_sql(void **state)
{
    (void)state;
    static const char *const owners[] = {"com.example.app",
                                         "a\\b",
                                         "o'wner",
                                         "ow:ner/1",
                                         "\xc3\xa9t\xc3\xa9",
                                         "\xe4\xb8\xad\xf0\x9f\x98\x80",
                                         "x"};
    static const char *const aliases[] = {"alias", "a\\\\b\\n", "",
                                          "1:2/3", "\xc3\xa9",  "\xf0\x9f\x98\x80\xf0\x9f\x98\x80",
                                          "'\"",   "\\x00"};
    const char *device = "5e1f0b7e-0000-4000-8000-00000000a11c";
    for (size_t o = 0; o < sizeof owners / sizeof *owners; o++)
        for (size_t a = 0; a < sizeof aliases / sizeof *aliases; a++)
            for (int kind = 0; kind <= 1; kind++)
                for (int enc = 0; enc <= 1; enc++) {
                    store_scope sc = {device, kind, {owners[o], strlen(owners[o])}, enc != 0};
                    unsigned char key[STORE_ALIAS_KEY_LEN];
                    char hex[2 * STORE_ALIAS_KEY_LEN + 1], k[12];
                    store_alias_key(key, &sc, (asset_text){aliases[a], strlen(aliases[a])});
                    sodium_bin2hex(hex, sizeof hex, key, sizeof key);
                    snprintf(k, sizeof k, "%d", kind);
                    const char *vals[] = {device, k, owners[o], enc ? "t" : "f", aliases[a]};
                    PGresult *r =
                        sql(priv_pg,
                            "SELECT encode(" ALIAS_KEY_SQL("$1", "$2", "$3", "$4", "$5") ", 'hex')",
                            5, vals);
                    if (strcmp(PQgetvalue(r, 0, 0), hex) != 0)
                        fail_msg("owner '%s', alias '%s', kind %d, store %d: C %s, SQL %s",
                                 owners[o], aliases[a], kind, enc, hex, PQgetvalue(r, 0, 0));
                    PQclear(r);
                }
}

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

/* "ascending by bytes" must not depend on the database's default collation. The service
 * under test is swapped for one on a database whose default collation is ICU en-US; the
 * per-test teardown swaps back even when an assertion fails. */
static void test_order_by_bytes_non_c_collation(void **state)
{
    (void)state;
    const char *icu_url = swap_db_create(
        "assetd_ticu", "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' ENCODING UTF8");
    assert_int_equal(db_migrate(icu_url, mig_dir), db_migrations_latest(mig_dir));
    swap_svc_to(icu_url);
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
        /* A careful tamperer keeps the alias key (written by assetd, migration 0015) in step
         * with the columns it moved, so that the row is found where it now claims to be: it
         * must still fail to open. (One that does not makes the row unreachable by alias.) */
        sql_do(priv_pg,
               "UPDATE assets SET alias_key = " ALIAS_KEY_SQL(
                   "device_id", "owner_kind", "owner", "attr_enc",
                   "alias") " WHERE alias_key <> " ALIAS_KEY_SQL("device_id", "owner_kind", "owner",
                                                                 "attr_enc", "alias"),
               0, NULL);

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
    const struct CMUnitTest tests[] = {
        IT_SVC_TEST(test_alias_key_matches_sql),
        IT_SVC_TEST(test_query_paging),
        IT_SVC_TEST(test_order_by),
        IT_SVC_TEST(test_order_by_bytes_non_c_collation),
        IT_SVC_TEST(test_encrypted_store),
        IT_SVC_TEST(test_tamper_detection),
    };
    return IT_MAIN("test_store", tests);
}
