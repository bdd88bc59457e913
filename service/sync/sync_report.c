/* sync (part 4, spec §12): the per-record report of restores, and keyset cursors for it and for
 * the backup list. A page owns its arena (rows, their texts, the cursor): records_page_free
 * releases it. The SQL is service/store/store_sync.h's.
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
    int rows = 0;
    asset_err e = ASSET_OK;
    if (q->cursor.n && (e = sync_cursor_decode(s, context, q->cursor, pos, sizeof pos)) != ASSET_OK)
        return e;
    store_records_query sq = {.restore_id = restore_id,
                              .after = q->cursor.n ? (int)get_u32(pos) : -1,
                              .outcome = q->outcome,
                              .rule = q->rule,
                              .owner_kind = owner_kind,
                              .owner = owner,
                              .enc = enc,
                              .decided_only = decided_only,
                              .limit = q->limit + 1};
    if ((e = store_restore_records(s->pool, &sq, &out->mem, &out->rows, &rows)) != ASSET_OK)
        return e;
    static const principal nobody = {.kind = PRINCIPAL_ADMIN};
    out->n = rows > q->limit ? (int)q->limit : rows;
    if (hash)
        for (int i = 0; i < out->n; i++)
            alias_hash(out->rows[i].alias_hash, s, &nobody, out->rows[i].alias);
    if (rows > out->n) {
        put_u32(pos, (uint32_t)out->rows[out->n - 1].ordinal);
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
             group.n ? OWNER_GROUP : OWNER_APP, enc, res.restore_id, q->outcome, q->rule,
             (int)owner.n, owner.p);
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
    arena_free(&pg->mem);
    memset(pg, 0, sizeof *pg);
}
