/* asset_ops: the asset operations of spec §4 for an app installation — add, query, get, update,
 * remove — with the access rules of §6, conflict handling, sealing, blind indexes and keyset
 * cursors. Requests come validated (asset_req_finish); results come back as an asset_list.
 *
 * An asset_list owns its memory (arena, database result) and borrows the request's text, so
 * the request must outlive it. asset_list_free() wipes and frees; it is NULL-safe and leaves an
 * empty list. On failure a call leaves the list empty and writes nothing to the database. */
#ifndef ASSETD_ASSETS_H
#define ASSETD_ASSETS_H

#include "crypto/record.h"
#include "store/store.h"
#include "svc.h"

typedef struct {
    asset_record rec;
    bool has_group;              /* rec.owner is the group id */
    const unsigned char *secret; /* set when the secret is returned */
    size_t secret_len;
} asset_out;

typedef struct {
    asset_out *items;
    size_t n;
    const char *next_cursor; /* NULL: no more pages */
    bool replaced;           /* add: an existing alias was overwritten */
    arena mem;
    PGresult *res;
} asset_list;

void asset_list_free(asset_list *l);

/* POST /assets: written together with concurrent adds, in one transaction (asset_add.h). */
WUR asset_err assets_add(svc *s, const principal *p, const asset_req *q, asset_list *out);
/* GET /assets (q from OP_QUERY) and GET /assets/{alias} (q from OP_GET_ONE with the alias). */
WUR asset_err assets_query(svc *s, const principal *p, const asset_req *q, asset_list *out);
/* An If-Match precondition (spec §13): `any` for "*", else the strong versions listed (weak
 * tags never match, so they are not listed; n may be 0 and then nothing matches). When present
 * and the asset is missing or its version is not listed: PRECONDITION_FAILED, nothing written.
 * The check is made on the row locked (update) or in the statement (remove) that writes. */
#define ASSET_PRECOND_MAX 32
typedef struct {
    bool present, any;
    int n;
    int64_t v[ASSET_PRECOND_MAX];
} asset_precond;

/* Whether an asset at version passes pre (absent, "*", or the version listed). */
bool asset_precond_holds(const asset_precond *pre, int64_t version);

/* sel: alias and selectors; upd: the fields to set (OP_UPDATE). */
WUR asset_err assets_update(svc *s, const principal *p, const asset_req *sel, const asset_req *upd,
                            asset_list *out);
/* The same under an If-Match precondition (NULL: none). */
WUR asset_err assets_update_if(svc *s, const principal *p, const asset_req *sel,
                               const asset_req *upd, const asset_precond *pre, asset_list *out);
/* DELETE /assets?filters and DELETE /assets/{alias} (one): NOT_FOUND when nothing matched. */
WUR asset_err assets_remove(svc *s, const principal *p, const asset_req *q, bool one,
                            long *removed);
/* The same under an If-Match precondition (NULL: none). */
WUR asset_err assets_remove_if(svc *s, const principal *p, const asset_req *q, bool one,
                               const asset_precond *pre, long *removed);

/* An operation as principal p; *stale: p was unverified (svc_authenticate_deferred) and turned
 * out not to be current, so nothing was done. */
typedef asset_err (*assets_as_fn)(svc *s, const principal *p, const asset_req *q, asset_list *out,
                                  bool *stale);
/* Runs op as p and, if p was stale, once more as its token's owner read afresh (shared with
 * asset_add.c). */
WUR asset_err assets_as_current(svc *s, const principal *p, const asset_req *q, asset_list *out,
                                assets_as_fn op);

/* Shared with the user-auth flow (challenge.c) and the batch (batch.c): the scope a request
 * selects, checking group membership (PERMISSION_DENIED); the label column values of its filters;
 * opening and checking row i of a select into out (DATA_CORRUPTED if it fails to open; with_secret
 * keeps it). */
WUR asset_err assets_scope(const principal *p, const asset_req *q, store_scope *sc);
void assets_filter_cols(const principal *p, const asset_req *q, store_label_cols *cols);
/* The sealed record an add request q writes into scope sc, and its label columns (sealed parts
 * in arena a): PERMISSION_DENIED (isPersistent without the permission), STATUS_MISMATCH (the
 * device's state forbids writing the secret), CRYPTO_ERROR. Shared with the batch (batch.c). */
WUR asset_err assets_seal_add(const principal *p, const asset_req *q, const store_scope *sc,
                              arena *a, asset_record *r, store_label_cols *cols);
/* Applies update upd to o, a row opened with its secret (assets_open_row) into l: sets the labels,
 * re-seals (in l's arena) and fills cols; *touch says whether updateTime changes.
 * STATUS_MISMATCH when upd sets the secret and the device's state forbids it. */
WUR asset_err assets_apply_update(svc *s, db_conn *c, const principal *p, const asset_req *upd,
                                  asset_list *l, asset_out *o, store_label_cols *cols, bool *touch);
WUR asset_err assets_open_row(svc *s, db_conn *c, const principal *p, PGresult *res, int i,
                              bool with_secret, asset_list *l, asset_out *out);
/* The same for row i of a result already bound (store_asset_rows, or a group's). */
WUR asset_err assets_open_read(svc *s, db_conn *c, const principal *p, const row_reader *rows,
                               int i, bool with_secret, asset_list *l, asset_out *out);
/* Whether p may have the secret of r now (§6): ACCESS_DENIED when r needs user authentication
 * (the query with a challenge is the way), STATUS_MISMATCH when the device's state forbids it. */
WUR asset_err assets_secret_readable(const principal *p, const asset_record *r);

#endif
