/* rules: the device-condition rules of spec §6 and §7, as pure functions (no I/O, no state).
 * Local access and the sync worker both decide with these, so they can never disagree. */
#ifndef ASSETD_RULES_H
#define ASSETD_RULES_H

#include <stdbool.h>

typedef enum {
    ACCESSIBILITY_DEVICE_POWERED_ON = 0,
    ACCESSIBILITY_DEVICE_FIRST_UNLOCKED = 1,
    ACCESSIBILITY_DEVICE_UNLOCKED = 2,
} asset_accessibility;

typedef enum { AUTH_TYPE_NONE = 0, AUTH_TYPE_ANY = 0xff } asset_auth_type;

/* A device's state as set through PUT /devices/{id}/state. */
typedef struct {
    bool lock_screen_password_set;
    bool screen_locked;
    bool unlocked_since_boot;
} device_state;

/* The attributes of an asset the rules look at. */
typedef struct {
    asset_accessibility accessibility;
    bool require_password_set;
    asset_auth_type auth_type;
} access_attrs;

/* Why a restore refused a record: the first failing rule of the §7 table, in its order. */
typedef enum {
    RULE_OK = 0,
    RULE_PASSWORD,
    RULE_UNLOCKED,
    RULE_USER_AUTH,
    RULE_FIRST_UNLOCK,
    RULE_COUNT
} restore_rule;

/* Effective state (§6): without a lock-screen password nothing is ever locked. */
bool rules_device_locked(const device_state *s);
bool rules_device_first_unlocked(const device_state *s);

/* §6: may an asset with these attributes be touched (its secret) on a device in state s? */
bool rules_accessible(const access_attrs *a, const device_state *s);

/* §7: decide one participating record of a restore from OLD (state in the backup) to NEW. */
restore_rule rules_check_restore(const access_attrs *a, const device_state *old_dev,
                                 const device_state *new_dev);

/* "password", "unlocked", "user_auth", "first_unlock" (the names in GET /restores); "ok". */
const char *rules_name(restore_rule r);

#endif
