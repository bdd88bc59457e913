/* asset_update: PATCH /assets/{alias} for many callers at once (a group update).
 *
 * The HTTP edge hands over the updates by alias that arrived together (api/dispatch.c). One
 * transaction locks all their assets with one statement (in alias key order), opens, checks and
 * re-seals each as an update alone does (If-Match against the locked row, §6 when the secret
 * changes), and writes them with one statement, each recording its audit row in it: one commit
 * for the group, where each alone is a transaction of four round trips. An update refused on its
 * own (404, 412, 409 STATUS_MISMATCH, ...) fails alone; if the database refuses the group's
 * transaction, each update runs again alone (assets_update_if), as does one refused before any
 * statement (a group it is not in), selecting more than its alias, or updating an asset another
 * update of the group updates (it runs after the group, on what that one wrote).
 *
 * Each item's answer (out: the asset as written, without its secret) is assets_update_if's for
 * it, and borrows its requests and the group's rows: asset_update_group_clear() frees all. */
#ifndef ASSETD_ASSET_UPDATE_H
#define ASSETD_ASSET_UPDATE_H

#include "asset_get.h"

typedef struct {
    const principal *p;       /* borrowed; authenticated afresh (svc_authenticate) */
    const asset_req *sel;     /* OP_UPDATE_SEL, with the alias; borrowed */
    const asset_req *upd;     /* OP_UPDATE; borrowed */
    const asset_precond *pre; /* If-Match; borrowed, NULL for none */
    asset_err err;            /* ASSET_OK: out holds the asset updated */
    asset_list out;
} asset_update_item;

typedef struct {
    asset_update_item *items;
    int n;         /* at most ASSET_GET_GROUP_MAX */
    PGresult *res; /* the rows the items' answers point into */
} asset_update_group;

/* Answers every item of g: its err and out. */
void assets_update_group(svc *s, asset_update_group *g);
/* Frees every item's answer and the group's rows. NULL-safe. */
void asset_update_group_clear(asset_update_group *g);
/* What group updates did so far in this process: transactions, and the updates they held. */
void assets_update_group_counts(uint64_t *transactions, uint64_t *updates);

#endif
