/* testlib: a small library for black-box tests of assetd (tests/http, tests/integration).
 *
 * It starts the real assetd binary ($ASSETD_BIN) as child processes against the real PostgreSQL
 * database of the test run ($TEST_DATABASE_URL), talks HTTP to it with libcurl, and reads the
 * database with libpq for assertions. Every symbol starts with tl_ (the integration tests link
 * this library together with the service objects).
 *
 * Environment read (tests/run.sh exports all of it):
 *   ASSETD_BIN             the assetd binary to run (required to start servers)
 *   TEST_DATABASE_URL      libpq URI of this test mode's database (required)
 *   ASSETD_MIGRATIONS_DIR  passed on to assetd (default: "migrations", relative to the cwd)
 *   TEST_MASTER_KEY        master key shared by every server of the run (the database keeps keys
 *                          wrapped by it, so every assetd on one database needs the same key);
 *                          when unset, one random key is made per test process
 *   TEST_TMPDIR            where the per-process temporary folder (child logs) is made (/tmp)
 *
 * Typical test binary:
 *
 *   static tl_server *srv;
 *   static int setup(void **st) { (void)st; srv = tl_server_start(NULL); return 0; }
 *   static int teardown(void **st) { (void)st; assert_int_equal(tl_server_stop(srv), 0); return 0;
 * } static void test_x(void **st) { (void)st; tl_device d = tl_device_create(srv, NULL, NULL);
 *       tl_app a = tl_app_install(srv, d.id, "com.example.a", NULL, false);
 *       tl_resp *r = tl_http(srv, "GET", "/assets/nope", a.token, NULL);
 *       tl_expect_problem(r, 404, "NOT_FOUND");
 *       tl_resp_free(r);
 *   }
 *   int main(void) {
 *       const struct CMUnitTest tests[] = {cmocka_unit_test(test_x)};
 *       return tl_finish(cmocka_run_group_tests(tests, setup, teardown));
 *   }
 *
 * Thread safety: tl_http*, tl_resp_free, tl_pathf, tl_urlenc*, tl_b64* and tl_unique may be called
 * from several threads at once. Everything else (process management, the DB helper, the
 * convenience helpers that assert) belongs to the main test thread.
 */
#ifndef ASSETD_TESTLIB_H
#define ASSETD_TESTLIB_H

/* cmocka needs these before it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <sys/types.h>

#define TL_FMT(a, b) __attribute__((format(printf, a, b)))

/* ------------------------------------------------------------------------------------------ */
/* Child processes                                                                            */
/* ------------------------------------------------------------------------------------------ */

/* A child process (assetd serve, assetd worker, ...). Its stdout and stderr go to log_path. */
typedef struct tl_proc {
    pid_t pid;          /* 0 once reaped */
    char name[64];      /* e.g. "assetd-serve-1", used in messages */
    char log_path[512]; /* stdout + stderr of the child */
    int status;         /* exit status once reaped: the exit code, or 128 + signal number */
    char **env;         /* the child's environment ("NAME=value", NULL-terminated) */
} tl_proc;

/* A running `assetd serve`. */
typedef struct tl_server {
    tl_proc *proc;
    int port;
    char base_url[64];    /* "http://127.0.0.1:<port>" */
    char admin_token[64]; /* the ASSETD_ADMIN_TOKEN it was given */
    char master_key[128]; /* the ASSETD_MASTER_KEY it was given */
} tl_server;

/* Start `$ASSETD_BIN serve` with a fresh environment: the current one without any ASSETD_* or
 * DATABASE_URL variable (except ASSETD_MIGRATIONS_DIR, ASSETD_LOG_REQUESTS and
 * ASSETD_DB_POOLER), plus
 *   DATABASE_URL=$TEST_DATABASE_URL, ASSETD_PORT=<free port>, ASSETD_LISTEN_ADDR=127.0.0.1,
 *   ASSETD_MASTER_KEY=$TEST_MASTER_KEY (or the process's random key),
 *   ASSETD_ADMIN_TOKEN=<random>, ASSETD_SYNC_WORKERS=0, ASSETD_MIGRATIONS_DIR,
 * then every "NAME=value" of extra_env (NULL-terminated array, may be NULL), which overrides a
 * variable of the same name (e.g. "ASSETD_BODY_LIMIT=2048", "ASSETD_SYNC_WORKERS=2",
 * "ASSETD_ADMIN_TOKEN=...", "ASSETD_MASTER_KEY=..."). The port is picked by binding port 0;
 * if the child cannot listen it is retried on another port. Waits until GET /healthz answers
 * 200 (20 s at most). On failure prints the child's log and fails the current test (cmocka);
 * never returns NULL. */
tl_server *tl_server_start(const char *const *extra_env);

/* Stop the server: SIGTERM, wait (60 s, then SIGKILL), free it. Returns the exit status: 0 for
 * a clean exit; under ASan a leak report makes it non-zero (1). A non-zero
 * status prints the child's log and makes tl_finish() fail the binary, so tests should
 * `assert_int_equal(tl_server_stop(srv), 0)` at the end. NULL-safe (returns 0). */
int tl_server_stop(tl_server *s);

/* kill -9 the server (no clean-up, no leak check), reap it and free it. Returns the status
 * (128 + 9). */
int tl_server_kill9(tl_server *s);

/* Start `$ASSETD_BIN worker` with the environment of server s (same database, keys, ...) plus
 * extra_env overrides (e.g. "ASSETD_SYNC_WORKERS=2", "ASSETD_LEASE_SECONDS=2"). Does not wait
 * for anything. Stop it with tl_proc_stop() or tl_proc_kill9(). */
tl_proc *tl_worker_start(const tl_server *s, const char *const *extra_env);

/* Start `$ASSETD_BIN <args...>` (args NULL-terminated, without argv[0]) with the environment
 * of s (or, when s is NULL, the environment tl_server_start would give) plus extra_env. */
tl_proc *tl_assetd_spawn(const tl_server *s, const char *const *args, const char *const *extra_env);

/* Run `$ASSETD_BIN <args...>` like tl_assetd_spawn and wait for it (timeout_ms, then it is
 * killed and -1 returned). Returns the exit status; when out is not NULL, *out receives the
 * child's output (stdout and stderr interleaved, malloc'd, NUL-terminated). */
int tl_assetd_run(const tl_server *s, const char *const *args, const char *const *extra_env,
                  int timeout_ms, char **out);

/* Send a signal without waiting. */
void tl_proc_signal(tl_proc *p, int sig);
/* True while the child has not exited (reaps it if it has). */
bool tl_proc_running(tl_proc *p);
/* Wait up to timeout_ms for the child to exit: its status, or -1 if it is still running. */
int tl_proc_wait(tl_proc *p, int timeout_ms);
/* SIGTERM, wait (60 s, then SIGKILL), free. Returns the exit status (0 = clean). A non-zero
 * status prints the log and makes tl_finish() fail. NULL-safe (returns 0). */
int tl_proc_stop(tl_proc *p);
/* SIGKILL, reap, free. Returns the status (137). */
int tl_proc_kill9(tl_proc *p);
/* Print the child's log to stderr (the last max_lines lines; 0 = all). */
void tl_proc_print_log(const tl_proc *p, int max_lines);
/* How many lines of the child's log (so far) contain text. */
int tl_proc_log_count(const tl_proc *p, const char *text);

/* Call at the end of main with cmocka's result: kills children still running, prints every
 * child's log when something failed, removes the temporary folder when all went well, and
 * returns non-zero when rc is non-zero, a child stopped with a non-zero status, or a testlib
 * set-up step failed (cmocka itself does not count failing group teardowns). Also closes the
 * DB connection and cleans up libcurl. */
int tl_finish(int rc);

/* The per-process temporary folder (created on first use). */
const char *tl_tmpdir(void);

/* ------------------------------------------------------------------------------------------ */
/* HTTP                                                                                       */
/* ------------------------------------------------------------------------------------------ */

typedef struct tl_resp {
    long status;  /* HTTP status; 0 on a transport error (see error) */
    json_t *json; /* the body parsed as JSON (any type), NULL if it is not JSON */
    char *body;   /* the raw body, NUL-terminated ("" when empty) */
    size_t body_len;
    char *headers;          /* every response header line, as received */
    char content_type[256]; /* these are "" when the header is absent */
    char request_id[256];   /* X-Request-Id */
    char location[1024];
    char retry_after[64];
    char www_authenticate[256];
    char request[1200]; /* "METHOD path" (truncated), for messages */
    char error[256];    /* libcurl's message on a transport error */
} tl_resp;

/* One request to s. path starts with '/' and is sent as is (already percent-encoded: see
 * tl_pathf and tl_urlenc). token: the bearer token, or NULL for no Authorization header. body:
 * JSON text (sent with Content-Type: application/json), or NULL for none. Never NULL. */
tl_resp *tl_http(const tl_server *s, const char *method, const char *path, const char *token,
                 const char *body);

/* As tl_http, the path made with printf-style formatting (as tl_pathf). */
tl_resp *tl_httpf(const tl_server *s, const char *method, const char *token, const char *body,
                  const char *path_fmt, ...) TL_FMT(5, 6);

/* As tl_http with body = json_dumps(body) (compact); steals the reference to body. */
tl_resp *tl_http_json(const tl_server *s, const char *method, const char *path, const char *token,
                      json_t *body);

/* Options of tl_http_raw. */
typedef struct {
    const char *const *headers; /* extra request header lines ("Name: value"), NULL-terminated;
                                   "Name:" removes a header curl would send */
    bool chunked;               /* send the body with Transfer-Encoding: chunked */
    bool no_content_type;       /* do not add Content-Type: application/json */
    long timeout_ms;            /* 0: 30 s */
} tl_http_opts;

/* The general form: body of body_len bytes (may hold any bytes, NUL included; NULL for none),
 * a raw Authorization header value (e.g. "Basic x"; NULL for none) instead of a token. */
tl_resp *tl_http_raw(const tl_server *s, const char *method, const char *path,
                     const char *authorization, const void *body, size_t body_len,
                     const tl_http_opts *opts);

void tl_resp_free(tl_resp *r);

/* Copy the value of response header `name` (case-insensitive) into out; false if absent. */
bool tl_resp_header(const tl_resp *r, const char *name, char *out, size_t n);

/* snprintf into buf and return buf; fails the test if it does not fit. */
char *tl_pathf(char *buf, size_t n, const char *fmt, ...) TL_FMT(3, 4);

/* Percent-encode every byte of s[0..len) except A-Z a-z 0-9 - . _ ~ into out (NUL-terminated;
 * fails the test if it does not fit; needs 3 * len + 1). Good for path segments and query
 * values alike (a space becomes %20, '+' becomes %2B). Returns out. */
char *tl_urlencn(char *out, size_t n, const void *s, size_t len);
char *tl_urlenc(char *out, size_t n, const char *s);

/* Standard base64 (padded) of bytes[0..len) into out (needs 4 * ((len + 2) / 3) + 1). */
char *tl_b64(char *out, size_t n, const void *bytes, size_t len);
/* Decode standard padded base64 into out (at most cap bytes): the length, or -1 if invalid. */
long tl_b64_decode(void *out, size_t cap, const char *b64);

/* prefix + '-' + 16 random hex digits into buf. Returns buf. */
char *tl_unique(char *buf, size_t n, const char *prefix);
/* A random token like assetd's: 32 random bytes as unpadded base64url (43 characters). */
char *tl_random_token(char out[64]);

/* ------------------------------------------------------------------------------------------ */
/* Assertions (cmocka failures that report the request, the status and the body)              */
/* ------------------------------------------------------------------------------------------ */

/* The response has this status. */
#define tl_expect_status(r, st) tl__expect_status((r), (st), __FILE__, __LINE__)
/* The response is an error as the contract describes it: this status, Content-Type
 * application/problem+json, a JSON object with type "urn:assetd:error:<name>", a non-empty
 * title, status, a non-empty detail, the Asset Store Kit code of name and name; an
 * X-Request-Id header; for 401 also WWW-Authenticate: Bearer. */
#define tl_expect_problem(r, st, name)                                                             \
    tl__expect_problem((r), (st), (name), NULL, __FILE__, __LINE__)
/* As tl_expect_problem, and the detail names `field` (contains it). */
#define tl_expect_problem_field(r, st, name, field)                                                \
    tl__expect_problem((r), (st), (name), (field), __FILE__, __LINE__)
/* The body contains / does not contain the text. */
#define tl_expect_body_has(r, text) tl__expect_body((r), (text), true, __FILE__, __LINE__)
#define tl_expect_body_lacks(r, text) tl__expect_body((r), (text), false, __FILE__, __LINE__)

/* Send a request and check only the status / the problem, then free the response. */
#define tl_req_status(s, method, path, token, body, st)                                            \
    tl_resp_free(tl__expect_status(tl_http((s), (method), (path), (token), (body)), (st),          \
                                   __FILE__, __LINE__))
#define tl_req_problem(s, method, path, token, body, st, name)                                     \
    tl_resp_free(tl__expect_problem(tl_http((s), (method), (path), (token), (body)), (st), (name), \
                                    NULL, __FILE__, __LINE__))

/* The Asset Store Kit code of an error name (e.g. "NOT_FOUND" -> 24000002); -1 if unknown. */
long tl_error_code(const char *name);

/* JSON shortcuts: the member as a string (NULL if absent or not a string), an integer (-1 if
 * absent or not an integer), a bool (false if absent). */
const char *tl_jstr(const json_t *obj, const char *key);
long long tl_jint(const json_t *obj, const char *key);
bool tl_jbool(const json_t *obj, const char *key);

/* Implementation of the macros above; they return r. */
tl_resp *tl__expect_status(tl_resp *r, long status, const char *file, int line);
tl_resp *tl__expect_problem(tl_resp *r, long status, const char *name, const char *field,
                            const char *file, int line);
tl_resp *tl__expect_body(tl_resp *r, const char *text, bool present, const char *file, int line);

/* ------------------------------------------------------------------------------------------ */
/* Convenience (each asserts success)                                                         */
/* ------------------------------------------------------------------------------------------ */

typedef struct {
    char id[64];     /* UUID */
    char token[128]; /* deviceToken */
} tl_device;

typedef struct {
    char app_id[300];
    char token[128]; /* the installation token */
} tl_app;

/* POST /devices as admin: name (NULL: "test-device"), accountId (NULL: none). Expects 201. */
tl_device tl_device_create(const tl_server *s, const char *name, const char *account_id);

/* POST /devices/{id}/apps as admin: groups (NULL-terminated, NULL for none), permission
 * STORE_PERSISTENT_DATA when persistent. Expects 201. */
tl_app tl_app_install(const tl_server *s, const char *device_id, const char *app_id,
                      const char *const *groups, bool persistent);

/* DELETE /devices/{id}/apps/{appId} as admin. Expects 204. */
void tl_app_uninstall(const tl_server *s, const char *device_id, const char *app_id);

/* PUT /devices/{id}/state as admin. Expects 200 and the state echoed back. */
void tl_device_set_state(const tl_server *s, const char *device_id, bool lock_screen_password_set,
                         bool screen_locked, bool unlocked_since_boot);

/* POST /assets with the JSON text body as the installation token. Expects 201; returns the
 * response's JSON (the asset; caller json_decref's it). */
json_t *tl_asset_add(const tl_server *s, const char *token, const char *json_body);

/* As tl_asset_add, the body made with printf-style formatting. */
json_t *tl_asset_addf(const tl_server *s, const char *token, const char *fmt, ...) TL_FMT(3, 4);

/* GET /assets?<query> (query without '?', "" for none; no offset when there may be several
 * pages, since a cursor does not go with offset) and every following page (nextCursor),
 * as token; writes the aliases found, in order, joined by ',' into out (e.g. "a,b,c"), or
 * "404" when the answer is 404 NOT_FOUND. Any other answer fails the test. Returns out. */
char *tl_list(const tl_server *s, const char *token, const char *query, char *out, size_t n);

/* GET /assets/<alias, percent-encoded>?returnType=ALL[&<extra_query>] as token; expects 200
 * and writes the decoded secret (NUL-terminated) into out. Returns out. */
char *tl_get_secret(const tl_server *s, const char *token, const char *alias,
                    const char *extra_query, char *out, size_t n);

/* POST /backups {"deviceId"} as token: expects 201; writes the backup's id into id (64). */
char *tl_backup_create(const tl_server *s, const char *token, const char *device_id, char *id);
/* POST /restores {"backupId", "targetDeviceId"} as token: expects 202; the job's id into id. */
char *tl_restore_create(const tl_server *s, const char *token, const char *backup_id,
                        const char *target_id, char *id);
/* Poll GET /restores/{id} as token until it is done or failed (timeout_ms, scaled for ASan):
 * its final JSON (the caller decrefs), or NULL when it did not end in time. */
json_t *tl_restore_wait(const tl_server *s, const char *token, const char *id, int timeout_ms);

/* A fresh device with one app installed on it (app_id, no groups, no permissions). */
tl_app tl_fresh_app(const tl_server *s, const char *app_id, tl_device *device_out);

/* ------------------------------------------------------------------------------------------ */
/* Database (libpq, on TEST_DATABASE_URL)                                                     */
/* ------------------------------------------------------------------------------------------ */

/* The connection (opened on first use; closed by tl_finish). Fails the test if it cannot. */
PGconn *tl_db(void);

/* Run sql with text parameters $1, $2, ... given as the variadic const char * arguments,
 * ended by NULL (a NULL parameter cannot be passed). Fails the test unless the command
 * succeeds. The caller PQclear's the result. */
PGresult *tl_db_exec(const char *sql, ...) __attribute__((sentinel));

/* The first column of the first row as an integer (e.g. SELECT count(*) ...). Fails the test
 * if there is no row or the value is NULL. */
long long tl_db_count(const char *sql, ...) __attribute__((sentinel));

/* Every row of the result as text: values separated by '\t', rows by '\n', NULL as "\N"
 * (malloc'd). Cast bytea columns as you like; plain bytea prints as \x<hex>. */
char *tl_db_dump(const char *sql, ...) __attribute__((sentinel));

/* ------------------------------------------------------------------------------------------ */
/* The test run's PostgreSQL cluster (tests/run.sh starts it with scripts/pg.sh)              */
/* ------------------------------------------------------------------------------------------ */

/* Its folder (the parent of TEST_DATABASE_URL's host=<dir>/sock). Fails the test if unknown. */
const char *tl_pg_dir(void);
/* scripts/pg.sh <cmd> <dir> (e.g. "stop", "start"): system()'s status. A test that stops the
 * cluster starts it again before it ends (test binaries run one at a time). */
int tl_pg_ctl(const char *cmd);
/* SIGSTOP (true) or SIGCONT (false) the postmaster and every backend: a database that accepts
 * connections and reads queries but never answers. Thaw before the test ends (an exit thaws
 * too, whatever happened). */
void tl_pg_freeze(bool frozen);

/* ------------------------------------------------------------------------------------------ */
/* Raw TCP (tl_raw.c): requests libcurl will not make; answers are not logged for the contract */
/* ------------------------------------------------------------------------------------------ */

/* A connection to s (127.0.0.1). Fails the test if it cannot connect. The caller closes it. */
int tl_raw_connect(const tl_server *s);
/* Send len bytes (stops early if the peer closed): the number sent. tl_raw_sends: a string. */
size_t tl_raw_send(int fd, const void *data, size_t len);
size_t tl_raw_sends(int fd, const char *s);
/* Read one response (head, and a body of Content-Length bytes) within timeout_ms. Never NULL:
 * status 0 and error set when no whole head came (timeout or close). Free with tl_resp_free. */
tl_resp *tl_raw_read(int fd, int timeout_ms);
/* True if the peer closes the connection within timeout_ms (whatever it sends first is read
 * and dropped). */
bool tl_raw_closed(int fd, int timeout_ms);

/* ------------------------------------------------------------------------------------------ */
/* Time                                                                                       */
/* ------------------------------------------------------------------------------------------ */

/* Monotonic clock in milliseconds; sleep. */
double tl_now_ms(void);
void tl_sleep_ms(int ms);
/* Whether this is the ASan+UBSan build's run (TEST_MODE=asan), and a timeout scaled for it:
 * timeouts grow under the sanitizers, sizes do not. */
bool tl_is_asan(void);
int tl_scaled_ms(int ms);

#endif
