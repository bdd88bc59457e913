/* Reliability: tampered and moved rows (spec §9, §5 DATA_CORRUPTED).
 *
 * Each record's ciphertext is bound by associated data to its device (through the device's data
 * key), owner, store, alias, access attributes and critical labels. These tests edit the assets
 * table (and device_keys) behind the service's back with SQL — flip a byte, copy a sealed value
 * to another row, move a row to another owner / alias / device, change a bound column — and
 * check that every read path (GET /assets/{alias} with returnType ATTRIBUTES and ALL, GET /assets
 * lists) answers 500 problem+json DATA_CORRUPTED: never the secret, never garbage, never a
 * crash. Each tampering is undone afterwards and the record must read back intact, which proves
 * that it was the tampering (and nothing else) that made the read fail. The server must stay
 * healthy throughout and exit 0 at the end (under ASan that also means no leak and no memory
 * error on these error paths). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/testlib.h"

static tl_server *srv;

static int setup(void **st)
{
    (void)st;
    srv = tl_server_start(NULL);
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    assert_int_equal(tl_server_stop(srv), 0);
    return 0;
}

/* ---- helpers ---- */

/* One value (first row, first column) as a malloc'd string without the trailing newline. */
static char *db_value(const char *sql, const char *p1, const char *p2, const char *p3)
{
    char *v = p3   ? tl_db_dump(sql, p1, p2, p3, NULL)
              : p2 ? tl_db_dump(sql, p1, p2, NULL)
              : p1 ? tl_db_dump(sql, p1, NULL)
                   : tl_db_dump(sql, NULL);
    char *nl = strchr(v, '\n');
    if (!nl || nl[1])
        fail_msg("expected exactly one row from: %s (got \"%s\")", sql, v);
    *nl = 0;
    return v;
}

/* The seq of the asset (device, owner, alias) in the plain or encrypted store. */
static char *seq_of(const char *device_id, const char *owner, const char *alias)
{
    return db_value("SELECT seq FROM assets WHERE device_id = $1 AND owner = $2 AND alias = $3",
                    device_id, owner, alias);
}

/* Everything of a row as text, to prove a refused call changed nothing. */
static char *row_text(const char *seq)
{
    return db_value("SELECT t::text FROM assets t WHERE seq = $1", seq, NULL, NULL);
}

/* The tampering here is careful: it keeps each row's alias key (which assetd writes with the
 * row, migration 0015) in step with the columns it changed, so that a moved row is found where it
 * now claims to be — and must fail to open there. (Tampering that leaves the key behind only
 * makes the row unreachable by its alias.) The formula is migration 0007's. */
#define KEY_OF_ROW                                                                                 \
    "sha256(decode(replace(device_id::text || '/' || owner_kind::text || '/' || "                  \
    "attr_enc::text || '/' || length(owner)::text || ':' || owner || alias, '\\', '\\\\'), "       \
    "'escape'))"

static void rekey(void)
{
    PQclear(tl_db_exec(
        "UPDATE assets SET alias_key = " KEY_OF_ROW " WHERE alias_key <> " KEY_OF_ROW, NULL));
}

static void sql1(const char *sql, const char *p1)
{
    PQclear(tl_db_exec(sql, p1, NULL));
    rekey();
}

static void sql2(const char *sql, const char *p1, const char *p2)
{
    PQclear(tl_db_exec(sql, p1, p2, NULL));
    rekey();
}

static void expect_healthy(void)
{
    tl_req_status(srv, "GET", "/healthz", NULL, NULL, 200);
}

/* A 500 DATA_CORRUPTED that gives nothing away. */
static void expect_corrupted_resp(tl_resp *r, const char *secret_b64)
{
    tl_expect_problem(r, 500, "DATA_CORRUPTED");
    if (secret_b64)
        tl_expect_body_lacks(r, secret_b64);
    tl_expect_body_lacks(r, "\"secret\"");
    tl_expect_body_lacks(r, "\"assets\"");
    tl_resp_free(r);
}

/* Every read path of the asset answers DATA_CORRUPTED; an update neither succeeds nor re-seals
 * (launders) the tampered row; the server stays up. sel: extra selectors ("" or e.g.
 * "requireAttrEncrypted=true"). */
static void expect_corrupted(const tl_app *a, const char *alias, const char *sel,
                             const char *secret_b64, const char *seq)
{
    char enc[512];
    const char *amp = sel[0] ? "&" : "";
    tl_urlenc(enc, sizeof enc, alias);
    expect_corrupted_resp(
        tl_httpf(srv, "GET", a->token, NULL, "/assets/%s?returnType=ATTRIBUTES%s%s", enc, amp, sel),
        secret_b64);
    expect_corrupted_resp(
        tl_httpf(srv, "GET", a->token, NULL, "/assets/%s?returnType=ALL%s%s", enc, amp, sel),
        secret_b64);
    expect_corrupted_resp(
        tl_httpf(srv, "GET", a->token, NULL, "/assets%s%s", sel[0] ? "?" : "", sel), secret_b64);
    expect_corrupted_resp(
        tl_httpf(srv, "GET", a->token, NULL, "/assets?alias=%s&returnType=ALL%s%s", enc, amp, sel),
        secret_b64);
    /* An update of a normal label opens the record first: refused, and the row is untouched
     * (a tampered record must not be re-sealed into a valid one). */
    char *before = row_text(seq);
    expect_corrupted_resp(tl_httpf(srv, "PATCH", a->token, "{\"dataLabelNormal2\":\"laundered\"}",
                                   "/assets/%s%s%s", enc, sel[0] ? "?" : "", sel),
                          secret_b64);
    char *after = row_text(seq);
    assert_string_equal(before, after);
    free(before);
    free(after);
    expect_healthy();
}

/* The asset reads back whole: its secret is `secret`. */
static void expect_intact(const tl_app *a, const char *alias, const char *sel, const char *secret)
{
    char got[2048];
    tl_get_secret(srv, a->token, alias, sel[0] ? sel : NULL, got, sizeof got);
    assert_string_equal(got, secret);
}

static void b64(char *out, size_t n, const char *text)
{
    tl_b64(out, n, text, strlen(text));
}

/* An app on a fresh device (app id made unique so that owners never collide across runs). */
static tl_app fresh(const char *app_prefix, tl_device *dev, char *app_id, size_t n)
{
    tl_unique(app_id, n, app_prefix);
    return tl_fresh_app(srv, app_id, dev);
}

/* ---- tests ---- */

/* One flipped bit anywhere in the sealed secret (nonce, ciphertext, tag), or a truncated one. */
static void test_flipped_or_truncated_sealed(void **st)
{
    (void)st;
    char app[64], secret_b64[128];
    tl_device d;
    tl_app a = fresh("com.example.flip", &d, app, sizeof app);
    const char *secret = "flip-me-secret-0123456789";
    b64(secret_b64, sizeof secret_b64, secret);
    json_decref(tl_asset_addf(srv, a.token,
                              "{\"alias\":\"flip\",\"secret\":\"%s\",\"dataLabelCritical1\":\"c\","
                              "\"dataLabelNormal1\":\"n\"}",
                              secret_b64));
    json_decref(tl_asset_add(srv, a.token, "{\"alias\":\"bystander\",\"secret\":\"Ynk=\"}"));
    char *seq = seq_of(d.id, app, "flip");
    char *orig =
        db_value("SELECT encode(sealed, 'hex') FROM assets WHERE seq = $1", seq, NULL, NULL);
    char *len_s = db_value("SELECT length(sealed) FROM assets WHERE seq = $1", seq, NULL, NULL);
    long len = atol(len_s);
    assert_int_equal(len, (long)strlen(secret) + 40); /* nonce 24 + ciphertext + tag 16 */
    const long positions[] = {0, 23, 24, 24 + 5, len - 17, len - 16, len - 1};
    for (size_t i = 0; i < sizeof positions / sizeof positions[0]; i++) {
        char pos[24];
        snprintf(pos, sizeof pos, "%ld", positions[i]);
        sql2("UPDATE assets SET sealed = set_byte(sealed, $2::int, get_byte(sealed, $2::int) # 1) "
             "WHERE seq = $1",
             seq, pos);
        expect_corrupted(&a, "flip", "", secret_b64, seq);
        /* The neighbour is not affected when read alone. */
        char got[64];
        tl_get_secret(srv, a.token, "bystander", NULL, got, sizeof got);
        assert_string_equal(got, "by");
        sql2("UPDATE assets SET sealed = decode($2, 'hex') WHERE seq = $1", seq, orig);
        expect_intact(&a, "flip", "", secret);
    }
    /* Truncated: shorter than the overhead, exactly the overhead, one byte short, empty. */
    const char *cuts[] = {"0", "10", "40", "39", "64"};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        sql2("UPDATE assets SET sealed = substring(sealed from 1 for $2::int) WHERE seq = $1", seq,
             cuts[i]);
        expect_corrupted(&a, "flip", "", secret_b64, seq);
        sql2("UPDATE assets SET sealed = decode($2, 'hex') WHERE seq = $1", seq, orig);
    }
    /* One byte appended. */
    sql1("UPDATE assets SET sealed = sealed || '\\x00'::bytea WHERE seq = $1", seq);
    expect_corrupted(&a, "flip", "", secret_b64, seq);
    sql2("UPDATE assets SET sealed = decode($2, 'hex') WHERE seq = $1", seq, orig);
    expect_intact(&a, "flip", "", secret);
    /* A key version that does not exist. */
    sql1("UPDATE assets SET key_version = key_version + 7 WHERE seq = $1", seq);
    expect_corrupted(&a, "flip", "", secret_b64, seq);
    sql1("UPDATE assets SET key_version = key_version - 7 WHERE seq = $1", seq);
    expect_intact(&a, "flip", "", secret);
    free(seq);
    free(orig);
    free(len_s);
}

/* A sealed value copied from one row into another: another alias, another owner (app or group),
 * another device. Each copy is well-formed ciphertext under a real key; only the binding says no.
 */
static void test_sealed_copied_between_rows(void **st)
{
    (void)st;
    char app[64], app_b[64], s1[64], s2[64];
    tl_device d1, d2;
    tl_unique(app, sizeof app, "com.example.copy");
    tl_unique(app_b, sizeof app_b, "com.example.other");
    const char *groups[] = {"com.example.copygroup", NULL};
    d1 = tl_device_create(srv, NULL, NULL);
    d2 = tl_device_create(srv, NULL, NULL);
    tl_app a1 = tl_app_install(srv, d1.id, app, groups, false);
    tl_app b1 = tl_app_install(srv, d1.id, app_b, groups, false);
    tl_app a2 = tl_app_install(srv, d2.id, app, NULL, false);
    b64(s1, sizeof s1, "source-secret-AAAA");
    b64(s2, sizeof s2, "victim-secret-BBBB");
    /* Source: a1 "src". Victims: a1 "other-alias", b1 "src" (other app, same alias), group
     * store "src", a2 "src" (same app and alias on another device). */
    json_decref(tl_asset_addf(srv, a1.token, "{\"alias\":\"src\",\"secret\":\"%s\"}", s1));
    json_decref(tl_asset_addf(srv, a1.token, "{\"alias\":\"other-alias\",\"secret\":\"%s\"}", s2));
    json_decref(tl_asset_addf(srv, b1.token, "{\"alias\":\"src\",\"secret\":\"%s\"}", s2));
    json_decref(tl_asset_addf(srv, a1.token,
                              "{\"alias\":\"src\",\"secret\":\"%s\",\"groupId\":\"com.example."
                              "copygroup\"}",
                              s2));
    json_decref(tl_asset_addf(srv, a2.token, "{\"alias\":\"src\",\"secret\":\"%s\"}", s2));
    char *src = seq_of(d1.id, app, "src");
    struct {
        const tl_app *who;
        const char *device, *owner, *alias, *sel;
    } victims[] = {
        {&a1, d1.id, app, "other-alias", ""},
        {&b1, d1.id, app_b, "src", ""},
        {&a1, d1.id, "com.example.copygroup", "src", "groupId=com.example.copygroup"},
        {&a2, d2.id, app, "src", ""},
    };
    for (size_t i = 0; i < sizeof victims / sizeof victims[0]; i++) {
        char *v = seq_of(victims[i].device, victims[i].owner, victims[i].alias);
        char *orig =
            db_value("SELECT encode(sealed, 'hex') FROM assets WHERE seq = $1", v, NULL, NULL);
        sql2("UPDATE assets SET sealed = (SELECT sealed FROM assets WHERE seq = $2) WHERE seq = $1",
             v, src);
        expect_corrupted(victims[i].who, victims[i].alias, victims[i].sel, s1, v);
        sql2("UPDATE assets SET sealed = decode($2, 'hex') WHERE seq = $1", v, orig);
        expect_intact(victims[i].who, victims[i].alias, victims[i].sel, "victim-secret-BBBB");
        free(v);
        free(orig);
    }
    expect_intact(&a1, "src", "", "source-secret-AAAA");
    free(src);
}

/* A whole row moved: to another owner, renamed to another alias, to another device, into the
 * group store. The ciphertext comes along untouched; the binding refuses it. */
static void test_row_moved(void **st)
{
    (void)st;
    char app[64], app_b[64], s[64];
    tl_unique(app, sizeof app, "com.example.move");
    tl_unique(app_b, sizeof app_b, "com.example.thief");
    const char *groups[] = {"com.example.movegroup", NULL};
    tl_device d1 = tl_device_create(srv, NULL, NULL), d2 = tl_device_create(srv, NULL, NULL);
    tl_app a1 = tl_app_install(srv, d1.id, app, groups, false);
    tl_app b1 = tl_app_install(srv, d1.id, app_b, groups, false);
    tl_app a2 = tl_app_install(srv, d2.id, app, NULL, false);
    b64(s, sizeof s, "movable-secret-CCCC");
    json_decref(tl_asset_addf(srv, a1.token, "{\"alias\":\"mv\",\"secret\":\"%s\"}", s));
    char *seq = seq_of(d1.id, app, "mv");

    sql2("UPDATE assets SET owner = $2 WHERE seq = $1", seq, app_b);
    tl_req_problem(srv, "GET", "/assets/mv", a1.token, NULL, 404, "NOT_FOUND");
    expect_corrupted(&b1, "mv", "", s, seq);
    sql2("UPDATE assets SET owner = $2 WHERE seq = $1", seq, app);
    expect_intact(&a1, "mv", "", "movable-secret-CCCC");

    sql1("UPDATE assets SET alias = 'renamed' WHERE seq = $1", seq);
    expect_corrupted(&a1, "renamed", "", s, seq);
    sql1("UPDATE assets SET alias = 'mv' WHERE seq = $1", seq);
    expect_intact(&a1, "mv", "", "movable-secret-CCCC");

    sql2("UPDATE assets SET device_id = $2 WHERE seq = $1", seq, d2.id);
    expect_corrupted(&a2, "mv", "", s, seq);
    sql2("UPDATE assets SET device_id = $2 WHERE seq = $1", seq, d1.id);
    expect_intact(&a1, "mv", "", "movable-secret-CCCC");

    sql1("UPDATE assets SET owner_kind = 1, owner = 'com.example.movegroup' WHERE seq = $1", seq);
    expect_corrupted(&a1, "mv", "groupId=com.example.movegroup", s, seq);
    sql2("UPDATE assets SET owner_kind = 0, owner = $2 WHERE seq = $1", seq, app);
    expect_intact(&a1, "mv", "", "movable-secret-CCCC");
    free(seq);
}

/* Each bound column changed on its own: critical labels, accessibility, requirePasswordSet,
 * authType, syncType, isPersistent, wrapType. Some of these would be privilege escalations if
 * they were not bound (authType ANY -> NONE hands out an auth-gated secret; accessibility
 * DEVICE_UNLOCKED -> DEVICE_POWERED_ON reads it on a locked device). */
static void test_bound_columns_changed(void **st)
{
    (void)st;
    char app[64], s[64];
    tl_device d;
    tl_app a = fresh("com.example.bound", &d, app, sizeof app);
    b64(s, sizeof s, "bound-secret-DDDD");
    json_decref(tl_asset_addf(
        srv, a.token,
        "{\"alias\":\"b\",\"secret\":\"%s\",\"accessibility\":\"DEVICE_UNLOCKED\","
        "\"syncType\":[\"THIS_DEVICE\"],\"wrapType\":\"NEVER\",\"dataLabelCritical1\":\"crit-1\","
        "\"dataLabelCritical4\":\"crit-4\"}",
        s));
    char *seq = seq_of(d.id, app, "b");
    static const struct {
        const char *set, *undo;
    } edits[] = {
        {"c1 = 'crit-X'", "c1 = 'crit-1'"},
        {"c1 = NULL", "c1 = 'crit-1'"},
        {"c2 = 'crit-1'", "c2 = NULL"}, /* an absent critical label made present */
        {"c4 = 'crit-'", "c4 = 'crit-4'"},
        {"accessibility = 0", "accessibility = 2"},
        {"req_pwd = true", "req_pwd = false"},
        {"sync_type = 3", "sync_type = 1"},
        {"persistent = true", "persistent = false"},
        {"wrap_type = 1", "wrap_type = 0"},
        {"attr_enc = true", "attr_enc = false"},
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        char q[256];
        snprintf(q, sizeof q, "UPDATE assets SET %s WHERE seq = $1", edits[i].set);
        sql1(q, seq);
        expect_corrupted(
            &a, "b", strstr(edits[i].set, "attr_enc") ? "requireAttrEncrypted=true" : "", s, seq);
        snprintf(q, sizeof q, "UPDATE assets SET %s WHERE seq = $1", edits[i].undo);
        sql1(q, seq);
        expect_intact(&a, "b", "", "bound-secret-DDDD");
    }
    free(seq);

    /* The escalations, end to end. An auth-gated secret is 403 through GET; with authType
     * flipped to NONE in the table it must not come out. */
    b64(s, sizeof s, "gated-secret-EEEE");
    json_decref(tl_asset_addf(srv, a.token,
                              "{\"alias\":\"gated\",\"secret\":\"%s\",\"authType\":\"ANY\"}", s));
    tl_req_problem(srv, "GET", "/assets/gated?returnType=ALL", a.token, NULL, 403, "ACCESS_DENIED");
    char *gseq = seq_of(d.id, app, "gated");
    sql1("UPDATE assets SET auth_type = 0 WHERE seq = $1", gseq);
    expect_corrupted(&a, "gated", "", s, gseq);
    sql1("UPDATE assets SET auth_type = 255 WHERE seq = $1", gseq);
    tl_req_problem(srv, "GET", "/assets/gated?returnType=ALL", a.token, NULL, 403, "ACCESS_DENIED");
    free(gseq);

    /* DEVICE_UNLOCKED on a locked device is 409; downgraded to DEVICE_POWERED_ON in the table
     * it must not come out either. */
    tl_device_set_state(srv, d.id, true, true, true);
    tl_req_problem(srv, "GET", "/assets/b?returnType=ALL", a.token, NULL, 409, "STATUS_MISMATCH");
    char *bseq = seq_of(d.id, app, "b");
    b64(s, sizeof s, "bound-secret-DDDD");
    sql1("UPDATE assets SET accessibility = 0 WHERE seq = $1", bseq);
    expect_corrupted(&a, "b", "", s, bseq);
    sql1("UPDATE assets SET accessibility = 2 WHERE seq = $1", bseq);
    tl_req_problem(srv, "GET", "/assets/b?returnType=ALL", a.token, NULL, 409, "STATUS_MISMATCH");
    tl_device_set_state(srv, d.id, false, false, true);
    expect_intact(&a, "b", "", "bound-secret-DDDD");
    free(bseq);
}

/* Encrypted labels (requireAttrEncrypted): the label blob is sealed too. A flipped byte, a blob
 * swapped with another asset's, a missing blob, and a flipped secret all refuse to open. */
static void test_encrypted_labels_tampered(void **st)
{
    (void)st;
    char app[64], s[64];
    tl_device d;
    tl_app a = fresh("com.example.enclabels", &d, app, sizeof app);
    b64(s, sizeof s, "enc-secret-FFFF");
    json_decref(
        tl_asset_addf(srv, a.token,
                      "{\"alias\":\"e1\",\"secret\":\"%s\",\"requireAttrEncrypted\":true,"
                      "\"dataLabelCritical1\":\"enc-crit\",\"dataLabelNormal1\":\"enc-normal\"}",
                      s));
    json_decref(tl_asset_add(srv, a.token,
                             "{\"alias\":\"e2\",\"secret\":\"ZTI=\",\"requireAttrEncrypted\":true,"
                             "\"dataLabelCritical1\":\"other-crit\"}"));
    const char *sel = "requireAttrEncrypted=true";
    char *seq = seq_of(d.id, app, "e1"), *seq2 = seq_of(d.id, app, "e2");
    char *labels =
        db_value("SELECT encode(labels_sealed, 'hex') FROM assets WHERE seq = $1", seq, NULL, NULL);
    char *sealed =
        db_value("SELECT encode(sealed, 'hex') FROM assets WHERE seq = $1", seq, NULL, NULL);
    /* Reads fine first, labels included. */
    tl_resp *r = tl_http(srv, "GET", "/assets/e1?requireAttrEncrypted=true", a.token, NULL);
    tl_expect_status(r, 200);
    assert_string_equal(tl_jstr(r->json, "dataLabelNormal1"), "enc-normal");
    tl_resp_free(r);

    const char *flips[] = {"0", "30", "-1"};
    for (size_t i = 0; i < 3; i++) {
        if (strcmp(flips[i], "-1") == 0)
            sql1("UPDATE assets SET labels_sealed = set_byte(labels_sealed, length(labels_sealed) "
                 "- 1, "
                 "get_byte(labels_sealed, length(labels_sealed) - 1) # 128) WHERE seq = $1",
                 seq);
        else
            sql2("UPDATE assets SET labels_sealed = set_byte(labels_sealed, $2::int, "
                 "get_byte(labels_sealed, $2::int) # 1) WHERE seq = $1",
                 seq, flips[i]);
        expect_corrupted(&a, "e1", sel, s, seq);
        sql2("UPDATE assets SET labels_sealed = decode($2, 'hex') WHERE seq = $1", seq, labels);
        expect_intact(&a, "e1", sel, "enc-secret-FFFF");
    }
    /* The label blob of another asset of the same store. */
    sql2("UPDATE assets SET labels_sealed = (SELECT labels_sealed FROM assets WHERE seq = $2) "
         "WHERE seq = $1",
         seq, seq2);
    expect_corrupted(&a, "e1", sel, s, seq);
    sql2("UPDATE assets SET labels_sealed = decode($2, 'hex') WHERE seq = $1", seq, labels);
    /* No blob at all. */
    sql1("UPDATE assets SET labels_sealed = NULL WHERE seq = $1", seq);
    expect_corrupted(&a, "e1", sel, s, seq);
    sql2("UPDATE assets SET labels_sealed = decode($2, 'hex') WHERE seq = $1", seq, labels);
    /* The secret itself. */
    sql1("UPDATE assets SET sealed = set_byte(sealed, 30, get_byte(sealed, 30) # 4) WHERE seq = $1",
         seq);
    expect_corrupted(&a, "e1", sel, s, seq);
    sql2("UPDATE assets SET sealed = decode($2, 'hex') WHERE seq = $1", seq, sealed);
    /* Moved to the plain store, where its label columns (blind indexes) would pass for labels. */
    sql1("UPDATE assets SET attr_enc = false WHERE seq = $1", seq);
    expect_corrupted(&a, "e1", "", s, seq);
    sql1("UPDATE assets SET attr_enc = true WHERE seq = $1", seq);
    expect_intact(&a, "e1", sel, "enc-secret-FFFF");
    r = tl_http(srv, "GET", "/assets?requireAttrEncrypted=true&dataLabelNormal1=enc-normal",
                a.token, NULL);
    tl_expect_status(r, 200);
    assert_int_equal(json_array_size(json_object_get(r->json, "assets")), 1);
    tl_resp_free(r);
    free(seq);
    free(seq2);
    free(labels);
    free(sealed);
}

/* A list answers DATA_CORRUPTED as a whole when one row of the page is bad (no partial page that
 * silently drops a record), and a page that does not hold the bad row still works. */
static void test_list_with_one_bad_row(void **st)
{
    (void)st;
    char app[64];
    tl_device d;
    tl_app a = fresh("com.example.list", &d, app, sizeof app);
    for (int i = 0; i < 5; i++)
        json_decref(tl_asset_addf(
            srv, a.token, "{\"alias\":\"l%d\",\"secret\":\"bGlzdA==\",\"dataLabelNormal1\":\"%s\"}",
            i, i == 3 ? "odd" : "even"));
    char *seq = seq_of(d.id, app, "l3");
    sql1(
        "UPDATE assets SET sealed = set_byte(sealed, 33, get_byte(sealed, 33) # 16) WHERE seq = $1",
        seq);
    expect_corrupted_resp(tl_http(srv, "GET", "/assets", a.token, NULL), NULL);
    expect_corrupted_resp(tl_http(srv, "GET", "/assets?dataLabelNormal1=odd", a.token, NULL), NULL);
    char out[256];
    assert_string_equal(tl_list(srv, a.token, "dataLabelNormal1=even", out, sizeof out),
                        "l0,l1,l2,l4");
    /* Paging: the first page (l0, l1) is fine; the one holding l3 is refused. */
    tl_resp *r = tl_http(srv, "GET", "/assets?limit=2", a.token, NULL);
    tl_expect_status(r, 200);
    char cursor[512], enc[1600];
    snprintf(cursor, sizeof cursor, "%s", tl_jstr(r->json, "nextCursor"));
    tl_resp_free(r);
    expect_corrupted_resp(tl_httpf(srv, "GET", a.token, NULL, "/assets?limit=2&cursor=%s",
                                   tl_urlenc(enc, sizeof enc, cursor)),
                          NULL);
    /* The owner can still remove the bad record (remove does not open it), and then the list
     * works again. */
    tl_req_status(srv, "DELETE", "/assets/l3", a.token, NULL, 204);
    assert_string_equal(tl_list(srv, a.token, "", out, sizeof out), "l0,l1,l2,l4");
    free(seq);
}

/* A backup opens every record to re-seal it: a tampered record makes the whole backup fail with
 * DATA_CORRUPTED (nothing half-written), not a backup that silently lacks it. */
static void test_backup_of_tampered_device(void **st)
{
    (void)st;
    char app[64], body[128];
    tl_device d;
    tl_app a = fresh("com.example.bak", &d, app, sizeof app);
    json_decref(tl_asset_add(
        srv, a.token, "{\"alias\":\"k1\",\"secret\":\"azE=\",\"syncType\":[\"TRUSTED_DEVICE\"]}"));
    json_decref(tl_asset_add(
        srv, a.token, "{\"alias\":\"k2\",\"secret\":\"azI=\",\"syncType\":[\"TRUSTED_DEVICE\"]}"));
    char *seq = seq_of(d.id, app, "k2");
    sql1("UPDATE assets SET c3 = 'injected' WHERE seq = $1", seq);
    snprintf(body, sizeof body, "{\"deviceId\":\"%s\"}", d.id);
    expect_corrupted_resp(tl_http(srv, "POST", "/backups", srv->admin_token, body), NULL);
    assert_int_equal(tl_db_count("SELECT count(*) FROM backups WHERE device_id = $1", d.id, NULL),
                     0);
    assert_int_equal(tl_db_count("SELECT count(*) FROM backup_records r JOIN backups b ON b.id = "
                                 "r.backup_id WHERE b.device_id = $1",
                                 d.id, NULL),
                     0);
    sql1("UPDATE assets SET c3 = NULL WHERE seq = $1", seq);
    tl_resp *r = tl_http(srv, "POST", "/backups", srv->admin_token, body);
    tl_expect_status(r, 201);
    assert_int_equal(tl_jint(r->json, "recordCount"), 2);
    tl_resp_free(r);
    free(seq);
}

/* The device's wrapped data key: flipped, or another device's copied in. Every call with the
 * device's tokens is refused with DATA_CORRUPTED (not 401, not a crash). Tokens are used here for
 * the first time after the tampering, so no cached principal hides it. */
static void test_device_key_tampered(void **st)
{
    (void)st;
    tl_device d1 = tl_device_create(srv, NULL, NULL), d2 = tl_device_create(srv, NULL, NULL);
    char app[64];
    tl_unique(app, sizeof app, "com.example.dek");
    tl_app a1 = tl_app_install(srv, d1.id, app, NULL, false);
    char *orig = db_value("SELECT encode(wrapped, 'hex') FROM device_keys WHERE device_id = $1",
                          d1.id, NULL, NULL);
    sql1("UPDATE device_keys SET wrapped = set_byte(wrapped, 40, get_byte(wrapped, 40) # 2) "
         "WHERE device_id = $1",
         d1.id);
    expect_corrupted_resp(tl_http(srv, "GET", "/assets", a1.token, NULL), NULL);
    expect_corrupted_resp(
        tl_http(srv, "POST", "/assets", a1.token, "{\"alias\":\"x\",\"secret\":\"eA==\"}"), NULL);
    assert_int_equal(tl_db_count("SELECT count(*) FROM assets WHERE device_id = $1", d1.id, NULL),
                     0);
    sql2("UPDATE device_keys SET wrapped = (SELECT wrapped FROM device_keys WHERE device_id = $2) "
         "WHERE device_id = $1",
         d1.id, d2.id);
    expect_corrupted_resp(tl_http(srv, "GET", "/assets", a1.token, NULL), NULL);
    expect_corrupted_resp(tl_httpf(srv, "GET", d1.token, NULL, "/devices/%s", d1.id), NULL);
    sql2("UPDATE device_keys SET wrapped = decode($2, 'hex') WHERE device_id = $1", d1.id, orig);
    json_decref(tl_asset_add(srv, a1.token, "{\"alias\":\"x\",\"secret\":\"eA==\"}"));
    char got[16];
    tl_get_secret(srv, a1.token, "x", NULL, got, sizeof got);
    assert_string_equal(got, "x");
    free(orig);
    expect_healthy();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flipped_or_truncated_sealed),
        cmocka_unit_test(test_sealed_copied_between_rows),
        cmocka_unit_test(test_row_moved),
        cmocka_unit_test(test_bound_columns_changed),
        cmocka_unit_test(test_encrypted_labels_tampered),
        cmocka_unit_test(test_list_with_one_bad_row),
        cmocka_unit_test(test_backup_of_tampered_device),
        cmocka_unit_test(test_device_key_tampered),
    };
    return tl_finish(cmocka_run_group_tests(tests, setup, teardown));
}
