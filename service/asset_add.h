/* asset_add: adding one asset (POST /assets, assets_add in asset_ops.h), with group commit.
 *
 * An add that is ready to be written (sealed, its audit event made) joins a queue. Whoever finds
 * no write of the queue under way leads: it takes the adds queued (up to
 * ASSETD_GROUP_COMMIT_MAX, at most one per alias key) and writes them in one transaction
 * (store/store_group.h), then wakes each with its own outcome — 201, 200 (OVERWRITE), 409
 * DUPLICATED, 401 — and the first add still queued to lead the next group. So concurrent adds
 * share one commit (one WAL flush, a handful of statements) and an add that arrives alone is
 * written at once, alone. If the database refuses the group's transaction, each of its adds runs
 * again in a transaction of its own: one bad row never fails its neighbours (if the database is
 * unreachable or too slow, all get that answer at once).
 *
 * With ASSETD_MAX_ASSETS set, adds are not grouped: each counts its store under the store's
 * lock in its own transaction. */
#ifndef ASSETD_ASSET_ADD_H
#define ASSETD_ASSET_ADD_H

#include "svc.h"

/* The group of s (s->adds), NULL when off (max <= 1, or a store limit set). 0, or -1 when out of
 * memory. */
WUR int add_group_start(svc *s);
/* NULL-safe; no add may be waiting. */
void add_group_stop(svc *s);
/* What group commit did so far: transactions written, and the adds they held (the metrics;
 * adds / transactions is the mean group size). 0s when off. */
void add_group_counts(svc *s, uint64_t *transactions, uint64_t *adds);

#endif
