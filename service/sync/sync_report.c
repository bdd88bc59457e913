/* sync (part 4, spec §12): the per-record report of restores, and keyset cursors for it and for
 * the backup list. A page owns its PGresult and arena (rows point into them): records_page_free
 * releases both.
 *
 * Cursors are base64url(position | MAC): the MAC, keyed by the service token key, covers the
 * listing they belong to (which restore, which owner, which filters), so a cursor can be neither
 * forged nor replayed against another listing (PARAM_VERIFICATION_FAILED). */
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../audit.h"
#include "sync.h"
#include "sync_internal.h"

#define CURSOR_MAC_LEN 16

static void cursor_mac(unsigned char mac[CURSOR_MAC_LEN], const svc *s, const char *context,
                       const unsigned char *pos, size_t n)
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, s->token_key, SEAL_KEY_LEN, CURSOR_MAC_LEN);
    crypto_generichash_update(&st, (const unsigned char *)"assetd.cursor.sync.v1", 22);
    crypto_generichash_update(&st, (const unsigned char *)context, strlen(context) + 1);
    crypto_generichash_update(&st, pos, n);
    crypto_generichash_final(&st, mac, CURSOR_MAC_LEN);
}

const char *sync_cursor_encode(const svc *s, const char *context, const unsigned char *pos,
                               size_t n, arena *a)
{
    unsigned char raw[64];
    if (n + CURSOR_MAC_LEN > sizeof raw)
        return NULL;
    memcpy(raw, pos, n);
    cursor_mac(raw + n, s, context, pos, n);
    size_t tl =
        sodium_base64_ENCODED_LEN(n + CURSOR_MAC_LEN, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *text = arena_alloc(a, tl);
    if (text)
        sodium_bin2base64(text, tl, raw, n + CURSOR_MAC_LEN,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return text;
}

asset_err sync_cursor_decode(const svc *s, const char *context, asset_text cursor,
                             unsigned char *pos, size_t n)
{
    unsigned char raw[64], mac[CURSOR_MAC_LEN];
    size_t got = 0;
    if (cursor.n > 2 * sizeof raw ||
        sodium_base642bin(raw, sizeof raw, cursor.p, cursor.n, NULL, &got, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        got != n + CURSOR_MAC_LEN)
        return ASSET_PARAM_VERIFICATION_FAILED;
    cursor_mac(mac, s, context, raw, n);
    if (sodium_memcmp(mac, raw + n, CURSOR_MAC_LEN) != 0)
        return ASSET_PARAM_VERIFICATION_FAILED;
    memcpy(pos, raw, n);
    return ASSET_OK;
}

/* The alias hash the audit log keeps, made by the audit's own code so the two always agree
 * (nobody: a zeroed admin principal, which names no device or owner). */
static void alias_hash(char out[65], svc *s, const principal *nobody, asset_text alias)
{
    audit_event ev;
    audit_event_init(&ev, s, nobody, "", NULL, 0, alias.p, alias.n);
    memcpy(out, ev.alias_hash, 65);
}

static void put_u32(unsigned char out[4], uint32_t v)
{
    for (int k = 0; k < 4; k++)
        out[k] = (unsigned char)(v >> (8 * k));
}

static uint32_t get_u32(const unsigned char in[4])
{
    uint32_t v = 0;
    for (int k = 0; k < 4; k++)
        v |= (uint32_t)in[k] << (8 * k);
    return v;
}

/* The records of restore_id (all: inherited too, or only those it decided), in ordinal order,
 * with the owner filter when owner_kind >= 0. */
static asset_err list_records(svc *s, const char *restore_id, bool decided_only, int owner_kind,
                              asset_text owner, bool enc, const records_query *q,
                              const char *context, bool hash, records_page *out)
{
    unsigned char pos[4] = {0};
    char after[24], outcome[16], rule[16], kind[16], lim[24];
    asset_err e = ASSET_OK;
    if (q->cursor.n && (e = sync_cursor_decode(s, context, q->cursor, pos, sizeof pos)) != ASSET_OK)
        return e;
    snprintf(after, sizeof after, "%ld", q->cursor.n ? (long)get_u32(pos) : -1L);
    snprintf(outcome, sizeof outcome, "%d", q->outcome);
    snprintf(rule, sizeof rule, "%d", q->rule);
    snprintf(kind, sizeof kind, "%d", owner_kind);
    snprintf(lim, sizeof lim, "%ld", q->limit + 1);
    const char *vals[] = {restore_id,
                          after,
                          outcome,
                          rule,
                          kind,
                          owner.p ? owner.p : "",
                          enc ? "t" : "f",
                          decided_only ? "t" : "f",
                          lim};
    const int lens[] = {0, 0, 0, 0, 0, (int)owner.n, 0, 0, 0}, fmts[] = {0, 0, 0, 0, 0, 1, 0, 0, 0};
    e = db_run_sql(s->pool,
                   "SELECT x.ordinal, x.owner_kind, x.owner, x.attr_enc, x.rule, b.alias "
                   "FROM restore_records x JOIN restores r ON r.id = x.restore_id "
                   "JOIN backup_records b ON b.backup_id = r.backup_id AND b.ordinal = x.ordinal "
                   "WHERE x.restore_id = $1 AND x.ordinal > $2::int "
                   "AND ($3::int < 0 OR (x.rule = 0) = ($3::int = 0)) "
                   "AND ($4::int = 0 OR x.rule = $4::int) "
                   "AND ($5::int < 0 OR (x.owner_kind = $5::int AND x.owner = $6::text AND "
                   "x.attr_enc = $7::boolean)) AND NOT ($8::boolean AND x.inherited) "
                   "ORDER BY x.ordinal LIMIT $9::int",
                   9, vals, lens, fmts, &out->res);
    if (e != ASSET_OK)
        return e;
    int rows = PQntuples(out->res);
    int n = rows > q->limit ? (int)q->limit : rows;
    static const principal nobody = {.kind = PRINCIPAL_ADMIN};
    if (n && !(out->rows = arena_alloc(&out->mem, (size_t)n * sizeof *out->rows)))
        return ASSET_OUT_OF_MEMORY;
    for (int i = 0; i < n; i++) {
        record_row *o = &out->rows[i];
        PGresult *r = out->res;
        memset(o, 0, sizeof *o);
        o->owner_kind = atoi(PQgetvalue(r, i, 1));
        o->owner = (asset_text){PQgetvalue(r, i, 2), (size_t)PQgetlength(r, i, 2)};
        o->attr_enc = db_bool(r, i, 3);
        o->rule = atoi(PQgetvalue(r, i, 4));
        o->alias = (asset_text){PQgetvalue(r, i, 5), (size_t)PQgetlength(r, i, 5)};
        if (hash)
            alias_hash(o->alias_hash, s, &nobody, o->alias);
        out->n++;
    }
    if (rows > n) {
        put_u32(pos, (uint32_t)atol(PQgetvalue(out->res, n - 1, 0)));
        if (!(out->next_cursor = sync_cursor_encode(s, context, pos, sizeof pos, &out->mem)))
            return ASSET_OUT_OF_MEMORY;
    }
    return ASSET_OK;
}

asset_err sync_restore_records(svc *s, const char *id, const records_query *q, records_page *out)
{
    char context[128];
    memset(out, 0, sizeof *out);
    snprintf(context, sizeof context, "restore|%s|%d|%d", id, q->outcome, q->rule);
    asset_err e =
        list_records(s, id, true, -1, (asset_text){NULL, 0}, false, q, context, true, out);
    if (e != ASSET_OK)
        records_page_free(out);
    return e;
}

asset_err sync_result_records(svc *s, const principal *p, asset_text group, bool enc,
                              const records_query *q, records_page *out)
{
    sync_result res;
    memset(out, 0, sizeof *out);
    asset_err e = sync_result_get(s, p, group, enc, &res);
    if (e != ASSET_OK || !res.has_restore)
        return e;
    asset_text owner = group.n ? group : (asset_text){p->app_id, strlen(p->app_id)};
    /* Bound to the installation, the owner and the restore: another's cursor is refused. */
    char *context = arena_alloc(&out->mem, owner.n + 160);
    if (!context)
        return ASSET_OUT_OF_MEMORY;
    snprintf(context, owner.n + 160, "app|%" PRId64 "|%d|%d|%s|%d|%d|%.*s", p->installation_id,
             group.n ? 1 : 0, enc, res.restore_id, q->outcome, q->rule, (int)owner.n, owner.p);
    e = list_records(s, res.restore_id, false, group.n ? OWNER_GROUP : OWNER_APP, owner, enc, q,
                     context, false, out);
    if (e != ASSET_OK)
        records_page_free(out);
    return e;
}

void records_page_free(records_page *pg)
{
    if (!pg)
        return;
    PQclear(pg->res);
    arena_free(&pg->mem);
    memset(pg, 0, sizeof *pg);
}
