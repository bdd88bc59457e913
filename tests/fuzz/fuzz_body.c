/* fuzz_body: a request body, as the router and the body-taking asset handlers see it.
 *
 * http_parse_json_body (api/jsonparse.c) as api/router.c parse_body does, checked against
 * Jansson's json_loadb on the same bytes (both accept or both refuse, equal values); when that
 * gives an object,
 * jsonmap_req_from_json + asset_req_finish for each body-taking operation on a fresh request;
 * an OP_ADD request that passes is turned into a record the way service/asset_ops.c assets_add
 * does, rendered with jsonmap_asset, dumped, parsed back and compared. */
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_init();
    return 0;
}

static void check_text_back(json_t *doc, const char *name, asset_text t)
{
    json_t *v = json_object_get(doc, name);
    FUZZ_CHECK(json_is_string(v), "rendered asset lacks %s", name);
    FUZZ_CHECK(json_string_length(v) == t.n && memcmp(json_string_value(v), t.p, t.n) == 0,
               "%s did not survive rendering", name);
}

/* Render an accepted OP_ADD request as POST /assets answers it, then read the text back. */
static void render_add(const asset_req *q)
{
    static const char app_owner[] = "com.example.fuzz";
    bool group = (q->has & FBIT(F_GROUP_ID)) != 0;
    asset_record r = record_from_add(
        q, group ? 1 : 0, group ? q->group : (asset_text){app_owner, sizeof app_owner - 1}, 1);
    r.seq = 1;
    r.update_ms = INT64_C(1700000000123);
    asset_out o = {.rec = r, .has_group = group, .secret = q->secret, .secret_len = q->secret_len};

    json_t *obj = jsonmap_asset(&o);
    FUZZ_CHECK(obj != NULL, "jsonmap_asset failed on an accepted OP_ADD request");
    char *text = json_dumps(obj, JSON_COMPACT);
    FUZZ_CHECK(text != NULL, "json_dumps failed on a rendered asset");
    json_error_t err;
    json_t *back = json_loads(text, JSON_REJECT_DUPLICATES, &err);
    FUZZ_CHECK(json_is_object(back), "rendered asset does not parse back: %s", err.text);

    check_text_back(back, "alias", q->alias);
    if (group)
        check_text_back(back, "groupId", q->group);
    else
        FUZZ_CHECK(!json_object_get(back, "groupId"), "groupId rendered without a group");
    for (int i = 0; i < ASSET_LABELS; i++) {
        const char *name = asset_field_info(F_LABEL0 + i)->name;
        if (q->labels[i].p)
            check_text_back(back, name, q->labels[i]);
        else
            FUZZ_CHECK(!json_object_get(back, name), "absent %s rendered", name);
    }
    json_t *sync = json_object_get(back, "syncType");
    FUZZ_CHECK(json_is_array(sync), "syncType is not an array");
    size_t n = 0;
    for (unsigned b = 1; b <= SYNC_TRUSTED_ACCOUNT; b <<= 1)
        n += (q->sync_type & b) != 0;
    FUZZ_CHECK(json_array_size(sync) == n, "syncType has %zu values, want %zu",
               json_array_size(sync), n);

    json_t *sec = json_object_get(back, "secret");
    FUZZ_CHECK(json_is_string(sec), "secret not rendered");
    unsigned char *bin = malloc(ASSET_SECRET_MAX);
    size_t len = 0;
    FUZZ_CHECK(bin, "out of memory");
    FUZZ_CHECK(sodium_base642bin(bin, ASSET_SECRET_MAX, json_string_value(sec),
                                 json_string_length(sec), NULL, &len, NULL,
                                 sodium_base64_VARIANT_ORIGINAL) == 0,
               "rendered secret is not base64");
    FUZZ_CHECK(len == q->secret_len && memcmp(bin, q->secret, len) == 0,
               "rendered secret differs from the request's");
    sodium_memzero(bin, ASSET_SECRET_MAX);
    free(bin);

    json_decref(back);
    http_secure_free(text); /* Jansson's allocator, as installed by fuzz_init */
    json_decref(obj);
}

static const asset_op body_ops[] = {OP_ADD, OP_UPDATE, OP_PRE_QUERY, OP_AUTH_QUERY, OP_POST_QUERY};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t err;
    json_t *body = NULL;
    int pos;
    char key[64];
    if (size == 0) /* the router refuses an empty body before parsing */
        return 0;
    int rc = http_parse_json_body(&body, (const char *)data, size, &pos, key, sizeof key);
    json_t *theirs =
        json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &err);
    /* One known difference (api/jsonparse.h): Jansson skips a raw NUL byte right after a number
     * or a literal, the request parser refuses every raw NUL. */
    bool nul_quirk = rc != 0 && theirs && memchr(data, 0, size);
    if (!nul_quirk && ((rc == 0) != (theirs != NULL) || (rc == 0 && !json_equal(body, theirs))))
        __builtin_trap(); /* the request parser and Jansson disagree */
    json_decref(theirs);
    if (rc != 0)
        return 0;
    if (!json_is_object(body)) {
        json_decref(body);
        return 0;
    }
    for (size_t k = 0; k < sizeof body_ops / sizeof body_ops[0]; k++) {
        asset_op op = body_ops[k];
        asset_req r;
        const char *field = NULL, *why = NULL;
        asset_req_init(&r);
        asset_err e = jsonmap_req_from_json(&r, op, body, &field, &why);
        if (e != ASSET_OK) {
            fuzz_check_failure(e, why, "jsonmap_req_from_json", op);
        } else {
            FUZZ_CHECK(field == NULL, "%s: success names field %s", fuzz_op_name(op), field);
            why = NULL;
            e = asset_req_finish(&r, op, &field, &why);
            if (e != ASSET_OK) {
                fuzz_check_failure(e, why, "asset_req_finish", op);
            } else {
                fuzz_check_req_ok(&r, op);
                if (op == OP_ADD)
                    render_add(&r);
            }
        }
        asset_req_clear(&r);
        asset_req_clear(&r); /* safe on a cleared request */
        FUZZ_CHECK(r.has == 0 && !r.secret && !r.auth_token, "asset_req_clear left state");
    }
    json_decref(body);
    return 0;
}
