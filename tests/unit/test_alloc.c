/* test_alloc: allocation failures in the request pipeline (spec §5: "OUT_OF_MEMORY — an
 * allocation failed; nothing was written").
 *
 * malloc, calloc, realloc and free are wrapped at link time (tests/unit/test_alloc.ldflags:
 * -Wl,--wrap=...), so every allocation made by the service and api objects linked into this
 * binary goes through a counter that can make the Nth call fail. Jansson is a shared library
 * and allocates through its own hooks: they are set to the service's own wipe-on-free allocator
 * (http_secure_malloc / http_secure_free, exactly what `assetd` installs in main()), which calls
 * malloc and so goes through the counter as well.
 *
 * For N = 1, 2, ... until a run completes without reaching its Nth allocation, each pipeline is
 * run with allocation N failing (once; and again with N and every later allocation failing).
 * Every run must end either in a clean error (the error an allocation failure maps to) or in
 * the correct result; never a crash, never a wrong success. Every pointer handed out by the
 * wrappers while a run is armed is tracked, and each run must give back everything it took, so
 * a leak on any error path fails here in every build (and the asan build adds LeakSanitizer and
 * use-after-free detection on top).
 *
 * These paths are pure by construction: JSON parsing, request validation, sealing into an
 * arena and building the answer touch no database and no network (nothing here opens a
 * connection; the service objects are linked but db_* is never called), so an allocation
 * failure in them can never leave a partial write behind. The database side of "nothing was
 * written" is the transactional code in service/, tested by the integration and HTTP suites. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>

#include "../../api/http.h"
#include "../../api/jsonmap.h"
#include "../../service/crypto/record.h"

/* ---- the allocation wrappers ---- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);

static struct {
    bool armed;   /* count (and maybe fail) allocations */
    bool sticky;  /* once failed, fail every later allocation too */
    long calls;   /* allocations seen since arming */
    long fail_at; /* 1-based call number to fail; 0: never */
    long failed;  /* allocations refused in this run */
} g_alloc;

/* Pointers handed out while armed and not yet freed (open addressing, tombstones). */
#define LIVE_SLOTS 16384
#define TOMB ((void *)1)
static void *g_live[LIVE_SLOTS];
static long g_nlive;

static size_t slot_of(const void *p)
{
    uintptr_t x = (uintptr_t)p;
    x ^= x >> 17;
    x *= UINT64_C(0x9E3779B97F4A7C15);
    return (size_t)(x >> 20) % LIVE_SLOTS;
}

static void live_add(void *p)
{
    size_t i = slot_of(p);
    for (size_t k = 0; k < LIVE_SLOTS; k++, i = (i + 1) % LIVE_SLOTS)
        if (!g_live[i] || g_live[i] == TOMB) {
            g_live[i] = p;
            g_nlive++;
            return;
        }
    abort(); /* more than LIVE_SLOTS live allocations: raise LIVE_SLOTS */
}

static bool live_remove(void *p)
{
    size_t i = slot_of(p);
    for (size_t k = 0; k < LIVE_SLOTS && g_live[i]; k++, i = (i + 1) % LIVE_SLOTS)
        if (g_live[i] == p) {
            g_live[i] = TOMB;
            g_nlive--;
            return true;
        }
    return false;
}

static void live_reset(void)
{
    memset(g_live, 0, sizeof g_live);
    g_nlive = 0;
}

/* Whether this allocation must fail. */
static bool refuse(void)
{
    if (!g_alloc.armed)
        return false;
    g_alloc.calls++;
    bool fail = g_alloc.fail_at > 0 && (g_alloc.calls == g_alloc.fail_at ||
                                        (g_alloc.sticky && g_alloc.calls > g_alloc.fail_at));
    if (fail)
        g_alloc.failed++;
    return fail;
}

void *__wrap_malloc(size_t n)
{
    if (refuse())
        return NULL;
    void *p = __real_malloc(n);
    if (p && g_alloc.armed)
        live_add(p);
    return p;
}

void *__wrap_calloc(size_t n, size_t m)
{
    if (refuse())
        return NULL;
    void *p = __real_calloc(n, m);
    if (p && g_alloc.armed)
        live_add(p);
    return p;
}

void *__wrap_realloc(void *old, size_t n)
{
    if (refuse())
        return NULL; /* the old block stays valid, as realloc promises */
    void *p = __real_realloc(old, n);
    if (p || n == 0) {
        bool tracked = old && live_remove(old);
        if (p && (tracked || (g_alloc.armed && !old)))
            live_add(p);
    }
    return p;
}

void __wrap_free(void *p)
{
    if (p)
        live_remove(p);
    __real_free(p);
}

static void arm(long fail_at, bool sticky)
{
    live_reset();
    g_alloc.calls = 0;
    g_alloc.failed = 0;
    g_alloc.fail_at = fail_at;
    g_alloc.sticky = sticky;
    g_alloc.armed = true;
}

static void disarm(void)
{
    g_alloc.armed = false;
}

/* ---- the pipelines ---- */

/* RUN_VIOLATION: the run broke the contract without crashing (a wrong success, or an error other
 * than the one an allocation failure maps to); g_violation says how. The driver collects these
 * over every N and fails at the end, so that one defect does not hide the others. */
typedef enum { RUN_OK, RUN_ERROR, RUN_VIOLATION } run_result;
static char g_violation[512];

static run_result violation(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static run_result violation(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_violation, sizeof g_violation, fmt, ap);
    va_end(ap);
    return RUN_VIOLATION;
}

static bool text_is(asset_text t, const char *want)
{
    return t.p && t.n == strlen(want) && memcmp(t.p, want, t.n) == 0;
}

/* Realistic add bodies and what they must map to. */
typedef struct {
    const char *name;
    char body[4096];
    const char *alias, *group;
    const char *labels[ASSET_LABELS];
    bool encrypted;
    const unsigned char *secret;
    size_t secret_len;
    /* The answers a run without allocation failures gives (set by the first clean run, and
     * checked field by field there): the add's 201 body and a returnType=ALL read's body. */
    char answer_add[4096], answer_read[8192];
} add_case;

static unsigned char g_secret[700];
static unsigned char g_key[SEAL_KEY_LEN];
static const char *DEVICE = "3f1c2a9e-0b7d-4e5f-8a6b-1c2d3e4f5a6b";
static const char *APP = "com.example.alloc";

/* Every field the add takes except groupId (a group's asset cannot be persistent), encrypted
 * labels, a 700-byte secret, non-ASCII text with escapes. */
static add_case g_enc;
static add_case g_grp;
static add_case g_first;
static add_case g_enc = {
    .name = "add (encrypted labels, every field)",
    .alias = "alloc-alias \xc3\xa9\xe4\xb8\xad",
    .labels = {"crit-one", "crit-two", "crit-three", "crit-four", "normal-one", "normal-two",
               "normal-three", "normal-four", "local-one", "local-two", "local-three",
               "local-four-\xf0\x9f\x94\x91"},
    .encrypted = true,
    .secret = g_secret,
    .secret_len = sizeof g_secret,
};
/* A group's asset with plain labels. */
/* The alias first and long enough that the parser's buffer grows while it reads it. */
static add_case g_first = {
    .name = "add (a long alias first)",
    .alias = "a-long-alias-read-first-so-the-lexer-buffer-grows-while-reading-it-0123456789",
    .labels = {[LABEL_NORMAL + 3] = "label-n4"},
    .secret = (const unsigned char *)"secret",
    .secret_len = 6,
};
static add_case g_grp = {
    .name = "add (group, plain labels)",
    .alias = "group-alias",
    .group = "com.example.group",
    .labels = {[LABEL_NORMAL] = "n1", [LABEL_CRITICAL + 1] = "critical-two"},
    .secret = (const unsigned char *)"secret-bytes",
    .secret_len = 12,
};

static int setup(void **state)
{
    (void)state;
    if (sodium_init() < 0)
        return -1;
    /* As main() does in assetd: Jansson allocates with the wipe-on-free allocator. */
    json_set_alloc_funcs(http_secure_malloc, http_secure_free);
    randombytes_buf(g_secret, sizeof g_secret);
    randombytes_buf(g_key, sizeof g_key);
    char b64[1024];
    sodium_bin2base64(b64, sizeof b64, g_secret, sizeof g_secret, sodium_base64_VARIANT_ORIGINAL);
    int n =
        snprintf(g_enc.body, sizeof g_enc.body,
                 "{\"secret\":\"%s\",\"alias\":\"alloc-alias \\u00e9\\u4e2d\","
                 "\"accessibility\":\"DEVICE_UNLOCKED\",\"requirePasswordSet\":false,"
                 "\"authType\":\"NONE\",\"syncType\":[\"THIS_DEVICE\",\"TRUSTED_DEVICE\"],"
                 "\"isPersistent\":true,"
                 "\"dataLabelCritical1\":\"crit-one\",\"dataLabelCritical2\":\"crit-two\","
                 "\"dataLabelCritical3\":\"crit-three\",\"dataLabelCritical4\":\"crit-four\","
                 "\"dataLabelNormal1\":\"normal-one\",\"dataLabelNormal2\":\"normal-two\","
                 "\"dataLabelNormal3\":\"normal-three\",\"dataLabelNormal4\":\"normal-four\","
                 "\"dataLabelNormalLocal1\":\"local-one\",\"dataLabelNormalLocal2\":\"local-two\","
                 "\"dataLabelNormalLocal3\":\"local-three\","
                 "\"dataLabelNormalLocal4\":\"local-four-\\ud83d\\udd11\","
                 "\"conflictResolution\":\"OVERWRITE\",\"requireAttrEncrypted\":true,"
                 "\"wrapType\":\"TRUSTED_ACCOUNT\"}",
                 b64);
    if (n < 0 || (size_t)n >= sizeof g_enc.body)
        return -1;
    n = snprintf(g_grp.body, sizeof g_grp.body,
                 "{\"secret\":\"c2VjcmV0LWJ5dGVz\",\"alias\":\"group-alias\","
                 "\"groupId\":\"com.example.group\",\"syncType\":[\"TRUSTED_DEVICE\"],"
                 "\"dataLabelNormal1\":\"n1\",\"dataLabelCritical2\":\"critical-two\","
                 "\"requireAttrEncrypted\":false}");
    if (n < 0 || (size_t)n >= sizeof g_grp.body)
        return -1;
    n = snprintf(g_first.body, sizeof g_first.body,
                 "{\"alias\":\"%s\",\"secret\":\"c2VjcmV0\",\"dataLabelNormal4\":\"label-n4\"}",
                 g_first.alias);
    return n < 0 || (size_t)n >= sizeof g_first.body ? -1 : 0;
}

/* An answer built like api/ builds it (http_json, json_dumps inside). RUN_OK when it is exactly
 * the wanted answer (want_status, body want_body: what a run without allocation failures
 * sends); RUN_ERROR when it is the fixed 503 OUT_OF_MEMORY problem (or, if even that could not
 * be allocated, an empty 503); anything else (a malformed or partial body) is a violation. */
static run_result check_answer(const http_req *rq, int want_status, const char *want_body)
{
    if (rq->status == want_status) {
        if (!rq->resp || strlen(rq->resp) != rq->resp_len)
            return violation("a %d answer without a proper body", want_status);
        if (strcmp(rq->resp, want_body) != 0) {
            size_t i = 0;
            while (rq->resp[i] && rq->resp[i] == want_body[i])
                i++;
            size_t from = i > 30 ? i - 30 : 0;
            return violation("a %d answer with a wrong body: \"...%.60s...\" where a clean run "
                             "sends \"...%.60s...\"",
                             want_status, rq->resp + from, want_body + from);
        }
        return RUN_OK;
    }
    if (rq->status != 503 || !rq->content_type ||
        strcmp(rq->content_type, "application/problem+json") != 0)
        return violation("answer %d (%s) instead of %d or 503 OUT_OF_MEMORY", rq->status,
                         rq->content_type ? rq->content_type : "no type", want_status);
    if (rq->resp && strcmp(rq->resp, "{\"type\":\"urn:assetd:error:OUT_OF_MEMORY\",\"title\":"
                                     "\"Out of memory\",\"status\":503,\"detail\":\"out of "
                                     "memory\",\"code\":24000006,\"name\":\"OUT_OF_MEMORY\"}") != 0)
        return violation("a 503 that is not the OUT_OF_MEMORY problem: %s", rq->resp);
    return RUN_ERROR;
}

/* The request as jsonmap must have mapped the case's body. */
static run_result check_request(const add_case *c, const asset_req *q)
{
    if (!text_is(q->alias, c->alias))
        return violation("the alias came out as \"%.*s\" (the body says \"%s\")", (int)q->alias.n,
                         q->alias.p ? q->alias.p : "", c->alias);
    if (c->group ? !text_is(q->group, c->group) : q->group.p != NULL)
        return violation("the groupId came out wrong");
    for (int i = 0; i < ASSET_LABELS; i++)
        if (c->labels[i] ? !text_is(q->labels[i], c->labels[i]) : q->labels[i].p != NULL)
            return violation("label %s came out as \"%.*s\" (the body says \"%s\")",
                             asset_field_info(F_LABEL0 + i)->name, (int)q->labels[i].n,
                             q->labels[i].p ? q->labels[i].p : "",
                             c->labels[i] ? c->labels[i] : "");
    if (q->secret_len != c->secret_len || memcmp(q->secret, c->secret, c->secret_len) != 0)
        return violation("the secret came out as %zu other bytes", q->secret_len);
    if (q->attr_enc != c->encrypted)
        return violation("requireAttrEncrypted came out wrong");
    return RUN_OK;
}

/* The answer of a clean run, field by field: what the case's body asked for. */
static run_result check_reference(const add_case *c, const char *text, bool with_secret)
{
    bool was_armed = g_alloc.armed; /* the check's own allocations are not the pipeline's */
    g_alloc.armed = false;
    json_error_t err;
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &err);
    run_result res = RUN_OK;
    const char *alias = json_string_value(json_object_get(j, "alias"));
    const char *secret = json_string_value(json_object_get(j, "secret"));
    if (!json_is_object(j) || !alias || strcmp(alias, c->alias) != 0)
        res = violation("the clean answer is wrong: %s", text);
    for (int i = 0; res == RUN_OK && i < ASSET_LABELS; i++) {
        const char *v = json_string_value(json_object_get(j, asset_field_info(F_LABEL0 + i)->name));
        if (c->labels[i] ? !v || strcmp(v, c->labels[i]) != 0 : v != NULL)
            res = violation("the clean answer has a wrong label: %s", text);
    }
    if (res == RUN_OK && with_secret) {
        unsigned char buf[1024];
        size_t len = 0;
        if (!secret ||
            sodium_base642bin(buf, sizeof buf, secret, strlen(secret), NULL, &len, NULL,
                              sodium_base64_VARIANT_ORIGINAL) != 0 ||
            len != c->secret_len || memcmp(buf, c->secret, len) != 0)
            res = violation("the clean read's answer has a wrong secret");
    } else if (res == RUN_OK && secret) {
        res = violation("the add's answer holds the secret");
    }
    if (res == RUN_OK && json_is_true(json_object_get(j, "requireAttrEncrypted")) != c->encrypted)
        res = violation("the clean answer has a wrong requireAttrEncrypted");
    const char *group = json_string_value(json_object_get(j, "groupId"));
    if (res == RUN_OK && (c->group ? !group || strcmp(group, c->group) != 0 : group != NULL))
        res = violation("the clean answer has a wrong groupId");
    json_decref(j);
    g_alloc.armed = was_armed;
    return res;
}

/* The add, as api/ and service/ run it up to the database: parse the body
 * (http_parse_json_body, as api/router.c parse_body does; -2 is its out-of-memory refusal),
 * jsonmap_req_from_json(OP_ADD), asset_req_finish, the asset_record assets_add builds,
 * record_seal_labels and record_seal_secret into an arena; then the answers: jsonmap_asset of the
 * stored record (opened back, as a read does), without the secret (the add's 201) and with it (a
 * returnType=ALL read), each through http_json (json_dumps). */
static run_result add_pipeline(add_case *c)
{
    run_result res = RUN_ERROR;
    asset_req q;
    arena mem = {0};
    http_req rq;
    memset(&rq, 0, sizeof rq);
    asset_req_init(&q);

    long failed_before = g_alloc.failed;
    json_t *obj = NULL;
    int err_pos = 0;
    if (http_parse_json_body(&obj, c->body, strlen(c->body), &err_pos, NULL, 0) != 0)
        goto out;
    bool parsed_under_oom = g_alloc.failed > failed_before;
    const char *field = NULL, *why = NULL;
    asset_err e = jsonmap_req_from_json(&q, OP_ADD, obj, &field, &why);
    if (e != ASSET_OK) {
        /* The body is valid: the only way to fail is running out of memory, and that must say
         * so (not INVALID_ARGUMENT, which blames the client). */
        if (e != ASSET_OUT_OF_MEMORY)
            res = violation("%s (%s %s) instead of OUT_OF_MEMORY%s", asset_err_name(e),
                            field ? field : "-", why ? why : "-",
                            parsed_under_oom ? "; json_loadb returned a document although an "
                                               "allocation failed while it parsed"
                                             : "");
        goto out;
    }
    e = asset_req_finish(&q, OP_ADD, &field, &why);
    if (e != ASSET_OK) {
        res = violation("asset_req_finish: %s (%s %s)", asset_err_name(e), field ? field : "-",
                        why ? why : "-");
        goto out;
    }
    /* From here on a success must be the right one. */
    if ((res = check_request(c, &q)) != RUN_OK) {
        if (parsed_under_oom)
            snprintf(g_violation + strlen(g_violation), sizeof g_violation - strlen(g_violation),
                     "; json_loadb returned this document although an allocation failed while "
                     "it parsed");
        goto out;
    }
    res = RUN_ERROR;

    bool group = (q.has & FBIT(F_GROUP_ID)) != 0;
    asset_record r =
        record_from_add(&q, group ? 1 : 0, group ? q.group : (asset_text){APP, strlen(APP)}, 1);
    r.seq = 42;
    r.update_ms = 1764089652123;
    if (r.attr_enc && record_seal_labels(&r, &mem, DEVICE, g_key) != 0)
        goto out;
    if (record_seal_secret(&r, &mem, q.secret, q.secret_len, DEVICE, g_key) != 0)
        goto out;
    if (r.sealed_len != q.secret_len + SEAL_OVERHEAD || (r.attr_enc && !r.labels_sealed)) {
        res = violation("sealing succeeded with a wrong result");
        goto out;
    }

    /* The stored form opens back to what was sent (an opened copy, as a read makes it). */
    asset_record back = r;
    unsigned char *opened = NULL;
    size_t opened_len = 0;
    if (back.attr_enc) {
        memset(back.labels, 0, sizeof back.labels);
        if (record_open_labels(&back, &mem, DEVICE, g_key) != 0)
            goto out; /* only its arena allocation can fail */
        for (int i = 0; i < ASSET_LABELS; i++)
            if (back.labels[i].n != r.labels[i].n ||
                (r.labels[i].p
                     ? !back.labels[i].p || memcmp(back.labels[i].p, r.labels[i].p, r.labels[i].n)
                     : back.labels[i].p != NULL)) {
                res = violation("the sealed labels open to other labels");
                goto out;
            }
    }
    if (record_open_secret(&opened, &opened_len, &back, &mem, DEVICE, g_key) != 0)
        goto out;
    if (opened_len != c->secret_len || memcmp(opened, c->secret, c->secret_len) != 0) {
        res = violation("the sealed secret opens to other bytes");
        goto out;
    }

    /* The add's answer (no secret) and a secret read's answer (returnType=ALL). */
    asset_out o = {.rec = back, .has_group = group};
    for (int k = 0; k < 2; k++) {
        char *want = k == 0 ? c->answer_add : c->answer_read;
        size_t want_cap = k == 0 ? sizeof c->answer_add : sizeof c->answer_read;
        int status = k == 0 ? 201 : 200;
        o.secret = k == 0 ? NULL : opened;
        o.secret_len = k == 0 ? 0 : opened_len;
        json_t *answer = jsonmap_asset(&o);
        http_json(&rq, answer ? status : 503, answer);
        if (!want[0] && !g_alloc.fail_at && rq.status == status && rq.resp &&
            strlen(rq.resp) < want_cap)
            memcpy(want, rq.resp, strlen(rq.resp) + 1); /* the clean run: the reference */
        if (!g_alloc.fail_at && (res = check_reference(c, want, k == 1)) != RUN_OK)
            goto out;
        res = check_answer(&rq, status, want);
        http_secure_free(rq.resp);
        rq.resp = NULL;
        if (res != RUN_OK)
            goto out;
    }
out:
    json_decref(obj);
    asset_req_clear(&q);
    arena_free(&mem);
    http_secure_free(rq.resp);
    return res;
}

/* A query string as the server takes it apart: split on & and =, http_pct_decode each key and
 * value into the request's arena (plus is a space), then jsonmap_req_from_args(OP_QUERY) and
 * asset_req_finish. */
static const char QUERY[] =
    "alias=my%20alias%E2%82%AC&dataLabelNormal1=l%C3%A9+bel&dataLabelCritical2=c2"
    "&syncType=THIS_DEVICE%2CTRUSTED_DEVICE&requireAttrEncrypted=false&limit=50"
    "&orderBy=dataLabelNormal2&returnType=ATTRIBUTES&groupId=com.example.group"
    "&accessibility=DEVICE_UNLOCKED&isPersistent=false&wrapType=NEVER&offset=7";

static run_result query_pipeline(void)
{
    arena mem = {0};
    http_arg args[REQ_ARGS_MAX];
    int nargs = 0;
    asset_req q;
    run_result res = RUN_ERROR;
    asset_req_init(&q);
    const char *p = QUERY, *end = QUERY + strlen(QUERY);
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        assert_non_null(eq);
        assert_true(nargs < REQ_ARGS_MAX);
        http_arg *a = &args[nargs];
        if (http_pct_decode(&mem, p, (size_t)(eq - p), true, &a->key, &a->key_len) != 0 ||
            http_pct_decode(&mem, eq + 1, (size_t)(stop - eq - 1), true, &a->val, &a->val_len) != 0)
            goto out; /* the escapes are well formed: only the arena can fail */
        nargs++;
        p = stop + 1;
    }
    const char *field = NULL, *why = NULL;
    asset_err e = jsonmap_req_from_args(&q, OP_QUERY, args, nargs, &field, &why);
    if (e == ASSET_OK)
        e = asset_req_finish(&q, OP_QUERY, &field, &why);
    if (e != ASSET_OK) {
        /* Neither allocates: every argument was decoded, so nothing can fail here. */
        res = violation("%s (%s %s) on a valid query string", asset_err_name(e),
                        field ? field : "-", why ? why : "-");
        goto out;
    }
    /* Decoded right. */
    if (!text_is(q.alias, "my alias\xe2\x82\xac") ||
        !text_is(q.labels[LABEL_NORMAL], "l\xc3\xa9 bel") ||
        !text_is(q.labels[LABEL_CRITICAL + 1], "c2") || !text_is(q.group, "com.example.group") ||
        q.sync_type != (SYNC_THIS_DEVICE | SYNC_TRUSTED_DEVICE) || q.limit != 50 || q.offset != 7 ||
        q.order_by != LABEL_NORMAL + 1 || q.return_type != RETURN_ATTRIBUTES ||
        q.accessibility != ACCESSIBILITY_DEVICE_UNLOCKED || q.attr_enc) {
        res = violation("the query string was mapped wrong");
        goto out;
    }
    res = RUN_OK;
out:
    asset_req_clear(&q);
    arena_free(&mem);
    return res;
}

/* A problem answer (what every refused request sends): json_pack + json_dumps. */
static run_result problem_pipeline(void)
{
    http_req rq;
    memset(&rq, 0, sizeof rq);
    http_problem(&rq, ASSET_DUPLICATED, "alias", "exists");
    run_result res = check_answer(
        &rq, 409,
        "{\"type\":\"urn:assetd:error:DUPLICATED\",\"title\":\"Duplicated\",\"status\":409,"
        "\"detail\":\"alias exists\",\"code\":24000003,\"name\":\"DUPLICATED\"}");
    if (res != RUN_VIOLATION && strcmp(rq.content_type, "application/problem+json") != 0)
        res = violation("a problem with Content-Type %s", rq.content_type);
    http_secure_free(rq.resp);
    return res;
}

/* ---- the driver ---- */

typedef struct {
    const char *name;
    run_result (*run)(void *arg);
    void *arg;
} pipeline;

static run_result run_add(void *arg)
{
    return add_pipeline(arg);
}
static run_result run_query(void *arg)
{
    (void)arg;
    return query_pipeline();
}
static run_result run_problem(void *arg)
{
    (void)arg;
    return problem_pipeline();
}

/* Runs p once unarmed (it must succeed; its allocation count bounds the loop), then with
 * allocation N failing (once, or from N on when sticky) for N = 1 .. until a run never reaches
 * its Nth allocation. A leak fails at once; contract violations are collected and reported
 * together at the end. */
static void exhaust(const pipeline *p, bool sticky)
{
    arm(0, false);
    run_result clean = p->run(p->arg);
    long total = g_alloc.calls;
    long leaked = g_nlive;
    disarm();
    if (clean != RUN_OK)
        fail_msg("%s: fails without any allocation failure: %s", p->name,
                 clean == RUN_VIOLATION ? g_violation : "an error");
    if (leaked)
        fail_msg("%s: a clean run leaves %ld allocation(s) behind", p->name, leaked);
    assert_true(total > 0); /* the wrappers see its allocations, or this test proves nothing */
    long n, nviolations = 0, errors = 0, recovered = 0;
    char report[8192] = "";
    size_t rlen = 0;
    for (n = 1; n < 100000; n++) {
        arm(n, sticky);
        run_result r = p->run(p->arg);
        long calls = g_alloc.calls;
        leaked = g_nlive;
        disarm();
        if (leaked)
            fail_msg("%s: with allocation %ld failing%s, %ld allocation(s) were never freed",
                     p->name, n, sticky ? " (and every later one)" : "", leaked);
        if (calls < n) {
            /* Allocation n never happened: the run was clean and must have succeeded. */
            if (r != RUN_OK)
                fail_msg("%s: failed with no allocation failure (n = %ld)", p->name, n);
            break;
        }
        if (r == RUN_VIOLATION) {
            nviolations++;
            if (rlen < sizeof report - 400) {
                int w = snprintf(report + rlen, sizeof report - rlen,
                                 "\n    allocation %ld of %ld failing%s: %s", n, total,
                                 sticky ? " (and every later one)" : "", g_violation);
                rlen += w > 0 ? (size_t)w : 0;
                if (rlen >= sizeof report)
                    rlen = sizeof report - 1;
            }
        } else if (r == RUN_ERROR) {
            errors++;
        } else {
            recovered++; /* the run survived the refusal and produced the right result */
        }
    }
    print_message("%s%s: %ld allocations; %ld runs failed cleanly, %ld recovered, %ld broke "
                  "the contract\n",
                  p->name, sticky ? " (sticky)" : "", total, errors, recovered, nviolations);
    if (nviolations) {
        print_error("%s%s: %ld of %ld allocation failures broke the contract (an error other "
                    "than OUT_OF_MEMORY, a malformed answer, or a wrong success):%s\n",
                    p->name, sticky ? " (sticky)" : "", nviolations, n - 1, report);
        fail_msg("%s: allocation failures broke the contract (see above)", p->name);
    }
    assert_true(n > total); /* every allocation of a clean run was made to fail once */
    assert_true(errors > 0);
}

static void test_add_encrypted_pipeline_oom(void **state)
{
    (void)state;
    pipeline p = {g_enc.name, run_add, &g_enc};
    exhaust(&p, true);
    exhaust(&p, false);
}

static void test_add_alias_first_pipeline_oom(void **state)
{
    (void)state;
    pipeline p = {g_first.name, run_add, &g_first};
    exhaust(&p, true);
    exhaust(&p, false);
}

static void test_add_group_pipeline_oom(void **state)
{
    (void)state;
    pipeline p = {g_grp.name, run_add, &g_grp};
    exhaust(&p, true);
    exhaust(&p, false);
}

static void test_query_pipeline_oom(void **state)
{
    (void)state;
    pipeline p = {"query string", run_query, NULL};
    exhaust(&p, true);
    exhaust(&p, false);
}

static void test_problem_answer_oom(void **state)
{
    (void)state;
    pipeline p = {"problem answer", run_problem, NULL};
    exhaust(&p, true);
    exhaust(&p, false);
}

/* The wrappers really are in the path (a test of the test): with every allocation failing, the
 * add pipeline cannot succeed, and Jansson's allocations are counted too. */
static void test_wrappers_are_live(void **state)
{
    (void)state;
    arm(1, true);
    run_result r = add_pipeline(&g_enc);
    long calls = g_alloc.calls, leaked = g_nlive;
    disarm();
    assert_int_equal(r, RUN_ERROR);
    assert_true(calls >= 1);
    assert_int_equal(leaked, 0);
    arm(0, false);
    json_t *j = json_string("x");
    long seen = g_alloc.calls, live = g_nlive;
    json_decref(j);
    long after = g_nlive;
    disarm();
    assert_true(seen >= 1);
    assert_true(live >= 1);
    assert_int_equal(after, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wrappers_are_live),
        cmocka_unit_test(test_add_encrypted_pipeline_oom),
        cmocka_unit_test(test_add_alias_first_pipeline_oom),
        cmocka_unit_test(test_add_group_pipeline_oom),
        cmocka_unit_test(test_query_pipeline_oom),
        cmocka_unit_test(test_problem_answer_oom),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
