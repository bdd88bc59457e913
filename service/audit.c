#include "audit.h"

#include "asset_req.h"
#include "log.h"
#include "store/db_listen.h"
#include "store/store_audit.h"

#include <pthread.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The policy: every operation, its action name and when its calls are recorded (audit.h). */
static const struct {
    const char *action;
    audit_when when;
    audit_op item; /* a batch: what each item is recorded as */
} audit_ops[AUDIT_OP_COUNT_] = {
    [AUDIT_OP_NONE] = {"", AUDIT_NEVER},
    [AUDIT_OP_GET_HEALTH] = {"getHealth", AUDIT_NEVER},
    [AUDIT_OP_GET_READINESS] = {"getReadiness", AUDIT_NEVER},
    [AUDIT_OP_GET_METRICS] = {"getMetrics", AUDIT_NEVER},
    [AUDIT_OP_GET_OPENAPI] = {"getOpenApi", AUDIT_NEVER},
    [AUDIT_OP_ADD_ASSET] = {"addAsset", AUDIT_CHANGE},
    [AUDIT_OP_LIST_ASSETS] = {"listAssets", AUDIT_SECRET_READ},
    [AUDIT_OP_DELETE_ASSETS] = {"deleteAssets", AUDIT_CHANGE},
    [AUDIT_OP_PRE_QUERY] = {"preQueryAssets", AUDIT_CALL},
    /* always hands out secrets */
    [AUDIT_OP_AUTH_QUERY] = {"queryAssetsWithAuth", AUDIT_CALL},
    [AUDIT_OP_POST_QUERY] = {"postQueryAssets", AUDIT_CALL},
    [AUDIT_OP_BATCH_ADD] = {"batchAddAssets", AUDIT_CHANGE, AUDIT_OP_ADD_ASSET},
    [AUDIT_OP_BATCH_UPDATE] = {"batchUpdateAssets", AUDIT_CHANGE, AUDIT_OP_UPDATE_ASSET},
    [AUDIT_OP_BATCH_REMOVE] = {"batchRemoveAssets", AUDIT_CHANGE, AUDIT_OP_DELETE_ASSET},
    [AUDIT_OP_GET_ASSET] = {"getAsset", AUDIT_SECRET_READ},
    [AUDIT_OP_UPDATE_ASSET] = {"updateAsset", AUDIT_CHANGE},
    [AUDIT_OP_DELETE_ASSET] = {"deleteAsset", AUDIT_CHANGE},
    [AUDIT_OP_GET_SYNC_RESULT] = {"getSyncResult", AUDIT_NEVER},
    [AUDIT_OP_LIST_SYNC_RESULT_RECORDS] = {"listSyncResultRecords", AUDIT_CALL},
    [AUDIT_OP_CREATE_DEVICE] = {"createDevice", AUDIT_CALL},
    [AUDIT_OP_GET_DEVICE] = {"getDevice", AUDIT_NEVER},
    [AUDIT_OP_DELETE_DEVICE] = {"deleteDevice", AUDIT_CALL},
    [AUDIT_OP_ROTATE_DEVICE_TOKEN] = {"rotateDeviceToken", AUDIT_CALL},
    [AUDIT_OP_SET_DEVICE_STATE] = {"setDeviceState", AUDIT_CALL},
    [AUDIT_OP_SET_USER_AUTH_KEY] = {"setUserAuthKey", AUDIT_CALL},
    [AUDIT_OP_INSTALL_APP] = {"installApp", AUDIT_CALL},
    [AUDIT_OP_UNINSTALL_APP] = {"uninstallApp", AUDIT_CALL},
    [AUDIT_OP_ROTATE_APP_TOKEN] = {"rotateAppToken", AUDIT_CALL},
    [AUDIT_OP_CREATE_BACKUP] = {"createBackup", AUDIT_CHANGE},
    [AUDIT_OP_LIST_BACKUPS] = {"listBackups", AUDIT_CALL},
    [AUDIT_OP_GET_BACKUP] = {"getBackup", AUDIT_NEVER},
    [AUDIT_OP_DELETE_BACKUP] = {"deleteBackup", AUDIT_CHANGE},
    /* the service's own: a backup past its expiry, deleted by the sweep */
    [AUDIT_OP_EXPIRE_BACKUP] = {"expireBackup", AUDIT_CHANGE},
    [AUDIT_OP_CREATE_RESTORE] = {"createRestore", AUDIT_CHANGE},
    [AUDIT_OP_PREVIEW_RESTORE] = {"previewRestore", AUDIT_CALL},
    [AUDIT_OP_GET_RESTORE] = {"getRestore", AUDIT_NEVER},
    [AUDIT_OP_LIST_RESTORE_RECORDS] = {"listRestoreRecords", AUDIT_CALL},
    [AUDIT_OP_RETRY_RESTORE] = {"retryRestore", AUDIT_CHANGE},
    [AUDIT_OP_LIST_AUDIT_EVENTS] = {"listAuditEvents", AUDIT_NEVER},
};

static bool op_valid(audit_op op)
{
    return (unsigned)op < AUDIT_OP_COUNT_;
}

const char *audit_action(audit_op op)
{
    return op_valid(op) ? audit_ops[op].action : "";
}

audit_op audit_op_named(const char *name)
{
    for (int op = AUDIT_OP_NONE + 1; name && op < AUDIT_OP_COUNT_; op++)
        if (strcmp(audit_ops[op].action, name) == 0)
            return (audit_op)op;
    return AUDIT_OP_NONE;
}

audit_when audit_when_of(audit_op op)
{
    return op_valid(op) ? audit_ops[op].when : AUDIT_NEVER;
}

audit_op audit_item_op(audit_op op)
{
    return op_valid(op) && audit_ops[op].item != AUDIT_OP_NONE ? audit_ops[op].item : op;
}

static const char *principal_name(const principal *p)
{
    return p->kind == PRINCIPAL_ADMIN    ? "admin"
           : p->kind == PRINCIPAL_DEVICE ? "device"
                                         : "installation";
}

/* A keyed hash (hex) of bytes, so events about the same alias or group can be linked without
 * storing them. domain keeps alias and group hashes apart. */
static void keyed_hash_hex(char out[65], const svc *s, int domain, const char *p, size_t n)
{
    unsigned char h[32], key[32];
    crypto_kdf_derive_from_key(key, sizeof key, (uint64_t)domain, "assetaud", s->token_key);
    crypto_generichash(h, sizeof h, (const unsigned char *)p, n, key, sizeof key);
    sodium_bin2hex(out, 65, h, sizeof h);
    sodium_memzero(key, sizeof key);
}

void audit_event_init(audit_event *ev, const svc *s, const principal *p, const char *action,
                      const char *group, size_t group_len, const char *alias, size_t alias_len)
{
    memset(ev, 0, sizeof *ev);
    ev->principal = principal_name(p);
    ev->action = action;
    if (p->kind != PRINCIPAL_ADMIN)
        snprintf(ev->device_id, sizeof ev->device_id, "%s", p->device_id);
    /* The group comes from the caller and may be refused for being malformed: only a valid
     * group id is written as text; anything else as a hash, so no input can make the event
     * unwritable (invalid UTF-8, NUL, over-long) and the audit still links repeated attempts. */
    if (group && group_len && group_len >= ASSET_GROUP_MIN && group_len <= ASSET_GROUP_MAX &&
        text_valid_utf8(group, group_len))
        snprintf(ev->owner, sizeof ev->owner, "group:%.*s", (int)group_len, group);
    else if (group && group_len) {
        char hex[65];
        keyed_hash_hex(hex, s, 3, group, group_len);
        snprintf(ev->owner, sizeof ev->owner, "group-hash:%s", hex);
    } else if (p->kind == PRINCIPAL_INSTALLATION)
        snprintf(ev->owner, sizeof ev->owner, "app:%s", p->app_id);
    if (alias && alias_len)
        audit_alias_hash(ev->alias_hash, s, alias, alias_len);
}

void audit_event_for(audit_event *ev, const svc *s, const principal *p, audit_op op,
                     const char *group, size_t group_len, const char *alias, size_t alias_len)
{
    audit_event_init(ev, s, p, audit_action(op), group, group_len, alias, alias_len);
}

void audit_alias_hash(char out[65], const svc *s, const char *alias, size_t n)
{
    keyed_hash_hex(out, s, 2, alias, n);
}

bool audit_call_recorded(const audit_call *call)
{
    switch (audit_when_of(call->op)) {
    case AUDIT_CALL:
        return true;
    case AUDIT_CHANGE: /* its success recorded itself, in its transaction */
        return call->refused;
    case AUDIT_SECRET_READ:
        return call->asks_secret;
    case AUDIT_NEVER:
        break;
    }
    return false;
}

void audit_call_done(svc *s, const principal *p, const audit_call *call)
{
    audit_event ev;
    if (!audit_call_recorded(call))
        return;
    audit_event_for(&ev, s, p, call->op, call->group, call->group_len, call->alias,
                    call->alias_len);
    if (call->device_id)
        snprintf(ev.device_id, sizeof ev.device_id, "%s", call->device_id);
    audit_record(s, &ev, call->refused ? asset_err_name(call->err) : "ok");
}

asset_err audit_append(db_conn *c, const audit_event *ev, const char *outcome)
{
    return store_audit_append(c, ev, outcome);
}

#define QUEUE_MAX 4096
#define FLUSH_MAX 256
/* How long the first event of a batch waits for others. */
#define GATHER_MS 10

typedef audit_entry queued;

struct audit_writer {
    pthread_mutex_t mu;
    pthread_cond_t has_work, has_room;
    queued *q;
    int head, count;
    bool stop;
    pthread_t thread;
    svc *s;
    db_conn c; /* its own, outside the pool (db_listen.h, no channel) */
};

void audit_record(svc *s, const audit_event *ev, const char *outcome)
{
    struct audit_writer *w = s->audit;
    if (!w) {
        log_error("audit record lost", LOG_STR("action", ev->action));
        return;
    }
    pthread_mutex_lock(&w->mu);
    while (w->count == QUEUE_MAX && !w->stop)
        pthread_cond_wait(&w->has_room, &w->mu);
    queued *slot = &w->q[(w->head + w->count) % QUEUE_MAX];
    slot->ev = *ev;
    snprintf(slot->outcome, sizeof slot->outcome, "%s", outcome);
    w->count++;
    /* The writer sleeps until the first event of a batch, then lets the batch gather for
     * GATHER_MS unless it fills first: only those two moments wake it. A signal per event woke
     * it for every secret read (a context switch per GET, for nothing). */
    if (w->count == 1 || w->count == FLUSH_MAX)
        pthread_cond_signal(&w->has_work);
    pthread_mutex_unlock(&w->mu);
}

/* Writes up to n queued events with one COPY (no statement to parse or plan per batch).
 * DATABASE_ERROR when the database refused the rows; SERVICE_UNAVAILABLE when it could not be
 * reached (the connection is then dropped). */
static asset_err flush_batch(struct audit_writer *w, const queued *batch, int n)
{
    asset_err e = store_audit_copy(&w->c, batch, n);
    if (!db_listen_ok(&w->c))
        db_listen_close(&w->c);
    return e;
}

static void connect_writer(struct audit_writer *w)
{
    if (db_listen_ok(&w->c))
        return;
    db_listen_close(&w->c);
    if (db_listen_open(&w->c, w->s->cfg->database_url, w->s->cfg->db_timeout_ms, NULL) != ASSET_OK)
        return;
    /* Through a transaction pooler a session setting would stay on a shared server connection
     * and make other clients' commits asynchronous too: there the audit commits synchronously. */
    if (!db_transaction_pooler() && store_audit_commit_async(&w->c) != ASSET_OK)
        db_listen_close(&w->c);
}

/* Writes a batch; when the database refuses it while the connection is fine (a value it will
 * not take), writes the events one by one, so that one bad event never takes its neighbours
 * down; an event refused alone is written once more with only the fields assetd made itself.
 * Returns how many events were lost. */
static int flush_all(struct audit_writer *w, queued *batch, int n)
{
    asset_err e = ASSET_SERVICE_UNAVAILABLE;
    for (int tries = 0; e == ASSET_SERVICE_UNAVAILABLE && tries < 3; tries++) {
        if (tries)
            usleep(100 * 1000);
        connect_writer(w);
        if (w->c.pg)
            e = flush_batch(w, batch, n);
    }
    if (e == ASSET_OK)
        return 0;
    if (e == ASSET_SERVICE_UNAVAILABLE)
        return n;
    /* Refused for its content: retrying the same batch cannot help, its events one by one can. */
    int lost = 0;
    for (int i = 0; i < n && w->c.pg; i++) {
        if (flush_batch(w, &batch[i], 1) == ASSET_OK)
            continue;
        batch[i].ev.owner[0] = 0;
        batch[i].ev.device_id[0] = 0;
        if (!w->c.pg || flush_batch(w, &batch[i], 1) != ASSET_OK)
            lost++;
    }
    return lost;
}

static void *writer_main(void *arg)
{
    struct audit_writer *w = arg;
    queued *batch = malloc(FLUSH_MAX * sizeof *batch);
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (w->count == 0 && !w->stop)
            pthread_cond_wait(&w->has_work, &w->mu);
        if (w->count == 0 && w->stop)
            break;
        if (w->count < FLUSH_MAX && !w->stop) {
            /* Let a burst gather: fewer, larger writes (each COPY is a transaction of its own,
             * whose start and commit cost more than a few rows). */
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += GATHER_MS * 1000000L;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            while (w->count < FLUSH_MAX && !w->stop &&
                   pthread_cond_timedwait(&w->has_work, &w->mu, &until) == 0)
                ;
        }
        int n = w->count < FLUSH_MAX ? w->count : FLUSH_MAX;
        for (int i = 0; batch && i < n; i++)
            batch[i] = w->q[(w->head + i) % QUEUE_MAX];
        pthread_mutex_unlock(&w->mu);
        int lost = batch ? flush_all(w, batch, n) : n;
        if (lost)
            log_error("audit records lost", LOG_INT("count", lost));
        pthread_mutex_lock(&w->mu);
        w->head = (w->head + n) % QUEUE_MAX;
        w->count -= n;
        pthread_cond_broadcast(&w->has_room);
    }
    pthread_mutex_unlock(&w->mu);
    free(batch);
    return NULL;
}

int audit_writer_start(svc *s)
{
    struct audit_writer *w = calloc(1, sizeof *w);
    if (!w || !(w->q = calloc(QUEUE_MAX, sizeof *w->q))) {
        free(w);
        return -1;
    }
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->has_work, NULL);
    pthread_cond_init(&w->has_room, NULL);
    w->s = s;
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
        free(w->q);
        free(w);
        return -1;
    }
    s->audit = w;
    return 0;
}

void audit_writer_stop(svc *s)
{
    struct audit_writer *w = s->audit;
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_broadcast(&w->has_work);
    pthread_cond_broadcast(&w->has_room);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    db_listen_close(&w->c);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->has_work);
    pthread_cond_destroy(&w->has_room);
    free(w->q);
    free(w);
    s->audit = NULL;
}

typedef struct {
    int64_t after_id;
    long limit;
    audit_page *out;
} list_ctx;

static asset_err list_run(db_conn *c, void *arg)
{
    list_ctx *x = arg;
    audit_page_free(x->out); /* a retried attempt starts afresh */
    return store_audit_list(c, x->after_id, x->limit, x->out);
}

asset_err audit_list(svc *s, int64_t after_id, long limit, audit_page *out)
{
    list_ctx x = {after_id, limit, out};
    memset(out, 0, sizeof *out);
    asset_err e = db_run(s->pool, list_run, &x);
    if (e != ASSET_OK)
        audit_page_free(out);
    return e;
}
