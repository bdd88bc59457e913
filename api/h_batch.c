/* Handlers of the batch endpoints (spec §11): POST /assets/batch-add, /assets/batch-update,
 * /assets/batch-remove. Each item goes through the same parsing as its single operation
 * (jsonmap + asset_req_finish); a malformed item is named in the problem detail as
 * `assets[3].secret`, `items[2].set`, `aliases[0]`. The item requests borrow text from the
 * parsed body and are cleared (secrets wiped) before the handler returns. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../service/batch.h"
#include "handlers.h"
#include "jsonmap.h"

/* The member `key` of the body: an array of 1..BATCH_MAX elements; answers 400 otherwise. */
static json_t *items_of(http_req *rq, const char *key)
{
    json_t *arr = json_object_get(rq->json, key);
    if (!arr) {
        http_problem(rq, ASSET_INVALID_ARGUMENT, key, "is required");
        return NULL;
    }
    if (!json_is_array(arr)) {
        http_problem(rq, ASSET_INVALID_ARGUMENT, key, "must be an array");
        return NULL;
    }
    if (json_array_size(arr) == 0 || json_array_size(arr) > BATCH_MAX) {
        http_problem(rq, ASSET_INVALID_ARGUMENT, key, "must hold 1 to 100 items");
        return NULL;
    }
    return arr;
}

/* A problem naming element i of array `arr`, and within it `field` (if any). */
static void item_problem(http_req *rq, asset_err e, const char *arr, long i, const char *field,
                         const char *why)
{
    char name[200];
    if (i < 0 && !field) {
        http_problem(rq, e, NULL, why && *why ? why : NULL);
        return;
    }
    if (i < 0)
        snprintf(name, sizeof name, "%s", field);
    else if (field)
        snprintf(name, sizeof name, "%s[%ld].%s", arr, i, field);
    else
        snprintf(name, sizeof name, "%s[%ld]", arr, i);
    http_problem(rq, e, name, why && *why ? why : NULL);
}

/* The selectors of the body (every member but `items_key`) into q, as `op` takes them. */
static asset_err selectors_of(json_t *body, const char *items_key, asset_op op, asset_req *q,
                              const char **field, const char **why)
{
    json_t *copy = json_copy(body);
    if (!copy)
        return ASSET_OUT_OF_MEMORY;
    json_object_del(copy, items_key);
    asset_err e = jsonmap_req_from_json(q, op, copy, field, why);
    if (e != ASSET_OK && *field) {
        /* *field points into the copy: name it from the field table instead. */
        int f = asset_field_by_name(*field, strlen(*field));
        *field = f >= 0 ? asset_field_info((asset_field)f)->name : NULL;
    }
    json_decref(copy);
    return e;
}

static void answer_result(http_req *rq, const batch_result *r)
{
    json_t *infos = json_array();
    for (size_t k = 0; infos && k < r->nfail; k++) {
        asset_err e = r->fails[k].err;
        const char *msg = e == ASSET_DUPLICATED
                              ? "the alias exists and conflictResolution is THROW_ERROR"
                              : "no asset matches this alias and these conditions";
        if (json_array_append_new(infos, json_pack("{s:I, s:I, s:s, s:s}", "index",
                                                   (json_int_t)r->fails[k].index, "errCode",
                                                   (json_int_t)asset_err_code(e), "name",
                                                   asset_err_name(e), "message", msg)) != 0) {
            json_decref(infos);
            infos = NULL;
        }
    }
    json_t *body = infos ? json_pack("{s:I, s:o}", "failedCount", (json_int_t)r->nfail,
                                     "failedErrorInfos", infos)
                         : NULL;
    if (!body) {
        http_problem(rq, ASSET_OUT_OF_MEMORY, NULL, "out of memory");
        return;
    }
    http_json(rq, 200, body);
}

static asset_req *new_reqs(size_t n)
{
    asset_req *r = calloc(n, sizeof *r);
    for (size_t i = 0; r && i < n; i++)
        asset_req_init(&r[i]);
    return r;
}

static void free_reqs(asset_req *r, size_t n)
{
    for (size_t i = 0; r && i < n; i++)
        asset_req_clear(&r[i]);
    free(r);
}

void h_batch_add(http_req *rq, const char *a, const char *b)
{
    static const char *const keys[] = {"assets", NULL};
    const char *field = NULL, *why = NULL;
    batch_result res = {0};
    batch_issue is;
    asset_req *items = NULL;
    size_t n = 0, i;
    json_t *arr, *el;
    (void)a;
    (void)b;
    if (handler_no_args_or_reply(rq) != 0 || handler_only_keys_or_reply(rq, rq->json, keys) != 0 ||
        !(arr = items_of(rq, "assets")))
        return;
    n = json_array_size(arr);
    if (!(items = new_reqs(n))) {
        http_problem(rq, ASSET_OUT_OF_MEMORY, NULL, "out of memory; nothing was written");
        return;
    }
    json_array_foreach(arr, i, el)
    {
        asset_err e = json_is_object(el)
                          ? jsonmap_req_from_json(&items[i], OP_ADD, el, &field, &why)
                          : (field = NULL, why = "must be a JSON object", ASSET_INVALID_ARGUMENT);
        if (e == ASSET_OK)
            e = asset_req_finish(&items[i], OP_ADD, &field, &why);
        if (e != ASSET_OK) {
            item_problem(rq, e, "assets", (long)i, field, why);
            goto done;
        }
    }
    asset_err e = batch_add(rq->app->svc, rq->who, items, n, &res, &is);
    if (e == ASSET_OK)
        answer_result(rq, &res);
    else if (is.index >= 0 || is.why[0])
        item_problem(rq, e, "assets", is.index, is.field, is.why);
    else
        http_problem(rq, e, NULL, NULL);
done:
    batch_result_free(&res);
    free_reqs(items, n);
}

/* One item of batch-update: {"alias", "match"?, "set"} into sel (on top of the selectors) and
 * upd. On failure *field names the member within the item. */
static asset_err update_item(json_t *body, json_t *el, asset_req *sel, asset_req *upd,
                             const char **field, const char **why, char *buf, size_t len)
{
    static const char *const members[] = {"alias", "match", "set", NULL};
    const char *key;
    json_t *v;
    *field = NULL;
    if (!json_is_object(el)) {
        *why = "must be a JSON object";
        return ASSET_INVALID_ARGUMENT;
    }
    json_object_foreach(el, key, v)
    {
        bool known = false;
        for (int k = 0; members[k]; k++)
            known |= strcmp(members[k], key) == 0;
        if (!known) {
            *field = key;
            *why = "is not a field this operation takes";
            return ASSET_INVALID_ARGUMENT;
        }
    }
    json_t *alias = json_object_get(el, "alias"), *match = json_object_get(el, "match"),
           *set = json_object_get(el, "set");
    const char *sub = NULL;
    asset_err e = selectors_of(body, "items", OP_UPDATE_SEL, sel, &sub, why);
    if (e != ASSET_OK)
        return e; /* the selectors parsed once already: only memory can fail here */
    *field = "alias";
    if (!alias) {
        *why = "is required";
        return ASSET_INVALID_ARGUMENT;
    }
    if (!json_is_string(alias)) {
        *why = "has the wrong JSON type";
        return ASSET_INVALID_ARGUMENT;
    }
    if ((e = asset_req_set_text(sel, F_ALIAS, json_string_value(alias), json_string_length(alias),
                                why)) != ASSET_OK)
        return e;
    *field = "match";
    if (match && !json_is_object(match)) {
        *why = "must be a JSON object";
        return ASSET_INVALID_ARGUMENT;
    }
    if (match && (e = jsonmap_req_from_json(sel, OP_UPDATE_MATCH, match, &sub, why)) != ASSET_OK) {
        snprintf(buf, len, "match.%s", sub ? sub : "");
        *field = buf;
        return e;
    }
    if ((e = asset_req_finish(sel, OP_UPDATE_SEL, &sub, why)) != ASSET_OK)
        return e;
    *field = "set";
    if (!set) {
        *why = "is required";
        return ASSET_INVALID_ARGUMENT;
    }
    if (!json_is_object(set)) {
        *why = "must be a JSON object";
        return ASSET_INVALID_ARGUMENT;
    }
    sub = NULL;
    if ((e = jsonmap_req_from_json(upd, OP_UPDATE, set, &sub, why)) == ASSET_OK)
        e = asset_req_finish(upd, OP_UPDATE, &sub, why);
    if (e != ASSET_OK && sub) {
        snprintf(buf, len, "set.%s", sub);
        *field = buf;
    }
    return e;
}

void h_batch_update(http_req *rq, const char *a, const char *b)
{
    static const char *const keys[] = {"groupId", "requireAttrEncrypted", "items", NULL};
    const char *field = NULL, *why = NULL;
    char buf[96];
    batch_result res = {0};
    batch_issue is;
    asset_req top, *sels = NULL, *upds = NULL;
    size_t n = 0, i;
    json_t *arr, *el;
    (void)a;
    (void)b;
    asset_req_init(&top);
    if (handler_no_args_or_reply(rq) != 0 || handler_only_keys_or_reply(rq, rq->json, keys) != 0)
        goto done;
    asset_err e = selectors_of(rq->json, "items", OP_UPDATE_SEL, &top, &field, &why);
    if (e != ASSET_OK) {
        http_problem(rq, e, field, why);
        goto done;
    }
    if (!(arr = items_of(rq, "items")))
        goto done;
    n = json_array_size(arr);
    if (!(sels = new_reqs(n)) || !(upds = new_reqs(n))) {
        http_problem(rq, ASSET_OUT_OF_MEMORY, NULL, "out of memory; nothing was written");
        goto done;
    }
    json_array_foreach(arr, i, el)
    {
        if ((e = update_item(rq->json, el, &sels[i], &upds[i], &field, &why, buf, sizeof buf)) !=
            ASSET_OK) {
            item_problem(rq, e, "items", (long)i, field, why);
            goto done;
        }
    }
    e = batch_update(rq->app->svc, rq->who, sels, upds, n, &res, &is);
    if (e == ASSET_OK)
        answer_result(rq, &res);
    else if (is.index >= 0 || is.why[0])
        item_problem(rq, e, "items", is.index, is.field, is.why);
    else
        http_problem(rq, e, NULL, NULL);
done:
    batch_result_free(&res);
    free_reqs(sels, n);
    free_reqs(upds, n);
    asset_req_clear(&top);
}

void h_batch_remove(http_req *rq, const char *a, const char *b)
{
    static const char *const keys[] = {"groupId", "requireAttrEncrypted", "aliases", NULL};
    const char *field = NULL, *why = NULL;
    batch_issue is;
    asset_req sel;
    asset_text *aliases = NULL;
    long removed = 0;
    size_t n, i;
    json_t *arr, *el;
    (void)a;
    (void)b;
    asset_req_init(&sel);
    if (handler_no_args_or_reply(rq) != 0 || handler_only_keys_or_reply(rq, rq->json, keys) != 0)
        goto done;
    asset_err e = selectors_of(rq->json, "aliases", OP_REMOVE_ONE, &sel, &field, &why);
    if (e == ASSET_OK)
        e = asset_req_finish(&sel, OP_REMOVE_ONE, &field, &why);
    if (e != ASSET_OK) {
        http_problem(rq, e, field, why);
        goto done;
    }
    if (!(arr = items_of(rq, "aliases")))
        goto done;
    n = json_array_size(arr);
    if (!(aliases = calloc(n, sizeof *aliases))) {
        http_problem(rq, ASSET_OUT_OF_MEMORY, NULL, "out of memory; nothing was written");
        goto done;
    }
    json_array_foreach(arr, i, el)
    {
        asset_req one;
        asset_req_init(&one);
        e = json_is_string(el) ? asset_req_set_text(&one, F_ALIAS, json_string_value(el),
                                                    json_string_length(el), &why)
                               : (why = "must be a string", ASSET_INVALID_ARGUMENT);
        asset_req_clear(&one);
        if (e != ASSET_OK) {
            item_problem(rq, e, "aliases", (long)i, NULL, why);
            goto done;
        }
        aliases[i].p = json_string_value(el);
        aliases[i].n = json_string_length(el);
    }
    e = batch_remove(rq->app->svc, rq->who, &sel, aliases, n, &removed, &is);
    if (e == ASSET_OK)
        http_json(rq, 200, json_pack("{s:I}", "removed", (json_int_t)removed));
    else if (is.index >= 0 || is.why[0])
        item_problem(rq, e, "aliases", is.index, is.field, is.why);
    else
        http_problem(rq, e, NULL, NULL);
done:
    free(aliases);
    asset_req_clear(&sel);
}
