/* audit: the audit log (who, what, when, which alias as a keyed hash, outcome), and its policy.
 *
 * The policy is one table (audit.c, audit_ops): for each operation (the operationIds of
 * openapi.yaml, plus the service's own expireBackup) its action name and when a call of it is
 * recorded:
 *   AUDIT_NEVER        not recorded;
 *   AUDIT_CHANGE       a change: the operation records its success itself, inside the transaction
 *                      of the change (an audit_event made by audit_event_for, written by the
 *                      store statement that makes the change or by audit_append on the same
 *                      connection); its refusals are recorded after the fact (audit_call_done);
 *   AUDIT_CALL         every call, after the fact, whatever its outcome;
 *   AUDIT_SECRET_READ  a call that asks for a secret, after the fact.
 * A batch operation records each item as the single operation does (its item_op): written items
 * inside the transaction, refused items after it.
 *
 * After the fact means audit_record: queued for a background writer, for secret reads and
 * refusals, where nothing changed that the record must commit with. The SQL is
 * store/store_audit.c's. */
#ifndef ASSETD_AUDIT_H
#define ASSETD_AUDIT_H

#include "arena.h"
#include "store/store_audit.h"
#include "svc.h"

typedef enum { AUDIT_NEVER, AUDIT_CHANGE, AUDIT_CALL, AUDIT_SECRET_READ } audit_when;

typedef enum {
    AUDIT_OP_NONE, /* not an operation of the table: never recorded */
    AUDIT_OP_GET_HEALTH,
    AUDIT_OP_GET_READINESS,
    AUDIT_OP_GET_METRICS,
    AUDIT_OP_GET_OPENAPI,
    AUDIT_OP_ADD_ASSET,
    AUDIT_OP_LIST_ASSETS,
    AUDIT_OP_DELETE_ASSETS,
    AUDIT_OP_PRE_QUERY,
    AUDIT_OP_AUTH_QUERY,
    AUDIT_OP_POST_QUERY,
    AUDIT_OP_BATCH_ADD,
    AUDIT_OP_BATCH_UPDATE,
    AUDIT_OP_BATCH_REMOVE,
    AUDIT_OP_GET_ASSET,
    AUDIT_OP_UPDATE_ASSET,
    AUDIT_OP_DELETE_ASSET,
    AUDIT_OP_GET_SYNC_RESULT,
    AUDIT_OP_LIST_SYNC_RESULT_RECORDS,
    AUDIT_OP_CREATE_DEVICE,
    AUDIT_OP_GET_DEVICE,
    AUDIT_OP_DELETE_DEVICE,
    AUDIT_OP_ROTATE_DEVICE_TOKEN,
    AUDIT_OP_SET_DEVICE_STATE,
    AUDIT_OP_SET_USER_AUTH_KEY,
    AUDIT_OP_INSTALL_APP,
    AUDIT_OP_UNINSTALL_APP,
    AUDIT_OP_ROTATE_APP_TOKEN,
    AUDIT_OP_CREATE_BACKUP,
    AUDIT_OP_LIST_BACKUPS,
    AUDIT_OP_GET_BACKUP,
    AUDIT_OP_DELETE_BACKUP,
    AUDIT_OP_EXPIRE_BACKUP,
    AUDIT_OP_CREATE_RESTORE,
    AUDIT_OP_PREVIEW_RESTORE,
    AUDIT_OP_GET_RESTORE,
    AUDIT_OP_LIST_RESTORE_RECORDS,
    AUDIT_OP_RETRY_RESTORE,
    AUDIT_OP_LIST_AUDIT_EVENTS,
    AUDIT_OP_COUNT_
} audit_op;

/* The action name recorded for op (its operationId); "" for AUDIT_OP_NONE. */
const char *audit_action(audit_op op);
/* The operation whose action name (operationId) is name; AUDIT_OP_NONE when none is. */
audit_op audit_op_named(const char *name);
/* How op's calls are recorded. */
audit_when audit_when_of(audit_op op);
/* What each item of batch operation op is recorded as; op itself for other operations. */
audit_op audit_item_op(audit_op op);

/* An event of operation op by principal p: the event a change writes in its transaction, and the
 * one audit_call_done records. Owner and alias (n == 0 / NULL: none) as given. */
void audit_event_for(audit_event *ev, const svc *s, const principal *p, audit_op op,
                     const char *group, size_t group_len, const char *alias, size_t alias_len);
/* The same for an action named by the caller (audit_action(op) is the name of an operation). */
void audit_event_init(audit_event *ev, const svc *s, const principal *p, const char *action,
                      const char *group, size_t group_len, const char *alias, size_t alias_len);
/* The alias hash an event of alias[0..n) records (hex). */
void audit_alias_hash(char out[65], const svc *s, const char *alias, size_t n);

/* A finished call, as the caller of the operation saw it (the HTTP side fills it from the
 * request: NULL / 0 for what the request does not name). */
typedef struct {
    audit_op op;
    bool refused;     /* the call was refused ... */
    asset_err err;    /* ... with this error */
    bool asks_secret; /* the call asked for a secret (returnType ALL) */
    const char *alias, *group;
    size_t alias_len, group_len;
    const char *device_id; /* a valid device id the call concerns, or NULL */
} audit_call;

/* Whether the policy records call after the fact (then audit_call_done records it): a refused
 * change, any call of an AUDIT_CALL operation, a secret read. */
bool audit_call_recorded(const audit_call *call);
/* Records call by p after the fact when audit_call_recorded says so; outcome "ok" or the name of
 * the refusal's error. */
void audit_call_done(svc *s, const principal *p, const audit_call *call);

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

/* Events with id > after_id, oldest first, at most limit. audit_page_free releases. */
WUR asset_err audit_list(svc *s, int64_t after_id, long limit, audit_page *out);

#endif
