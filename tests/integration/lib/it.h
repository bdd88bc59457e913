/* it: what the integration tests share. The service runs against a real PostgreSQL
 * (TEST_DATABASE_URL) with real libsodium, on a private database created for the test binary
 * (dropped at the end), so rows a test corrupts on purpose never reach another binary.
 *
 * it_main() checks the environment and runs the group with it_group_setup/it_group_teardown;
 * tests that need the service use IT_SVC_TEST (svc_setup opens it once, on the private
 * database; S is the service, priv_pg a direct connection to the same database). Request text
 * is borrowed from `mem`, freed after every test. */
#ifndef ASSETD_IT_H
#define ASSETD_IT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <libpq-fe.h>
#include <stdbool.h>

#include "../../../service/asset_ops.h"
#include "../../../service/config.h"
#include "../../../service/devices.h"
#include "../../../service/store/db.h"
#include "../../../service/svc.h"

extern const char *test_url; /* TEST_DATABASE_URL */
extern const char *mig_dir;  /* ASSETD_MIGRATIONS_DIR */
extern PGconn *admin_pg;     /* on TEST_DATABASE_URL, for CREATE/DROP DATABASE */
extern PGconn *priv_pg;      /* on the private database of the service */
extern svc S;
extern const char *const admin_token;
extern arena mem;

/* ---- database helpers (a failed statement fails the test) ---- */

PGresult *sql(PGconn *c, const char *q, int n, const char *const *vals);
void sql_do(PGconn *c, const char *q, int n, const char *const *vals);
long sql_long(PGconn *c, const char *q, int n, const char *const *vals);
/* Creates a database on the test server; returns its conninfo (malloc'd). */
char *create_db(const char *name, const char *options);
void drop_db(const char *name);
void unique_name(char *out, size_t n, const char *prefix);

/* ---- requests through the service ---- */

/* Builds a request for op from "name=value;name=value": text and base64 fields as given,
 * booleans "true"/"false", integers in decimal, enums by name, syncType as a comma list ("" for
 * []). Then asset_req_finish. Values live in `mem`. */
asset_err build(asset_req *r, asset_op op, const char *spec);
const char *b64(const char *text);
const char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));

/* Copies of what a query returned (the list and the request are freed at once). */
typedef struct {
    char alias[300];
    bool has_secret;
    char secret[1100];
    size_t secret_len;
    bool has_label[ASSET_LABELS];
    char label[ASSET_LABELS][128];
    uint8_t accessibility, auth_type, sync_type, wrap_type;
    bool req_pwd, persistent, attr_enc, has_group;
    char owner[300];
    int64_t update_ms;
} item;

typedef struct {
    int n;
    item it[64];
    bool replaced;
    char cursor[1024];
    bool has_cursor;
} result;

/* What the last add, query or update returned. */
extern result R;

asset_err add(const principal *p, const char *spec);
asset_err query_op(const principal *p, asset_op op, const char *spec);
asset_err query(const principal *p, const char *spec);
/* GET /assets/{alias} with selectors. */
asset_err get_one(const principal *p, const char *alias, const char *sel);
asset_err update(const principal *p, const char *alias, const char *sel, const char *upd);
asset_err remove_op(const principal *p, asset_op op, const char *spec, long *removed);
/* "a,b,c" of R's aliases */
const char *aliases(void);

#define ADD_OK(p, spec)                                                                            \
    do {                                                                                           \
        asset_err e_ = add((p), (spec));                                                           \
        if (e_ != ASSET_OK)                                                                        \
            fail_msg("add %s: %s", (spec), asset_err_name(e_));                                    \
    } while (0)

#define EXPECT(call, want)                                                                         \
    do {                                                                                           \
        asset_err got_ = (call);                                                                   \
        if (got_ != (want))                                                                        \
            fail_msg("%s: got %s, want %s", #call, asset_err_name(got_), asset_err_name(want));    \
    } while (0)

/* ---- devices and apps ---- */

typedef struct {
    char id[UUID_TEXT_LEN];
    char token[SEAL_TOKEN_TEXT_LEN];
} device_t;

void new_device(device_t *d, const char *account);
void install(const device_t *d, const char *app, const char *groups, bool perm,
             char token[SEAL_TOKEN_TEXT_LEN]);
void auth(const char *token, principal *p);
/* An app installed on a device, authenticated. */
void app_on(const device_t *d, const char *app, const char *groups, bool perm, principal *p);
void set_state(const device_t *d, bool pwd, bool locked, bool since_boot);

/* ---- another database for one test ---- */

/* Creates a database (dropped by the test's teardown); its conninfo. */
const char *swap_db_create(const char *prefix, const char *options);
/* Runs S on that database (migrated) until the test's teardown swaps the service back. */
void swap_svc_to(const char *url);

/* ---- set-up ---- */

int svc_setup(void **state);
int test_teardown(void **state);
#define IT_SVC_TEST(t) cmocka_unit_test_setup_teardown(t, svc_setup, test_teardown)
#define IT_TEST(t) cmocka_unit_test_teardown(t, test_teardown)

/* Checks the environment (TEST_DATABASE_URL, ASSETD_MIGRATIONS_DIR), then runs the tests;
 * name is the binary's, for messages. */
int it_main(const char *name, const struct CMUnitTest *tests, size_t n);
#define IT_MAIN(name, tests) it_main((name), (tests), sizeof(tests) / sizeof((tests)[0]))

#endif
