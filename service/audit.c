#include "audit.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *principal_name(const principal *p)
{
    return p->kind == PRINCIPAL_ADMIN    ? "admin"
           : p->kind == PRINCIPAL_DEVICE ? "device"
                                         : "installation";
}

void audit_event_init(audit_event *ev, const svc *s, const principal *p, const char *action,
                      const char *group, size_t group_len, const char *alias, size_t alias_len)
{
    memset(ev, 0, sizeof *ev);
    ev->principal = principal_name(p);
    ev->action = action;
    ev->device_id = p->kind == PRINCIPAL_ADMIN ? NULL : p->device_id;
    if (group && group_len)
        snprintf(ev->owner, sizeof ev->owner, "group:%.*s", (int)group_len, group);
    else if (p->kind == PRINCIPAL_INSTALLATION)
        snprintf(ev->owner, sizeof ev->owner, "app:%s", p->app_id);
    if (alias && alias_len) {
        unsigned char h[32], key[32];
        crypto_kdf_derive_from_key(key, sizeof key, 2, "assetaud", s->token_key);
        crypto_generichash(h, sizeof h, (const unsigned char *)alias, alias_len, key, sizeof key);
        sodium_bin2hex(ev->alias_hash, sizeof ev->alias_hash, h, sizeof h);
        sodium_memzero(key, sizeof key);
    }
}

#define INSERT_SQL                                                                              \
    "INSERT INTO audit_log (principal, action, device_id, owner, alias_hash, outcome) "         \
    "VALUES ($1, $2, $3, NULLIF($4, ''), NULLIF($5, ''), $6)"

asset_err audit_append(db_conn *c, const audit_event *ev, const char *outcome)
{
    PGresult *r = NULL;
    const char *vals[] = {ev->principal, ev->action, ev->device_id,
                          ev->owner,     ev->alias_hash, outcome};
    asset_err e = db_exec(c, INSERT_SQL, 6, vals, NULL, NULL, &r);
    PQclear(r);
    return e;
}

void audit_record(svc *s, const audit_event *ev, const char *outcome)
{
    db_conn *c = NULL;
    if (db_acquire(s->pool, &c) != ASSET_OK)
        goto fail;
    asset_err e = db_begin(c);
    PGresult *r = NULL;
    if (e == ASSET_OK)
        e = db_exec(c, "SET LOCAL synchronous_commit TO off", 0, NULL, NULL, NULL, &r);
    PQclear(r);
    if (e == ASSET_OK)
        e = audit_append(c, ev, outcome);
    if (e == ASSET_OK)
        e = db_commit(c);
    else
        db_rollback(c);
    db_release(s->pool, c);
    if (e == ASSET_OK)
        return;
fail:
    fprintf(stderr, "{\"level\":\"error\",\"msg\":\"audit record lost\",\"action\":\"%s\"}\n",
            ev->action);
}

asset_err audit_list(svc *s, int64_t after_id, long limit, audit_page *out)
{
    char after[24], lim[24];
    db_conn *c = NULL;
    memset(out, 0, sizeof *out);
    snprintf(after, sizeof after, "%" PRId64, after_id);
    snprintf(lim, sizeof lim, "%ld", limit + 1);
    const char *vals[] = {after, lim};
    asset_err e = db_acquire(s->pool, &c);
    if (e == ASSET_OK)
        e = db_exec(c,
                    "SELECT id, (extract(epoch FROM at) * 1000)::bigint, principal, action, "
                    "device_id, owner, alias_hash, outcome FROM audit_log WHERE id > $1 "
                    "ORDER BY id LIMIT $2",
                    2, vals, NULL, NULL, &out->res);
    db_release(s->pool, c);
    if (e != ASSET_OK)
        return e;
    out->n = PQntuples(out->res);
    if (out->n > limit) {
        out->n = (int)limit;
        out->next_id = strtoll(PQgetvalue(out->res, out->n - 1, 0), NULL, 10);
    }
    return ASSET_OK;
}

void audit_page_free(audit_page *pg)
{
    if (!pg)
        return;
    PQclear(pg->res);
    memset(pg, 0, sizeof *pg);
}
