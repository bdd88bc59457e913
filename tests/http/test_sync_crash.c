/* HTTP black-box tests: a large restore run by two `assetd worker` processes at once, one of them
 * killed with SIGKILL in the middle of the job. Spec §7 ("every participating record is decided
 * exactly once, whatever crashes or how many workers run"), §8.
 *
 * OLD gets N assets of 20 apps and 3 groups, in both stores (plain and requireAttrEncrypted),
 * their attributes a pure function of their index. OLD loses its lock-screen password before the
 * backup and NEW is locked and not unlocked since boot, so every rule of §7 refuses a known
 * subset. The test computes its own oracle from the seeded attributes and the two states and
 * checks the job's counts, the rows on NEW (through SQL and HTTP) and every sync result against
 * it. A smaller run without a kill must agree record for record with the killed one. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../lib/testlib.h"

#define NAPPS 20
#define NGROUPS 3
#define N_BIG 10000
#define N_SMALL 1000
#define SEED_THREADS 8

static tl_server *srv;

static int setup(void **st)
{
    (void)st;
    /* Restores are run by the `assetd worker` processes the tests start, not by the server. */
    /* Small chunks (the server cuts restore jobs when it creates them): a long job of many
     * transactions, so that a worker can be killed in the middle of it. */
    static const char *const env[] = {"ASSETD_SYNC_WORKERS=0", "ASSETD_HTTP_THREADS=8",
                                      "ASSETD_RESTORE_BATCH=50", NULL};
    srv = tl_server_start(env);
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    assert_int_equal(tl_server_stop(srv), 0);
    return 0;
}

/* ---- the seeded assets, and the oracle ----------------------------------------------------- */

enum { RULE_OK = -1, R_PASSWORD, R_UNLOCKED, R_USER_AUTH, R_FIRST_UNLOCK, NRULES };
static const char *const RULES[NRULES] = {"password", "unlocked", "user_auth", "first_unlock"};
enum { ACC_FIRST, ACC_POWERED, ACC_UNLOCKED };
static const char *const ACC_NAME[] = {"DEVICE_FIRST_UNLOCKED", "DEVICE_POWERED_ON",
                                       "DEVICE_UNLOCKED"};
enum { SYNC_TD, SYNC_TD_THIS, SYNC_THIS, SYNC_NEVER };
static const char *const SYNC_JSON[] = {
    "[\"TRUSTED_DEVICE\"]", "[\"THIS_DEVICE\",\"TRUSTED_DEVICE\"]", "[\"THIS_DEVICE\"]", "[]"};

typedef struct {
    int app;   /* which app adds it (0..NAPPS-1) */
    int group; /* -1: the app's own store; else the group (the app's group) */
    bool enc;  /* requireAttrEncrypted */
    int acc;
    bool rp;  /* requirePasswordSet */
    bool any; /* authType ANY */
    int sync;
} seed_attrs;

static int app_group(int app)
{
    return app % NGROUPS;
}

/* A small deterministic mix of (i, salt), so that the attributes do not line up with each other
 * nor with the app (i % NAPPS). */
static unsigned mix(int i, unsigned salt)
{
    unsigned x = (unsigned)i * 2654435761u ^ salt * 40503u;
    x ^= x >> 15;
    x *= 2246822519u;
    x ^= x >> 13;
    return x;
}

static seed_attrs attrs_of(int i)
{
    seed_attrs a;
    a.app = i % NAPPS;
    a.group = mix(i, 1) % 4 == 0 ? app_group(a.app) : -1;
    a.enc = mix(i, 2) % 3 == 0;
    a.acc = (int)(mix(i, 3) % 3);
    a.rp = mix(i, 4) % 5 == 0;
    a.any = mix(i, 5) % 7 == 0;
    unsigned k = mix(i, 6) % 10;
    a.sync = k <= 6 ? SYNC_TD : k == 7 ? SYNC_TD_THIS : k == 8 ? SYNC_THIS : SYNC_NEVER;
    return a;
}

/* The device states of the scenario (§6): OLD has a password while the assets are added and none
 * when the backup is taken; NEW has one, its screen is locked and it was not unlocked since boot.
 */
static const bool OLD_PWD_AT_BACKUP = false, OLD_LOCKED_AT_BACKUP = false, OLD_USB_AT_BACKUP = true;
static const bool NEW_PWD = true, NEW_LOCKED = true, NEW_USB = false;

/* §7's table, applied here independently of the service. */
static int oracle_rule(const seed_attrs *a)
{
    bool old_locked = OLD_PWD_AT_BACKUP && OLD_LOCKED_AT_BACKUP;
    bool new_locked = NEW_PWD && NEW_LOCKED;
    bool old_first = !OLD_PWD_AT_BACKUP || OLD_USB_AT_BACKUP || !OLD_LOCKED_AT_BACKUP;
    bool new_first = !NEW_PWD || NEW_USB || !NEW_LOCKED;
    if (a->rp && (!OLD_PWD_AT_BACKUP || !NEW_PWD))
        return R_PASSWORD;
    if (a->acc == ACC_UNLOCKED && (old_locked || new_locked))
        return R_UNLOCKED;
    if (a->any && !OLD_PWD_AT_BACKUP)
        return R_USER_AUTH;
    if (a->acc == ACC_FIRST && (!old_first || !new_first))
        return R_FIRST_UNLOCK;
    return RULE_OK;
}

/* A restore onto another device: TRUSTED_DEVICE records take part. */
static bool participates(const seed_attrs *a)
{
    return a->sync == SYNC_TD || a->sync == SYNC_TD_THIS;
}

static bool in_backup(const seed_attrs *a)
{
    return a->sync != SYNC_NEVER;
}

static void app_id_of(char *out, size_t n, int app)
{
    snprintf(out, n, "com.example.crash-app%02d", app);
}

static void group_id_of(char *out, size_t n, int group)
{
    snprintf(out, n, "group.crash-%d", group);
}

static void alias_of(char *out, size_t n, int i)
{
    snprintf(out, n, "k-%05d", i);
}

static char *secret_of(char *out, size_t n, const char *tag, int i)
{
    snprintf(out, n, "secret %d of run %s", i, tag);
    return out;
}

/* Per store: NAPPS apps + NGROUPS groups, each plain and encrypted. */
#define NSTORES ((NAPPS + NGROUPS) * 2)
static int store_of(const seed_attrs *a)
{
    return (a->group >= 0 ? NAPPS + a->group : a->app) * 2 + (a->enc ? 1 : 0);
}

typedef struct {
    long in_backup, total, accepted, failed;
    long fail[NRULES];
    long st_total[NSTORES], st_failed[NSTORES];
} oracle;

static void oracle_compute(int n, oracle *o)
{
    memset(o, 0, sizeof *o);
    for (int i = 0; i < n; i++) {
        seed_attrs a = attrs_of(i);
        if (in_backup(&a))
            o->in_backup++;
        if (!participates(&a))
            continue;
        int s = store_of(&a);
        o->total++;
        o->st_total[s]++;
        int rule = oracle_rule(&a);
        if (rule == RULE_OK) {
            o->accepted++;
        } else {
            o->failed++;
            o->fail[rule]++;
            o->st_failed[s]++;
        }
    }
}

/* ---- one run ------------------------------------------------------------------------------ */

typedef struct {
    int n;
    char tag[40];
    tl_device old_dev, new_dev;
    tl_app old_apps[NAPPS], new_apps[NAPPS];
    char backup_id[64], restore_id[64];
} run_ctx;

/* Seeding threads. */
typedef struct {
    run_ctx *run;
    atomic_int next;
    atomic_int failures;
    pthread_mutex_t mu;
    char first_error[1024];
} seeder;

static void *seed_thread(void *arg)
{
    seeder *sd = arg;
    run_ctx *run = sd->run;
    char body[1024], alias[32], secret[96], b64[160], group[64];
    for (;;) {
        int i = atomic_fetch_add(&sd->next, 1);
        if (i >= run->n)
            break;
        seed_attrs a = attrs_of(i);
        alias_of(alias, sizeof alias, i);
        secret_of(secret, sizeof secret, run->tag, i);
        group_id_of(group, sizeof group, a.group);
        snprintf(body, sizeof body,
                 "{\"alias\":\"%s\",\"secret\":\"%s\",\"accessibility\":\"%s\","
                 "\"requirePasswordSet\":%s,\"authType\":\"%s\",\"syncType\":%s,"
                 "\"requireAttrEncrypted\":%s%s%s%s,\"dataLabelNormal1\":\"n-%d\"}",
                 alias, tl_b64(b64, sizeof b64, secret, strlen(secret)), ACC_NAME[a.acc],
                 a.rp ? "true" : "false", a.any ? "ANY" : "NONE", SYNC_JSON[a.sync],
                 a.enc ? "true" : "false", a.group >= 0 ? ",\"groupId\":\"" : "",
                 a.group >= 0 ? group : "", a.group >= 0 ? "\"" : "", i);
        tl_resp *r = tl_http(srv, "POST", "/assets", run->old_apps[a.app].token, body);
        /* Once more after a transport error (the machine may be busy). */
        if (r->status == 0) {
            tl_resp_free(r);
            r = tl_http(srv, "POST", "/assets", run->old_apps[a.app].token, body);
        }
        if (r->status != 201) {
            if (atomic_fetch_add(&sd->failures, 1) == 0) {
                pthread_mutex_lock(&sd->mu);
                snprintf(sd->first_error, sizeof sd->first_error, "add %s: %ld %s %s", alias,
                         r->status, r->error, r->body);
                pthread_mutex_unlock(&sd->mu);
            }
        }
        tl_resp_free(r);
    }
    return NULL;
}

static void set_state(const char *device_id, bool pwd, bool locked, bool usb)
{
    tl_device_set_state(srv, device_id, pwd, locked, usb);
}

/* Devices, apps, N assets on OLD, the states, the backup. */
static void prepare(run_ctx *run, int n)
{
    char acct[64], app_id[64], group[64];
    memset(run, 0, sizeof *run);
    run->n = n;
    tl_unique(run->tag, sizeof run->tag, "run");
    tl_unique(acct, sizeof acct, "acct-crash");
    run->old_dev = tl_device_create(srv, "old", acct);
    run->new_dev = tl_device_create(srv, "new", acct);
    for (int k = 0; k < NAPPS; k++) {
        app_id_of(app_id, sizeof app_id, k);
        group_id_of(group, sizeof group, app_group(k));
        const char *groups[] = {group, NULL};
        run->old_apps[k] = tl_app_install(srv, run->old_dev.id, app_id, groups, false);
        run->new_apps[k] = tl_app_install(srv, run->new_dev.id, app_id, groups, false);
    }
    /* Every asset can be added: OLD has a password and is unlocked. */
    set_state(run->old_dev.id, true, false, true);

    seeder sd;
    memset(&sd, 0, sizeof sd);
    sd.run = run;
    pthread_mutex_init(&sd.mu, NULL);
    pthread_t th[SEED_THREADS];
    double t0 = tl_now_ms();
    for (int k = 0; k < SEED_THREADS; k++)
        assert_int_equal(pthread_create(&th[k], NULL, seed_thread, &sd), 0);
    for (int k = 0; k < SEED_THREADS; k++)
        pthread_join(th[k], NULL);
    pthread_mutex_destroy(&sd.mu);
    if (atomic_load(&sd.failures))
        fail_msg("%d of %d adds failed; first: %s", atomic_load(&sd.failures), n, sd.first_error);
    fprintf(stderr, "# seeded %d assets in %.1f s\n", n, (tl_now_ms() - t0) / 1e3);
    assert_int_equal(
        tl_db_count("SELECT count(*) FROM assets WHERE device_id = $1", run->old_dev.id, NULL), n);

    set_state(run->old_dev.id, OLD_PWD_AT_BACKUP, OLD_LOCKED_AT_BACKUP, OLD_USB_AT_BACKUP);
    oracle o;
    oracle_compute(n, &o);
    /* A backup of 10,000 records is one synchronous request: allow it more than 30 s. */
    char body[128], auth[128];
    tl_http_opts opts = {.timeout_ms = tl_scaled_ms(60000)};
    tl_pathf(body, sizeof body, "{\"deviceId\":\"%s\"}", run->old_dev.id);
    double t0b = tl_now_ms();
    tl_resp *r = tl_http_raw(srv, "POST", "/backups",
                             tl_pathf(auth, sizeof auth, "Bearer %s", srv->admin_token), body,
                             strlen(body), &opts);
    tl_expect_status(r, 201);
    fprintf(stderr, "# backup of %d assets took %.1f s\n", n, (tl_now_ms() - t0b) / 1e3);
    assert_int_equal(tl_jint(r->json, "recordCount"), o.in_backup);
    snprintf(run->backup_id, sizeof run->backup_id, "%s", tl_jstr(r->json, "id"));
    tl_resp_free(r);
    set_state(run->new_dev.id, NEW_PWD, NEW_LOCKED, NEW_USB);
}

static void start_restore(run_ctx *run, long total)
{
    char body[256];
    tl_resp *r =
        tl_http(srv, "POST", "/restores", srv->admin_token,
                tl_pathf(body, sizeof body, "{\"backupId\":\"%s\",\"targetDeviceId\":\"%s\"}",
                         run->backup_id, run->new_dev.id));
    tl_expect_status(r, 202);
    assert_int_equal(tl_jint(r->json, "total"), total);
    snprintf(run->restore_id, sizeof run->restore_id, "%s", tl_jstr(r->json, "id"));
    tl_resp_free(r);
}

static json_t *get_restore(const run_ctx *run)
{
    char path[128];
    tl_resp *r = tl_http(srv, "GET", tl_pathf(path, sizeof path, "/restores/%s", run->restore_id),
                         srv->admin_token, NULL);
    tl_expect_status(r, 200);
    json_t *j = json_incref(r->json);
    tl_resp_free(r);
    const char *status = tl_jstr(j, "status");
    assert_non_null(status);
    if (strcmp(status, "failed") == 0) {
        char *d = json_dumps(j, 0);
        fail_msg("restore failed: %s", d);
    }
    return j;
}

static json_t *wait_done(const run_ctx *run, int timeout_ms)
{
    double end = tl_now_ms() + timeout_ms;
    for (;;) {
        json_t *j = get_restore(run);
        if (strcmp(tl_jstr(j, "status"), "done") == 0)
            return j;
        if (tl_now_ms() > end) {
            char *d = json_dumps(j, 0);
            fail_msg("restore not done in %d ms: %s", timeout_ms, d);
        }
        json_decref(j);
        tl_sleep_ms(20);
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Everything about the finished restore, against the oracle. */
static void check_outcome(run_ctx *run, json_t *job)
{
    oracle o;
    oracle_compute(run->n, &o);

    /* 1. The job's counts. */
    if (tl_jint(job, "total") != o.total || tl_jint(job, "processed") != o.total ||
        tl_jint(job, "accepted") != o.accepted || tl_jint(job, "failed") != o.failed) {
        char *d = json_dumps(job, 0);
        fail_msg("want total=processed=%ld accepted=%ld failed=%ld; got %s", o.total, o.accepted,
                 o.failed, d);
    }
    json_t *f = json_object_get(job, "failures");
    for (int k = 0; k < NRULES; k++) {
        json_t *v = json_object_get(f, RULES[k]);
        if (!json_is_integer(v) || json_integer_value(v) != o.fail[k]) {
            char *d = json_dumps(job, 0);
            fail_msg("failures.%s: want %ld; got %s", RULES[k], o.fail[k], d);
        }
    }
    /* Every rule refused something: the scenario exercises all of them. */
    for (int k = 0; k < NRULES; k++)
        assert_true(o.fail[k] > 0);
    assert_true(o.accepted > 0);

    /* 2. The rows on NEW: each accepted record exactly once, nothing else. */
    assert_int_equal(
        tl_db_count("SELECT count(*) FROM assets WHERE device_id = $1", run->new_dev.id, NULL),
        o.accepted);
    assert_int_equal(tl_db_count("SELECT count(*) FROM (SELECT 1 FROM assets WHERE device_id = $1 "
                                 "GROUP BY owner_kind, owner, attr_enc, alias "
                                 "HAVING count(*) <> 1) d",
                                 run->new_dev.id, NULL),
                     0);
    char **want = calloc((size_t)o.accepted + 1, sizeof *want);
    assert_non_null(want);
    long nw = 0;
    for (int i = 0; i < run->n; i++) {
        seed_attrs a = attrs_of(i);
        if (!participates(&a) || oracle_rule(&a) != RULE_OK)
            continue;
        char owner[64], alias[32], line[160];
        if (a.group >= 0)
            group_id_of(owner, sizeof owner, a.group);
        else
            app_id_of(owner, sizeof owner, a.app);
        alias_of(alias, sizeof alias, i);
        snprintf(line, sizeof line, "%d|%s|%s|%s", a.group >= 0 ? 1 : 0, owner,
                 a.enc ? "true" : "false", alias);
        want[nw++] = strdup(line);
    }
    assert_int_equal(nw, o.accepted);
    qsort(want, (size_t)nw, sizeof *want, cmp_str);
    size_t cap = 1;
    for (long k = 0; k < nw; k++)
        cap += strlen(want[k]) + 1;
    char *want_text = malloc(cap), *p = want_text;
    assert_non_null(want_text);
    for (long k = 0; k < nw; k++) {
        size_t l = strlen(want[k]);
        memcpy(p, want[k], l);
        p[l] = '\n';
        p += l + 1;
        free(want[k]);
    }
    *p = 0;
    free(want);
    char *got =
        tl_db_dump("SELECT k FROM (SELECT owner_kind::text || '|' || owner || '|' || "
                   "attr_enc::text || '|' || alias AS k FROM assets WHERE device_id = $1) s "
                   "ORDER BY k COLLATE \"C\"",
                   run->new_dev.id, NULL);
    if (strcmp(got, want_text) != 0) {
        /* Name the first difference. */
        size_t k = 0;
        while (got[k] && got[k] == want_text[k])
            k++;
        while (k > 0 && want_text[k - 1] != '\n')
            k--;
        fail_msg("the assets on NEW differ from the accepted records, from: want \"%.80s\", got "
                 "\"%.80s\"",
                 want_text + k, got + (k <= strlen(got) ? k : strlen(got)));
    }
    free(got);
    free(want_text);

    /* 3. Every sync result, through each store's own app. */
    for (int s = 0; s < NSTORES; s++) {
        int owner = s / 2;
        bool enc = s % 2;
        char q[128], group[64];
        const char *token;
        if (owner < NAPPS) {
            token = run->new_apps[owner].token;
            snprintf(q, sizeof q, "requireAttrEncrypted=%s", enc ? "true" : "false");
        } else {
            int g = owner - NAPPS;
            group_id_of(group, sizeof group, g);
            token = run->new_apps[g].token; /* app g belongs to group g (g < NGROUPS) */
            assert_int_equal(app_group(g), g);
            snprintf(q, sizeof q, "groupId=%s%s", group, enc ? "&requireAttrEncrypted=true" : "");
        }
        tl_resp *r = tl_httpf(srv, "GET", token, NULL, "/sync-result?%s", q);
        tl_expect_status(r, 200);
        assert_true(o.st_total[s] > 0);
        if (tl_jint(r->json, "totalCount") != o.st_total[s] ||
            tl_jint(r->json, "failedCount") != o.st_failed[s] ||
            tl_jint(r->json, "resultCode") != (o.st_failed[s] ? 24000005 : 0) ||
            !tl_jstr(r->json, "restoreId") ||
            strcmp(tl_jstr(r->json, "restoreId"), run->restore_id) != 0 ||
            !tl_jstr(r->json, "finishedAt"))
            fail_msg("sync result of store %d (%s): want total=%ld failed=%ld restoreId=%s; got %s",
                     s, q, o.st_total[s], o.st_failed[s], run->restore_id, r->body);
        tl_resp_free(r);
    }

    /* 4. Accepted assets carry the secret of the backup; refused ones are not there (HTTP). */
    int checked_ok = 0, checked_absent = 0;
    for (int i = 0; i < run->n; i += 13) {
        seed_attrs a = attrs_of(i);
        char alias[32], q[128] = "", group[64], secret[96];
        alias_of(alias, sizeof alias, i);
        if (a.group >= 0) {
            group_id_of(group, sizeof group, a.group);
            snprintf(q, sizeof q, "&groupId=%s", group);
        }
        if (a.enc)
            strcat(q, "&requireAttrEncrypted=true");
        const char *token = run->new_apps[a.app].token;
        if (participates(&a) && oracle_rule(&a) == RULE_OK) {
            /* Accepted ones are DEVICE_POWERED_ON without user auth: readable on NEW. */
            tl_resp *r = tl_httpf(srv, "GET", token, NULL, "/assets/%s?returnType=ALL%s", alias, q);
            tl_expect_status(r, 200);
            char got_secret[128];
            long len = tl_b64_decode(got_secret, sizeof got_secret - 1, tl_jstr(r->json, "secret"));
            assert_true(len > 0);
            got_secret[len] = 0;
            assert_string_equal(got_secret, secret_of(secret, sizeof secret, run->tag, i));
            assert_string_equal(tl_jstr(r->json, "accessibility"), ACC_NAME[a.acc]);
            tl_resp_free(r);
            checked_ok++;
        } else {
            tl_resp *r =
                tl_httpf(srv, "GET", token, NULL, "/assets/%s?%s", alias, q[0] ? q + 1 : "");
            if (r->status != 404)
                fail_msg("%s should not be on NEW: %ld %s", alias, r->status, r->body);
            tl_resp_free(r);
            checked_absent++;
        }
    }
    assert_true(checked_ok > 0 && checked_absent > 0);
}

/* The workers of the running test; the per-test teardown kills those a failed test left. */
static tl_proc *g_workers[2];

static int kill_leftover_workers(void **st)
{
    (void)st;
    for (int k = 0; k < 2; k++) {
        if (g_workers[k])
            tl_proc_kill9(g_workers[k]);
        g_workers[k] = NULL;
    }
    return 0;
}

static const char *const WORKER_ENV[] = {"ASSETD_LEASE_SECONDS=2", "ASSETD_RESTORE_BATCH=200",
                                         NULL};

static char small_new_device[64];

/* The same scenario, smaller, with two workers and no kill. */
static void test_restore_two_workers_no_kill(void **st)
{
    (void)st;
    static run_ctx run;
    oracle o;
    prepare(&run, N_SMALL);
    oracle_compute(N_SMALL, &o);
    g_workers[0] = tl_worker_start(srv, WORKER_ENV);
    g_workers[1] = tl_worker_start(srv, WORKER_ENV);
    double t0 = tl_now_ms();
    start_restore(&run, o.total);
    json_t *job = wait_done(&run, tl_scaled_ms(30000));
    fprintf(stderr, "# restored %ld records in %.1f s\n", o.total, (tl_now_ms() - t0) / 1e3);
    check_outcome(&run, job);
    json_decref(job);
    for (int k = 0; k < 2; k++) {
        tl_proc *p = g_workers[k];
        g_workers[k] = NULL;
        assert_int_equal(tl_proc_stop(p), 0);
    }
    snprintf(small_new_device, sizeof small_new_device, "%s", run.new_dev.id);
}

/* pid of "<host>:<pid>:<thread>", or 0. */
static pid_t lease_pid(const char *owner)
{
    const char *last = strrchr(owner, ':');
    if (!last || last == owner)
        return 0;
    const char *p = last - 1;
    while (p > owner && *p != ':')
        p--;
    if (*p != ':')
        return 0;
    return (pid_t)atol(p + 1);
}

static void test_restore_worker_killed(void **st)
{
    (void)st;
    static run_ctx run;
    oracle o;
    prepare(&run, N_BIG);
    oracle_compute(N_BIG, &o);
    tl_proc **w = g_workers;
    w[0] = tl_worker_start(srv, WORKER_ENV);
    w[1] = tl_worker_start(srv, WORKER_ENV);
    double t0 = tl_now_ms();
    start_restore(&run, o.total);

    /* Wait until the job is under way: some but not all records processed. */
    double end = tl_now_ms() + tl_scaled_ms(30000);
    long processed = 0;
    char *owner = NULL;
    for (;;) {
        json_t *j = get_restore(&run);
        processed = (long)tl_jint(j, "processed");
        bool done = strcmp(tl_jstr(j, "status"), "done") == 0;
        json_decref(j);
        if (done || processed >= o.total)
            fail_msg("the restore finished before a worker could be killed (processed %ld)",
                     processed);
        if (processed > 0) {
            owner = tl_db_dump("SELECT coalesce(lease_owner, '') FROM restores WHERE id = $1",
                               run.restore_id, NULL);
            owner[strcspn(owner, "\n")] = 0;
            if (owner[0])
                break;
            free(owner);
            owner = NULL;
        }
        if (tl_now_ms() > end)
            fail_msg("the restore made no progress (processed %ld)", processed);
        tl_sleep_ms(10);
    }
    pid_t holder = lease_pid(owner);
    int victim = holder == w[0]->pid ? 0 : holder == w[1]->pid ? 1 : -1;
    if (victim < 0)
        fail_msg("lease_owner \"%s\" is none of the workers (%d, %d)", owner, (int)w[0]->pid,
                 (int)w[1]->pid);
    free(owner);
    /* Both workers share the job's chunks: freeze the other one while the victim is killed, so
     * the kill surely lands in the middle of the job, then let it finish alone. */
    int survivor = 1 - victim;
    tl_proc_signal(w[survivor], SIGSTOP);
    tl_proc *dead = w[victim];
    w[victim] = NULL;
    assert_int_equal(tl_proc_kill9(dead), 128 + SIGKILL);
    double killed_at = tl_now_ms();
    json_t *j = get_restore(&run);
    assert_string_equal(tl_jstr(j, "status"), "running");
    long at_kill = (long)tl_jint(j, "processed");
    assert_true(at_kill >= processed && at_kill < o.total);
    json_decref(j);
    tl_proc_signal(w[survivor], SIGCONT);
    fprintf(stderr, "# killed worker %d holding the job at processed=%ld of %ld\n", (int)holder,
            at_kill, o.total);

    /* The survivor redoes the chunk the dead worker had not committed, and finishes the job. */
    j = wait_done(&run, tl_scaled_ms(60000));
    fprintf(stderr, "# restored %ld records in %.1f s (%.1f s after the kill)\n", o.total,
            (tl_now_ms() - t0) / 1e3, (tl_now_ms() - killed_at) / 1e3);
    assert_true(tl_proc_running(w[survivor]));
    check_outcome(&run, j);
    json_decref(j);
    assert_true(tl_db_count("SELECT count(*) FROM restores WHERE id = $1 AND lease_owner IS NULL "
                            "AND status = 'done' AND finished_at IS NOT NULL",
                            run.restore_id, NULL) == 1);
    tl_proc *p = w[survivor];
    w[survivor] = NULL;
    assert_int_equal(tl_proc_stop(p), 0);

    /* The small run without a kill decided every shared record the same way. */
    assert_true(small_new_device[0]);
    long small_rows = (long)tl_db_count("SELECT count(*) FROM assets WHERE device_id = $1",
                                        small_new_device, NULL);
    assert_true(small_rows > 0);
    assert_int_equal(
        tl_db_count("SELECT count(*) FROM ("
                    "(SELECT owner_kind, owner, attr_enc, alias FROM assets WHERE device_id = $1 "
                    "AND alias < 'k-01000' EXCEPT "
                    "SELECT owner_kind, owner, attr_enc, alias FROM assets WHERE device_id = $2) "
                    "UNION ALL "
                    "(SELECT owner_kind, owner, attr_enc, alias FROM assets WHERE device_id = $2 "
                    "EXCEPT SELECT owner_kind, owner, attr_enc, alias FROM assets "
                    "WHERE device_id = $1 AND alias < 'k-01000')) d",
                    run.new_dev.id, small_new_device, NULL),
        0);
    assert_int_equal(tl_db_count("SELECT count(*) FROM assets WHERE device_id = $1 AND "
                                 "alias < 'k-01000'",
                                 run.new_dev.id, NULL),
                     small_rows);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_restore_two_workers_no_kill, kill_leftover_workers),
        cmocka_unit_test_teardown(test_restore_worker_killed, kill_leftover_workers),
    };
    return tl_finish(cmocka_run_group_tests(tests, setup, teardown));
}
