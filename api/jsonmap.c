#include "jsonmap.h"

#include "../service/b64.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static asset_err set_from_json(asset_req *r, asset_op op, asset_field f, json_t *v,
                               const char **why)
{
    const field_info *fi = asset_field_info(f);
    switch (fi->kind) {
    case KIND_BYTES:
    case KIND_TEXT:
        if (!json_is_string(v))
            break;
        return asset_req_set_text(r, f, json_string_value(v), json_string_length(v), why);
    case KIND_BOOL:
        if (!json_is_boolean(v))
            break;
        return asset_req_set_bool(r, f, json_is_true(v), why);
    case KIND_INT:
        if (!json_is_integer(v))
            break;
        return asset_req_set_int(r, f, json_integer_value(v), why);
    case KIND_ENUM:
        if (!json_is_string(v))
            break;
        return asset_req_set_name(r, f, json_string_value(v), json_string_length(v), why);
    case KIND_SYNC: {
        size_t i;
        json_t *e;
        if (!json_is_array(v))
            break;
        if (json_array_size(v) == 0 && op != OP_ADD) {
            *why = "needs at least one value as a filter";
            return ASSET_INVALID_ARGUMENT;
        }
        json_array_foreach(v, i, e)
        {
            if (!json_is_string(e)) {
                *why = "must be an array of strings";
                return ASSET_INVALID_ARGUMENT;
            }
            asset_err err =
                asset_req_set_name(r, f, json_string_value(e), json_string_length(e), why);
            if (err != ASSET_OK)
                return err;
        }
        asset_req_mark(r, f);
        return ASSET_OK;
    }
    }
    *why = "has the wrong JSON type";
    return ASSET_INVALID_ARGUMENT;
}

asset_err jsonmap_req_from_json(asset_req *r, asset_op op, json_t *obj, const char **field,
                                const char **why)
{
    const char *key;
    json_t *v;
    *field = NULL;
    if (!json_is_object(obj)) {
        *field = "body";
        *why = "must be a JSON object";
        return ASSET_INVALID_ARGUMENT;
    }
    json_object_foreach(obj, key, v)
    {
        int f = asset_field_by_name(key, strlen(key));
        *field = key;
        if (f < 0 || !(asset_op_fields(op) & FBIT(f))) {
            *why = "is not a field this operation takes";
            return ASSET_INVALID_ARGUMENT;
        }
        asset_err e = set_from_json(r, op, (asset_field)f, v, why);
        if (e != ASSET_OK)
            return e;
    }
    *field = NULL;
    return ASSET_OK;
}

/* Query-string values are text: parse them by the field's kind. */
static asset_err set_from_text(asset_req *r, asset_op op, asset_field f, const char *v, size_t n,
                               const char **why)
{
    const field_info *fi = asset_field_info(f);
    switch (fi->kind) {
    case KIND_BYTES:
    case KIND_TEXT:
        return asset_req_set_text(r, f, v, n, why);
    case KIND_BOOL:
        if (n == 4 && memcmp(v, "true", 4) == 0)
            return asset_req_set_bool(r, f, true, why);
        if (n == 5 && memcmp(v, "false", 5) == 0)
            return asset_req_set_bool(r, f, false, why);
        *why = "must be true or false";
        return ASSET_INVALID_ARGUMENT;
    case KIND_INT: {
        long long x = 0;
        if (n == 0 || n > 10) {
            *why = "must be a non-negative integer";
            return ASSET_INVALID_ARGUMENT;
        }
        for (size_t i = 0; i < n; i++) {
            if (v[i] < '0' || v[i] > '9') {
                *why = "must be a non-negative integer";
                return ASSET_INVALID_ARGUMENT;
            }
            x = x * 10 + (v[i] - '0');
        }
        return asset_req_set_int(r, f, x, why);
    }
    case KIND_ENUM:
        return asset_req_set_name(r, f, v, n, why);
    case KIND_SYNC: {
        size_t start = 0;
        if (n == 0 && op != OP_ADD) {
            *why = "needs at least one value as a filter";
            return ASSET_INVALID_ARGUMENT;
        }
        for (size_t i = 0; i <= n; i++) {
            if (i < n && v[i] != ',')
                continue;
            asset_err e = asset_req_set_name(r, f, v + start, i - start, why);
            if (e != ASSET_OK)
                return e;
            start = i + 1;
        }
        asset_req_mark(r, f);
        return ASSET_OK;
    }
    }
    *why = "has the wrong type";
    return ASSET_INVALID_ARGUMENT;
}

asset_err jsonmap_req_from_args(asset_req *r, asset_op op, const http_arg *args, int n,
                                const char **field, const char **why)
{
    uint64_t seen = 0;
    *field = NULL;
    for (int i = 0; i < n; i++) {
        int f = asset_field_by_name(args[i].key, args[i].key_len);
        *field = args[i].key;
        if (f < 0 || !(asset_op_fields(op) & FBIT(f))) {
            *why = "is not a parameter this operation takes";
            return ASSET_INVALID_ARGUMENT;
        }
        if (seen & FBIT(f)) {
            *why = "is given more than once";
            return ASSET_INVALID_ARGUMENT;
        }
        seen |= FBIT(f);
        asset_err e = set_from_text(r, op, (asset_field)f, args[i].val, args[i].val_len, why);
        if (e != ASSET_OK)
            return e;
    }
    *field = NULL;
    return ASSET_OK;
}

void jsonmap_time(char out[64], int64_t ms)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

static json_t *text_json(asset_text t)
{
    return json_stringn(t.p, t.n);
}

json_t *jsonmap_asset(const asset_out *o)
{
    const asset_record *r = &o->rec;
    char when[64];
    json_t *sync = json_array();
    json_t *obj = json_object();
    if (!sync || !obj) {
        json_decref(sync);
        json_decref(obj);
        return NULL;
    }
    int bad = 0;
    for (unsigned bit = 1; bit <= SYNC_TRUSTED_ACCOUNT; bit <<= 1)
        if (r->sync_type & bit)
            bad |= json_array_append_new(sync, json_string(asset_enum_name(F_SYNC_TYPE, bit)));
    jsonmap_time(when, r->update_ms);
    bad |= json_object_set_new(obj, "alias", text_json(r->alias));
    bad |= json_object_set_new(obj, "accessibility",
                               json_string(asset_enum_name(F_ACCESSIBILITY, r->accessibility)));
    bad |= json_object_set_new(obj, "requirePasswordSet", json_boolean(r->require_password_set));
    bad |= json_object_set_new(obj, "authType",
                               json_string(asset_enum_name(F_AUTH_TYPE, r->auth_type)));
    bad |= json_object_set_new(obj, "syncType", sync);
    bad |= json_object_set_new(obj, "isPersistent", json_boolean(r->is_persistent));
    bad |= json_object_set_new(obj, "requireAttrEncrypted", json_boolean(r->attr_enc));
    if (o->has_group)
        bad |= json_object_set_new(obj, "groupId", text_json(r->owner));
    bad |= json_object_set_new(obj, "wrapType",
                               json_string(asset_enum_name(F_WRAP_TYPE, r->wrap_type)));
    for (int i = 0; i < ASSET_LABELS; i++)
        if (r->labels[i].p)
            bad |= json_object_set_new(obj, asset_field_info(F_LABEL0 + i)->name,
                                       text_json(r->labels[i]));
    bad |= json_object_set_new(obj, "updateTime", json_string(when));
    if (o->secret) {
        size_t n = B64_ENCODED_LEN(o->secret_len);
        char *b64 = http_secure_malloc(n);
        if (!b64 || b64_encode(b64, n, o->secret, o->secret_len) != 0)
            bad = 1;
        else /* base64 is ASCII: no UTF-8 check needed */
            bad |= json_object_set_new(obj, "secret", json_stringn_nocheck(b64, n - 1));
        if (b64)
            http_secure_free(b64);
    }
    if (bad) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

json_t *jsonmap_asset_page(const asset_list *l)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < l->n; i++)
        if (json_array_append_new(arr, jsonmap_asset(&l->items[i])) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    if (!arr)
        return NULL;
    return json_pack("{s:o, s:o}", "assets", arr, "nextCursor",
                     l->next_cursor ? json_string(l->next_cursor) : json_null());
}

json_t *jsonmap_device(const device_info *d)
{
    char pk[64];
    if (d->has_pk)
        sodium_bin2base64(pk, sizeof pk, d->pk, sizeof d->pk, sodium_base64_VARIANT_ORIGINAL);
    return json_pack("{s:s, s:s, s:o, s:o, s:{s:b, s:b, s:b}}", "id", d->id, "name", d->name,
                     "accountId", d->has_account ? json_string(d->account_id) : json_null(),
                     "userAuthPublicKey", d->has_pk ? json_string(pk) : json_null(), "state",
                     "lockScreenPasswordSet", d->state.lock_screen_password_set, "screenLocked",
                     d->state.screen_locked, "unlockedSinceBoot", d->state.unlocked_since_boot);
}
