/* sync (part 3, spec §12): the restore preview and retries.
 *
 * The preview decides a backup's participating records with rules_check_restore(), the
 * function the worker uses, but once per distinct combination of owner and the attributes the
 * rules read, not once per record: backup_groups holds those combinations with their counts,
 * written (GROUP BY) in the backup's own transaction, so its numbers are the worker's. The preview
 * owns its arena (owners and their names); sync_preview_free releases it.
 *
 * A retry is a new restore job of the same backup over the records the family's latest job
 * refused under a rule NEW's state can change; its per-owner counts start from that job's,
 * less the retried records, so when it finishes each owner's sync result is the original total
 * with the failures that remain. */
#include <stdio.h>
#include <string.h>

#include "../audit.h"
#include "sync.h"
#include "sync_internal.h"

const char *sync_fix_field(int field)
{
    static const char *const names[FIX_COUNT] = {"lockScreenPasswordSet", "screenLocked",
                                                 "unlockedSinceBoot"};
    return field >= 0 && field < FIX_COUNT ? names[field] : "";
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

static asset_err preview_tx(db_conn *c, void *arg)
{
    preview_ctx *x = arg;
    sync_preview *pv = x->out;
    device_state old_dev, new_dev, ideal = {true, false, true};
    store_backup_group *groups = NULL;
    int n = 0;
    long fix_accept[FIX_COUNT] = {0};
    sync_preview_free(pv);
    asset_err e = store_restore_states(c, x->backup_id, x->target_id, &old_dev, &new_dev);
    /* Owners in the order of their rows (consecutive), combinations grouped by SQL. */
    if (e == ASSET_OK)
        e = store_backup_groups(c, x->backup_id, x->sync_bit, &pv->mem, &groups, &n);
    if (e != ASSET_OK)
        return e;
    if (n && !(pv->owners = arena_alloc(&pv->mem, (size_t)n * sizeof *pv->owners)))
        return ASSET_OUT_OF_MEMORY;
    for (int i = 0; i < n; i++) {
        const store_backup_group *g = &groups[i];
        long cnt = g->n;
        preview_owner *o = pv->n_owners ? &pv->owners[pv->n_owners - 1] : NULL;
        if (!o || o->owner_kind != g->owner_kind || o->attr_enc != g->attr_enc ||
            o->owner.n != g->owner.n || memcmp(o->owner.p, g->owner.p, g->owner.n) != 0) {
            o = &pv->owners[pv->n_owners++];
            *o = (preview_owner){g->owner_kind, g->owner, g->attr_enc, 0, 0};
        }
        restore_rule rule = rules_check_restore(&g->attrs, &old_dev, &new_dev);
        o->total += cnt;
        pv->total += cnt;
        if (rule == RULE_OK) {
            pv->accept += cnt;
        } else {
            o->failed += cnt;
            pv->fail += cnt;
            pv->failures[rule] += cnt;
            if (rules_check_restore(&g->attrs, &old_dev, &ideal) != RULE_OK)
                pv->old_bound += cnt;
        }
        for (int f = 0; f < FIX_COUNT; f++) {
            device_state alt = new_dev;
            *fix_slot(&alt, f) = !*fix_slot(&alt, f);
            if (rules_check_restore(&g->attrs, &old_dev, &alt) == RULE_OK)
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
    arena_free(&pv->mem);
    memset(pv, 0, sizeof *pv);
}

/* ---- retry ---- */

typedef struct {
    svc *s;
    const principal *p;
    const char *id;
    restore_info *out;
} retry_ctx;

/* Is a restore of this status finished (done or failed)? */
static bool finished(int status)
{
    return status == RESTORE_DONE || status == RESTORE_FAILED;
}

static asset_err retry_tx(db_conn *c, void *arg)
{
    retry_ctx *x = arg;
    char nid[UUID_TEXT_LEN];
    store_retry_base base;
    memset(x->out, 0, sizeof *x->out);
    asset_err e = store_restore_family(c, x->id, &base);
    if (e != ASSET_OK)
        return e;
    if (!base.found)
        return ASSET_NOT_FOUND;
    /* id itself, or a later retry of its family, is still running */
    if (!finished(base.asked_status) || !finished(base.status))
        return ASSET_IN_PROGRESS;
    int rules = retry_rules(&base.old_state);
    if (!rules)
        return ASSET_NOT_FOUND;
    uuid_new(nid);
    if ((e = store_restore_retry_insert(c, nid, base.base_id, rules, x->id,
                                        x->s->cfg->restore_batch, x->out)) != ASSET_OK)
        return e;
    audit_event ev;
    audit_event_init(&ev, x->s, x->p, "retryRestore", NULL, 0, NULL, 0);
    snprintf(ev.device_id, sizeof ev.device_id, "%s", base.target_id);
    return audit_append(c, &ev, "ok");
}

asset_err sync_restore_retry(svc *s, const principal *p, const char *id, restore_info *out)
{
    retry_ctx x = {s, p, id, out};
    return db_tx(s->pool, DB_READ_COMMITTED, retry_tx, &x);
}
