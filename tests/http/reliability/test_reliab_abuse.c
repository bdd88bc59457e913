/* Reliability: abuse limits (README configuration; spec §5 LIMIT_EXCEEDED, §3 body limit).
 *
 *   ASSETD_RATE_LIMIT          a burst past the per-token budget gets 429 LIMIT_EXCEEDED with an
 *                              integer Retry-After >= 1; other tokens are unaffected; the token
 *                              works again after Retry-After.
 *   ASSETD_MAX_ASSETS          the add past the limit is 409 LIMIT_EXCEEDED and writes nothing,
 *                              per owner and store; replacing an existing alias (OVERWRITE) is
 *                              still allowed; the limit holds under concurrent adds too.
 *   ASSETD_PER_IP_CONNECTIONS  the connection past the limit is closed without an answer, and a
 *                              slot frees up when a connection closes.
 *   slowloris                  500 idle or trickling connections do not slow a normal client
 *                              (each request < 1 s).
 *   ASSETD_BODY_LIMIT          a body over the limit (Content-Length or chunked) is 413.
 * Each test runs its own server with its own settings and checks that it exits cleanly. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../../lib/testlib.h"

/* ---- raw TCP ---- */

static int tcp_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        fail_msg("socket: %s", strerror(errno));
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
        fail_msg("connect: %s", strerror(errno));
    return fd;
}

static void send_all(int fd, const char *s)
{
    size_t n = strlen(s), off = 0;
    while (off < n) {
        ssize_t w = send(fd, s + off, n - off, MSG_NOSIGNAL);
        if (w <= 0)
            return; /* the peer may have closed: the reader sees it */
        off += (size_t)w;
    }
}

/* Reads until a whole HTTP response head has arrived, EOF, an error or timeout_ms. Returns the
 * status code, 0 on EOF / reset before any answer, -1 on timeout. */
static int read_status(int fd, int timeout_ms)
{
    char buf[4096];
    size_t got = 0;
    double end = tl_now_ms() + timeout_ms;
    for (;;) {
        int left = (int)(end - tl_now_ms());
        if (left <= 0)
            return -1;
        struct pollfd p = {fd, POLLIN, 0};
        int rc = poll(&p, 1, left);
        if (rc == 0)
            return -1;
        ssize_t n = recv(fd, buf + got, sizeof buf - 1 - got, 0);
        if (n <= 0)
            return got >= 12 ? atoi(buf + 9) : 0;
        got += (size_t)n;
        buf[got] = 0;
        char *head_end = strstr(buf, "\r\n\r\n");
        if (head_end && strncmp(buf, "HTTP/1.", 7) == 0) {
            /* Consume the body (Content-Length) so the connection can be reused. */
            int status = atoi(buf + 9);
            char *cl = strcasestr(buf, "\r\nContent-Length:");
            size_t body = cl && cl < head_end ? (size_t)atol(cl + 17) : 0;
            size_t have = got - (size_t)(head_end + 4 - buf);
            while (have < body) {
                struct pollfd q = {fd, POLLIN, 0};
                if (poll(&q, 1, 2000) <= 0)
                    break;
                n = recv(fd, buf, sizeof buf, 0);
                if (n <= 0)
                    break;
                have += (size_t)n;
            }
            return status;
        }
        if (got == sizeof buf - 1)
            return -1;
    }
}

/* The server of the running test; the per-test teardown stops it when a test failed early. */
static tl_server *g_srv;

static void stop_server(void)
{
    tl_server *s = g_srv;
    g_srv = NULL;
    assert_int_equal(tl_server_stop(s), 0);
}

static int teardown(void **st)
{
    (void)st;
    if (g_srv)
        stop_server();
    return 0;
}

static const char HEALTH[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

/* ---- rate limit ---- */

static void test_rate_limit(void **st)
{
    (void)st;
    static const char *const env[] = {"ASSETD_RATE_LIMIT=5", NULL};
    tl_server *srv = g_srv = tl_server_start(env);
    tl_device d;
    tl_app a = tl_fresh_app(srv, "com.example.ratelimit", &d);
    tl_app b = tl_app_install(srv, d.id, "com.example.ratelimit.other", NULL, false);
    /* A burst of 40 as fast as possible: the budget is 5/s with a burst of 10. */
    int ok = 0, limited = 0, first_limited = -1, retry_after = 0;
    double start = tl_now_ms();
    for (int i = 0; i < 40; i++) {
        tl_resp *r = tl_http(srv, "GET", "/assets/nothing-here", a.token, NULL);
        if (r->status == 429) {
            tl_expect_problem(r, 429, "LIMIT_EXCEEDED");
            /* Retry-After: a whole number of seconds, at least 1. */
            assert_true(r->retry_after[0] != 0);
            for (const char *c = r->retry_after; *c; c++)
                assert_true(*c >= '0' && *c <= '9');
            retry_after = atoi(r->retry_after);
            assert_true(retry_after >= 1 && retry_after <= 60);
            if (first_limited < 0)
                first_limited = i;
            limited++;
        } else {
            tl_expect_problem(r, 404, "NOT_FOUND");
            assert_int_equal(r->retry_after[0], 0);
            ok++;
        }
        tl_resp_free(r);
    }
    double elapsed_s = (tl_now_ms() - start) / 1000.0;
    /* The whole burst allowance first, then refusals; never more than burst + rate * time. */
    assert_true(first_limited >= 10);
    assert_true(limited > 0);
    assert_true(ok <= 10 + (int)(5 * elapsed_s) + 1);
    /* Other tokens are unaffected: another installation, the device, the admin. */
    tl_req_problem(srv, "GET", "/assets/nothing-here", b.token, NULL, 404, "NOT_FOUND");
    char path[128];
    snprintf(path, sizeof path, "/devices/%s", d.id);
    tl_req_status(srv, "GET", path, d.token, NULL, 200);
    tl_req_status(srv, "GET", path, srv->admin_token, NULL, 200);
    /* Limited again after a few more (the budget refilled a little meanwhile) ... */
    retry_after = 0;
    for (int i = 0; i < 40 && !retry_after; i++) {
        tl_resp *r = tl_http(srv, "GET", "/assets/nothing-here", a.token, NULL);
        if (r->status == 429) {
            tl_expect_problem(r, 429, "LIMIT_EXCEEDED");
            retry_after = atoi(r->retry_after);
            assert_true(retry_after >= 1);
        } else {
            tl_expect_problem(r, 404, "NOT_FOUND");
        }
        tl_resp_free(r);
    }
    assert_true(retry_after >= 1);
    /* ... and allowed again once Retry-After has passed. */
    usleep((useconds_t)retry_after * 1000 * 1000 + 50 * 1000);
    tl_req_problem(srv, "GET", "/assets/nothing-here", a.token, NULL, 404, "NOT_FOUND");
    /* Unknown tokens are 401 (authentication comes first), never 429. */
    for (int i = 0; i < 25; i++)
        tl_req_problem(srv, "GET", "/assets", "unknown-token-unknown-token-0000000000000", NULL,
                       401, "PERMISSION_DENIED");
    stop_server();
}

/* ---- per-owner asset limit ---- */

typedef struct {
    tl_server *srv;
    const char *token;
    int index;
    long status;
} add_job;

static void *add_one(void *arg)
{
    add_job *j = arg;
    char body[128];
    snprintf(body, sizeof body, "{\"alias\":\"race-%d\",\"secret\":\"cmFjZQ==\"}", j->index);
    tl_resp *r = tl_http(j->srv, "POST", "/assets", j->token, body);
    j->status = r->status;
    if (r->status != 201 &&
        !(r->status == 409 && r->json &&
          strcmp(tl_jstr(r->json, "name") ? tl_jstr(r->json, "name") : "", "LIMIT_EXCEEDED") == 0))
        j->status = -r->status;
    tl_resp_free(r);
    return NULL;
}

static long long count_assets(const char *device_id, const char *owner, const char *enc)
{
    return tl_db_count("SELECT count(*) FROM assets WHERE device_id = $1 AND owner = $2 AND "
                       "attr_enc = $3",
                       device_id, owner, enc, NULL);
}

static void test_max_assets(void **st)
{
    (void)st;
    static const char *const env[] = {"ASSETD_MAX_ASSETS=3", NULL};
    tl_server *srv = g_srv = tl_server_start(env);
    tl_device d;
    char app[64];
    tl_unique(app, sizeof app, "com.example.maxassets");
    const char *groups[] = {"com.example.maxgroup", NULL};
    d = tl_device_create(srv, NULL, NULL);
    tl_app a = tl_app_install(srv, d.id, app, groups, false);
    for (int i = 1; i <= 3; i++)
        json_decref(tl_asset_addf(srv, a.token, "{\"alias\":\"m%d\",\"secret\":\"bQ==\"}", i));
    tl_resp *r = tl_http(srv, "POST", "/assets", a.token, "{\"alias\":\"m4\",\"secret\":\"bQ==\"}");
    tl_expect_problem(r, 409, "LIMIT_EXCEEDED");
    tl_resp_free(r);
    assert_int_equal(count_assets(d.id, app, "f"), 3);
    /* Replacing an existing alias does not add an asset: allowed. */
    tl_req_status(srv, "POST", "/assets", a.token,
                  "{\"alias\":\"m1\",\"secret\":\"bmV3\",\"conflictResolution\":\"OVERWRITE\"}",
                  200);
    char got[16];
    tl_get_secret(srv, a.token, "m1", NULL, got, sizeof got);
    assert_string_equal(got, "new");
    /* Other stores have limits of their own: encrypted labels, a group, another app. */
    for (int i = 1; i <= 3; i++) {
        json_decref(tl_asset_addf(
            srv, a.token, "{\"alias\":\"m%d\",\"secret\":\"bQ==\",\"requireAttrEncrypted\":true}",
            i));
        json_decref(tl_asset_addf(
            srv, a.token,
            "{\"alias\":\"m%d\",\"secret\":\"bQ==\",\"groupId\":\"com.example.maxgroup\"}", i));
    }
    tl_req_problem(srv, "POST", "/assets", a.token,
                   "{\"alias\":\"m4\",\"secret\":\"bQ==\",\"requireAttrEncrypted\":true}", 409,
                   "LIMIT_EXCEEDED");
    tl_req_problem(srv, "POST", "/assets", a.token,
                   "{\"alias\":\"m4\",\"secret\":\"bQ==\",\"groupId\":\"com.example.maxgroup\"}",
                   409, "LIMIT_EXCEEDED");
    tl_app other = tl_app_install(srv, d.id, "com.example.maxassets.other", NULL, false);
    json_decref(tl_asset_add(srv, other.token, "{\"alias\":\"m4\",\"secret\":\"bQ==\"}"));
    /* Removing one makes room again. */
    tl_req_status(srv, "DELETE", "/assets/m2", a.token, NULL, 204);
    json_decref(tl_asset_add(srv, a.token, "{\"alias\":\"m4\",\"secret\":\"bQ==\"}"));
    assert_int_equal(count_assets(d.id, app, "f"), 3);
    stop_server();
}

/* An add with conflictResolution OVERWRITE of an alias that does not exist yet adds an asset:
 * at the limit it must be refused like any other add. */
static void test_max_assets_overwrite_new_alias(void **st)
{
    (void)st;
    static const char *const env[] = {"ASSETD_MAX_ASSETS=3", NULL};
    tl_server *srv = g_srv = tl_server_start(env);
    tl_device d;
    char app[64];
    tl_unique(app, sizeof app, "com.example.maxow");
    tl_app a = tl_fresh_app(srv, app, &d);
    for (int i = 1; i <= 3; i++)
        json_decref(tl_asset_addf(srv, a.token, "{\"alias\":\"m%d\",\"secret\":\"bQ==\"}", i));
    tl_resp *r =
        tl_http(srv, "POST", "/assets", a.token,
                "{\"alias\":\"m5\",\"secret\":\"bQ==\",\"conflictResolution\":\"OVERWRITE\"}");
    long st_ow = r->status;
    tl_resp_free(r);
    long long after_ow = count_assets(d.id, app, "f");
    if (st_ow != 409 || after_ow != 3)
        fail_msg("at the limit, an add of a new alias with conflictResolution OVERWRITE answered "
                 "%ld and the owner now holds %lld assets (limit 3): expected 409 LIMIT_EXCEEDED "
                 "and 3",
                 st_ow, after_ow);
    stop_server();
}

/* Concurrent adds of distinct aliases into an empty store with room for 3: at most 3 succeed,
 * and at most 3 are stored. */
static void test_max_assets_concurrent(void **st)
{
    (void)st;
    static const char *const env[] = {"ASSETD_MAX_ASSETS=3", "ASSETD_HTTP_THREADS=8", NULL};
    tl_server *srv = g_srv = tl_server_start(env);
    int rounds = 8, worst = 0, created_total = 0;
    for (int round = 0; round < rounds; round++) {
        tl_device d;
        char app[64];
        tl_unique(app, sizeof app, "com.example.maxrace");
        tl_app a = tl_fresh_app(srv, app, &d);
        enum { N = 16 };
        add_job jobs[N];
        pthread_t th[N];
        for (int i = 0; i < N; i++) {
            jobs[i] = (add_job){srv, a.token, i, 0};
            pthread_create(&th[i], NULL, add_one, &jobs[i]);
        }
        int created = 0;
        for (int i = 0; i < N; i++) {
            pthread_join(th[i], NULL);
            if (jobs[i].status < 0)
                fail_msg("a concurrent add answered %ld", -jobs[i].status);
            created += jobs[i].status == 201;
        }
        long long stored = count_assets(d.id, app, "f");
        assert_int_equal(stored, created);
        if (stored > worst)
            worst = (int)stored;
        created_total += created;
    }
    if (worst > 3)
        fail_msg("with ASSETD_MAX_ASSETS=3, concurrent adds stored up to %d assets for one owner",
                 worst);
    assert_true(created_total >= rounds); /* something got in each time */
    stop_server();
}

/* ---- connections per IP ---- */

static void test_per_ip_connections(void **st)
{
    (void)st;
    static const char *const env[] = {"ASSETD_PER_IP_CONNECTIONS=50", NULL};
    tl_server *srv = g_srv = tl_server_start(env);
    int fds[50];
    /* 50 connections, each answered once and kept open (keep-alive). */
    for (int i = 0; i < 50; i++) {
        fds[i] = tcp_connect(srv->port);
        send_all(fds[i], HEALTH);
        int status = read_status(fds[i], 5000);
        if (status != 200)
            fail_msg("connection %d of 50: status %d", i + 1, status);
    }
    /* The 51st is closed without an answer. */
    int extra = tcp_connect(srv->port);
    send_all(extra, HEALTH);
    int status = read_status(extra, 3000);
    if (status != 0)
        fail_msg("the 51st connection from 127.0.0.1 got %s %d",
                 status < 0 ? "no close within 3 s, status" : "an answer:", status);
    close(extra);
    /* The 50 are still served. */
    for (int i = 0; i < 50; i += 7) {
        send_all(fds[i], HEALTH);
        assert_int_equal(read_status(fds[i], 5000), 200);
    }
    /* One closes: a new connection gets its slot (the server may take a moment to notice). */
    close(fds[0]);
    int ok = 0;
    for (int attempt = 0; attempt < 40 && !ok; attempt++) {
        int fd = tcp_connect(srv->port);
        send_all(fd, HEALTH);
        ok = read_status(fd, 2000) == 200;
        close(fd);
        if (!ok)
            usleep(50 * 1000);
    }
    assert_true(ok);
    for (int i = 1; i < 50; i++)
        close(fds[i]);
    /* Once they are gone, libcurl clients work again. */
    double end = tl_now_ms() + 5000;
    long got = 0;
    while (tl_now_ms() < end && got != 200) {
        tl_resp *r = tl_http(srv, "GET", "/healthz", NULL, NULL);
        got = r->status;
        tl_resp_free(r);
        if (got != 200)
            usleep(50 * 1000);
    }
    assert_int_equal(got, 200);
    stop_server();
}

/* ---- slowloris ---- */

typedef struct {
    int *fds;
    int n;
    volatile int stop;
} trickle_ctx;

/* Sends one more byte of a request line on each trickling connection every 200 ms. */
static void *trickle(void *arg)
{
    trickle_ctx *t = arg;
    static const char line[] =
        "GET /healthz?padding=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    size_t pos = 5;
    while (!t->stop) {
        for (int i = 0; i < t->n; i++)
            if (t->fds[i] >= 0)
                (void)!send(t->fds[i], line + pos % (sizeof line - 1), 1, MSG_NOSIGNAL);
        pos++;
        for (int k = 0; k < 4 && !t->stop; k++)
            usleep(50 * 1000);
    }
    return NULL;
}

static void test_slowloris(void **st)
{
    (void)st;
    /* 500 connections need file descriptors, here and (inherited) in the server. */
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < 4096) {
        rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
    }
    assert_true(rl.rlim_cur >= 1100);
    tl_server *srv = g_srv = tl_server_start(NULL);
    tl_app a = tl_fresh_app(srv, "com.example.slowloris", NULL);
    enum { N = 500, TRICKLING = 200, PARTIAL = 150 };
    int *fds = malloc(N * sizeof *fds);
    assert_non_null(fds);
    for (int i = 0; i < N; i++) {
        fds[i] = tcp_connect(srv->port);
        /* 200 trickle a request line byte by byte; 150 sent half a request and stopped;
         * 150 sent nothing at all. */
        if (i < TRICKLING)
            send_all(fds[i], "GET /");
        else if (i < TRICKLING + PARTIAL)
            send_all(fds[i],
                     "POST /assets HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{\"al");
    }
    trickle_ctx t = {fds, TRICKLING, 0};
    pthread_t th;
    pthread_create(&th, NULL, trickle, &t);
    /* A normal client: every request answered, each in under a second. */
    double worst = 0;
    for (int i = 0; i < 30; i++) {
        double t0 = tl_now_ms();
        tl_resp *r;
        if (i % 3 == 0) {
            r = tl_http(srv, "GET", "/healthz", NULL, NULL);
            tl_expect_status(r, 200);
        } else if (i % 3 == 1) {
            char body[96];
            snprintf(body, sizeof body, "{\"alias\":\"slow-%d\",\"secret\":\"c2xvdw==\"}", i);
            r = tl_http(srv, "POST", "/assets", a.token, body);
            tl_expect_status(r, 201);
        } else {
            r = tl_http(srv, "GET", "/assets?limit=5", a.token, NULL);
            tl_expect_status(r, 200);
        }
        tl_resp_free(r);
        double ms = tl_now_ms() - t0;
        if (ms > worst)
            worst = ms;
        if (ms >= 1000)
            fail_msg("request %d took %.0f ms with %d slow connections open", i, ms, N);
        usleep(20 * 1000);
    }
    print_message("slowloris: worst normal request %.1f ms with %d slow connections\n", worst, N);
    /* The slow connections were all accepted and are still open (not simply refused), except
     * any the server closed itself: count the ones still alive. */
    int alive = 0;
    for (int i = 0; i < N; i++) {
        struct pollfd p = {fds[i], POLLIN, 0};
        char c;
        if (poll(&p, 1, 0) == 0 || recv(fds[i], &c, 1, MSG_PEEK | MSG_DONTWAIT) > 0)
            alive++;
    }
    t.stop = 1;
    pthread_join(th, NULL);
    for (int i = 0; i < N; i++)
        close(fds[i]);
    free(fds);
    assert_true(alive >= N - 10);
    tl_req_status(srv, "GET", "/healthz", NULL, NULL, 200);
    stop_server();
}

/* ---- body limit ---- */

/* A valid add body of exactly n bytes (padded with spaces inside the object). */
static char *body_of_size(size_t n)
{
    static const char head[] = "{\"alias\":\"big\",\"secret\":\"Ymln\"";
    char *b = malloc(n + 1);
    assert_non_null(b);
    assert_true(n > sizeof head + 2);
    memcpy(b, head, sizeof head - 1);
    memset(b + sizeof head - 1, ' ', n - (sizeof head - 1) - 1);
    b[n - 1] = '}';
    b[n] = 0;
    return b;
}

static void test_body_limit(void **st)
{
    (void)st;
    static const char *const env[] = {"ASSETD_BODY_LIMIT=2048", NULL};
    tl_server *srv = g_srv = tl_server_start(env);
    tl_app a = tl_fresh_app(srv, "com.example.bodylimit", NULL);
    char auth[200];
    snprintf(auth, sizeof auth, "Bearer %s", a.token);
    /* Over the limit by one byte, and by a lot: 413 INVALID_ARGUMENT, nothing written. */
    const size_t sizes[] = {2049, 4096, 300000};
    for (size_t i = 0; i < 3; i++) {
        char *b = body_of_size(sizes[i]);
        tl_resp *r = tl_http_raw(srv, "POST", "/assets", auth, b, sizes[i], NULL);
        tl_expect_problem(r, 413, "INVALID_ARGUMENT");
        tl_resp_free(r);
        tl_http_opts chunked = {.chunked = true};
        r = tl_http_raw(srv, "POST", "/assets", auth, b, sizes[i], &chunked);
        /* The 413 goes out, and the connection closes, as soon as the body passes the limit:
         * a client still sending a large body may see its send fail (EPIPE, or a reset) before
         * it reads the answer. That is a refusal too; what must never happen is a write. */
        bool cut = r->status == 0 && sizes[i] > 64 * 1024 &&
                   (strstr(r->error, "Broken pipe") || strstr(r->error, "reset"));
        if (!cut)
            tl_expect_problem(r, 413, "INVALID_ARGUMENT");
        tl_resp_free(r);
        free(b);
    }
    tl_req_problem(srv, "GET", "/assets/big", a.token, NULL, 404, "NOT_FOUND");
    /* Exactly at the limit: accepted. */
    char *b = body_of_size(2048);
    tl_resp *r = tl_http_raw(srv, "POST", "/assets", auth, b, 2048, NULL);
    tl_expect_status(r, 201);
    tl_resp_free(r);
    free(b);
    /* A huge Content-Length is refused at once, without waiting for (or reading) the body. */
    int fd = tcp_connect(srv->port);
    char req[512];
    snprintf(req, sizeof req,
             "POST /assets HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
             "Content-Type: application/json\r\nContent-Length: 1000000000000\r\n\r\n{",
             a.token);
    double t0 = tl_now_ms();
    send_all(fd, req);
    int status = read_status(fd, 5000);
    close(fd);
    assert_int_equal(status, 413);
    assert_true(tl_now_ms() - t0 < 2000);
    tl_req_status(srv, "GET", "/healthz", NULL, NULL, 200);
    stop_server();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_rate_limit, teardown),
        cmocka_unit_test_teardown(test_max_assets, teardown),
        cmocka_unit_test_teardown(test_max_assets_overwrite_new_alias, teardown),
        cmocka_unit_test_teardown(test_max_assets_concurrent, teardown),
        cmocka_unit_test_teardown(test_per_ip_connections, teardown),
        cmocka_unit_test_teardown(test_slowloris, teardown),
        cmocka_unit_test_teardown(test_body_limit, teardown),
    };
    return tl_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
