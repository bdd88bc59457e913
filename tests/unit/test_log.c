/* test_log: service/log.c, the process's JSON lines. Every line parses as one JSON object with
 * ts, level and msg first; a value can neither break the line nor add a field to it, whatever
 * bytes it holds (quotes, control bytes, invalid UTF-8); a line too long for its buffer is still
 * valid JSON and says it was truncated; lines written by concurrent threads stay whole. */
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "../../service/log.h"

/* 2026-12-04T21:40:40.123Z */
#define TS 1796420440123LL

/* The line for these fields, parsed (the test fails unless it is one valid JSON object that
 * ends with a newline and fits the buffer). */
static json_t *format(size_t cap, log_level level, const char *msg, const log_field *f, int n)
{
    char *buf = malloc(cap);
    assert_non_null(buf);
    int len = log_format(buf, cap, TS, level, msg, f, n);
    assert_true(len > 0);
    assert_true((size_t)len < cap);
    assert_int_equal((size_t)len, strlen(buf));
    assert_int_equal(buf[len - 1], '\n');
    assert_null(memchr(buf, '\n', (size_t)len - 1));
    json_error_t err;
    json_t *j = json_loads(buf, JSON_REJECT_DUPLICATES, &err);
    if (!json_is_object(j))
        fail_msg("not one JSON object (%s): %s", err.text, buf);
    free(buf);
    return j;
}

static const char *str(json_t *j, const char *key)
{
    return json_string_value(json_object_get(j, key));
}

static void test_shape(void **state)
{
    (void)state;
    const log_field f[] = {LOG_STR("name", "0001_init.sql"),
                           LOG_INT("count", -42),
                           LOG_INT("big", 9007199254740993LL),
                           LOG_MS("ms", 1.5),
                           LOG_BOOL("http", true),
                           LOG_BOOL("completed", false),
                           LOG_STR("none", NULL)};
    json_t *j = format(LOG_LINE_MAX, LOG_WARN, "migration applied", f, 7);
    assert_string_equal(str(j, "ts"), "2026-12-04T21:40:40.123Z");
    assert_string_equal(str(j, "level"), "warn");
    assert_string_equal(str(j, "msg"), "migration applied");
    assert_string_equal(str(j, "name"), "0001_init.sql");
    assert_int_equal(json_integer_value(json_object_get(j, "count")), -42);
    assert_true(json_integer_value(json_object_get(j, "big")) == 9007199254740993LL);
    assert_true(fabs(json_number_value(json_object_get(j, "ms")) - 1.5) < 1e-9);
    assert_true(json_is_true(json_object_get(j, "http")));
    assert_true(json_is_false(json_object_get(j, "completed")));
    assert_true(json_is_null(json_object_get(j, "none")));
    assert_int_equal(json_object_size(j), 10);
    json_decref(j);

    /* ts, level and msg come first, in that order, then the fields as given. */
    char buf[256];
    const log_field g[] = {LOG_INT("a", 1), LOG_INT("b", 2)};
    assert_true(log_format(buf, sizeof buf, 0, LOG_ERROR, "x", g, 2) > 0);
    assert_string_equal(buf, "{\"ts\":\"1970-01-01T00:00:00.000Z\",\"level\":\"error\","
                             "\"msg\":\"x\",\"a\":1,\"b\":2}\n");
    assert_true(log_format(buf, sizeof buf, 5, LOG_INFO, "", NULL, 0) > 0);
    assert_string_equal(buf,
                        "{\"ts\":\"1970-01-01T00:00:00.005Z\",\"level\":\"info\",\"msg\":\"\"}\n");

    /* A number JSON has no spelling for is written as null. */
    const log_field nan_ms[] = {LOG_MS("ms", NAN), LOG_MS("inf", INFINITY)};
    j = format(LOG_LINE_MAX, LOG_INFO, "m", nan_ms, 2);
    assert_true(json_is_null(json_object_get(j, "ms")));
    assert_true(json_is_null(json_object_get(j, "inf")));
    json_decref(j);

    /* A buffer too small to hold a line is refused, not overrun. */
    assert_int_equal(log_format(buf, LOG_LINE_MIN - 1, 0, LOG_INFO, "m", NULL, 0), -1);
}

/* Values that try to end the string, add a field, or carry bytes that are not text: each comes
 * back as one string value, and no other key appears. */
static void test_escaping(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out; /* what the value reads as, once parsed */
    } cases[] = {
        {"X\",\"level\":\"error\",\"forged\":\"1", "X\",\"level\":\"error\",\"forged\":\"1"},
        {"back\\slash \\\" \\u0041", "back\\slash \\\" \\u0041"},
        {"line\nbreak\r\ttab", "line\nbreak\r\ttab"},
        {"\x1b[31mred\x1b[0m\x01\x1f\x7f", "\x1b[31mred\x1b[0m\x01\x1f\x7f"},
        {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
        /* invalid UTF-8: each bad byte becomes U+FFFD */
        {"a\xff"
         "b",
         "a\xef\xbf\xbd"
         "b"},
        {"\x80", "\xef\xbf\xbd"},
        {"\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd"},                                 /* overlong '/' */
        {"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},                 /* a surrogate */
        {"\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* > U+10FFFF */
        {"cut \xe2\x82", "cut \xef\xbf\xbd\xef\xbf\xbd"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const log_field f[] = {LOG_STR("method", cases[i].in)};
        json_t *j = format(LOG_LINE_MAX, LOG_INFO, cases[i].in, f, 1);
        if (!str(j, "method") || strcmp(str(j, "method"), cases[i].out) != 0)
            fail_msg("case %zu: the value did not come back as sent", i);
        assert_string_equal(str(j, "msg"), cases[i].out);
        assert_string_equal(str(j, "level"), "info");
        assert_null(json_object_get(j, "forged"));
        assert_int_equal(json_object_size(j), 4);
        json_decref(j);
    }
}

/* Every byte value, alone and in every pair position, in a value: always one valid line. */
static void test_every_byte(void **state)
{
    (void)state;
    char s[4] = {0};
    for (int a = 1; a < 256; a++)
        for (int b = 0; b < 256; b++) {
            s[0] = (char)a;
            s[1] = (char)b;
            const log_field f[] = {LOG_STR("v", s)};
            json_t *j = format(256, LOG_INFO, s, f, 1);
            assert_int_equal(json_object_size(j), 4);
            assert_non_null(str(j, "v"));
            json_decref(j);
        }
}

/* A line longer than its buffer: cut at a field or inside the last string, still valid JSON,
 * with "truncated":true; no field that did not fit appears, none that fits is lost before it. */
static void test_truncation(void **state)
{
    (void)state;
    char long_value[3000];
    for (size_t i = 0; i < sizeof long_value - 1; i++)
        long_value[i] = "a\"\\\x01\xc3\xa9"[i % 6];
    long_value[sizeof long_value - 1] = 0;
    const log_field f[] = {LOG_INT("first", 1), LOG_STR("long", long_value), LOG_INT("after", 2),
                           LOG_MS("ms", 3.25), LOG_BOOL("ok", true)};
    for (size_t cap = LOG_LINE_MIN; cap <= 600; cap++) {
        json_t *j = format(cap, LOG_ERROR, "a message", f, 5);
        assert_true(json_is_true(json_object_get(j, "truncated")));
        assert_string_equal(str(j, "msg"), "a message");
        /* Once something was cut, nothing after it was added. */
        assert_null(json_object_get(j, "after"));
        assert_null(json_object_get(j, "ok"));
        json_decref(j);
    }
    /* A long message is cut too. */
    json_t *j = format(LOG_LINE_MIN, LOG_INFO, long_value, NULL, 0);
    assert_true(json_is_true(json_object_get(j, "truncated")));
    assert_true(strlen(str(j, "msg")) > 0);
    json_decref(j);

    /* The real buffer: a value of LOG_LINE_MAX bytes is cut, short lines are not. */
    char *huge = malloc(LOG_LINE_MAX + 1);
    assert_non_null(huge);
    memset(huge, 'x', LOG_LINE_MAX);
    huge[LOG_LINE_MAX] = 0;
    const log_field h[] = {LOG_STR("v", huge)};
    j = format(LOG_LINE_MAX, LOG_INFO, "m", h, 1);
    assert_true(json_is_true(json_object_get(j, "truncated")));
    assert_true(strlen(str(j, "v")) > LOG_LINE_MAX / 2);
    json_decref(j);
    free(huge);
    j = format(LOG_LINE_MAX, LOG_INFO, "m", f, 1);
    assert_null(json_object_get(j, "truncated"));
    json_decref(j);
}

/* ---- log_emit: what reaches stderr ---- */

/* Points stderr at a fresh file (O_APPEND, as a container runtime's log file); returns the old
 * stderr. */
static int capture(char *path, size_t cap)
{
    const char *dir = getenv("TEST_TMPDIR");
    snprintf(path, cap, "%s/test_log.XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    fd = open(path, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(fd, STDERR_FILENO) >= 0);
    close(fd);
    return saved;
}

static int restore(int saved)
{
    int rc = dup2(saved, STDERR_FILENO);
    close(saved);
    return rc;
}

/* Each line of the file parsed; their number. */
static int read_lines(const char *path, json_t **lines, int max)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char buf[LOG_LINE_MAX + 2];
    int n = 0;
    while (fgets(buf, sizeof buf, f)) {
        json_error_t err;
        json_t *j = json_loads(buf, JSON_REJECT_DUPLICATES, &err);
        if (!json_is_object(j))
            fail_msg("line %d is not a JSON object (%s): %s", n + 1, err.text, buf);
        if (n < max)
            lines[n] = j;
        else
            json_decref(j);
        n++;
    }
    fclose(f);
    return n;
}

static void test_emit(void **state)
{
    (void)state;
    char path[512];
    int saved = capture(path, sizeof path);
    log_info("started", LOG_INT("port", 8080), LOG_BOOL("http", true));
    log_warn("retrying", LOG_STR("reason", "no \"route\"\nto host"));
    log_error("plain");
    log_at(LOG_ERROR, "request", LOG_INT("status", 500));
    assert_true(restore(saved) >= 0);

    json_t *l[4];
    assert_int_equal(read_lines(path, l, 4), 4);
    assert_string_equal(str(l[0], "level"), "info");
    assert_string_equal(str(l[0], "msg"), "started");
    assert_int_equal(json_integer_value(json_object_get(l[0], "port")), 8080);
    assert_string_equal(str(l[1], "level"), "warn");
    assert_string_equal(str(l[1], "reason"), "no \"route\"\nto host");
    assert_string_equal(str(l[2], "level"), "error");
    assert_int_equal(json_object_size(l[2]), 3);
    assert_int_equal(json_integer_value(json_object_get(l[3], "status")), 500);
    for (int i = 0; i < 4; i++) {
        const char *ts = str(l[i], "ts");
        /* YYYY-MM-DDTHH:MM:SS.mmmZ */
        assert_non_null(ts);
        assert_int_equal(strlen(ts), 24);
        assert_true(ts[4] == '-' && ts[10] == 'T' && ts[19] == '.' && ts[23] == 'Z');
        json_decref(l[i]);
    }
    unlink(path);
}

#define THREADS 4
#define PER_THREAD 300

static void *writer(void *arg)
{
    long t = (long)(intptr_t)arg;
    char value[1500];
    memset(value, 'a' + (int)t, sizeof value - 1);
    value[sizeof value - 1] = 0;
    for (int i = 0; i < PER_THREAD; i++)
        log_info("line", LOG_INT("thread", t), LOG_INT("i", i), LOG_STR("v", value));
    return NULL;
}

/* Long lines from concurrent threads: every line whole (one write each). */
static void test_emit_concurrent(void **state)
{
    (void)state;
    char path[512];
    int saved = capture(path, sizeof path);
    pthread_t th[THREADS];
    for (long t = 0; t < THREADS; t++)
        assert_int_equal(pthread_create(&th[t], NULL, writer, (void *)(intptr_t)t), 0);
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    assert_true(restore(saved) >= 0);

    static json_t *lines[THREADS * PER_THREAD];
    int n = read_lines(path, lines, THREADS * PER_THREAD);
    assert_int_equal(n, THREADS * PER_THREAD);
    int next[THREADS] = {0};
    for (int k = 0; k < n; k++) {
        long t = (long)json_integer_value(json_object_get(lines[k], "thread"));
        assert_true(t >= 0 && t < THREADS);
        /* each thread's lines in its own order, its value intact */
        assert_int_equal(json_integer_value(json_object_get(lines[k], "i")), next[t]++);
        const char *v = str(lines[k], "v");
        assert_int_equal(strlen(v), 1499);
        assert_int_equal(strspn(v, (char[]){(char)('a' + t), 0}), 1499);
        json_decref(lines[k]);
    }
    unlink(path);
}

/* Lines held (log_emit_later) are written, whole and in order, by log_flush, by the next line
 * written at once, or when they would overflow what is held; not before. */
static void test_emit_later(void **state)
{
    (void)state;
    char path[512];
    int saved = capture(path, sizeof path);
    json_t *l[4];
    log_later(LOG_INFO, "request", LOG_INT("i", 0));
    log_later(LOG_INFO, "request", LOG_INT("i", 1));
    assert_int_equal(read_lines(path, l, 0), 0);
    log_error("at once", LOG_INT("i", 2));
    assert_int_equal(read_lines(path, l, 4), 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(json_integer_value(json_object_get(l[i], "i")), i);
        json_decref(l[i]);
    }
    log_later(LOG_INFO, "request", LOG_INT("i", 3));
    assert_int_equal(read_lines(path, l, 0), 3);
    log_flush();
    assert_int_equal(read_lines(path, l, 0), 4);
    /* Far more than is held at once: every line, whole, in order. */
    char value[1000];
    memset(value, 'v', sizeof value - 1);
    value[sizeof value - 1] = 0;
    for (int i = 0; i < 200; i++)
        log_later(LOG_INFO, "request", LOG_INT("i", 4 + i), LOG_STR("v", value));
    log_flush();
    assert_true(restore(saved) >= 0);
    static json_t *all[204];
    assert_int_equal(read_lines(path, all, 204), 204);
    for (int i = 0; i < 204; i++) {
        assert_int_equal(json_integer_value(json_object_get(all[i], "i")), i);
        json_decref(all[i]);
    }
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shape),      cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_every_byte), cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_emit),       cmocka_unit_test(test_emit_concurrent),
        cmocka_unit_test(test_emit_later),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
