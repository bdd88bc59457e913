/* Handlers of the device and installation endpoints (spec §4, admin and device tokens). */
#include <sodium.h>
#include <string.h>

#include "../service/devices.h"
#include "handlers.h"
#include "jsonmap.h"

/* Optional text member: absent -> *out NULL; present -> validated name text. */
static int name_member_or_reply(http_req *rq, json_t *obj, const char *key, bool required,
                                const char **out)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v && !required)
        return 0;
    if (!v) {
        http_problem(rq, ASSET_INVALID_ARGUMENT, key, "is required");
        return -1;
    }
    if (!json_is_string(v) || !devices_valid_name(json_string_value(v), json_string_length(v))) {
        http_problem(rq, ASSET_INVALID_ARGUMENT, key,
                     "must be a string of 1..256 bytes of UTF-8 without U+0000");
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

/* userAuthPublicKey: base64 of 32 bytes (or null when allow_null). */
static int pk_member_or_reply(http_req *rq, json_t *obj, bool required, bool *present,
                              unsigned char pk[USER_AUTH_PK_LEN])
{
    json_t *v = json_object_get(obj, "userAuthPublicKey");
    size_t len = 0;
    const char *end = NULL;
    *present = false;
    if (!v && !required)
        return 0;
    if (!json_is_string(v) ||
        sodium_base642bin(pk, USER_AUTH_PK_LEN, json_string_value(v), json_string_length(v), NULL,
                          &len, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != json_string_value(v) + json_string_length(v) || len != USER_AUTH_PK_LEN) {
        http_problem(rq, ASSET_INVALID_ARGUMENT, "userAuthPublicKey",
                     v ? "must be base64 of exactly 32 bytes" : "is required");
        return -1;
    }
    *present = true;
    return 0;
}

void h_device_create(http_req *rq, const char *a, const char *b)
{
    static const char *const keys[] = {"name", "accountId", "userAuthPublicKey", NULL};
    json_t *body = http_body(rq);
    const char *name, *account;
    unsigned char pk[USER_AUTH_PK_LEN];
    bool has_pk;
    char id[UUID_TEXT_LEN], token[SEAL_TOKEN_TEXT_LEN];
    (void)a;
    (void)b;
    if (handler_no_args_or_reply(rq) || handler_only_keys_or_reply(rq, body, keys) ||
        name_member_or_reply(rq, body, "name", true, &name) ||
        name_member_or_reply(rq, body, "accountId", false, &account) ||
        pk_member_or_reply(rq, body, false, &has_pk, pk))
        return;
    asset_err e = devices_register(rq->app->svc, name, account, has_pk ? pk : NULL, id, token);
    if (e != ASSET_OK) {
        http_problem(rq, e, NULL, NULL);
        return;
    }
    http_json(rq, 201, json_pack("{s:s, s:s}", "id", id, "deviceToken", token));
    snprintf(rq->location, sizeof rq->location, "/devices/%s", id);
    sodium_memzero(token, sizeof token);
}

static void answer_device(http_req *rq, asset_err e, const device_info *d)
{
    if (e != ASSET_OK)
        http_problem(rq, e, NULL, e == ASSET_NOT_FOUND ? "no such device" : NULL);
    else
        http_json(rq, 200, jsonmap_device(d));
}

/* Common start of the /devices/{id}... routes: the id and the right to manage it. */
static int device_param_or_reply(http_req *rq, const char *raw, const char **id)
{
    if (handler_uuid_param_or_reply(rq, raw, "id", id) || handler_may_manage_or_reply(rq, *id))
        return -1;
    return 0;
}

void h_device_get(http_req *rq, const char *raw_id, const char *b)
{
    const char *id;
    device_info d;
    (void)b;
    if (device_param_or_reply(rq, raw_id, &id) || handler_no_args_or_reply(rq))
        return;
    answer_device(rq, devices_get(rq->app->svc, id, &d), &d);
}

void h_device_state(http_req *rq, const char *raw_id, const char *b)
{
    static const char *const keys[] = {"lockScreenPasswordSet", "screenLocked", "unlockedSinceBoot",
                                       NULL};
    json_t *body = http_body(rq);
    const char *id;
    bool vals[3];
    device_info d;
    (void)b;
    if (device_param_or_reply(rq, raw_id, &id) || handler_no_args_or_reply(rq) ||
        handler_only_keys_or_reply(rq, body, keys))
        return;
    for (int i = 0; i < 3; i++) {
        json_t *v = json_object_get(body, keys[i]);
        if (!json_is_boolean(v)) {
            http_problem(rq, ASSET_INVALID_ARGUMENT, keys[i], "is required and must be a boolean");
            return;
        }
        vals[i] = json_is_true(v);
    }
    device_state st = {vals[0], vals[1], vals[2]};
    answer_device(rq, devices_set_state(rq->app->svc, id, &st, &d), &d);
}

void h_device_auth_key(http_req *rq, const char *raw_id, const char *b)
{
    static const char *const keys[] = {"userAuthPublicKey", NULL};
    json_t *body = http_body(rq);
    const char *id;
    unsigned char pk[USER_AUTH_PK_LEN];
    bool has_pk;
    device_info d;
    (void)b;
    if (device_param_or_reply(rq, raw_id, &id) || handler_no_args_or_reply(rq) ||
        handler_only_keys_or_reply(rq, body, keys) ||
        pk_member_or_reply(rq, body, true, &has_pk, pk))
        return;
    answer_device(rq, devices_set_auth_key(rq->app->svc, id, has_pk ? pk : NULL, &d), &d);
}

/* groups: unique texts of 7..127 bytes, at most APP_GROUPS_MAX. */
static int groups_member_or_reply(http_req *rq, json_t *body, json_t **out)
{
    json_t *v = json_object_get(body, "groups"), *g;
    size_t i, j;
    *out = NULL;
    if (!v) {
        *out = json_array();
        return *out ? 0 : -1;
    }
    if (!json_is_array(v) || json_array_size(v) > APP_GROUPS_MAX) {
        http_problem(rq, ASSET_INVALID_ARGUMENT, "groups",
                     "must be an array of at most 16 group ids");
        return -1;
    }
    json_array_foreach(v, i, g)
    {
        size_t n = json_is_string(g) ? json_string_length(g) : 0;
        if (n < ASSET_GROUP_MIN || n > ASSET_GROUP_MAX ||
            !text_valid_utf8(json_string_value(g), n)) {
            http_problem(rq, ASSET_INVALID_ARGUMENT, "groups",
                         "must hold strings of 7..127 bytes of UTF-8 without U+0000");
            return -1;
        }
        for (j = 0; j < i; j++)
            if (json_equal(g, json_array_get(v, j))) {
                http_problem(rq, ASSET_INVALID_ARGUMENT, "groups", "repeats a group id");
                return -1;
            }
    }
    *out = json_incref(v);
    return 0;
}

static int permissions_member_or_reply(http_req *rq, json_t *body, bool *persistent)
{
    json_t *v = json_object_get(body, "permissions"), *p;
    size_t i;
    *persistent = false;
    if (!v)
        return 0;
    if (!json_is_array(v)) {
        http_problem(rq, ASSET_INVALID_ARGUMENT, "permissions", "must be an array");
        return -1;
    }
    json_array_foreach(v, i, p)
    {
        if (!json_is_string(p) || strcmp(json_string_value(p), "STORE_PERSISTENT_DATA") != 0 ||
            json_string_length(p) != strlen("STORE_PERSISTENT_DATA") || *persistent) {
            http_problem(rq, ASSET_INVALID_ARGUMENT, "permissions",
                         "may hold only STORE_PERSISTENT_DATA, once");
            return -1;
        }
        *persistent = true;
    }
    return 0;
}

void h_app_install(http_req *rq, const char *raw_id, const char *b)
{
    static const char *const keys[] = {"appId", "groups", "permissions", NULL};
    json_t *body = http_body(rq), *groups = NULL;
    const char *id, *app_id;
    bool persistent;
    char token[SEAL_TOKEN_TEXT_LEN];
    (void)b;
    if (device_param_or_reply(rq, raw_id, &id) || handler_no_args_or_reply(rq) ||
        handler_only_keys_or_reply(rq, body, keys) ||
        name_member_or_reply(rq, body, "appId", true, &app_id) ||
        permissions_member_or_reply(rq, body, &persistent) ||
        groups_member_or_reply(rq, body, &groups))
        return;
    char *groups_text = json_dumps(groups, JSON_COMPACT);
    json_decref(groups);
    if (!groups_text) {
        http_problem(rq, ASSET_OUT_OF_MEMORY, NULL, NULL);
        return;
    }
    asset_err e = devices_install(rq->app->svc, id, app_id, groups_text, persistent, token);
    http_secure_free(groups_text);
    if (e != ASSET_OK) {
        http_problem(rq, e, NULL,
                     e == ASSET_DUPLICATED  ? "the app is already installed on this device"
                     : e == ASSET_NOT_FOUND ? "no such device"
                                            : NULL);
        return;
    }
    http_json(rq, 201, json_pack("{s:s, s:s}", "appId", app_id, "token", token));
    sodium_memzero(token, sizeof token);
}

void h_app_uninstall(http_req *rq, const char *raw_id, const char *raw_app)
{
    const char *id, *app_id;
    size_t len;
    if (device_param_or_reply(rq, raw_id, &id) || handler_no_args_or_reply(rq) ||
        handler_path_param_or_reply(rq, raw_app, "appId", &app_id, &len))
        return;
    if (!devices_valid_name(app_id, len)) {
        http_problem(rq, ASSET_INVALID_ARGUMENT, "appId",
                     "must be 1..256 bytes of UTF-8 without U+0000");
        return;
    }
    asset_err e = devices_uninstall(rq->app->svc, id, app_id);
    if (e != ASSET_OK)
        http_problem(rq, e, NULL, e == ASSET_NOT_FOUND ? "the app is not installed there" : NULL);
    else
        http_empty(rq, 204);
}

/* ---- spec §13: token rotation and device removal ---- */

void h_device_token(http_req *rq, const char *raw_id, const char *b)
{
    const char *id;
    char token[SEAL_TOKEN_TEXT_LEN];
    (void)b;
    if (device_param_or_reply(rq, raw_id, &id) || handler_no_args_or_reply(rq))
        return;
    asset_err e = devices_rotate_token(rq->app->svc, id, token);
    if (e != ASSET_OK) {
        http_problem(rq, e, NULL, e == ASSET_NOT_FOUND ? "no such device" : NULL);
        return;
    }
    http_json(rq, 200, json_pack("{s:s}", "deviceToken", token));
    sodium_memzero(token, sizeof token);
}

void h_app_token(http_req *rq, const char *raw_id, const char *raw_app)
{
    const char *id, *app_id;
    size_t len;
    char token[SEAL_TOKEN_TEXT_LEN];
    if (device_param_or_reply(rq, raw_id, &id) || handler_no_args_or_reply(rq) ||
        handler_path_param_or_reply(rq, raw_app, "appId", &app_id, &len))
        return;
    if (!devices_valid_name(app_id, len)) {
        http_problem(rq, ASSET_INVALID_ARGUMENT, "appId",
                     "must be 1..256 bytes of UTF-8 without U+0000");
        return;
    }
    asset_err e = devices_rotate_app_token(rq->app->svc, id, app_id, token);
    if (e != ASSET_OK) {
        http_problem(rq, e, NULL, e == ASSET_NOT_FOUND ? "the app is not installed there" : NULL);
        return;
    }
    http_json(rq, 200, json_pack("{s:s, s:s}", "appId", app_id, "token", token));
    sodium_memzero(token, sizeof token);
}

void h_device_remove(http_req *rq, const char *raw_id, const char *b)
{
    const char *id;
    bool delete_backups = false;
    (void)b;
    if (device_param_or_reply(rq, raw_id, &id))
        return;
    for (int i = 0; i < rq->nargs; i++) {
        const http_arg *a = &rq->args[i];
        if (strcmp(a->key, "deleteBackups") != 0 || a->key_len != strlen("deleteBackups")) {
            http_problem(rq, ASSET_INVALID_ARGUMENT, a->key,
                         "is not a parameter this operation takes");
            return;
        }
        if (i > 0 || (strcmp(a->val, "true") != 0 && strcmp(a->val, "false") != 0) ||
            a->val_len != strlen(a->val)) {
            http_problem(rq, ASSET_INVALID_ARGUMENT, "deleteBackups",
                         "must be given once, as true or false");
            return;
        }
        delete_backups = strcmp(a->val, "true") == 0;
    }
    asset_err e = devices_remove(rq->app->svc, id, delete_backups);
    if (e != ASSET_OK)
        http_problem(rq, e, NULL,
                     e == ASSET_NOT_FOUND     ? "no such device"
                     : e == ASSET_IN_PROGRESS ? "a restore onto another device still uses one of "
                                                "its backups; nothing was removed"
                                              : NULL);
    else
        http_empty(rq, 204);
}
