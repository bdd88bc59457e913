#include "rules.h"

bool rules_device_locked(const device_state *s)
{
    return s->lock_screen_password_set && s->screen_locked;
}

bool rules_device_first_unlocked(const device_state *s)
{
    return !s->lock_screen_password_set || s->unlocked_since_boot || !s->screen_locked;
}

bool rules_accessible(const access_attrs *a, const device_state *s)
{
    if (a->require_password_set && !s->lock_screen_password_set)
        return false;
    switch (a->accessibility) {
    case ACCESSIBILITY_DEVICE_UNLOCKED:
        return !rules_device_locked(s);
    case ACCESSIBILITY_DEVICE_FIRST_UNLOCKED:
        return rules_device_first_unlocked(s);
    case ACCESSIBILITY_DEVICE_POWERED_ON:
        return true;
    }
    return false;
}

restore_rule rules_check_restore(const access_attrs *a, const device_state *old_dev,
                                 const device_state *new_dev)
{
    if (a->require_password_set &&
        (!old_dev->lock_screen_password_set || !new_dev->lock_screen_password_set))
        return RULE_PASSWORD;
    if (a->accessibility == ACCESSIBILITY_DEVICE_UNLOCKED &&
        (rules_device_locked(old_dev) || rules_device_locked(new_dev)))
        return RULE_UNLOCKED;
    if (a->auth_type == AUTH_TYPE_ANY && !old_dev->lock_screen_password_set)
        return RULE_USER_AUTH;
    if (a->accessibility == ACCESSIBILITY_DEVICE_FIRST_UNLOCKED &&
        (!rules_device_first_unlocked(old_dev) || !rules_device_first_unlocked(new_dev)))
        return RULE_FIRST_UNLOCK;
    return RULE_OK;
}

const char *rules_name(restore_rule r)
{
    static const char *const names[RULE_COUNT] = {"ok", "password", "unlocked", "user_auth",
                                                  "first_unlock"};
    return (unsigned)r < RULE_COUNT ? names[r] : "unknown";
}
