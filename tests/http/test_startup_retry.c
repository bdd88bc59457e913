/* Start-up resilience (ASSETD_DB_CONNECT_TIMEOUT_S): with PostgreSQL stopped, `assetd migrate`,
 * `assetd worker` and `assetd serve` do not exit: they retry with backoff and log each attempt
 * as a JSON line; once PostgreSQL starts, migrate exits 0, the worker starts and the server
 * answers requests that need the database. With a short timeout, migrate gives up (exit 1,
 * "giving up" logged); SIGTERM while waiting stops a server at once with status 0; a malformed
 * value stops the process with one line naming the variable. With ASSETD_DB_POOLER=transaction
 * and no statement_timeout on the server side, serve warns once.
 * Stops and starts the run's shared cluster (like test_reliab_dbfault; binaries run one at a
 * time, and the teardown starts it again whatever happened). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../lib/testlib.h"

static int setup(void **st)
{
    (void)st;
    tl_pg_dir();
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    tl_pg_ctl("start");
    return 0;
}

/* Waits (bounded) until the log has at least n lines with text. */
static bool wait_log(const tl_proc *p, const char *text, int n, int timeout_ms)
{
    double end = tl_now_ms() + tl_scaled_ms(timeout_ms);
    while (tl_now_ms() < end) {
        if (tl_proc_log_count(p, text) >= n)
            return true;
        tl_sleep_ms(50);
    }
    return tl_proc_log_count(p, text) >= n;
}

static int free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

#define RETRYING "\"msg\":\"database not reachable, retrying\""

static void test_waits_for_postgres(void **st)
{
    (void)st;
    static const char *const migrate[] = {"migrate", NULL}, *const serve[] = {"serve", NULL},
                             *const worker[] = {"worker", NULL};
    const char *patient[] = {"ASSETD_DB_CONNECT_TIMEOUT_S=120", NULL};
    tl_server srv = {0}, quitter = {0};
    char port_kv[2][32], token_kv[96];
    tl_random_token(srv.admin_token);
    snprintf(token_kv, sizeof token_kv, "ASSETD_ADMIN_TOKEN=%s", srv.admin_token);
    srv.port = free_port();
    quitter.port = free_port();
    assert_true(srv.port > 0 && quitter.port > 0 && srv.port != quitter.port);
    snprintf(port_kv[0], sizeof port_kv[0], "ASSETD_PORT=%d", srv.port);
    snprintf(port_kv[1], sizeof port_kv[1], "ASSETD_PORT=%d", quitter.port);
    snprintf(srv.base_url, sizeof srv.base_url, "http://127.0.0.1:%d", srv.port);
    const char *serve_env[] = {"ASSETD_DB_CONNECT_TIMEOUT_S=120", port_kv[0], token_kv, NULL};
    const char *quit_env[] = {"ASSETD_DB_CONNECT_TIMEOUT_S=120", port_kv[1], NULL};
    const char *short_env[] = {"ASSETD_DB_CONNECT_TIMEOUT_S=1", NULL};

    assert_int_equal(tl_pg_ctl("stop"), 0);
    tl_proc *mig = tl_assetd_spawn(NULL, migrate, patient);
    tl_proc *wk = tl_assetd_spawn(NULL, worker, patient);
    srv.proc = tl_assetd_spawn(NULL, serve, serve_env);
    quitter.proc = tl_assetd_spawn(NULL, serve, quit_env);

    /* A short timeout gives up: exit 1, with the attempts and the end logged. */
    tl_proc *gives_up = tl_assetd_spawn(NULL, migrate, short_env);
    int gave_up = tl_proc_wait(gives_up, tl_scaled_ms(15000));
    bool gave_up_logged =
        tl_proc_log_count(gives_up, "\"msg\":\"database not reachable, giving up\"") == 1;
    bool gave_up_retried = tl_proc_log_count(gives_up, RETRYING) >= 2;
    if (gave_up != 1)
        tl_proc_print_log(gives_up, 20);

    /* Every patient process keeps retrying, one log line per attempt. */
    bool retried = wait_log(mig, RETRYING, 3, 10000) && wait_log(wk, RETRYING, 3, 10000) &&
                   wait_log(srv.proc, RETRYING, 3, 10000) &&
                   wait_log(quitter.proc, RETRYING, 1, 10000);
    bool all_alive = tl_proc_running(mig) && tl_proc_running(wk) && tl_proc_running(srv.proc) &&
                     tl_proc_running(quitter.proc);
    /* Not even /healthz yet: the server listens only once the database is there. */
    tl_resp *early = tl_http(&srv, "GET", "/healthz", NULL, NULL);
    long early_status = early->status;
    tl_resp_free(early);

    /* SIGTERM while waiting: a prompt, clean stop. */
    tl_proc_signal(quitter.proc, SIGTERM);
    int quit_status = tl_proc_wait(quitter.proc, tl_scaled_ms(5000));
    bool quit_logged =
        tl_proc_log_count(quitter.proc, "stopped while waiting for the database") == 1;

    int started = tl_pg_ctl("start");
    int mig_status = tl_proc_wait(mig, tl_scaled_ms(30000));
    long health = 0;
    for (double end = tl_now_ms() + tl_scaled_ms(30000); health != 200 && tl_now_ms() < end;) {
        tl_resp *r = tl_http(&srv, "GET", "/healthz", NULL, NULL);
        health = r->status;
        tl_resp_free(r);
        if (health != 200)
            tl_sleep_ms(100);
    }
    bool worker_started = wait_log(wk, "\"msg\":\"assetd started\"", 1, 30000);
    bool reachable_logged = tl_proc_log_count(srv.proc, "\"msg\":\"database reachable\"") == 1;

    assert_int_equal(gave_up, 1);
    assert_true(gave_up_logged);
    assert_true(gave_up_retried);
    if (!retried || !all_alive)
        fail_msg("with PostgreSQL down, migrate/worker/serve must keep retrying (retried: %d, "
                 "all still running: %d)",
                 retried, all_alive);
    assert_int_equal(early_status, 0); /* connection refused: nothing listens yet */
    assert_int_equal(quit_status, 0);
    assert_true(quit_logged);
    assert_int_equal(started, 0);
    assert_int_equal(mig_status, 0);
    assert_int_equal(health, 200);
    assert_true(worker_started);
    assert_true(reachable_logged);
    /* The server works: a call that needs the database. */
    tl_device d = tl_device_create(&srv, "after-wait", NULL);
    assert_true(d.id[0] != 0);
    assert_int_equal(tl_proc_stop(wk), 0);
    assert_int_equal(tl_proc_stop(srv.proc), 0);
    PQreset(tl_db());
}

static void test_bad_value(void **st)
{
    (void)st;
    static const char *const migrate[] = {"migrate", NULL};
    static const char *const bad[] = {"abc", "-1", "3601", "5s"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char kv[64], *out = NULL;
        snprintf(kv, sizeof kv, "ASSETD_DB_CONNECT_TIMEOUT_S=%s", bad[i]);
        const char *env[] = {kv, NULL};
        int status = tl_assetd_run(NULL, migrate, env, tl_scaled_ms(10000), &out);
        assert_int_equal(status, 2);
        assert_non_null(strstr(out, "ASSETD_DB_CONNECT_TIMEOUT_S"));
        /* One line, and nothing was attempted. */
        int lines = 0;
        for (const char *p = out; *p; p++)
            lines += *p == '\n';
        assert_int_equal(lines, 1);
        assert_null(strstr(out, "database"));
        free(out);
    }
}

/* ASSETD_DB_POOLER=transaction: assetd cannot send statement_timeout itself, so a server whose
 * role has none gets one warning line at start; with a timeout in place (here through libpq's
 * PGOPTIONS, as a role setting or the pooler's connect_query would give it), none. The server
 * works in that mode directly against PostgreSQL too (unnamed statements). */
static void test_pooler_warns_without_statement_timeout(void **st)
{
    (void)st;
    static const char *const warn = "statement_timeout is 0 behind the transaction pooler";
    const char *bare[] = {"ASSETD_DB_POOLER=transaction", NULL};
    const char *timed[] = {"ASSETD_DB_POOLER=transaction", "PGOPTIONS=-c statement_timeout=5000",
                           NULL};
    tl_server *a = tl_server_start(bare);
    tl_server *b = tl_server_start(timed);
    int warned_a = tl_proc_log_count(a->proc, warn), warned_b = tl_proc_log_count(b->proc, warn);
    tl_device d = tl_device_create(a, "pooler-mode", NULL);
    tl_app app = tl_app_install(a, d.id, "com.example.pooler", NULL, false);
    json_decref(tl_asset_add(b, app.token, "{\"alias\":\"p\",\"secret\":\"cG9vbGVy\"}"));
    char secret[64];
    tl_get_secret(a, app.token, "p", NULL, secret, sizeof secret);
    assert_string_equal(secret, "pooler");
    assert_int_equal(tl_server_stop(a), 0);
    assert_int_equal(tl_server_stop(b), 0);
    assert_int_equal(warned_a, 1);
    assert_int_equal(warned_b, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_value),
        cmocka_unit_test(test_waits_for_postgres),
        cmocka_unit_test(test_pooler_warns_without_statement_timeout),
    };
    return tl_finish(cmocka_run_group_tests(tests, setup, teardown));
}
