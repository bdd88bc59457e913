/* store_batch: the SQL of the batch operations (spec §11). Each statement handles every item of
 * a batch at once: the items travel as PostgreSQL arrays in binary format (no quoting, no
 * parsing of hundreds of parameters), are spread into rows with unnest, and each statement
 * writes the audit rows of what it changed in the same statement (so in the same transaction),
 * one per item, exactly as the single operations do. The exception is the common add of aliases
 * that are all new (BATCH_FAIL): two binary COPYs in the caller's transaction, the rows and then
 * their audit rows, which PostgreSQL writes in bulk.
 *
 * Callers pass rows already sealed and label columns already computed, as for store.c. Results
 * are PGresults owned by the caller. */
#ifndef ASSETD_STORE_BATCH_H
#define ASSETD_STORE_BATCH_H

#include "pgparams.h"
#include "store.h"

/* The rows of scope whose alias is one of aliases[0..n), as store_asset_decode() reads them, in
 * insertion order; for_update locks them until the transaction ends. */
WUR asset_err store_batch_select(db_conn *c, const store_scope *sc, const asset_text *aliases,
                                 int n, bool for_update, PGresult **out);

/* Inserts rows recs[pick[k]] (k < n) into scope, each with its label columns cols[pick[k]] and
 * the audit row of ev (principal, action, device, owner) with alias hash hashes[pick[k]].
 * mode: what an alias that exists already does — BATCH_REPLACE replaces it (DO UPDATE, as POST
 * /assets with OVERWRITE), BATCH_SKIP leaves it alone, BATCH_FAIL fails the statement with
 * ASSET_DUPLICATED, which aborts the transaction: the cheapest when no alias is expected to
 * exist, since it looks each alias up once, while inserting, instead of twice (it is a COPY).
 * written[pick[k]] is set true for each item written (the others are left as they are). */
typedef enum { BATCH_FAIL, BATCH_SKIP, BATCH_REPLACE } batch_conflict;

/* The next parameters of ps: one array per column of STORE_ROW_COLS, n elements each, element k
 * from row(ctx, k, &cols) and its label columns cols (shared by the batch and the group
 * inserts, store_group.c). */
typedef const asset_record *(*store_row_at)(const void *ctx, int k, const store_label_cols **cols);
void store_row_arrays(pg_params *ps, int n, store_row_at row, const void *ctx);
WUR asset_err store_batch_insert(db_conn *c, const store_scope *sc, const audit_event *ev,
                                 const asset_record *recs, const store_label_cols *cols,
                                 const char (*hashes)[65], const int *pick, int n,
                                 batch_conflict mode, bool *written);

/* Rewrites the mutable columns of rows recs[pick[k]] (by their seq), as store_asset_update does,
 * refreshing updated_at where touch[pick[k]]; one audit row of ev per row with hashes[pick[k]].
 * *out rows: seq, updateTime in ms. */
WUR asset_err store_batch_update(db_conn *c, const audit_event *ev, const asset_record *recs,
                                 const store_label_cols *cols, const bool *touch,
                                 const char (*hashes)[65], const int *pick, int n, PGresult **out);

/* Deletes the rows of scope with the aliases given, with one audit row of ev per row deleted;
 * *removed: how many. */
WUR asset_err store_batch_delete(db_conn *c, const store_scope *sc, const audit_event *ev,
                                 const asset_text *aliases, const char (*hashes)[65], int n,
                                 long *removed);

/* A row of `COPY assets (STORE_INSERT_COLS) FROM STDIN (FORMAT binary)`: r in scope sc (its
 * alias key computed here), with its label columns cols; device: sc's device id as 16 bytes
 * (copybin_uuid_bytes, once for all the rows of a batch). Batch-add and the restore's chunks
 * (store_chunk.c) write their rows with it. */
void store_copy_asset_row(copybin *b, const unsigned char device[16], const store_scope *sc,
                          const asset_record *r, const store_label_cols *cols);

#endif
