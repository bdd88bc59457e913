/* Reliability: nothing secret at rest (spec §9, §2).
 *
 * Secrets with distinctive bytes and encrypted labels (requireAttrEncrypted) go through every
 * path that stores something — add, add with OVERWRITE, update of the secret and of the labels,
 * a group's asset, an auth-gated asset with a live pre-query challenge, a backup, and a restore
 * onto a trusted device (sync worker) — and then the whole database is searched:
 *   - pg_dump of the database (the PostgreSQL 15 client, on TEST_DATABASE_URL);
 *   - every row of assets, backup_records, backups, challenges, devices, installations,
 *     service_keys, device_keys, audit_log, restores, sync_results as text (SELECT t::text);
 *   - the files of the database and the WAL written during the test (after a CHECKPOINT), which
 *     also hold dead row versions and data no SELECT shows any more;
 *   - the server's own log and PostgreSQL's log.
 * None may hold a secret — as raw bytes, standard or URL-safe base64 (padded or not), lower or
 * upper case hex — nor an encrypted label's plaintext (raw, hex, base64), nor a bearer token
 * (admin, device, installation: as text, hex of the text, or its 32 raw bytes and their hex),
 * including a secret that was replaced by an update (its old version must be gone too).
 * Positive controls (an alias and a plain label, stored in the clear by design, must be found
 * by the very same search) show the search itself works. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "../../lib/testlib.h"

static tl_server *srv;

static int setup(void **st)
{
    (void)st;
    static const char *const env[] = {"ASSETD_SYNC_WORKERS=1", NULL};
    srv = tl_server_start(env);
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    assert_int_equal(tl_server_stop(srv), 0);
    return 0;
}

/* ---- patterns ---- */

typedef struct {
    char what[96];
    unsigned char *bytes;
    size_t len;
} pattern;

#define MAX_PATTERNS 256
static pattern g_pat[MAX_PATTERNS];
static int g_npat;

static void add_pattern(const char *what, const void *bytes, size_t len)
{
    assert_true(g_npat < MAX_PATTERNS);
    assert_true(len >= 12); /* long enough that a chance match is impossible */
    pattern *p = &g_pat[g_npat++];
    snprintf(p->what, sizeof p->what, "%s", what);
    p->bytes = malloc(len);
    assert_non_null(p->bytes);
    memcpy(p->bytes, bytes, len);
    p->len = len;
}

/* The forms a byte string could be stored in. */
static void add_forms(const char *name, const unsigned char *b, size_t n)
{
    char what[96], *buf = malloc(4 * n + 8);
    assert_non_null(buf);
    snprintf(what, sizeof what, "%s (raw)", name);
    add_pattern(what, b, n);
    sodium_bin2hex(buf, 2 * n + 1, b, n);
    snprintf(what, sizeof what, "%s (hex)", name);
    add_pattern(what, buf, 2 * n);
    for (size_t i = 0; i < 2 * n; i++)
        if (buf[i] >= 'a' && buf[i] <= 'f')
            buf[i] = (char)(buf[i] - 'a' + 'A');
    snprintf(what, sizeof what, "%s (HEX)", name);
    add_pattern(what, buf, 2 * n);
    const int variants[] = {
        sodium_base64_VARIANT_ORIGINAL, sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
        sodium_base64_VARIANT_URLSAFE, sodium_base64_VARIANT_URLSAFE_NO_PADDING};
    const char *names[] = {"base64", "base64 unpadded", "base64url", "base64url unpadded"};
    for (int v = 0; v < 4; v++) {
        sodium_bin2base64(buf, 4 * n + 8, b, n, variants[v]);
        /* Without padding, the padded form's prefix is already covered. */
        snprintf(what, sizeof what, "%s (%s)", name, names[v]);
        if (strlen(buf) >= 12)
            add_pattern(what, buf, strlen(buf));
    }
    free(buf);
}

/* A bearer token: its text, the hex of its text, and the 32 bytes it encodes. */
static void add_token(const char *name, const char *token)
{
    char what[96];
    add_forms(name, (const unsigned char *)token, strlen(token));
    unsigned char raw[64];
    size_t n = 0;
    if (sodium_base642bin(raw, sizeof raw, token, strlen(token), NULL, &n, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0 &&
        n >= 16) {
        snprintf(what, sizeof what, "%s bytes", name);
        add_forms(what, raw, n);
    }
}

/* Which patterns occur in buf[0..n); counts per pattern into hits. */
static void scan(const char *where, const unsigned char *buf, size_t n, int *hits, char *report,
                 size_t report_cap)
{
    for (int i = 0; i < g_npat; i++) {
        const unsigned char *at = memmem(buf, n, g_pat[i].bytes, g_pat[i].len);
        if (!at)
            continue;
        if (hits[i]++ == 0) {
            size_t len = strlen(report);
            snprintf(report + len, report_cap - len, "\n  %s found in %s at byte %zu",
                     g_pat[i].what, where, (size_t)(at - buf));
        }
    }
}

static bool found(const unsigned char *buf, size_t n, const char *text)
{
    return memmem(buf, n, text, strlen(text)) != NULL;
}

/* ---- where to look ---- */

static unsigned char *read_all(FILE *f, size_t *len)
{
    size_t cap = 1 << 20, n = 0, got;
    unsigned char *buf = malloc(cap);
    assert_non_null(buf);
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
    }
    *len = n;
    return buf;
}

static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    unsigned char *b = read_all(f, len);
    fclose(f);
    return b;
}

/* The folder of the test cluster: TEST_DATABASE_URL's host= is <dir>/sock. */
static bool cluster_dir(char *out, size_t n)
{
    const char *url = getenv("TEST_DATABASE_URL");
    const char *h = url ? strstr(url, "host=") : NULL;
    if (!h)
        return false;
    h += 5;
    size_t len = strcspn(h, "&");
    if (len < 6 || len >= n || strncmp(h + len - 5, "/sock", 5) != 0)
        return false;
    memcpy(out, h, len - 5);
    out[len - 5] = 0;
    return true;
}

static char *db_value(const char *sql)
{
    char *v = tl_db_dump(sql, NULL);
    char *nl = strchr(v, '\n');
    if (nl)
        *nl = 0;
    return v;
}

/* ---- the test ---- */

static void random_text(char *out, size_t n, const char *prefix)
{
    unsigned char r[16];
    char hex[33];
    randombytes_buf(r, sizeof r);
    sodium_bin2hex(hex, sizeof hex, r, sizeof r);
    snprintf(out, n, "%s-%s", prefix, hex);
}

static void test_nothing_secret_at_rest(void **st)
{
    (void)st;
    if (sodium_init() < 0)
        fail_msg("sodium_init");
    char dir[512];
    bool have_dir = cluster_dir(dir, sizeof dir);
    char *wal_first = db_value("SELECT pg_walfile_name(pg_current_wal_lsn())");

    /* Secrets: binary ones, text-like ones, one replaced by an update, one in a group. */
    unsigned char sec_bin[48], sec_old[40], sec_new[64], sec_grp[33], sec_gated[32], sec_ow[36];
    randombytes_buf(sec_bin, sizeof sec_bin);
    randombytes_buf(sec_old, sizeof sec_old);
    randombytes_buf(sec_new, sizeof sec_new);
    randombytes_buf(sec_gated, sizeof sec_gated);
    randombytes_buf(sec_ow, sizeof sec_ow);
    char sec_text[64];
    random_text(sec_text, sizeof sec_text, "AtRestTextSecret");
    memcpy(sec_grp, "GROUPSECRET-", 12);
    randombytes_buf(sec_grp + 12, sizeof sec_grp - 12);
    /* Encrypted labels' plaintexts (aliases are not secret: they are stored in the clear). */
    char lab_c1[64], lab_n1[64], lab_l1[64], lab_n1_new[64], lab_grp[64], alias_plain[64],
        label_plain[64];
    random_text(lab_c1, sizeof lab_c1, "EncCritLabel");
    random_text(lab_n1, sizeof lab_n1, "EncNormLabel");
    random_text(lab_l1, sizeof lab_l1, "EncLocalLabel");
    random_text(lab_n1_new, sizeof lab_n1_new, "EncNormLabelUpdated");
    random_text(lab_grp, sizeof lab_grp, "EncGroupLabel");
    random_text(alias_plain, sizeof alias_plain, "plain-alias");
    random_text(label_plain, sizeof label_plain, "PlainLabel");

    char b_bin[128], b_old[128], b_new[128], b_text[128], b_grp[128], b_gated[128], b_ow[128];
    tl_b64(b_bin, sizeof b_bin, sec_bin, sizeof sec_bin);
    tl_b64(b_old, sizeof b_old, sec_old, sizeof sec_old);
    tl_b64(b_new, sizeof b_new, sec_new, sizeof sec_new);
    tl_b64(b_text, sizeof b_text, sec_text, strlen(sec_text));
    tl_b64(b_grp, sizeof b_grp, sec_grp, sizeof sec_grp);
    tl_b64(b_gated, sizeof b_gated, sec_gated, sizeof sec_gated);
    tl_b64(b_ow, sizeof b_ow, sec_ow, sizeof sec_ow);

    /* Two trusted devices of one account, the app on both. */
    char account[64], app[64];
    tl_unique(account, sizeof account, "acct-rest");
    tl_unique(app, sizeof app, "com.example.atrest");
    const char *groups[] = {"com.example.restgroup", NULL};
    tl_device d1 = tl_device_create(srv, "rest-old", account);
    tl_device d2 = tl_device_create(srv, "rest-new", account);
    tl_app a1 = tl_app_install(srv, d1.id, app, groups, false);
    tl_app a2 = tl_app_install(srv, d2.id, app, groups, false);

    json_decref(tl_asset_addf(srv, a1.token,
                              "{\"alias\":\"%s\",\"secret\":\"%s\",\"dataLabelNormal1\":\"%s\","
                              "\"syncType\":[\"TRUSTED_DEVICE\"]}",
                              alias_plain, b_bin, label_plain));
    json_decref(tl_asset_addf(srv, a1.token,
                              "{\"alias\":\"enc\",\"secret\":\"%s\",\"requireAttrEncrypted\":true,"
                              "\"dataLabelCritical1\":\"%s\",\"dataLabelNormal1\":\"%s\","
                              "\"dataLabelNormalLocal1\":\"%s\",\"syncType\":[\"TRUSTED_DEVICE\"]}",
                              b_text, lab_c1, lab_n1, lab_l1));
    /* Replaced by an update: the old secret and the old label must be gone for good. */
    json_decref(tl_asset_addf(srv, a1.token,
                              "{\"alias\":\"upd\",\"secret\":\"%s\",\"requireAttrEncrypted\":true,"
                              "\"dataLabelNormal2\":\"%s\",\"syncType\":[\"TRUSTED_DEVICE\"]}",
                              b_old, lab_n1));
    tl_resp *r;
    char body[1024];
    snprintf(body, sizeof body, "{\"secret\":\"%s\",\"dataLabelNormal2\":\"%s\"}", b_new,
             lab_n1_new);
    tl_req_status(srv, "PATCH", "/assets/upd?requireAttrEncrypted=true", a1.token, body, 200);
    /* Replaced by an add with OVERWRITE. */
    json_decref(tl_asset_addf(
        srv, a1.token, "{\"alias\":\"ow\",\"secret\":\"%s\",\"syncType\":[\"TRUSTED_DEVICE\"]}",
        b_old));
    snprintf(body, sizeof body,
             "{\"alias\":\"ow\",\"secret\":\"%s\",\"conflictResolution\":\"OVERWRITE\","
             "\"syncType\":[\"TRUSTED_DEVICE\"]}",
             b_ow);
    tl_req_status(srv, "POST", "/assets", a1.token, body, 200);
    json_decref(
        tl_asset_addf(srv, a1.token,
                      "{\"alias\":\"grp\",\"secret\":\"%s\",\"groupId\":\"com.example.restgroup\","
                      "\"requireAttrEncrypted\":true,\"dataLabelCritical2\":\"%s\","
                      "\"syncType\":[\"TRUSTED_DEVICE\"]}",
                      b_grp, lab_grp));
    json_decref(tl_asset_addf(
        srv, a1.token, "{\"alias\":\"gated\",\"secret\":\"%s\",\"authType\":\"ANY\"}", b_gated));
    /* A live challenge in the database. */
    r = tl_http(srv, "POST", "/assets/pre-query", a1.token, "{\"alias\":\"gated\"}");
    tl_expect_status(r, 200);
    tl_resp_free(r);
    /* Reads (which go to the audit log) of every secret. */
    char got[256];
    tl_get_secret(srv, a1.token, "enc", "requireAttrEncrypted=true", got, sizeof got);
    assert_string_equal(got, sec_text);
    tl_get_secret(srv, a1.token, alias_plain, NULL, got, sizeof got);
    assert_memory_equal(got, sec_bin, sizeof sec_bin);

    /* Backup of d1 and restore onto d2 (the sync worker re-seals for d2). */
    snprintf(body, sizeof body, "{\"deviceId\":\"%s\"}", d1.id);
    r = tl_http(srv, "POST", "/backups", srv->admin_token, body);
    tl_expect_status(r, 201);
    char backup_id[64];
    snprintf(backup_id, sizeof backup_id, "%s", tl_jstr(r->json, "id"));
    assert_int_equal(tl_jint(r->json, "recordCount"), 5);
    tl_resp_free(r);
    snprintf(body, sizeof body, "{\"backupId\":\"%s\",\"targetDeviceId\":\"%s\"}", backup_id,
             d2.id);
    r = tl_http(srv, "POST", "/restores", d2.token, body);
    tl_expect_status(r, 202);
    char restore_id[64];
    snprintf(restore_id, sizeof restore_id, "%s", tl_jstr(r->json, "id"));
    tl_resp_free(r);
    const char *status = NULL;
    for (int i = 0; i < 400; i++) {
        r = tl_httpf(srv, "GET", srv->admin_token, NULL, "/restores/%s", restore_id);
        tl_expect_status(r, 200);
        status = strcmp(tl_jstr(r->json, "status"), "done") == 0 ? "done" : NULL;
        long accepted = tl_jint(r->json, "accepted");
        tl_resp_free(r);
        if (status) {
            assert_int_equal(accepted, 5);
            break;
        }
        usleep(50 * 1000);
    }
    assert_non_null(status);
    tl_get_secret(srv, a2.token, "enc", "requireAttrEncrypted=true", got, sizeof got);
    assert_string_equal(got, sec_text);
    tl_get_secret(srv, a2.token, "upd", "requireAttrEncrypted=true", got, sizeof got);
    assert_memory_equal(got, sec_new, sizeof sec_new);

    /* What must not be anywhere. */
    add_forms("secret (binary)", sec_bin, sizeof sec_bin);
    add_forms("secret (text)", (const unsigned char *)sec_text, strlen(sec_text));
    add_forms("secret replaced by an update", sec_old, sizeof sec_old);
    add_forms("secret set by an update", sec_new, sizeof sec_new);
    add_forms("secret set by OVERWRITE", sec_ow, sizeof sec_ow);
    add_forms("group secret", sec_grp, sizeof sec_grp);
    add_forms("auth-gated secret", sec_gated, sizeof sec_gated);
    add_forms("encrypted critical label", (const unsigned char *)lab_c1, strlen(lab_c1));
    add_forms("encrypted normal label", (const unsigned char *)lab_n1, strlen(lab_n1));
    add_forms("encrypted normal-local label", (const unsigned char *)lab_l1, strlen(lab_l1));
    add_forms("encrypted label set by an update", (const unsigned char *)lab_n1_new,
              strlen(lab_n1_new));
    add_forms("encrypted group label", (const unsigned char *)lab_grp, strlen(lab_grp));
    add_token("admin token", srv->admin_token);
    add_token("device token (old)", d1.token);
    add_token("device token (new)", d2.token);
    add_token("installation token (old)", a1.token);
    add_token("installation token (new)", a2.token);
    /* Secrets must not even be findable by a prefix (e.g. a truncated copy). */
    add_pattern("secret (binary), first 16 bytes", sec_bin, 16);
    add_pattern("secret (text), first 24 characters", sec_text, 24);

    int *hits = calloc((size_t)g_npat, sizeof *hits);
    size_t report_cap = 16384;
    char *report = calloc(1, report_cap);
    assert_non_null(hits);
    assert_non_null(report);

    /* 1. pg_dump of the whole database. */
    char cmd[2048];
    const char *url = getenv("TEST_DATABASE_URL");
    snprintf(cmd, sizeof cmd, "/usr/lib/postgresql/15/bin/pg_dump --no-owner -d '%s' 2>&1", url);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t dump_len = 0;
    unsigned char *dump = read_all(p, &dump_len);
    int dump_rc = pclose(p);
    if (dump_rc != 0)
        fail_msg("pg_dump failed (%d): %.*s", dump_rc, (int)(dump_len < 2000 ? dump_len : 2000),
                 (const char *)dump);
    /* Positive controls: the dump is complete enough to hold what is stored in the clear. */
    assert_true(found(dump, dump_len, "COPY public.assets"));
    assert_true(found(dump, dump_len, "COPY public.backup_records"));
    assert_true(found(dump, dump_len, alias_plain));
    assert_true(found(dump, dump_len, label_plain));
    assert_true(found(dump, dump_len, restore_id));
    scan("pg_dump", dump, dump_len, hits, report, report_cap);
    free(dump);

    /* 2. Every row of every table that holds asset data, keys, tokens or audit records. */
    static const char *const tables[] = {"assets",       "backup_records", "backups",
                                         "challenges",   "devices",        "installations",
                                         "service_keys", "device_keys",    "audit_log",
                                         "restores",     "sync_results",   "restore_owner_counts"};
    size_t all_len = 0;
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        char q[128], where[64];
        snprintf(q, sizeof q, "SELECT t::text FROM %s t", tables[i]);
        char *rows = tl_db_dump(q, NULL);
        snprintf(where, sizeof where, "table %s", tables[i]);
        scan(where, (const unsigned char *)rows, strlen(rows), hits, report, report_cap);
        if (strcmp(tables[i], "assets") == 0) {
            assert_true(strstr(rows, alias_plain) && strstr(rows, label_plain));
        }
        all_len += strlen(rows);
        free(rows);
    }
    assert_true(tl_db_count("SELECT count(*) FROM backup_records WHERE backup_id = $1", backup_id,
                            NULL) == 5);
    assert_true(tl_db_count("SELECT count(*) FROM challenges c JOIN installations i ON i.id = "
                            "c.installation_id WHERE i.device_id = $1",
                            d1.id, NULL) == 1);
    assert_true(tl_db_count("SELECT count(*) FROM assets WHERE device_id = $1 AND attr_enc", d2.id,
                            NULL) == 3);
    assert_true(all_len > 0);

    /* 3. The database's files and the WAL written since the test began, after a checkpoint:
     * they also hold dead row versions (the replaced secret) that no SELECT shows. */
    PQclear(tl_db_exec("CHECKPOINT", NULL));
    char *wal_last = db_value("SELECT pg_walfile_name(pg_current_wal_lsn())");
    char *db_oid = db_value("SELECT oid FROM pg_database WHERE datname = current_database()");
    size_t bytes_scanned = 0;
    int files = 0;
    bool control_seen = false;
    if (have_dir) {
        const char *sub[2];
        char base[768], wal[768];
        snprintf(base, sizeof base, "%s/pgdata/base/%s", dir, db_oid);
        snprintf(wal, sizeof wal, "%s/pgdata/pg_wal", dir);
        sub[0] = base;
        sub[1] = wal;
        for (int k = 0; k < 2; k++) {
            DIR *dd = opendir(sub[k]);
            if (!dd)
                fail_msg("cannot open %s: %s", sub[k], strerror(errno));
            struct dirent *e;
            while ((e = readdir(dd))) {
                if (e->d_name[0] == '.')
                    continue;
                /* WAL: only the segments written during the test (same timeline: names sort). */
                if (k == 1 && (strlen(e->d_name) != 24 || strcmp(e->d_name, wal_first) < 0 ||
                               strcmp(e->d_name, wal_last) > 0))
                    continue;
                char path[1200];
                snprintf(path, sizeof path, "%s/%s", sub[k], e->d_name);
                struct stat sb;
                if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
                    continue;
                size_t len = 0;
                unsigned char *buf = read_file(path, &len);
                if (!buf)
                    fail_msg("cannot read %s: %s", path, strerror(errno));
                scan(path, buf, len, hits, report, report_cap);
                control_seen = control_seen || found(buf, len, label_plain);
                bytes_scanned += len;
                files++;
                free(buf);
            }
            closedir(dd);
        }
        assert_true(control_seen); /* the plain label is in the heap files or the WAL */
        print_message("scanned %d files, %zu bytes of database files and WAL\n", files,
                      bytes_scanned);
    } else {
        fail_msg("TEST_DATABASE_URL has no host=<dir>/sock: cannot find the cluster's files");
    }

    /* 4. Logs: the server's, and PostgreSQL's. */
    size_t len = 0;
    unsigned char *log = read_file(srv->proc->log_path, &len);
    assert_non_null(log);
    assert_true(found(log, len, "\"route\":\"/assets\"")); /* it does log requests */
    scan("the assetd log", log, len, hits, report, report_cap);
    free(log);
    char pglog[700];
    snprintf(pglog, sizeof pglog, "%s/postgres.log", dir);
    if ((log = read_file(pglog, &len))) {
        scan("postgres.log", log, len, hits, report, report_cap);
        free(log);
    }

    int total = 0;
    for (int i = 0; i < g_npat; i++)
        total += hits[i];
    if (total)
        fail_msg("secrets at rest:%s", report);
    print_message("%d patterns searched: none found\n", g_npat);
    free(hits);
    free(report);
    free(wal_first);
    free(wal_last);
    free(db_oid);
    for (int i = 0; i < g_npat; i++)
        free(g_pat[i].bytes);
    g_npat = 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nothing_secret_at_rest),
    };
    return tl_finish(cmocka_run_group_tests(tests, setup, teardown));
}
