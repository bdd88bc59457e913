/* asset_remove: DELETE /assets/{alias} for many callers at once (a group remove).
 *
 * The HTTP edge hands over the removes by alias that arrived together (api/dispatch.c). One
 * statement removes all of them, each asset removed recording its audit event in that statement
 * (store_group_delete): one round trip and one commit for the group, where each alone is a
 * transaction of its own. A remove with an If-Match precondition, or refused before any
 * statement (a group it is not in), runs alone through assets_remove_if, which answers it as it
 * answers any remove. */
#ifndef ASSETD_ASSET_REMOVE_H
#define ASSETD_ASSET_REMOVE_H

#include "asset_get.h"

typedef struct {
    const principal *p;       /* borrowed; authenticated afresh (svc_authenticate) */
    const asset_req *q;       /* OP_REMOVE_ONE, with the alias; borrowed */
    const asset_precond *pre; /* If-Match; borrowed, NULL for none */
    asset_err err;            /* ASSET_OK: removed */
} asset_remove_item;

/* Answers every item of items[0..n) (n at most ASSET_GET_GROUP_MAX): its err. */
void assets_remove_group(svc *s, asset_remove_item *items, int n);
/* What group removes did so far in this process: statements run, and the removes they held. */
void assets_remove_group_counts(uint64_t *statements, uint64_t *removes);

#endif
