/* devices: registering devices (with their data key), their state and user-auth key, and the
 * installation of apps on them (tokens, groups, permissions). Callers check who may do this
 * (principal_may_manage) before calling; these functions check only existence. */
#ifndef ASSETD_DEVICES_H
#define ASSETD_DEVICES_H

#include "store/store_devices.h"
#include "svc.h"

#define USER_AUTH_PK_LEN STORE_USER_AUTH_PK_LEN

/* A device as stored (id, name, account, user-auth key, state). */
typedef store_device device_info;

/* Text of a device name, account id or app id: 1..256 bytes of UTF-8 without U+0000. */
bool devices_valid_name(const char *p, size_t n);

/* Registers a device with a fresh data key. pk may be NULL. Writes the id and the token (shown
 * once; only its keyed hash is stored). */
WUR asset_err devices_register(svc *s, const char *name, const char *account_id,
                               const unsigned char *pk, char id[UUID_TEXT_LEN],
                               char token[SEAL_TOKEN_TEXT_LEN]);
WUR asset_err devices_get(svc *s, const char *id, device_info *out);
WUR asset_err devices_set_state(svc *s, const char *id, const device_state *st, device_info *out);
/* pk NULL removes the key. */
WUR asset_err devices_set_auth_key(svc *s, const char *id, const unsigned char *pk,
                                   device_info *out);

/* Installs app_id on a device: DUPLICATED if installed, NOT_FOUND if no such device. groups_json
 * is a JSON array of validated group ids. */
WUR asset_err devices_install(svc *s, const char *device_id, const char *app_id,
                              const char *groups_json, bool perm_persistent,
                              char token[SEAL_TOKEN_TEXT_LEN]);
/* Uninstall (spec §4): revokes the token and challenges, removes the app's own assets except
 * persistent and TRUSTED_ACCOUNT ones, and group assets no remaining app of the group keeps. */
WUR asset_err devices_uninstall(svc *s, const char *device_id, const char *app_id);

/* Token rotation (spec §13): a new token replaces the old one at once (the old one is 401 on
 * the next request, on every instance; this instance's cached principals are dropped). The
 * app's rotation also ends the installation's live challenges; its assets are untouched.
 * NOT_FOUND when there is no such device (or app on it). */
WUR asset_err devices_rotate_token(svc *s, const char *device_id, char token[SEAL_TOKEN_TEXT_LEN]);
WUR asset_err devices_rotate_app_token(svc *s, const char *device_id, const char *app_id,
                                       char token[SEAL_TOKEN_TEXT_LEN]);

/* Device removal (spec §13, device_removal.c): in one transaction, the device's data keys are
 * deleted first (crypto-shred), then its assets, challenges, sync results, idempotency keys,
 * installations and the device itself; its queued or running restores end 'failed'. Its backups
 * stay (restorable onto another device of the account) unless delete_backups, which refuses
 * with IN_PROGRESS while a restore onto another device still uses one of them. The audit log is
 * kept. NOT_FOUND when there is no such device. */
WUR asset_err devices_remove(svc *s, const char *device_id, bool delete_backups);

#endif
