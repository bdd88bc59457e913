/* batch: the batch operations of spec §11 (the Kit's batchAdd, batchUpdate, batchRemove) — up to
 * BATCH_MAX items in one transaction. Whole-request errors (duplicate alias, inconsistent
 * attributes, permission, lock state, owner limit) write nothing and say which item caused them
 * (batch_issue); per-item failures (DUPLICATED on add, NOT_FOUND on update) come back in a
 * batch_result while the other items are written. Each item is sealed, written and audited
 * through the same building blocks as the single operation (asset_ops.c), so an item written by a
 * batch is indistinguishable from one written alone.
 *
 * Items come validated (asset_req_finish: OP_ADD for add; OP_UPDATE_SEL selectors plus the alias
 * and OP_UPDATE_MATCH conditions, and OP_UPDATE, for update). batch_result owns its array:
 * batch_result_free() releases it (NULL-safe). */
#ifndef ASSETD_BATCH_H
#define ASSETD_BATCH_H

#include "asset_ops.h"

#define BATCH_MAX 100 /* the Kit's array capacity */

typedef struct {
    size_t index;
    asset_err err;
} batch_fail;

typedef struct {
    batch_fail *fails; /* in ascending index */
    size_t nfail;
} batch_result;

/* Where a whole-request error comes from: item `index` (-1: the batch as a whole), its field
 * (NULL: the item itself), and why, for the problem detail. */
typedef struct {
    long index;
    const char *field;
    char why[128];
} batch_issue;

void batch_result_free(batch_result *r);

WUR asset_err batch_add(svc *s, const principal *p, const asset_req *items, size_t n,
                        batch_result *out, batch_issue *is);
/* sels[i]: the selectors (the same for every item), alias and match conditions of item i;
 * upds[i]: what it sets. */
WUR asset_err batch_update(svc *s, const principal *p, const asset_req *sels, const asset_req *upds,
                           size_t n, batch_result *out, batch_issue *is);
/* sel: the selectors; aliases that do not exist are ignored. */
WUR asset_err batch_remove(svc *s, const principal *p, const asset_req *sel,
                           const asset_text *aliases, size_t n, long *removed, batch_issue *is);

#endif
