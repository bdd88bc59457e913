/* asset_get: GET /assets/{alias} for many callers at once (a group read).
 *
 * The HTTP edge hands over the reads by alias that arrived together (api/dispatch.c). One
 * statement looks all of them up, each remembered principal checked in it once
 * (store_group_get), and each asset is then opened and checked as assets_query opens one. So a
 * read costs the database a share of one statement, and its request worker a share of one round
 * trip. A read the statement cannot answer — its principal turned out stale, or its request is
 * refused before any statement (a group it is not in) — runs alone through assets_query, which
 * answers it as it answers any read.
 *
 * Each item's answer (out) is the same as assets_query's for it, and borrows the request q and
 * the group's rows: asset_get_group_clear() frees all of it. */
#ifndef ASSETD_ASSET_GET_H
#define ASSETD_ASSET_GET_H

#include "asset_ops.h"

/* The most reads one statement looks up. */
#define ASSET_GET_GROUP_MAX CONFIG_GROUP_READ_MAX

typedef struct {
    const principal *p; /* borrowed */
    const asset_req *q; /* OP_GET_ONE, with the alias; borrowed */
    asset_err err;      /* ASSET_OK: out holds the asset */
    asset_list out;
} asset_get_item;

typedef struct {
    asset_get_item *items;
    int n;         /* at most ASSET_GET_GROUP_MAX */
    PGresult *res; /* the rows the items' answers point into */
} asset_get_group;

/* Answers every item of g: its err and out. */
void assets_get_group(svc *s, asset_get_group *g);
/* Frees every item's answer and the group's rows. NULL-safe. */
void asset_get_group_clear(asset_get_group *g);
/* What group reads did so far in this process: statements run, and the reads they looked up
 * (the metrics; reads / statements is the mean group). */
void assets_get_group_counts(uint64_t *statements, uint64_t *reads);

#endif
