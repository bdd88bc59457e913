/* audit: the audit log (who, what, when, which alias as a keyed hash, outcome). Changes record
 * themselves inside their own transaction (audit_append on the same connection); refused calls
 * and secret reads are recorded after the fact with audit_record. */
#ifndef ASSETD_AUDIT_H
#define ASSETD_AUDIT_H

#include "svc.h"

typedef struct {
    const char *principal;         /* admin | device | installation */
    const char *action;            /* the operationId, e.g. addAsset */
    char device_id[UUID_TEXT_LEN]; /* "" for none */
    char owner[300];               /* app:<appId> | group:<groupId> | group-hash:<hex> | "" */
    char alias_hash[65];           /* hex, "" for none */
} audit_event;

/* An event for principal p doing action; owner and alias (n == 0 / NULL: none) as given. */
void audit_event_init(audit_event *ev, const svc *s, const principal *p, const char *action,
                      const char *group, size_t group_len, const char *alias, size_t alias_len);

/* Appends ev with outcome ("ok" or an error name) on connection c, in its transaction. */
WUR asset_err audit_append(db_conn *c, const audit_event *ev, const char *outcome);
/* Queues ev for the background writer, which appends queued events in batches on its own
 * connection (synchronous_commit off): for secret reads and refusals, where nothing changed that
 * the record must commit with, and which must not add a round trip to the request. A crash may
 * lose the last ~100 ms of them; a full queue makes the caller wait. */
void audit_record(svc *s, const audit_event *ev, const char *outcome);

/* The background writer: started by svc_open, stopped (after a final flush) by svc_close. */
WUR int audit_writer_start(svc *s);
void audit_writer_stop(svc *s);

/* One stored event; the text points into the page that holds it. */
typedef struct {
    int64_t id, at_ms;
    const char *principal, *action, *outcome;
    const char *device_id, *owner, *alias_hash; /* NULL for none */
} audit_row;

typedef struct {
    audit_row *rows; /* n of them */
    int n;
    int64_t next_id; /* 0: no more */
    PGresult *res;   /* what rows point into */
} audit_page;
/* Events with id > after_id, oldest first, at most limit. audit_page_free releases. */
WUR asset_err audit_list(svc *s, int64_t after_id, long limit, audit_page *out);
void audit_page_free(audit_page *pg);

#endif
