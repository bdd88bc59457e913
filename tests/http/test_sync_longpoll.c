/* HTTP black-box tests of spec §12's long poll and of the backup lifecycle around running
 * restores (issue 13).
 *
 * The server runs with one request worker and no sync worker, so a restore stays queued until
 * the test starts a worker in another process ("another instance"). Twenty long polls wait on
 * it while a normal request is answered: they must hold no request worker. The polls return
 * when the other process finishes the job (their client gives up before their waitSeconds end,
 * so only the wake-up can answer them in time). */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "../lib/testlib.h"

static tl_server *srv;

static int setup(void **st)
{
    (void)st;
    /* An idle connection is closed after 1 s: a parked long poll is not idle. */
    static const char *const env[] = {"ASSETD_REQUEST_WORKERS=1", "ASSETD_SYNC_WORKERS=0",
                                      "ASSETD_CONNECTION_TIMEOUT=1", NULL};
    srv = tl_server_start(env);
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    assert_int_equal(tl_server_stop(srv), 0);
    return 0;
}

#define POLLS 20

typedef struct {
    const char *path;
    long status;
    char job_status[32];
} poll_job;

static atomic_int polls_answered;

static void *long_poll(void *arg)
{
    poll_job *j = arg;
    char auth[128];
    snprintf(auth, sizeof auth, "Bearer %s", srv->admin_token);
    tl_http_opts opts = {.timeout_ms = 25000};
    tl_resp *r = tl_http_raw(srv, "GET", j->path, auth, NULL, 0, &opts);
    j->status = r->status;
    const char *st = r->json ? tl_jstr(r->json, "status") : NULL;
    snprintf(j->job_status, sizeof j->job_status, "%s", st ? st : "");
    tl_resp_free(r);
    atomic_fetch_add(&polls_answered, 1);
    return NULL;
}

static void make_backup(const tl_device *d, char out[64])
{
    char body[128];
    tl_resp *r = tl_http(srv, "POST", "/backups", d->token,
                         tl_pathf(body, sizeof body, "{\"deviceId\":\"%s\"}", d->id));
    tl_expect_status(r, 201);
    snprintf(out, 64, "%s", tl_jstr(r->json, "id"));
    tl_resp_free(r);
}

static void test_long_poll_and_in_progress(void **st)
{
    (void)st;
    char account[64], backup[64], aged[64], restore[64], body[256], path[200];
    tl_unique(account, sizeof account, "acct");
    tl_device old_dev = tl_device_create(srv, "old", account);
    tl_device new_dev = tl_device_create(srv, "new", account);
    tl_app app = tl_app_install(srv, old_dev.id, "com.example.poll", NULL, false);
    for (int i = 0; i < 30; i++)
        json_decref(tl_asset_addf(srv, app.token,
                                  "{\"alias\":\"a%d\",\"secret\":\"AQID\","
                                  "\"syncType\":[\"TRUSTED_DEVICE\"]}",
                                  i));
    make_backup(&old_dev, backup);
    make_backup(&old_dev, aged);
    tl_resp *r =
        tl_http(srv, "POST", "/restores", srv->admin_token,
                tl_pathf(body, sizeof body, "{\"backupId\":\"%s\",\"targetDeviceId\":\"%s\"}",
                         backup, new_dev.id));
    tl_expect_status(r, 202);
    snprintf(restore, sizeof restore, "%s", tl_jstr(r->json, "id"));
    tl_resp_free(r);

    /* No worker yet: the time runs out and the poll answers the job as it is. */
    r = tl_httpf(srv, "GET", new_dev.token, NULL, "/restores/%s?waitSeconds=3", restore);
    tl_expect_status(r, 200);
    assert_string_equal(tl_jstr(r->json, "status"), "queued");
    tl_resp_free(r);
    static const char *const bad[] = {"0", "31", "abc", "1&waitSeconds=2", "", "-1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = tl_httpf(srv, "GET", srv->admin_token, NULL, "/restores/%s?waitSeconds=%s", restore,
                     bad[i]);
        tl_expect_problem_field(r, 400, "INVALID_ARGUMENT", "waitSeconds");
        tl_resp_free(r);
    }

    /* Not finished: no retry; its backup cannot be deleted. */
    r = tl_httpf(srv, "POST", srv->admin_token, NULL, "/restores/%s/retry", restore);
    tl_expect_problem(r, 409, "IN_PROGRESS");
    tl_resp_free(r);
    tl_pathf(path, sizeof path, "/backups/%s", backup);
    tl_req_problem(srv, "DELETE", path, srv->admin_token, NULL, 409, "IN_PROGRESS");

    /* An old backup, for the retention of the worker started below. */
    PQclear(tl_db_exec("UPDATE backups SET created_at = now() - interval '3 days' WHERE id = $1",
                       aged, NULL));

    /* Twenty long polls, and a normal request answered while they all still wait. */
    poll_job jobs[POLLS];
    pthread_t th[POLLS];
    tl_pathf(path, sizeof path, "/restores/%s?waitSeconds=30", restore);
    atomic_store(&polls_answered, 0);
    for (int i = 0; i < POLLS; i++) {
        jobs[i] = (poll_job){.path = path};
        assert_int_equal(pthread_create(&th[i], NULL, long_poll, &jobs[i]), 0);
    }
    tl_sleep_ms(300); /* let them arrive first (not an assertion) */
    r = tl_httpf(srv, "GET", srv->admin_token, NULL, "/devices/%s", new_dev.id);
    tl_expect_status(r, 200);
    tl_resp_free(r);
    r = tl_httpf(srv, "GET", srv->admin_token, NULL, "/backups/%s", backup);
    tl_expect_status(r, 200);
    tl_resp_free(r);
    assert_int_equal(atomic_load(&polls_answered), 0);

    /* Another instance finishes the job: every poll answers it done. */
    static const char *const wenv[] = {"ASSETD_SYNC_WORKERS=1", "ASSETD_BACKUP_RETENTION_DAYS=1",
                                       NULL};
    tl_proc *worker = tl_worker_start(srv, wenv);
    for (int i = 0; i < POLLS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(jobs[i].status, 200);
        assert_string_equal(jobs[i].job_status, "done");
    }
    /* A poll of a finished job answers at once. */
    r = tl_httpf(srv, "GET", srv->admin_token, NULL, "/restores/%s?waitSeconds=30", restore);
    tl_expect_status(r, 200);
    assert_string_equal(tl_jstr(r->json, "status"), "done");
    assert_int_equal(tl_jint(r->json, "accepted"), 30);
    tl_resp_free(r);

    /* The retention deleted the old backup (key first, then rows), and audited it. */
    tl_pathf(path, sizeof path, "/backups/%s", aged);
    for (int i = 0; i < 200; i++) {
        r = tl_http(srv, "GET", path, srv->admin_token, NULL);
        long status = r->status;
        tl_resp_free(r);
        if (status == 404)
            break;
        tl_sleep_ms(50);
    }
    tl_req_problem(srv, "GET", path, srv->admin_token, NULL, 404, "NOT_FOUND");
    assert_int_equal(
        tl_db_count("SELECT count(*) FROM backup_records WHERE backup_id = $1", aged, NULL), 0);
    assert_int_equal(tl_db_count("SELECT count(*) FROM audit_log WHERE action = 'expireBackup' "
                                 "AND device_id = $1",
                                 old_dev.id, NULL),
                     1);
    /* The recent one stays; now that its restore is done it can be deleted. */
    tl_pathf(path, sizeof path, "/backups/%s", backup);
    tl_req_status(srv, "GET", path, srv->admin_token, NULL, 200);
    tl_req_problem(srv, "DELETE", path, new_dev.token, NULL, 403, "PERMISSION_DENIED");
    tl_req_status(srv, "DELETE", path, old_dev.token, NULL, 204);
    tl_req_problem(srv, "GET", path, srv->admin_token, NULL, 404, "NOT_FOUND");
    assert_int_equal(tl_proc_stop(worker), 0);
}

/* A server stopped while long polls are parked answers them and exits cleanly (no leak). */
static void test_shutdown_with_parked_polls(void **st)
{
    (void)st;
    static const char *const env[] = {"ASSETD_REQUEST_WORKERS=1", "ASSETD_SYNC_WORKERS=0", NULL};
    tl_server *s2 = tl_server_start(env);
    char account[64], backup[64], body[256], path[200];
    tl_unique(account, sizeof account, "acct");
    tl_device a = tl_device_create(s2, "a", account);
    make_backup(&a, backup);
    tl_resp *r = tl_http(s2, "POST", "/restores", a.token,
                         tl_pathf(body, sizeof body,
                                  "{\"backupId\":\"%s\",\"targetDeviceId\":\"%s\"}", backup, a.id));
    tl_expect_status(r, 202);
    tl_pathf(path, sizeof path, "/restores/%s?waitSeconds=30", tl_jstr(r->json, "id"));
    tl_resp_free(r);
    tl_server *keep = srv;
    srv = s2; /* long_poll() talks to srv */
    poll_job jobs[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        jobs[i] = (poll_job){.path = path};
        assert_int_equal(pthread_create(&th[i], NULL, long_poll, &jobs[i]), 0);
    }
    tl_sleep_ms(300);
    assert_int_equal(tl_server_stop(s2), 0);
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        assert_true(jobs[i].status == 200 || jobs[i].status == 503);
    }
    srv = keep;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_long_poll_and_in_progress),
        cmocka_unit_test(test_shutdown_with_parked_polls),
    };
    return tl_finish(cmocka_run_group_tests(tests, setup, teardown));
}
