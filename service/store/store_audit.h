/* store_audit: the SQL of the audit log (table audit_log, migration 0004). What is recorded,
 * by whom and when is audit.c's policy; this module only writes and reads the rows.
 *
 * A change records itself in the statement (or transaction) that makes it: STORE_AUDIT_INSERT
 * is the audit part of such a statement, its columns given as parameters. A page read back
 * (store_audit_list) owns its memory: audit_page_free() releases it. */
#ifndef ASSETD_STORE_AUDIT_H
#define ASSETD_STORE_AUDIT_H

#include <stdint.h>

#include "../arena.h"
#include "db.h"

/* What a change records of itself, in its own statement or transaction (audit.c makes it). */
typedef struct {
    const char *principal;         /* admin | device | installation */
    const char *action;            /* the operationId, e.g. addAsset */
    char device_id[UUID_TEXT_LEN]; /* "" for none */
    char owner[300];               /* app:<appId> | group:<groupId> | group-hash:<hex> | "" */
    char alias_hash[65];           /* hex, "" for none */
} audit_event;

/* An event and its outcome, as the background writer queues it. */
typedef struct {
    audit_event ev;
    char outcome[40];
} audit_entry;

/* One stored event; the text points into its page's memory. */
typedef struct {
    int64_t id, at_ms;
    const char *principal, *action, *outcome;
    const char *device_id, *owner, *alias_hash; /* NULL for none */
} audit_row;

/* A page of events. It owns everything it points to (rows and their text, in mem):
 * audit_page_free releases it. */
typedef struct {
    audit_row *rows; /* n of them */
    int n;
    int64_t next_id; /* 0: no more */
    arena mem;
} audit_page;
/* NULL-safe; the page is empty and reusable afterwards. */
void audit_page_free(audit_page *pg);

#define STORE_AUDIT_COLS "principal, action, device_id, owner, alias_hash, outcome"

/* An INSERT of one audit row (outcome "ok") per row of `from` (a CTE name, with an ORDER BY if
 * the order matters): p, a, d, o, h are SQL expressions (parameters, or a column of `from`) for
 * the principal, the action, the device ('' for none), the owner ('' for none) and the alias
 * hash ('' for none) — audit_event's fields as they are passed. */
#define STORE_AUDIT_INSERT(p, a, d, o, h, from)                                                    \
    "INSERT INTO audit_log (" STORE_AUDIT_COLS ") SELECT " p ", " a ", NULLIF(" d                  \
    ", '')::uuid, NULLIF(" o ", ''), NULLIF(" h ", ''), 'ok' FROM " from

/* Makes c's commits asynchronous (synchronous_commit off) for the rest of its session: the
 * background writer's records of reads and refusals may lose their last ~100 ms in a crash. */
WUR asset_err store_audit_commit_async(db_conn *c);
/* Appends ev with outcome on c, in its transaction (if any). */
WUR asset_err store_audit_append(db_conn *c, const audit_event *ev, const char *outcome);
/* Appends entries[0..n) with one COPY. */
WUR asset_err store_audit_copy(db_conn *c, const audit_entry *entries, int n);
/* Events with id > after_id, oldest first, at most limit; next_id set when there are more. */
WUR asset_err store_audit_list(db_conn *c, int64_t after_id, long limit, audit_page *out);

#endif
