/* sync (part 3, spec §12): the restore preview and retries.
 *
 * The preview decides a backup's participating records with rules_check_restore(), the
 * function the worker uses, but once per distinct combination of owner and the attributes the
 * rules read, not once per record: backup_groups holds those combinations with their counts,
 * written (GROUP BY) in the backup's own transaction, so its numbers are the worker's. The preview
 * owns its PGresult (owners point into it); sync_preview_free releases it.
 *
 * A retry is a new restore job of the same backup over the records the family's latest job
 * refused under a rule NEW's state can change; its per-owner counts start from that job's,
 * less the retried records, so when it finishes each owner's sync result is the original total
 * with the failures that remain. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../audit.h"
#include "../store/sqlbuf.h"
#include "sync.h"
#include "sync_internal.h"

const char *sync_fix_field(int field)
{
    static const char *const names[FIX_COUNT] = {"lockScreenPasswordSet", "screenLocked",
                                                 "unlockedSinceBoot"};
    return field >= 0 && field < FIX_COUNT ? names[field] : "";
}

/* Is a restore of this status finished (done or failed)? */
static bool finished(const char *status)
{
    int st = sync_status_parse(status);
    return st == RESTORE_DONE || st == RESTORE_FAILED;
}

static bool *fix_slot(device_state *st, int field)
{
    return field == FIX_PASSWORD        ? &st->lock_screen_password_set
           : field == FIX_SCREEN_LOCKED ? &st->screen_locked
                                        : &st->unlocked_since_boot;
}

/* The rules whose failures NEW's state can lift: those whose part on OLD passes (bit 1 << rule).
 * OLD's side of each rule does not depend on the record, only on OLD's state. */
static int retry_rules(const device_state *old_dev)
{
    int rules = 0;
    if (old_dev->lock_screen_password_set)
        rules |= 1 << RULE_PASSWORD;
    if (!rules_device_locked(old_dev))
        rules |= 1 << RULE_UNLOCKED;
    if (rules_device_first_unlocked(old_dev))
        rules |= 1 << RULE_FIRST_UNLOCK;
    return rules;
}

typedef struct {
    const char *backup_id, *target_id;
    int sync_bit;
    sync_preview *out;
} preview_ctx;

static asset_err states(db_conn *c, const char *backup_id, const char *target_id,
                        device_state *old_dev, device_state *new_dev)
{
    PGresult *r = NULL;
    const char *vals[] = {backup_id, target_id};
    asset_err e = db_exec(c,
                          "SELECT b.pwd_set, b.screen_locked, b.unlocked_since_boot, d.pwd_set, "
                          "d.screen_locked, d.unlocked_since_boot FROM backups b, devices d "
                          "WHERE b.id = $1 AND d.id = $2",
                          2, vals, NULL, NULL, &r);
    if (e == ASSET_OK && PQntuples(r) != 1)
        e = ASSET_NOT_FOUND;
    if (e == ASSET_OK) {
        *old_dev = svc_device_state_row(r, 0, 0);
        *new_dev = svc_device_state_row(r, 0, 3);
    }
    PQclear(r);
    return e;
}

static access_attrs row_attrs(PGresult *r, int i)
{
    access_attrs a;
    a.accessibility = (asset_accessibility)atoi(PQgetvalue(r, i, 3));
    a.require_password_set = db_bool(r, i, 4);
    a.auth_type = (asset_auth_type)atoi(PQgetvalue(r, i, 5));
    return a;
}

static asset_err preview_tx(db_conn *c, void *arg)
{
    preview_ctx *x = arg;
    sync_preview *pv = x->out;
    device_state old_dev, new_dev, ideal = {true, false, true};
    char bit[4];
    sync_preview_free(pv);
    asset_err e = states(c, x->backup_id, x->target_id, &old_dev, &new_dev);
    if (e != ASSET_OK)
        return e;
    snprintf(bit, sizeof bit, "%d", x->sync_bit);
    const char *vals[] = {x->backup_id, bit};
    /* Owners in the order of their rows (consecutive), combinations grouped by SQL. */
    if ((e = db_exec(c,
                     "SELECT owner_kind, owner, attr_enc, accessibility, req_pwd, auth_type, "
                     "sum(n) FROM backup_groups WHERE backup_id = $1 AND "
                     "(sync_type & $2::smallint) <> 0 GROUP BY owner_kind, owner, attr_enc, "
                     "accessibility, req_pwd, auth_type ORDER BY owner_kind, owner, attr_enc",
                     2, vals, NULL, NULL, &pv->res)) != ASSET_OK)
        return e;
    int n = PQntuples(pv->res);
    long fix_accept[FIX_COUNT] = {0};
    if (n && !(pv->owners = calloc((size_t)n, sizeof *pv->owners)))
        return ASSET_OUT_OF_MEMORY;
    for (int i = 0; i < n; i++) {
        PGresult *r = pv->res;
        long cnt = atol(PQgetvalue(r, i, 6));
        preview_owner cur = {atoi(PQgetvalue(r, i, 0)),
                             {PQgetvalue(r, i, 1), (size_t)PQgetlength(r, i, 1)},
                             db_bool(r, i, 2),
                             0,
                             0};
        preview_owner *o = pv->n_owners ? &pv->owners[pv->n_owners - 1] : NULL;
        if (!o || o->owner_kind != cur.owner_kind || o->attr_enc != cur.attr_enc ||
            o->owner.n != cur.owner.n || memcmp(o->owner.p, cur.owner.p, cur.owner.n) != 0) {
            o = &pv->owners[pv->n_owners++];
            *o = cur;
        }
        access_attrs a = row_attrs(r, i);
        restore_rule rule = rules_check_restore(&a, &old_dev, &new_dev);
        o->total += cnt;
        pv->total += cnt;
        if (rule == RULE_OK) {
            pv->accept += cnt;
        } else {
            o->failed += cnt;
            pv->fail += cnt;
            pv->failures[rule] += cnt;
            if (rules_check_restore(&a, &old_dev, &ideal) != RULE_OK)
                pv->old_bound += cnt;
        }
        for (int f = 0; f < FIX_COUNT; f++) {
            device_state alt = new_dev;
            *fix_slot(&alt, f) = !*fix_slot(&alt, f);
            if (rules_check_restore(&a, &old_dev, &alt) == RULE_OK)
                fix_accept[f] += cnt;
        }
    }
    for (int f = 0; f < FIX_COUNT; f++)
        if (fix_accept[f] > pv->accept)
            pv->fixes[pv->n_fixes++] = (preview_fix){f, !*fix_slot(&new_dev, f), fix_accept[f]};
    return ASSET_OK;
}

asset_err sync_restore_preview(svc *s, const char *backup_id, const char *target_id,
                               sync_preview *out)
{
    bool same = false;
    memset(out, 0, sizeof *out);
    asset_err e = sync_restore_check(s, backup_id, target_id, &same);
    if (e != ASSET_OK)
        return e;
    preview_ctx x = {backup_id, target_id, same ? SYNC_THIS_DEVICE : SYNC_TRUSTED_DEVICE, out};
    /* One snapshot: the states and the records agree with each other. */
    e = db_tx(s->pool, DB_REPEATABLE_READ, preview_tx, &x);
    if (e != ASSET_OK)
        sync_preview_free(out);
    return e;
}

void sync_preview_free(sync_preview *pv)
{
    if (!pv)
        return;
    PQclear(pv->res);
    free(pv->owners);
    memset(pv, 0, sizeof *pv);
}

/* ---- retry ---- */

typedef struct {
    svc *s;
    const principal *p;
    const char *id;
    restore_info *out;
} retry_ctx;

/* The family's latest job (the base of a retry) and its backup's OLD state. */
static asset_err retry_base(db_conn *c, const char *id, char base[UUID_TEXT_LEN],
                            char target[UUID_TEXT_LEN], device_state *old_dev)
{
    PGresult *r = NULL;
    const char *vals[] = {id};
    /* Locking the family's first job serializes retries of one family; the family is read by
     * the next statement, whose snapshot sees a retry committed while we waited. */
    asset_err e = db_exec(c,
                          "SELECT id FROM restores WHERE id = (SELECT coalesce(retry_root, id) "
                          "FROM restores WHERE id = $1) FOR UPDATE",
                          1, vals, NULL, NULL, &r);
    PQclear(r);
    r = NULL;
    if (e == ASSET_OK)
        e = db_exec(c,
                    "WITH root AS (SELECT coalesce(retry_root, id) AS id FROM restores "
                    "WHERE id = $1) "
                    "SELECT r.id, r.status, r.target_device_id, b.pwd_set, b.screen_locked, "
                    "b.unlocked_since_boot, (SELECT status FROM restores WHERE id = $1) "
                    "FROM restores r JOIN backups b ON b.id = r.backup_id, root "
                    "WHERE r.id = root.id OR r.retry_root = root.id "
                    "ORDER BY r.created_at DESC, (r.id = root.id) LIMIT 1",
                    1, vals, NULL, NULL, &r);
    if (e != ASSET_OK)
        return e;
    if (PQntuples(r) != 1) {
        e = ASSET_NOT_FOUND;
    } else if (!finished(PQgetvalue(r, 0, 6))) {
        e = ASSET_IN_PROGRESS;
    } else if (!finished(PQgetvalue(r, 0, 1))) {
        e = ASSET_IN_PROGRESS; /* a retry of the family is still running */
    } else {
        snprintf(base, UUID_TEXT_LEN, "%s", PQgetvalue(r, 0, 0));
        snprintf(target, UUID_TEXT_LEN, "%s", PQgetvalue(r, 0, 2));
        *old_dev = svc_device_state_row(r, 0, 3);
    }
    PQclear(r);
    return e;
}

static asset_err retry_tx(db_conn *c, void *arg)
{
    retry_ctx *x = arg;
    char base[UUID_TEXT_LEN], target[UUID_TEXT_LEN], rules_s[8], nid[UUID_TEXT_LEN];
    device_state old_dev;
    PGresult *r = NULL;
    memset(x->out, 0, sizeof *x->out);
    asset_err e = retry_base(c, x->id, base, target, &old_dev);
    if (e != ASSET_OK)
        return e;
    int rules = retry_rules(&old_dev);
    if (!rules)
        return ASSET_NOT_FOUND;
    snprintf(rules_s, sizeof rules_s, "%d", rules);
    uuid_new(nid);
    char chunk_s[16];
    snprintf(chunk_s, sizeof chunk_s, "%d", x->s->cfg->restore_batch);
    const char *vals[] = {nid, base, rules_s, x->id, chunk_s};
    /* The job, its chunks over the retried records, its owners' counts (the base's, less the
     * retried records, which the worker counts again) and the inherited outcomes of those
     * owners' other records. */
    e = db_exec(c,
                "WITH todo AS (SELECT ordinal, owner_kind, owner, attr_enc FROM restore_records "
                "WHERE restore_id = $2 AND ((1 << rule) & $3::int) <> 0), "
                "ins AS (INSERT INTO restores (id, backup_id, target_device_id, sync_bit, total, "
                "retry_of, retry_root, retry_base, retry_rules) "
                "SELECT $1, p.backup_id, p.target_device_id, p.sync_bit, "
                "(SELECT count(*) FROM todo), $4, coalesce(p.retry_root, p.id), p.id, "
                "$3::smallint FROM restores p WHERE p.id = $2 AND EXISTS (SELECT 1 FROM todo) "
                "AND EXISTS (SELECT 1 FROM devices d WHERE d.id = p.target_device_id) "
                "RETURNING " RESTORE_COLS "), "
                "ch AS (INSERT INTO restore_chunks (restore_id, chunk, first_ordinal, "
                "last_ordinal) SELECT ins.id, g, min(ordinal), max(ordinal) FROM ins, "
                "(SELECT ordinal, (row_number() OVER (ORDER BY ordinal) - 1) / $5::int AS g "
                "FROM todo) t GROUP BY ins.id, g), "
                "oc AS (INSERT INTO restore_owner_counts (restore_id, owner_kind, owner, "
                "attr_enc, total, failed) SELECT ins.id, o.owner_kind, o.owner, o.attr_enc, "
                "o.total - t.n, o.failed - t.n FROM ins, restore_owner_counts o JOIN "
                "(SELECT owner_kind, owner, attr_enc, count(*) AS n FROM todo "
                "GROUP BY owner_kind, owner, attr_enc) t USING (owner_kind, owner, attr_enc) "
                "WHERE o.restore_id = $2), "
                "inh AS (INSERT INTO restore_records (restore_id, ordinal, owner_kind, owner, "
                "attr_enc, rule, inherited) SELECT ins.id, x.ordinal, x.owner_kind, x.owner, "
                "x.attr_enc, x.rule, true FROM ins, restore_records x "
                "WHERE x.restore_id = $2 AND ((1 << x.rule) & $3::int) = 0 AND "
                "(x.owner_kind, x.owner, x.attr_enc) IN (SELECT owner_kind, owner, attr_enc "
                "FROM todo)), "
                "n AS (SELECT pg_notify('assetd_restores', id::text) FROM ins) "
                "SELECT ins.* FROM ins, (SELECT count(*) FROM n) nn",
                5, vals, NULL, NULL, &r);
    if (e != ASSET_OK)
        return e;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return ASSET_NOT_FOUND;
    }
    sync_read_restore(r, x->out);
    PQclear(r);
    audit_event ev;
    audit_event_init(&ev, x->s, x->p, "retryRestore", NULL, 0, NULL, 0);
    snprintf(ev.device_id, sizeof ev.device_id, "%s", target);
    return audit_append(c, &ev, "ok");
}

asset_err sync_restore_retry(svc *s, const principal *p, const char *id, restore_info *out)
{
    retry_ctx x = {s, p, id, out};
    return db_tx(s->pool, DB_READ_COMMITTED, retry_tx, &x);
}
