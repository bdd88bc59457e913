/* store_audit: the SQL of the audit log (see store_audit.h). */
#include "store_audit.h"

#include "row.h"
#include "sqlbuf.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

asset_err store_audit_append(db_conn *c, const audit_event *ev, const char *outcome)
{
    PGresult *r = NULL;
    const char *vals[] = {ev->principal, ev->action,     ev->device_id,
                          ev->owner,     ev->alias_hash, outcome};
    asset_err e = db_exec(c,
                          "INSERT INTO audit_log (" STORE_AUDIT_COLS ") VALUES ($1, $2, "
                          "NULLIF($3, '')::uuid, NULLIF($4, ''), NULLIF($5, ''), $6)",
                          6, vals, NULL, NULL, &r);
    PQclear(r);
    return e;
}

/* "" is none: NULL in the table. */
static void copy_opt(copybuf *b, const char *v)
{
    copybuf_text(b, v[0] ? v : NULL, strlen(v));
}

/* One COPY: no statement to parse or plan per batch of the background writer. */
asset_err store_audit_copy(db_conn *c, const audit_entry *entries, int n)
{
    copybuf b;
    copybuf_init(&b);
    for (int i = 0; i < n; i++) {
        const audit_entry *e = &entries[i];
        copybuf_text(&b, e->ev.principal, strlen(e->ev.principal));
        copybuf_text(&b, e->ev.action, strlen(e->ev.action));
        copy_opt(&b, e->ev.device_id);
        copy_opt(&b, e->ev.owner);
        copy_opt(&b, e->ev.alias_hash);
        copybuf_text(&b, e->outcome, strlen(e->outcome));
        copybuf_row(&b);
    }
    asset_err e = copybuf_send(&b, c, "COPY audit_log (" STORE_AUDIT_COLS ") FROM STDIN");
    copybuf_free(&b);
    return e;
}

enum { A_ID, A_AT_MS, A_PRINCIPAL, A_ACTION, A_DEVICE_ID, A_OWNER, A_ALIAS_HASH, A_OUTCOME, NA };
static const char *const audit_names[NA] = {"id",        "at_ms", "principal",  "action",
                                            "device_id", "owner", "alias_hash", "outcome"};
static const row_type audit_row_type = {audit_names, NA};

/* A text column copied into the page (NULL stays NULL when opt). NULL when out of memory. */
static const char *page_text(audit_page *pg, const row_reader *rows, int i, int k, bool opt,
                             bool *oom)
{
    size_t n = 0;
    if (opt && row_null(rows, i, k))
        return NULL;
    const char *v = row_text(rows, i, k, &n);
    char *p = arena_strndup(&pg->mem, v, n);
    if (!p)
        *oom = true;
    return p;
}

static asset_err decode_page(const row_reader *rows, long limit, audit_page *pg)
{
    bool oom = false;
    pg->n = row_count(rows) > limit ? (int)limit : row_count(rows);
    if (row_count(rows) > limit)
        pg->next_id = row_i64(rows, pg->n - 1, A_ID);
    if (pg->n && !(pg->rows = arena_alloc(&pg->mem, (size_t)pg->n * sizeof *pg->rows)))
        return ASSET_OUT_OF_MEMORY;
    for (int i = 0; i < pg->n; i++)
        pg->rows[i] = (audit_row){
            .id = row_i64(rows, i, A_ID),
            .at_ms = row_i64(rows, i, A_AT_MS),
            .principal = page_text(pg, rows, i, A_PRINCIPAL, false, &oom),
            .action = page_text(pg, rows, i, A_ACTION, false, &oom),
            .device_id = page_text(pg, rows, i, A_DEVICE_ID, true, &oom),
            .owner = page_text(pg, rows, i, A_OWNER, true, &oom),
            .alias_hash = page_text(pg, rows, i, A_ALIAS_HASH, true, &oom),
            .outcome = page_text(pg, rows, i, A_OUTCOME, false, &oom),
        };
    return oom ? ASSET_OUT_OF_MEMORY : ASSET_OK;
}

asset_err store_audit_list(db_conn *c, int64_t after_id, long limit, audit_page *out)
{
    static row_cache cache;
    char after[24], lim[24];
    PGresult *res = NULL;
    row_reader rows;
    snprintf(after, sizeof after, "%" PRId64, after_id);
    snprintf(lim, sizeof lim, "%ld", limit + 1);
    const char *vals[] = {after, lim};
    asset_err e = db_exec(c,
                          "SELECT id, (extract(epoch FROM at) * 1000)::bigint AS at_ms, "
                          "principal, action, device_id, owner, alias_hash, outcome "
                          "FROM audit_log WHERE id > $1 ORDER BY id LIMIT $2",
                          2, vals, NULL, NULL, &res);
    if (e == ASSET_OK && row_bind(&rows, res, &audit_row_type, &cache) != 0)
        e = ASSET_DATABASE_ERROR;
    if (e == ASSET_OK)
        e = decode_page(&rows, limit, out);
    PQclear(res);
    return e;
}

void audit_page_free(audit_page *pg)
{
    if (!pg)
        return;
    arena_free(&pg->mem);
    memset(pg, 0, sizeof *pg);
}

asset_err store_audit_commit_async(db_conn *c)
{
    PGresult *r = NULL;
    asset_err e = db_exec(c, "SET synchronous_commit TO off", 0, NULL, NULL, NULL, &r);
    PQclear(r);
    return e;
}
