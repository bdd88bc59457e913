/* Crash test of the batch operations (spec §11 "one transaction", §9 "a 2xx answer means
 * committed"): several clients stream 100-item batch-adds while assetd is killed with SIGKILL.
 * Afterwards every batch is entirely present or entirely absent, every acknowledged batch is
 * present, and each item written has its one audit row. Done over several rounds, each killing
 * the server at a different moment while requests are in flight. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/testlib.h"

#define SENDERS 4
#define ITEMS 100
#define MAX_BATCHES 400 /* per sender and round: far more than are sent before the kill */
#define ROUNDS 3

typedef struct {
    const tl_server *srv;
    const char *token;
    int sender;
    int sent;               /* batches sent (answered or not) */
    int acked[MAX_BATCHES]; /* 1: answered 200 */
    volatile int *stop;
} sender;

static char *batch_body(int sender_id, int k)
{
    size_t cap = ITEMS * 160 + 32, len = 0;
    char *b = malloc(cap);
    assert_non_null(b);
    len += (size_t)snprintf(b + len, cap - len, "{\"assets\":[");
    for (int i = 0; i < ITEMS; i++)
        len +=
            (size_t)snprintf(b + len, cap - len,
                             "%s{\"alias\":\"c%d.%d-%d\",\"secret\":\"c2VjcmV0LXNlY3JldC1zZWNy"
                             "ZXQtc2VjcmV0LXNlY3JldC1zZWNyZXQ=\",\"dataLabelNormal1\":\"crash\"}",
                             i ? "," : "", sender_id, k, i);
    snprintf(b + len, cap - len, "]}");
    return b;
}

static void *send_loop(void *arg)
{
    sender *s = arg;
    for (int k = 0; k < MAX_BATCHES && !*s->stop; k++) {
        char *body = batch_body(s->sender, k);
        tl_resp *r = tl_http(s->srv, "POST", "/assets/batch-add", s->token, body);
        free(body);
        s->sent = k + 1;
        s->acked[k] = r->status == 200 && r->json &&
                      json_integer_value(json_object_get(r->json, "failedCount")) == 0;
        long status = r->status;
        tl_resp_free(r);
        if (status != 200)
            break; /* the server is gone */
    }
    return NULL;
}

static int acked_total(const sender *ss)
{
    int n = 0;
    for (int s = 0; s < SENDERS; s++)
        for (int k = 0; k < ss[s].sent; k++)
            n += ss[s].acked[k];
    return n;
}

static void one_round(int round)
{
    tl_server *srv = tl_server_start(NULL);
    tl_device d;
    char app_id[64];
    snprintf(app_id, sizeof app_id, "com.example.crash%d", round);
    tl_app a = tl_fresh_app(srv, app_id, &d);
    static sender ss[SENDERS];
    volatile int stop = 0;
    pthread_t th[SENDERS];
    memset(ss, 0, sizeof ss);
    for (int s = 0; s < SENDERS; s++) {
        ss[s] = (sender){.srv = srv, .token = a.token, .sender = s, .stop = &stop};
        assert_int_equal(pthread_create(&th[s], NULL, send_loop, &ss[s]), 0);
    }
    /* Let a few batches commit, then kill at a moment that differs from round to round. */
    for (int w = 0; w < 2000 && acked_total(ss) < 3 + 2 * round; w++)
        tl_sleep_ms(5);
    tl_sleep_ms(3 + 7 * round);
    int acked_before_kill = acked_total(ss);
    tl_server_kill9(srv);
    stop = 1;
    for (int s = 0; s < SENDERS; s++)
        pthread_join(th[s], NULL);
    assert_true(acked_before_kill >= 3);

    /* Every batch of this device: all 100 items or none. */
    assert_int_equal(tl_db_count("SELECT count(*) FROM (SELECT split_part(alias, '-', 1) FROM "
                                 "assets WHERE device_id = $1 GROUP BY 1 HAVING count(*) <> 100) x",
                                 d.id, NULL),
                     0);
    /* Every acknowledged batch is there. */
    int acked = 0;
    for (int s = 0; s < SENDERS; s++)
        for (int k = 0; k < ss[s].sent; k++) {
            if (!ss[s].acked[k])
                continue;
            char like[64];
            snprintf(like, sizeof like, "c%d.%d-%%", s, k);
            assert_int_equal(tl_db_count("SELECT count(*) FROM assets WHERE device_id = $1 AND "
                                         "alias LIKE $2",
                                         d.id, like, NULL),
                             ITEMS);
            acked++;
        }
    long long rows = tl_db_count("SELECT count(*) FROM assets WHERE device_id = $1", d.id, NULL);
    assert_true(rows >= (long long)acked * ITEMS);
    /* One audit row per item written, committed with it. */
    assert_int_equal(tl_db_count("SELECT count(*) FROM audit_log WHERE device_id = $1 AND "
                                 "action = 'addAsset' AND outcome = 'ok'",
                                 d.id, NULL),
                     rows);
    fprintf(stderr, "round %d: %d batches acknowledged, %lld assets (%lld batches) present\n",
            round, acked, rows, rows / ITEMS);
}

static void test_kill_during_batches(void **st)
{
    (void)st;
    for (int round = 0; round < ROUNDS; round++)
        one_round(round);
    /* A fresh server works on what the killed ones left. */
    tl_server *srv = tl_server_start(NULL);
    tl_app a = tl_fresh_app(srv, "com.example.after", NULL);
    tl_req_status(srv, "POST", "/assets/batch-add", a.token,
                  "{\"assets\":[{\"alias\":\"x\",\"secret\":\"c2VjcmV0\"}]}", 200);
    assert_int_equal(tl_server_stop(srv), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_kill_during_batches)};
    return tl_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
