/* HTTP black-box tests: user-authenticated reads (issue 4). Spec §2, §3 (authType,
 * authValidityPeriod, isPersistent), §4 (pre-query, query, post-query, user-auth keys,
 * uninstall), §5, §6 (auth-gated assets and device state), §10 (every bad challenge is 403).
 *
 * Key pairs are made here with libsodium; the documented helper `assetd sign-challenge` is
 * exercised once end to end. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../lib/testlib.h"

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

/* ------------------------------------------------------------------------------------------ */
/* Helpers                                                                                    */
/* ------------------------------------------------------------------------------------------ */

typedef struct {
    unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    char pk64[64], seed64[64];
} keypair;

static void kp_from_seed(keypair *k, const unsigned char seed[crypto_sign_SEEDBYTES])
{
    assert_int_equal(crypto_sign_seed_keypair(k->pk, k->sk, seed), 0);
    tl_b64(k->pk64, sizeof k->pk64, k->pk, sizeof k->pk);
    tl_b64(k->seed64, sizeof k->seed64, seed, crypto_sign_SEEDBYTES);
}

static void kp_new(keypair *k)
{
    unsigned char seed[crypto_sign_SEEDBYTES];
    randombytes_buf(seed, sizeof seed);
    kp_from_seed(k, seed);
}

/* POST /devices as admin, with the key (base64) when pk64 is not NULL. */
static tl_device device_new(const char *pk64)
{
    tl_device d;
    memset(&d, 0, sizeof d);
    json_t *b = pk64 ? json_pack("{s:s, s:s}", "name", "auth-device", "userAuthPublicKey", pk64)
                     : json_pack("{s:s}", "name", "auth-device");
    tl_resp *r = tl_http_json(srv, "POST", "/devices", srv->admin_token, b);
    tl_expect_status(r, 201);
    assert_non_null(tl_jstr(r->json, "id"));
    assert_non_null(tl_jstr(r->json, "deviceToken"));
    snprintf(d.id, sizeof d.id, "%s", tl_jstr(r->json, "id"));
    snprintf(d.token, sizeof d.token, "%s", tl_jstr(r->json, "deviceToken"));
    tl_resp_free(r);
    return d;
}

/* base64 Ed25519 signature by k over challenge || app_id. */
static char *sign_for(char out[128], const keypair *k, const char *ch64, const char *app_id)
{
    unsigned char msg[32 + 512], sig[crypto_sign_BYTES];
    size_t al = strlen(app_id);
    assert_true(al <= 512);
    assert_int_equal(tl_b64_decode(msg, 32, ch64), 32);
    memcpy(msg + 32, app_id, al);
    assert_int_equal(crypto_sign_detached(sig, NULL, msg, 32 + al, k->sk), 0);
    return tl_b64(out, 128, sig, sizeof sig);
}

/* base64 of text (e.g. a secret). */
static char *b64s(char *out, size_t n, const char *text)
{
    return tl_b64(out, n, text, strlen(text));
}

/* A distinctive secret ("<what>-<16 hex>") and its base64. */
static void make_secret(char b64[128], const char *what)
{
    char plain[80];
    tl_unique(plain, sizeof plain, what);
    b64s(b64, 128, plain);
}

/* RFC 3339 "YYYY-MM-DDTHH:MM:SS.mmmZ" to Unix seconds (fails the test when malformed). */
static time_t parse_time(const char *s)
{
    struct tm tm;
    int ms = -1, used = 0;
    memset(&tm, 0, sizeof tm);
    assert_non_null(s);
    assert_int_equal(strlen(s), 24);
    assert_int_equal(sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ%n", &tm.tm_year, &tm.tm_mon,
                            &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms, &used),
                     7);
    assert_int_equal(used, 24);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return timegm(&tm);
}

/* POST /assets/pre-query with body; expects 200 {challenge: base64 of 32 bytes, expiresAt};
 * copies the challenge into out and, when expires is not NULL, the expiry (Unix seconds). */
static char *pre_query_at(char out[64], const char *tok, const char *body, time_t *expires)
{
    tl_resp *r = tl_http(srv, "POST", "/assets/pre-query", tok, body);
    tl_expect_status(r, 200);
    assert_true(json_is_object(r->json));
    assert_int_equal(json_object_size(r->json), 2);
    const char *c = tl_jstr(r->json, "challenge");
    unsigned char raw[64];
    assert_non_null(c);
    assert_int_equal(strlen(c), 44);
    assert_int_equal(tl_b64_decode(raw, sizeof raw, c), 32);
    time_t when = parse_time(tl_jstr(r->json, "expiresAt"));
    if (expires)
        *expires = when;
    snprintf(out, 64, "%s", c);
    tl_resp_free(r);
    return out;
}

static char *pre_query(char out[64], const char *tok, const char *body)
{
    return pre_query_at(out, tok, body, NULL);
}

/* POST /assets/query {alias, authChallenge, authToken} plus the members of extra (stolen; may
 * be NULL). alias NULL: no alias member. */
static tl_resp *auth_query_x(const char *tok, const char *alias, const char *ch64,
                             const char *token64, json_t *extra)
{
    json_t *b = json_object();
    if (alias)
        json_object_set_new(b, "alias", json_string(alias));
    if (ch64)
        json_object_set_new(b, "authChallenge", json_string(ch64));
    if (token64)
        json_object_set_new(b, "authToken", json_string(token64));
    if (extra) {
        json_object_update(b, extra);
        json_decref(extra);
    }
    return tl_http_json(srv, "POST", "/assets/query", tok, b);
}

static tl_resp *auth_query(const char *tok, const char *alias, const char *ch64,
                           const char *token64)
{
    return auth_query_x(tok, alias, ch64, token64, NULL);
}

/* Neither the secret's text nor any "secret" member is in the response. */
static void expect_no_secret(const tl_resp *r, const char *secret64)
{
    if (secret64)
        assert_null(strstr(r->body, secret64));
    if (json_is_object(r->json)) {
        assert_null(json_object_get(r->json, "secret"));
        json_t *arr = json_object_get(r->json, "assets"), *it;
        size_t i;
        json_array_foreach(arr, i, it) assert_null(json_object_get(it, "secret"));
    }
}

/* The response is 200 {"assets": [the asset alias with secret64], "nextCursor": null}. */
static void expect_secret(tl_resp *r, const char *alias, const char *secret64)
{
    tl_expect_status(r, 200);
    json_t *arr = json_object_get(r->json, "assets");
    assert_true(json_is_array(arr));
    assert_int_equal(json_array_size(arr), 1);
    json_t *a = json_array_get(arr, 0);
    assert_string_equal(tl_jstr(a, "alias"), alias);
    assert_non_null(tl_jstr(a, "secret"));
    assert_string_equal(tl_jstr(a, "secret"), secret64);
    assert_string_equal(tl_jstr(a, "authType"), "ANY");
    assert_true(json_is_null(json_object_get(r->json, "nextCursor")));
}

/* A refused query: this problem, and no secret. */
#define expect_refused(r, st, name, secret64)                                                      \
    do {                                                                                           \
        tl_expect_problem((r), (st), (name));                                                      \
        expect_no_secret((r), (secret64));                                                         \
    } while (0)

static void post_query(const char *tok, const char *ch64)
{
    json_t *b = json_pack("{s:s}", "authChallenge", ch64);
    tl_resp *r = tl_http_json(srv, "POST", "/assets/post-query", tok, b);
    tl_expect_status(r, 204);
    assert_int_equal(r->body_len, 0);
    tl_resp_free(r);
}

/* POST /assets: an auth-gated asset (authType ANY) with this alias, secret and the extra JSON
 * members (text after a comma, "" for none). */
static void add_gated(const char *tok, const char *alias, const char *secret64, const char *extra)
{
    json_t *a =
        tl_asset_addf(srv, tok, "{\"alias\":\"%s\",\"secret\":\"%s\",\"authType\":\"ANY\"%s%s}",
                      alias, secret64, extra[0] ? "," : "", extra);
    assert_string_equal(tl_jstr(a, "authType"), "ANY");
    assert_null(json_object_get(a, "secret"));
    json_decref(a);
}

/* An app on a fresh device whose user-auth key is k. */
typedef struct {
    keypair k;
    tl_device d;
    tl_app a;
} fixture;

static void fixture_new(fixture *f, const char *app_prefix)
{
    char app[128];
    kp_new(&f->k);
    f->d = device_new(f->k.pk64);
    f->a = tl_app_install(srv, f->d.id, tl_unique(app, sizeof app, app_prefix), NULL, false);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Device user-auth keys                                                                      */
/* ------------------------------------------------------------------------------------------ */

static void expect_device_key(const tl_device *d, const char *token, const char *pk64)
{
    char path[128];
    tl_resp *r =
        tl_http(srv, "GET", tl_pathf(path, sizeof path, "/devices/%s", d->id), token, NULL);
    tl_expect_status(r, 200);
    json_t *k = json_object_get(r->json, "userAuthPublicKey");
    assert_non_null(k);
    if (pk64)
        assert_string_equal(json_string_value(k), pk64);
    else
        assert_true(json_is_null(k));
    tl_resp_free(r);
}

static void test_device_user_auth_key(void **st)
{
    (void)st;
    keypair k1, k2, k3;
    kp_new(&k1);
    kp_new(&k2);
    kp_new(&k3);

    /* Registered with a key: GET shows it (to the admin and to the device itself). */
    tl_device d = device_new(k1.pk64);
    expect_device_key(&d, srv->admin_token, k1.pk64);
    expect_device_key(&d, d.token, k1.pk64);
    /* Without one: null. */
    tl_device plain = device_new(NULL);
    expect_device_key(&plain, srv->admin_token, NULL);

    /* Malformed keys at registration: 400 naming the field, no device created. */
    static const char *bad[] = {
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==", /* 31 bytes */
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g", /* 33 bytes */
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",  /* 32 bytes, padding missing */
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh-_", /* base64url alphabet */
        "not base64 at all!!!!!!!!!!!!!!!!!!!!!!!!!!=", /* 44 chars, not base64 */
        "",                                             /* 0 bytes */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char name[64];
        tl_unique(name, sizeof name, "badkey");
        json_t *b = json_pack("{s:s, s:s}", "name", name, "userAuthPublicKey", bad[i]);
        tl_resp *r = tl_http_json(srv, "POST", "/devices", srv->admin_token, b);
        tl_expect_problem_field(r, 400, "INVALID_ARGUMENT", "userAuthPublicKey");
        tl_resp_free(r);
        assert_int_equal(tl_db_count("SELECT count(*) FROM devices WHERE name = $1", name, NULL),
                         0);
    }
    {
        char name[64];
        tl_unique(name, sizeof name, "badkey");
        json_t *b = json_pack("{s:s, s:i}", "name", name, "userAuthPublicKey", 32);
        tl_resp *r = tl_http_json(srv, "POST", "/devices", srv->admin_token, b);
        tl_expect_problem_field(r, 400, "INVALID_ARGUMENT", "userAuthPublicKey");
        tl_resp_free(r);
        assert_int_equal(tl_db_count("SELECT count(*) FROM devices WHERE name = $1", name, NULL),
                         0);
    }

    /* PUT replaces it: the admin, then the device itself. */
    char path[128], body[128];
    tl_pathf(path, sizeof path, "/devices/%s/user-auth-key", d.id);
    tl_resp *r = tl_http(srv, "PUT", path, srv->admin_token,
                         tl_pathf(body, sizeof body, "{\"userAuthPublicKey\":\"%s\"}", k2.pk64));
    tl_expect_status(r, 200);
    assert_string_equal(tl_jstr(r->json, "id"), d.id);
    assert_string_equal(tl_jstr(r->json, "userAuthPublicKey"), k2.pk64);
    tl_resp_free(r);
    expect_device_key(&d, srv->admin_token, k2.pk64);
    r = tl_http(srv, "PUT", path, d.token,
                tl_pathf(body, sizeof body, "{\"userAuthPublicKey\":\"%s\"}", k3.pk64));
    tl_expect_status(r, 200);
    assert_string_equal(tl_jstr(r->json, "userAuthPublicKey"), k3.pk64);
    tl_resp_free(r);
    expect_device_key(&d, d.token, k3.pk64);

    /* Another device, or an installation: 403, and the key is unchanged. */
    tl_app a = tl_app_install(srv, d.id, "com.example.keyapp", NULL, false);
    tl_pathf(body, sizeof body, "{\"userAuthPublicKey\":\"%s\"}", k1.pk64);
    tl_req_problem(srv, "PUT", path, plain.token, body, 403, "PERMISSION_DENIED");
    tl_req_problem(srv, "PUT", path, a.token, body, 403, "PERMISSION_DENIED");
    tl_req_problem(srv, "PUT", path, NULL, body, 401, "PERMISSION_DENIED");
    /* Malformed replacements: 400, unchanged. */
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *b = json_pack("{s:s}", "userAuthPublicKey", bad[i]);
        r = tl_http_json(srv, "PUT", path, srv->admin_token, b);
        tl_expect_problem_field(r, 400, "INVALID_ARGUMENT", "userAuthPublicKey");
        tl_resp_free(r);
    }
    expect_device_key(&d, srv->admin_token, k3.pk64);

    /* A device without a key gets one by PUT. */
    tl_pathf(path, sizeof path, "/devices/%s/user-auth-key", plain.id);
    tl_req_status(srv, "PUT", path, plain.token, body, 200);
    expect_device_key(&plain, srv->admin_token, k1.pk64);
}

/* ------------------------------------------------------------------------------------------ */
/* The flow                                                                                   */
/* ------------------------------------------------------------------------------------------ */

static void test_full_flow(void **st)
{
    (void)st;
    fixture f;
    fixture_new(&f, "com.example.flow");
    char s1[128], s2[128], s3[128], ch[64], sig[128];
    make_secret(s1, "flow-one");
    make_secret(s2, "flow-two");
    make_secret(s3, "flow-plain");
    add_gated(f.a.token, "one", s1, "\"dataLabelNormal1\":\"bank\"");
    add_gated(f.a.token, "two", s2, "\"dataLabelNormal1\":\"bank\"");
    json_decref(tl_asset_addf(srv, f.a.token, "{\"alias\":\"plain\",\"secret\":\"%s\"}", s3));

    /* Pre-query on one alias, default validity (60 s). */
    time_t before = time(NULL), exp = 0;
    pre_query_at(ch, f.a.token, "{\"alias\":\"one\"}", &exp);
    assert_true(exp >= before + 55 && exp <= time(NULL) + 65);

    sign_for(sig, &f.k, ch, f.a.app_id);
    tl_resp *r = auth_query(f.a.token, "one", ch, sig);
    expect_secret(r, "one", s1);
    assert_string_equal(
        tl_jstr(json_array_get(json_object_get(r->json, "assets"), 0), "dataLabelNormal1"), "bank");
    tl_resp_free(r);
    /* Repeatable while the challenge lives. */
    r = auth_query(f.a.token, "one", ch, sig);
    expect_secret(r, "one", s1);
    tl_resp_free(r);
    /* returnType ATTRIBUTES: the asset without its secret. */
    r = auth_query_x(f.a.token, "one", ch, sig, json_pack("{s:s}", "returnType", "ATTRIBUTES"));
    tl_expect_status(r, 200);
    assert_int_equal(json_array_size(json_object_get(r->json, "assets")), 1);
    expect_no_secret(r, s1);
    tl_resp_free(r);
    /* "two" is auth-gated too, but this pre-query did not match it. */
    r = auth_query(f.a.token, "two", ch, sig);
    expect_refused(r, 404, "NOT_FOUND", s2);
    tl_resp_free(r);

    /* End it: 204, then the challenge is dead. */
    post_query(f.a.token, ch);
    r = auth_query(f.a.token, "one", ch, sig);
    expect_refused(r, 403, "ACCESS_DENIED", s1);
    tl_resp_free(r);

    /* One pre-query matching two aliases (by label), validity 120 s: both readable. */
    before = time(NULL);
    pre_query_at(ch, f.a.token, "{\"dataLabelNormal1\":\"bank\",\"authValidityPeriod\":120}", &exp);
    assert_true(exp >= before + 115 && exp <= time(NULL) + 125);
    sign_for(sig, &f.k, ch, f.a.app_id);
    r = auth_query(f.a.token, "two", ch, sig);
    expect_secret(r, "two", s2);
    tl_resp_free(r);
    r = auth_query(f.a.token, "one", ch, sig);
    expect_secret(r, "one", s1);
    tl_resp_free(r);
    /* The authType NONE asset is never matched through a challenge. */
    r = auth_query(f.a.token, "plain", ch, sig);
    expect_refused(r, 404, "NOT_FOUND", s3);
    tl_resp_free(r);
    post_query(f.a.token, ch);
    r = auth_query(f.a.token, "two", ch, sig);
    expect_refused(r, 403, "ACCESS_DENIED", s2);
    tl_resp_free(r);

    /* An explicit authType ANY in the pre-query is allowed. */
    pre_query(ch, f.a.token, "{\"alias\":\"two\",\"authType\":\"ANY\"}");
    r = auth_query(f.a.token, "two", ch, sign_for(sig, &f.k, ch, f.a.app_id));
    expect_secret(r, "two", s2);
    tl_resp_free(r);
    post_query(f.a.token, ch);
}

static void test_flow_with_sign_challenge_tool(void **st)
{
    (void)st;
    char *out = NULL;
    static const char *const keygen[] = {"sign-challenge", "keygen", NULL};
    assert_int_equal(tl_assetd_run(srv, keygen, NULL, 20000, &out), 0);
    assert_non_null(out);
    json_error_t jerr;
    json_t *kj = json_loads(out, JSON_DISABLE_EOF_CHECK, &jerr);
    assert_non_null(kj);
    free(out);
    out = NULL;
    const char *pk64 = tl_jstr(kj, "userAuthPublicKey"), *seed64 = tl_jstr(kj, "privateKey");
    assert_non_null(pk64);
    assert_non_null(seed64);

    /* The printed key pair is a seed and its Ed25519 public key. */
    unsigned char seed[64];
    keypair k;
    assert_int_equal(tl_b64_decode(seed, sizeof seed, seed64), 32);
    kp_from_seed(&k, seed);
    assert_string_equal(k.pk64, pk64);

    tl_device d = device_new(pk64);
    tl_app a = tl_app_install(srv, d.id, "com.example.cli", NULL, false);
    char s[128], ch[64], mine[128];
    make_secret(s, "cli");
    add_gated(a.token, "cli-pin", s, "");
    pre_query(ch, a.token, "{\"alias\":\"cli-pin\",\"authValidityPeriod\":30}");

    const char *const args[] = {"sign-challenge", "--key",  seed64, "--challenge", ch,
                                "--app",          a.app_id, NULL};
    assert_int_equal(tl_assetd_run(srv, args, NULL, 20000, &out), 0);
    assert_non_null(out);
    size_t n = strlen(out);
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
        out[--n] = 0;
    /* Ed25519 is deterministic: the tool signed exactly challenge || appId. */
    assert_string_equal(out, sign_for(mine, &k, ch, a.app_id));

    tl_resp *r = auth_query(a.token, "cli-pin", ch, out);
    expect_secret(r, "cli-pin", s);
    tl_resp_free(r);
    post_query(a.token, ch);
    r = auth_query(a.token, "cli-pin", ch, out);
    expect_refused(r, 403, "ACCESS_DENIED", s);
    tl_resp_free(r);
    free(out);
    json_decref(kj);
}

/* ------------------------------------------------------------------------------------------ */
/* Refusals                                                                                   */
/* ------------------------------------------------------------------------------------------ */

static void test_wrong_signatures(void **st)
{
    (void)st;
    fixture f;
    fixture_new(&f, "com.example.sig");
    keypair other;
    kp_new(&other);
    char s[128], ch[64], good[128], bad[128];
    make_secret(s, "sig");
    add_gated(f.a.token, "pin", s, "");
    pre_query(ch, f.a.token, "{\"alias\":\"pin\"}");
    sign_for(good, &f.k, ch, f.a.app_id);
    /* The challenge is live and the right signature works ... */
    tl_resp *r = auth_query(f.a.token, "pin", ch, good);
    expect_secret(r, "pin", s);
    tl_resp_free(r);

    /* ... another key's signature does not, */
    r = auth_query(f.a.token, "pin", ch, sign_for(bad, &other, ch, f.a.app_id));
    expect_refused(r, 403, "ACCESS_DENIED", s);
    tl_resp_free(r);
    /* nor the device key's over another appId (or over the challenge alone), */
    r = auth_query(f.a.token, "pin", ch, sign_for(bad, &f.k, ch, "com.example.other"));
    expect_refused(r, 403, "ACCESS_DENIED", s);
    tl_resp_free(r);
    r = auth_query(f.a.token, "pin", ch, sign_for(bad, &f.k, ch, ""));
    expect_refused(r, 403, "ACCESS_DENIED", s);
    tl_resp_free(r);
    /* nor the right signature with one byte flipped (first, middle, last), */
    unsigned char raw[64];
    const size_t at[] = {0, 31, 63};
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
        assert_int_equal(tl_b64_decode(raw, sizeof raw, good), 64);
        raw[at[i]] ^= 0x01;
        r = auth_query(f.a.token, "pin", ch, tl_b64(bad, sizeof bad, raw, sizeof raw));
        expect_refused(r, 403, "ACCESS_DENIED", s);
        tl_resp_free(r);
    }
    /* nor a well-formed token of another length (63 bytes, 65 bytes, 1 byte). */
    assert_int_equal(tl_b64_decode(raw, sizeof raw, good), 64);
    r = auth_query(f.a.token, "pin", ch, tl_b64(bad, sizeof bad, raw, 63));
    expect_refused(r, 403, "ACCESS_DENIED", s);
    tl_resp_free(r);
    unsigned char longer[65];
    memcpy(longer, raw, 64);
    longer[64] = 0;
    r = auth_query(f.a.token, "pin", ch, tl_b64(bad, sizeof bad, longer, sizeof longer));
    expect_refused(r, 403, "ACCESS_DENIED", s);
    tl_resp_free(r);
    r = auth_query(f.a.token, "pin", ch, "AA==");
    expect_refused(r, 403, "ACCESS_DENIED", s);
    tl_resp_free(r);
    /* A signature over the right message for another challenge of the same app. */
    char ch2[64];
    pre_query(ch2, f.a.token, "{\"alias\":\"pin\"}");
    r = auth_query(f.a.token, "pin", ch, sign_for(bad, &f.k, ch2, f.a.app_id));
    expect_refused(r, 403, "ACCESS_DENIED", s);
    tl_resp_free(r);
    post_query(f.a.token, ch);
    post_query(f.a.token, ch2);
}

static void test_foreign_challenge(void **st)
{
    (void)st;
    keypair k;
    kp_new(&k);
    tl_device d = device_new(k.pk64), d2 = device_new(k.pk64);
    char app_a[128], app_b[128];
    tl_unique(app_a, sizeof app_a, "com.example.fa");
    tl_unique(app_b, sizeof app_b, "com.example.fb");
    tl_app a = tl_app_install(srv, d.id, app_a, NULL, false);
    tl_app b = tl_app_install(srv, d.id, app_b, NULL, false);
    /* The same app on another device with the same user-auth key. */
    tl_app a2 = tl_app_install(srv, d2.id, app_a, NULL, false);
    char sa[128], sb[128], sa2[128], ch[64], sig[128];
    make_secret(sa, "fa");
    make_secret(sb, "fb");
    make_secret(sa2, "fa2");
    add_gated(a.token, "s", sa, "");
    add_gated(b.token, "s", sb, "");
    add_gated(a2.token, "s", sa2, "");

    pre_query(ch, a.token, "{\"alias\":\"s\"}");
    /* B with A's challenge, signed by the device key over challenge || B's appId: 403. */
    tl_resp *r = auth_query(b.token, "s", ch, sign_for(sig, &k, ch, b.app_id));
    expect_refused(r, 403, "ACCESS_DENIED", sb);
    expect_no_secret(r, sa);
    tl_resp_free(r);
    /* ... or over challenge || A's appId: 403. */
    r = auth_query(b.token, "s", ch, sign_for(sig, &k, ch, a.app_id));
    expect_refused(r, 403, "ACCESS_DENIED", sb);
    expect_no_secret(r, sa);
    tl_resp_free(r);
    /* The same appId on another device, same key, valid signature: 403. */
    r = auth_query(a2.token, "s", ch, sign_for(sig, &k, ch, a.app_id));
    expect_refused(r, 403, "ACCESS_DENIED", sa2);
    expect_no_secret(r, sa);
    tl_resp_free(r);
    /* B's post-query of A's challenge is 204 and changes nothing. */
    post_query(b.token, ch);
    post_query(a2.token, ch);
    r = auth_query(a.token, "s", ch, sign_for(sig, &k, ch, a.app_id));
    expect_secret(r, "s", sa);
    tl_resp_free(r);
    post_query(a.token, ch);
}

static void test_unknown_and_expired_challenge(void **st)
{
    (void)st;
    fixture f;
    fixture_new(&f, "com.example.exp");
    char s[128], ch[64], sig[128];
    make_secret(s, "exp");
    add_gated(f.a.token, "pin", s, "");

    /* Unknown: 32 random bytes, validly signed. */
    unsigned char raw[32];
    randombytes_buf(raw, sizeof raw);
    tl_b64(ch, sizeof ch, raw, sizeof raw);
    tl_resp *r = auth_query(f.a.token, "pin", ch, sign_for(sig, &f.k, ch, f.a.app_id));
    expect_refused(r, 403, "ACCESS_DENIED", s);
    tl_resp_free(r);
    post_query(f.a.token, ch); /* unknown: 204 */

    /* Expired: validity 1 s. Usable at once, refused ~1.5 s later. */
    time_t before = time(NULL), exp = 0;
    pre_query_at(ch, f.a.token, "{\"alias\":\"pin\",\"authValidityPeriod\":1}", &exp);
    assert_true(exp >= before && exp <= time(NULL) + 2);
    sign_for(sig, &f.k, ch, f.a.app_id);
    r = auth_query(f.a.token, "pin", ch, sig);
    expect_secret(r, "pin", s);
    tl_resp_free(r);
    sleep_ms(1500);
    r = auth_query(f.a.token, "pin", ch, sig);
    expect_refused(r, 403, "ACCESS_DENIED", s);
    tl_resp_free(r);
    post_query(f.a.token, ch); /* expired: 204 */
    post_query(f.a.token, ch); /* and again */
    r = auth_query(f.a.token, "pin", ch, sig);
    expect_refused(r, 403, "ACCESS_DENIED", s);
    tl_resp_free(r);
}

static void test_malformed_query(void **st)
{
    (void)st;
    fixture f;
    fixture_new(&f, "com.example.mal");
    char s[128], ch[64], sig[128], c31[64], c33[64];
    make_secret(s, "mal");
    add_gated(f.a.token, "pin", s, "");
    pre_query(ch, f.a.token, "{\"alias\":\"pin\"}");
    sign_for(sig, &f.k, ch, f.a.app_id);
    unsigned char raw[33];
    assert_int_equal(tl_b64_decode(raw, sizeof raw, ch), 32);
    raw[32] = 7;
    tl_b64(c31, sizeof c31, raw, 31);
    tl_b64(c33, sizeof c33, raw, 33);
    unsigned char big[1025];
    memset(big, 0x5a, sizeof big);
    char *big64 = malloc(4 * ((sizeof big + 2) / 3) + 1);
    assert_non_null(big64);
    tl_b64(big64, 4 * ((sizeof big + 2) / 3) + 1, big, sizeof big);
    char sig_nopad[128];
    snprintf(sig_nopad, sizeof sig_nopad, "%s", sig);
    sig_nopad[strcspn(sig_nopad, "=")] = 0; /* 64 bytes -> 88 chars with "==" */

    struct {
        const char *alias, *ch, *tok, *field;
    } bad[] = {
        {"pin", ch, "not base64!", "authToken"},
        {"pin", ch, "", "authToken"},
        {"pin", ch, sig_nopad, "authToken"},
        {"pin", ch, big64, "authToken"},
        {"pin", ch, NULL, "authToken"},
        {"pin", c31, sig, "authChallenge"},
        {"pin", c33, sig, "authChallenge"},
        {"pin", "", sig, "authChallenge"},
        {"pin", "***not-base64***", sig, "authChallenge"},
        {"pin", NULL, sig, "authChallenge"},
        {NULL, ch, sig, "alias"},
        {"", ch, sig, "alias"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tl_resp *r = auth_query(f.a.token, bad[i].alias, bad[i].ch, bad[i].tok);
        tl_expect_problem_field(r, 400, "INVALID_ARGUMENT", bad[i].field);
        expect_no_secret(r, s);
        tl_resp_free(r);
    }
    /* Other malformed members: an unknown field, a wrong type, authValidityPeriod (pre-query
     * only). */
    tl_resp *r = auth_query_x(f.a.token, "pin", ch, sig, json_pack("{s:b}", "verbose", 1));
    tl_expect_problem_field(r, 400, "INVALID_ARGUMENT", "verbose");
    expect_no_secret(r, s);
    tl_resp_free(r);
    r = auth_query_x(f.a.token, "pin", ch, sig, json_pack("{s:i}", "authValidityPeriod", 60));
    tl_expect_problem_field(r, 400, "INVALID_ARGUMENT", "authValidityPeriod");
    expect_no_secret(r, s);
    tl_resp_free(r);
    r = auth_query_x(f.a.token, "pin", ch, sig, json_pack("{s:s}", "returnType", "SECRETS"));
    tl_expect_problem_field(r, 400, "INVALID_ARGUMENT", "returnType");
    expect_no_secret(r, s);
    tl_resp_free(r);
    free(big64);

    /* The challenge was live all along: the well-formed request works. */
    r = auth_query(f.a.token, "pin", ch, sig);
    expect_secret(r, "pin", s);
    tl_resp_free(r);

    /* post-query: malformed challenges are 400; 204 otherwise (also when ended twice). */
    const char *pq_bad[] = {
        "{}",
        "{\"authChallenge\":\"\"}",
        "{\"authChallenge\":\"***not-base64***\"}",
        "{\"authChallenge\":32}",
    };
    for (size_t i = 0; i < sizeof pq_bad / sizeof pq_bad[0]; i++) {
        r = tl_http(srv, "POST", "/assets/post-query", f.a.token, pq_bad[i]);
        tl_expect_problem_field(r, 400, "INVALID_ARGUMENT", "authChallenge");
        tl_resp_free(r);
    }
    const char *pq_len[] = {c31, c33};
    for (size_t i = 0; i < 2; i++) {
        r = tl_http_json(srv, "POST", "/assets/post-query", f.a.token,
                         json_pack("{s:s}", "authChallenge", pq_len[i]));
        tl_expect_problem_field(r, 400, "INVALID_ARGUMENT", "authChallenge");
        tl_resp_free(r);
    }
    r = tl_http_json(srv, "POST", "/assets/post-query", f.a.token,
                     json_pack("{s:s, s:s}", "authChallenge", ch, "alias", "pin"));
    tl_expect_problem(r, 400, "INVALID_ARGUMENT");
    tl_resp_free(r);
    /* None of those ended the challenge. */
    r = auth_query(f.a.token, "pin", ch, sig);
    expect_secret(r, "pin", s);
    tl_resp_free(r);
    post_query(f.a.token, ch);
    post_query(f.a.token, ch);
    r = auth_query(f.a.token, "pin", ch, sig);
    expect_refused(r, 403, "ACCESS_DENIED", s);
    tl_resp_free(r);
}

static void test_device_without_user_auth_key(void **st)
{
    (void)st;
    keypair k, k2;
    kp_new(&k);
    kp_new(&k2);
    tl_device d = device_new(NULL);
    tl_app a = tl_app_install(srv, d.id, "com.example.nokey", NULL, false);
    char s[128], ch[64], sig[128], path[128], body[128];
    make_secret(s, "nokey");
    add_gated(a.token, "pin", s, "");
    pre_query(ch, a.token, "{\"alias\":\"pin\",\"authValidityPeriod\":120}");
    sign_for(sig, &k, ch, a.app_id);
    tl_resp *r = auth_query(a.token, "pin", ch, sig);
    expect_refused(r, 403, "ACCESS_DENIED", s);
    tl_resp_free(r);

    /* A key registered afterwards applies to challenges issued before. */
    tl_pathf(path, sizeof path, "/devices/%s/user-auth-key", d.id);
    tl_req_status(srv, "PUT", path, d.token,
                  tl_pathf(body, sizeof body, "{\"userAuthPublicKey\":\"%s\"}", k.pk64), 200);
    r = auth_query(a.token, "pin", ch, sig);
    expect_secret(r, "pin", s);
    tl_resp_free(r);
    /* Replaced: the old key's signatures fail, the new key's work. */
    tl_req_status(srv, "PUT", path, srv->admin_token,
                  tl_pathf(body, sizeof body, "{\"userAuthPublicKey\":\"%s\"}", k2.pk64), 200);
    r = auth_query(a.token, "pin", ch, sig);
    expect_refused(r, 403, "ACCESS_DENIED", s);
    tl_resp_free(r);
    r = auth_query(a.token, "pin", ch, sign_for(sig, &k2, ch, a.app_id));
    expect_secret(r, "pin", s);
    tl_resp_free(r);
    post_query(a.token, ch);
}

/* ------------------------------------------------------------------------------------------ */
/* Pre-query                                                                                  */
/* ------------------------------------------------------------------------------------------ */

static void test_pre_query_errors(void **st)
{
    (void)st;
    fixture f;
    fixture_new(&f, "com.example.pq");
    char s[128], ch[64];
    make_secret(s, "pq");
    tl_device_set_state(srv, f.d.id, true, false, true);
    json_decref(tl_asset_addf(srv, f.a.token, "{\"alias\":\"open\",\"secret\":\"%s\"}", s));
    add_gated(f.a.token, "first", s, "\"dataLabelNormal1\":\"mixed\"");
    add_gated(f.a.token, "powered", s,
              "\"dataLabelNormal1\":\"mixed\",\"accessibility\":\"DEVICE_POWERED_ON\"");
    add_gated(f.a.token, "pwd", s, "\"dataLabelNormal2\":\"mixed2\",\"requirePasswordSet\":true");
    add_gated(f.a.token, "nopwd", s, "\"dataLabelNormal2\":\"mixed2\"");

    /* No authType ANY asset matches: 404 (an authType NONE one does not count). */
    tl_req_problem(srv, "POST", "/assets/pre-query", f.a.token, "{\"alias\":\"open\"}", 404,
                   "NOT_FOUND");
    tl_req_problem(srv, "POST", "/assets/pre-query", f.a.token, "{\"alias\":\"nothing\"}", 404,
                   "NOT_FOUND");
    tl_req_problem(srv, "POST", "/assets/pre-query", f.a.token,
                   "{\"dataLabelNormal1\":\"no-such-label\"}", 404, "NOT_FOUND");
    /* Another app's auth-gated asset is not found either. */
    tl_app other = tl_app_install(srv, f.d.id, "com.example.pq-other", NULL, false);
    tl_req_problem(srv, "POST", "/assets/pre-query", other.token, "{\"alias\":\"first\"}", 404,
                   "NOT_FOUND");

    /* authType NONE: 400 INVALID_ARGUMENT, even where it would match nothing. */
    tl_resp *r = tl_http(srv, "POST", "/assets/pre-query", f.a.token,
                         "{\"alias\":\"first\",\"authType\":\"NONE\"}");
    tl_expect_problem_field(r, 400, "INVALID_ARGUMENT", "authType");
    tl_resp_free(r);
    r = tl_http(srv, "POST", "/assets/pre-query", f.a.token,
                "{\"alias\":\"nothing\",\"authType\":\"NONE\"}");
    tl_expect_problem_field(r, 400, "INVALID_ARGUMENT", "authType");
    tl_resp_free(r);

    /* Two (accessibility, requirePasswordSet) pairs: 400 UNSUPPORTED, by either member. */
    tl_req_problem(srv, "POST", "/assets/pre-query", f.a.token, "{\"dataLabelNormal1\":\"mixed\"}",
                   400, "UNSUPPORTED");
    tl_req_problem(srv, "POST", "/assets/pre-query", f.a.token, "{\"dataLabelNormal2\":\"mixed2\"}",
                   400, "UNSUPPORTED");
    tl_req_problem(srv, "POST", "/assets/pre-query", f.a.token, "{}", 400, "UNSUPPORTED");
    /* Narrowed to one pair: fine. */
    pre_query(ch, f.a.token,
              "{\"dataLabelNormal1\":\"mixed\",\"accessibility\":\"DEVICE_POWERED_ON\"}");
    post_query(f.a.token, ch);
    pre_query(ch, f.a.token, "{\"dataLabelNormal2\":\"mixed2\",\"requirePasswordSet\":true}");
    post_query(f.a.token, ch);

    /* authValidityPeriod: 1..600 integers. */
    const char *badv[] = {
        "{\"alias\":\"first\",\"authValidityPeriod\":0}",
        "{\"alias\":\"first\",\"authValidityPeriod\":601}",
        "{\"alias\":\"first\",\"authValidityPeriod\":-1}",
        "{\"alias\":\"first\",\"authValidityPeriod\":1.5}",
        "{\"alias\":\"first\",\"authValidityPeriod\":\"60\"}",
        "{\"alias\":\"first\",\"authValidityPeriod\":null}",
        "{\"alias\":\"nothing\",\"authValidityPeriod\":0}",
    };
    for (size_t i = 0; i < sizeof badv / sizeof badv[0]; i++) {
        r = tl_http(srv, "POST", "/assets/pre-query", f.a.token, badv[i]);
        tl_expect_problem_field(r, 400, "INVALID_ARGUMENT", "authValidityPeriod");
        tl_resp_free(r);
    }
    time_t before = time(NULL), exp = 0;
    pre_query_at(ch, f.a.token, "{\"alias\":\"first\",\"authValidityPeriod\":600}", &exp);
    assert_true(exp >= before + 595 && exp <= time(NULL) + 605);
    post_query(f.a.token, ch);
    /* Fields a pre-query does not take. */
    const char *badf[][2] = {
        {"{\"alias\":\"first\",\"secret\":\"c2VjcmV0\"}", "secret"},
        {"{\"alias\":\"first\",\"returnType\":\"ALL\"}", "returnType"},
        {"{\"alias\":\"first\",\"authChallenge\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"}",
         "authChallenge"},
        {"{\"alias\":\"\"}", "alias"},
        {"{\"alias\":\"first\",\"authType\":\"SOME\"}", "authType"},
    };
    for (size_t i = 0; i < sizeof badf / sizeof badf[0]; i++) {
        r = tl_http(srv, "POST", "/assets/pre-query", f.a.token, badf[i][0]);
        tl_expect_problem_field(r, 400, "INVALID_ARGUMENT", badf[i][1]);
        tl_resp_free(r);
    }
    /* Only installations. */
    tl_req_problem(srv, "POST", "/assets/pre-query", f.d.token, "{\"alias\":\"first\"}", 403,
                   "PERMISSION_DENIED");
    tl_req_problem(srv, "POST", "/assets/pre-query", NULL, "{\"alias\":\"first\"}", 401,
                   "PERMISSION_DENIED");
}

static void test_pre_query_status_mismatch(void **st)
{
    (void)st;
    fixture f;
    fixture_new(&f, "com.example.state");
    char s1[128], s2[128], ch[64], ch_ul[64], sig[128];
    make_secret(s1, "rp");
    make_secret(s2, "ul");
    tl_device_set_state(srv, f.d.id, true, false, true);
    add_gated(f.a.token, "rp", s1, "\"requirePasswordSet\":true");
    add_gated(f.a.token, "ul", s2, "\"accessibility\":\"DEVICE_UNLOCKED\"");
    pre_query(ch, f.a.token, "{\"alias\":\"rp\",\"authValidityPeriod\":120}");
    pre_query(ch_ul, f.a.token, "{\"alias\":\"ul\",\"authValidityPeriod\":120}");

    /* The lock-screen password is removed: pre-query of the requirePasswordSet asset is 409,
     * and a live challenge no longer yields its secret. */
    tl_device_set_state(srv, f.d.id, false, false, true);
    tl_req_problem(srv, "POST", "/assets/pre-query", f.a.token, "{\"alias\":\"rp\"}", 409,
                   "STATUS_MISMATCH");
    tl_resp *r = auth_query(f.a.token, "rp", ch, sign_for(sig, &f.k, ch, f.a.app_id));
    expect_refused(r, 409, "STATUS_MISMATCH", s1);
    tl_resp_free(r);
    /* The DEVICE_UNLOCKED one is fine without a password (never locked). */
    r = auth_query(f.a.token, "ul", ch_ul, sign_for(sig, &f.k, ch_ul, f.a.app_id));
    expect_secret(r, "ul", s2);
    tl_resp_free(r);

    /* Locked (password set, screen locked): DEVICE_UNLOCKED is 409, both ways. */
    tl_device_set_state(srv, f.d.id, true, true, true);
    tl_req_problem(srv, "POST", "/assets/pre-query", f.a.token, "{\"alias\":\"ul\"}", 409,
                   "STATUS_MISMATCH");
    r = auth_query(f.a.token, "ul", ch_ul, sig);
    expect_refused(r, 409, "STATUS_MISMATCH", s2);
    tl_resp_free(r);
    /* ... while requirePasswordSet (first unlocked since boot) works again. */
    r = auth_query(f.a.token, "rp", ch, sign_for(sig, &f.k, ch, f.a.app_id));
    expect_secret(r, "rp", s1);
    tl_resp_free(r);

    /* Unlocked again: both pre-queries work. */
    tl_device_set_state(srv, f.d.id, true, false, true);
    char c2[64];
    pre_query(c2, f.a.token, "{\"alias\":\"ul\"}");
    post_query(f.a.token, c2);
    pre_query(c2, f.a.token, "{\"alias\":\"rp\"}");
    post_query(f.a.token, c2);
    post_query(f.a.token, ch);
    post_query(f.a.token, ch_ul);
}

static long retry_after_secs(const tl_resp *r)
{
    const char *v = r->retry_after;
    assert_true(v[0] != 0);
    for (const char *p = v; *p; p++)
        assert_true(*p >= '0' && *p <= '9');
    assert_true(strlen(v) <= 6);
    return strtol(v, NULL, 10);
}

static void test_challenge_limit(void **st)
{
    (void)st;
    fixture f;
    fixture_new(&f, "com.example.limit");
    char s[128], ch[17][64], sig[128];
    make_secret(s, "limit");
    add_gated(f.a.token, "pin", s, "");

    /* 16 live challenges: the first lives 600 s, the others 30 s. */
    pre_query(ch[0], f.a.token, "{\"alias\":\"pin\",\"authValidityPeriod\":600}");
    for (int i = 1; i < 16; i++)
        pre_query(ch[i], f.a.token, "{\"alias\":\"pin\",\"authValidityPeriod\":30}");
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < i; j++)
            assert_string_not_equal(ch[i], ch[j]);

    /* The 17th: 429 with Retry-After = seconds until the earliest expiry (≤ 30). */
    tl_resp *r = tl_http(srv, "POST", "/assets/pre-query", f.a.token,
                         "{\"alias\":\"pin\",\"authValidityPeriod\":30}");
    tl_expect_problem(r, 429, "LIMIT_EXCEEDED");
    long ra = retry_after_secs(r);
    assert_true(ra >= 1 && ra <= 30);
    assert_null(json_object_get(r->json, "challenge"));
    tl_resp_free(r);
    /* The oldest challenge was not dropped. */
    r = auth_query(f.a.token, "pin", ch[0], sign_for(sig, &f.k, ch[0], f.a.app_id));
    expect_secret(r, "pin", s);
    tl_resp_free(r);
    /* Per installation: another app on the same device is not limited. */
    tl_app b = tl_app_install(srv, f.d.id, "com.example.limit-b", NULL, false);
    add_gated(b.token, "pin", s, "");
    char cb[64];
    pre_query(cb, b.token, "{\"alias\":\"pin\"}");
    post_query(b.token, cb);
    /* A foreign or unknown post-query does not free a slot. */
    post_query(b.token, ch[3]);
    tl_req_problem(srv, "POST", "/assets/pre-query", f.a.token, "{\"alias\":\"pin\"}", 429,
                   "LIMIT_EXCEEDED");

    /* Ending one frees one slot. */
    post_query(f.a.token, ch[5]);
    pre_query(ch[16], f.a.token, "{\"alias\":\"pin\"}");
    r = auth_query(f.a.token, "pin", ch[16], sign_for(sig, &f.k, ch[16], f.a.app_id));
    expect_secret(r, "pin", s);
    tl_resp_free(r);
    r = tl_http(srv, "POST", "/assets/pre-query", f.a.token, "{\"alias\":\"pin\"}");
    tl_expect_problem(r, 429, "LIMIT_EXCEEDED");
    ra = retry_after_secs(r);
    assert_true(ra >= 1 && ra <= 30);
    tl_resp_free(r);
    for (int i = 0; i < 17; i++)
        post_query(f.a.token, ch[i]);
    pre_query(ch[0], f.a.token, "{\"alias\":\"pin\"}");
    post_query(f.a.token, ch[0]);
}

/* ------------------------------------------------------------------------------------------ */
/* Filters, GET on auth-gated assets                                                           */
/* ------------------------------------------------------------------------------------------ */

static void test_query_matches_both_filters(void **st)
{
    (void)st;
    fixture f;
    fixture_new(&f, "com.example.both");
    char s1[128], s2[128], ch[64], sig[128];
    make_secret(s1, "a1");
    make_secret(s2, "a2");
    add_gated(f.a.token, "a1", s1, "\"dataLabelNormal1\":\"x\"");
    add_gated(f.a.token, "a2", s2, "\"dataLabelNormal1\":\"y\"");

    pre_query(ch, f.a.token, "{\"dataLabelNormal1\":\"x\"}");
    sign_for(sig, &f.k, ch, f.a.app_id);
    /* a2 is auth-gated but outside the pre-query's filters. */
    tl_resp *r = auth_query(f.a.token, "a2", ch, sig);
    expect_refused(r, 404, "NOT_FOUND", s2);
    tl_resp_free(r);
    /* a1 with the query's own filter contradicting it. */
    r = auth_query_x(f.a.token, "a1", ch, sig, json_pack("{s:s}", "dataLabelNormal1", "y"));
    expect_refused(r, 404, "NOT_FOUND", s1);
    tl_resp_free(r);
    r = auth_query_x(f.a.token, "a1", ch, sig,
                     json_pack("{s:s}", "accessibility", "DEVICE_POWERED_ON"));
    expect_refused(r, 404, "NOT_FOUND", s1);
    tl_resp_free(r);
    /* An alias nobody has. */
    r = auth_query(f.a.token, "a3", ch, sig);
    expect_refused(r, 404, "NOT_FOUND", NULL);
    tl_resp_free(r);
    /* Both filters agree: the secret. */
    r = auth_query_x(f.a.token, "a1", ch, sig, json_pack("{s:s}", "dataLabelNormal1", "x"));
    expect_secret(r, "a1", s1);
    assert_null(strstr(r->body, s2));
    tl_resp_free(r);
    r = auth_query(f.a.token, "a1", ch, sig);
    expect_secret(r, "a1", s1);
    tl_resp_free(r);
    post_query(f.a.token, ch);
}

static void test_get_on_auth_gated_asset(void **st)
{
    (void)st;
    fixture f;
    fixture_new(&f, "com.example.get");
    char s[128], sp[128];
    make_secret(s, "gated");
    make_secret(sp, "open");
    add_gated(f.a.token, "gated", s, "");
    json_decref(tl_asset_addf(srv, f.a.token, "{\"alias\":\"open\",\"secret\":\"%s\"}", sp));

    tl_resp *r = tl_http(srv, "GET", "/assets?alias=gated&returnType=ALL", f.a.token, NULL);
    expect_refused(r, 403, "ACCESS_DENIED", s);
    tl_resp_free(r);
    r = tl_http(srv, "GET", "/assets/gated?returnType=ALL", f.a.token, NULL);
    expect_refused(r, 403, "ACCESS_DENIED", s);
    tl_resp_free(r);

    /* Attributes only: listed, without a secret. */
    r = tl_http(srv, "GET", "/assets?alias=gated&returnType=ATTRIBUTES", f.a.token, NULL);
    tl_expect_status(r, 200);
    json_t *arr = json_object_get(r->json, "assets");
    assert_int_equal(json_array_size(arr), 1);
    assert_string_equal(tl_jstr(json_array_get(arr, 0), "alias"), "gated");
    assert_string_equal(tl_jstr(json_array_get(arr, 0), "authType"), "ANY");
    expect_no_secret(r, s);
    tl_resp_free(r);
    r = tl_http(srv, "GET", "/assets/gated?returnType=ATTRIBUTES", f.a.token, NULL);
    tl_expect_status(r, 200);
    assert_string_equal(tl_jstr(r->json, "alias"), "gated");
    assert_string_equal(tl_jstr(r->json, "authType"), "ANY");
    expect_no_secret(r, s);
    tl_resp_free(r);
    r = tl_http(srv, "GET", "/assets/gated", f.a.token, NULL);
    tl_expect_status(r, 200);
    expect_no_secret(r, s);
    tl_resp_free(r);
    char out[256];
    assert_string_equal(tl_list(srv, f.a.token, "authType=ANY", out, sizeof out), "gated");
    assert_string_equal(tl_list(srv, f.a.token, "", out, sizeof out), "gated,open");
    /* The authType NONE neighbour reads as usual. */
    char plain[128];
    tl_get_secret(srv, f.a.token, "open", NULL, plain, sizeof plain);
    char plain64[128];
    assert_string_equal(b64s(plain64, sizeof plain64, plain), sp);
}

/* ------------------------------------------------------------------------------------------ */
/* Uninstall and reinstall                                                                    */
/* ------------------------------------------------------------------------------------------ */

/* Every installation route answers 401 to tok. */
static void expect_token_dead(const char *tok, const char *ch64, const char *sig64)
{
    char body[512];
    tl_req_problem(srv, "GET", "/assets", tok, NULL, 401, "PERMISSION_DENIED");
    tl_req_problem(srv, "GET", "/assets?alias=persist", tok, NULL, 401, "PERMISSION_DENIED");
    tl_req_problem(srv, "GET", "/assets/persist", tok, NULL, 401, "PERMISSION_DENIED");
    tl_req_problem(srv, "GET", "/assets/persist?returnType=ALL", tok, NULL, 401,
                   "PERMISSION_DENIED");
    tl_req_problem(srv, "POST", "/assets", tok, "{\"alias\":\"new\",\"secret\":\"c2VjcmV0\"}", 401,
                   "PERMISSION_DENIED");
    tl_req_problem(srv, "PATCH", "/assets/persist", tok, "{\"dataLabelNormal1\":\"z\"}", 401,
                   "PERMISSION_DENIED");
    tl_req_problem(srv, "DELETE", "/assets/persist", tok, NULL, 401, "PERMISSION_DENIED");
    tl_req_problem(srv, "DELETE", "/assets?alias=persist", tok, NULL, 401, "PERMISSION_DENIED");
    tl_req_problem(srv, "POST", "/assets/pre-query", tok, "{\"alias\":\"persist\"}", 401,
                   "PERMISSION_DENIED");
    tl_req_problem(srv, "POST", "/assets/query", tok,
                   tl_pathf(body, sizeof body,
                            "{\"alias\":\"persist\",\"authChallenge\":\"%s\",\"authToken\":\"%s\"}",
                            ch64, sig64),
                   401, "PERMISSION_DENIED");
    tl_req_problem(srv, "POST", "/assets/post-query", tok,
                   tl_pathf(body, sizeof body, "{\"authChallenge\":\"%s\"}", ch64), 401,
                   "PERMISSION_DENIED");
    tl_req_problem(srv, "GET", "/sync-result", tok, NULL, 401, "PERMISSION_DENIED");
}

static void test_uninstall_reinstall(void **st)
{
    (void)st;
    keypair k;
    kp_new(&k);
    tl_device d = device_new(k.pk64);
    char app[128];
    tl_unique(app, sizeof app, "com.example.keep");
    tl_app a = tl_app_install(srv, d.id, app, NULL, true);
    char sp[128], sn[128], st_[128], ch[64], sig[128];
    make_secret(sp, "persist");
    make_secret(sn, "gone");
    make_secret(st_, "trusted");
    add_gated(a.token, "persist", sp, "\"isPersistent\":true");
    json_decref(tl_asset_addf(srv, a.token, "{\"alias\":\"transient\",\"secret\":\"%s\"}", sn));
    json_decref(tl_asset_addf(srv, a.token,
                              "{\"alias\":\"trusted\",\"secret\":\"%s\","
                              "\"syncType\":[\"TRUSTED_ACCOUNT\"]}",
                              st_));
    char out[256];
    assert_string_equal(tl_list(srv, a.token, "", out, sizeof out), "persist,transient,trusted");

    /* A live challenge, usable before the uninstall. */
    pre_query(ch, a.token, "{\"alias\":\"persist\",\"authValidityPeriod\":300}");
    sign_for(sig, &k, ch, app);
    tl_resp *r = auth_query(a.token, "persist", ch, sig);
    expect_secret(r, "persist", sp);
    tl_resp_free(r);
    assert_int_equal(tl_db_count("SELECT count(*) FROM challenges WHERE challenge = "
                                 "decode($1, 'base64')",
                                 ch, NULL),
                     1);

    /* Uninstall (the device itself may do it): 204. */
    char path[512];
    tl_pathf(path, sizeof path, "/devices/%s/apps/%s", d.id, app);
    tl_req_status(srv, "DELETE", path, d.token, NULL, 204);
    expect_token_dead(a.token, ch, sig);
    /* The challenge is gone with the installation. */
    assert_int_equal(tl_db_count("SELECT count(*) FROM challenges WHERE challenge = "
                                 "decode($1, 'base64')",
                                 ch, NULL),
                     0);
    /* Uninstalling again, or an app never installed: 404. */
    tl_req_problem(srv, "DELETE", path, srv->admin_token, NULL, 404, "NOT_FOUND");
    tl_req_problem(
        srv, "DELETE",
        tl_pathf(path, sizeof path, "/devices/%s/apps/com.example.never-installed", d.id),
        srv->admin_token, NULL, 404, "NOT_FOUND");

    /* Reinstall: a new token; the old one stays dead, and so does the old challenge. */
    tl_app b = tl_app_install(srv, d.id, app, NULL, true);
    assert_string_not_equal(a.token, b.token);
    expect_token_dead(a.token, ch, sig);
    r = auth_query(b.token, "persist", ch, sig);
    expect_refused(r, 403, "ACCESS_DENIED", sp);
    tl_resp_free(r);

    /* The persistent asset and the TRUSTED_ACCOUNT one survived; the other did not. */
    assert_string_equal(tl_list(srv, b.token, "", out, sizeof out), "persist,trusted");
    tl_req_problem(srv, "GET", "/assets/transient", b.token, NULL, 404, "NOT_FOUND");
    r = tl_http(srv, "GET", "/assets/persist", b.token, NULL);
    tl_expect_status(r, 200);
    assert_true(tl_jbool(r->json, "isPersistent"));
    assert_string_equal(tl_jstr(r->json, "authType"), "ANY");
    tl_resp_free(r);
    char plain[128], plain64[128];
    tl_get_secret(srv, b.token, "trusted", NULL, plain, sizeof plain);
    assert_string_equal(b64s(plain64, sizeof plain64, plain), st_);
    /* ... and the persistent auth-gated secret is readable by the new installation. */
    char ch2[64];
    pre_query(ch2, b.token, "{\"alias\":\"persist\"}");
    r = auth_query(b.token, "persist", ch2, sign_for(sig, &k, ch2, app));
    expect_secret(r, "persist", sp);
    tl_resp_free(r);
    post_query(b.token, ch2);

    /* Without STORE_PERSISTENT_DATA: isPersistent true is 403, nothing written; false is fine. */
    tl_app c = tl_app_install(srv, d.id, "com.example.no-perm", NULL, false);
    r = tl_http(srv, "POST", "/assets", c.token,
                "{\"alias\":\"p\",\"secret\":\"c2VjcmV0\",\"isPersistent\":true}");
    tl_expect_problem(r, 403, "PERMISSION_DENIED");
    tl_resp_free(r);
    r = tl_http(srv, "POST", "/assets", c.token,
                "{\"alias\":\"p\",\"secret\":\"c2VjcmV0\",\"isPersistent\":true,"
                "\"authType\":\"ANY\"}");
    tl_expect_problem(r, 403, "PERMISSION_DENIED");
    tl_resp_free(r);
    tl_req_problem(srv, "GET", "/assets/p", c.token, NULL, 404, "NOT_FOUND");
    tl_req_status(srv, "POST", "/assets", c.token,
                  "{\"alias\":\"p\",\"secret\":\"c2VjcmV0\",\"isPersistent\":false}", 201);
    /* Its assets go on uninstall. */
    tl_app_uninstall(srv, d.id, c.app_id);
    tl_app c2 = tl_app_install(srv, d.id, "com.example.no-perm", NULL, false);
    tl_req_problem(srv, "GET", "/assets/p", c2.token, NULL, 404, "NOT_FOUND");
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_device_user_auth_key),
        cmocka_unit_test(test_full_flow),
        cmocka_unit_test(test_flow_with_sign_challenge_tool),
        cmocka_unit_test(test_wrong_signatures),
        cmocka_unit_test(test_foreign_challenge),
        cmocka_unit_test(test_unknown_and_expired_challenge),
        cmocka_unit_test(test_malformed_query),
        cmocka_unit_test(test_device_without_user_auth_key),
        cmocka_unit_test(test_pre_query_errors),
        cmocka_unit_test(test_pre_query_status_mismatch),
        cmocka_unit_test(test_challenge_limit),
        cmocka_unit_test(test_query_matches_both_filters),
        cmocka_unit_test(test_get_on_auth_gated_asset),
        cmocka_unit_test(test_uninstall_reinstall),
    };
    return tl_finish(cmocka_run_group_tests(tests, setup, teardown));
}
