/* store_devices: the SQL of devices, the apps installed on them (installations) and their
 * tokens: registering a device with its first data key, its state and user-auth key, installing
 * and uninstalling apps, token rotation, the installation hold of writes, the lookup of the
 * owner of a bearer token (authentication) and the check that a principal read earlier is still
 * current (migration 0012). Nothing here checks who may do what.
 *
 * Results are structs the caller owns; only store_token_owner holds memory (its groups) and a
 * wrapped key: store_token_owner_clear() frees and wipes it. */
#ifndef ASSETD_STORE_DEVICES_H
#define ASSETD_STORE_DEVICES_H

#include <stdbool.h>
#include <stdint.h>

#include "../rules.h"
#include "db.h"
#include "store_keys.h"

#define STORE_NAME_MAX 256 /* bytes of a device name, account id or app id */
#define STORE_USER_AUTH_PK_LEN 32

/* SQL: the exclusive side of the installation hold (store_installation_hold) for installation id
 * (an SQL expression), held until the transaction ends; taken before an installation is deleted
 * or its token changed. The key is the one migration 0010's assetd_installation_hold() takes
 * shared. */
#define STORE_INSTALLATION_LOCK(id) "pg_advisory_xact_lock(7263540, ((" id ") % 2147483647)::int)"

/* SQL: a device held until the transaction ends (device id: an SQL expression of type uuid, or
 * text holding one; the lock is on its canonical form). Restore chunks writing onto the device
 * hold it shared; device removal takes it exclusively, so it waits for the chunks in flight and
 * the ones after it see their job failed. Assets have no foreign key to devices (migration
 * 0013): this is what keeps a chunk from writing onto a device being removed. */
#define STORE_DEVICE_LOCK(id) "pg_advisory_xact_lock(7263541, hashtext((" id ")::uuid::text))"
#define STORE_DEVICE_LOCK_SHARED(id)                                                               \
    "pg_advisory_xact_lock_shared(7263541, hashtext((" id ")::uuid::text))"

typedef struct {
    char id[UUID_TEXT_LEN];
    char name[STORE_NAME_MAX + 1];
    bool has_account;
    char account_id[STORE_NAME_MAX + 1];
    bool has_pk;
    unsigned char pk[STORE_USER_AUTH_PK_LEN];
    device_state state;
} store_device;

/* A new device (token hash th, user-auth key pk or NULL) with its data key version 1. */
WUR asset_err store_device_insert(db_conn *c, const char *id, const char *name,
                                  const char *account_id,
                                  const unsigned char th[SEAL_TOKEN_HASH_LEN],
                                  const unsigned char *pk, const store_wrapped_key *dek);
/* The device: NOT_FOUND when there is none, DATA_CORRUPTED when its key is malformed. The
 * setters write and return the device as written. pk NULL removes the key. */
WUR asset_err store_device_get(db_conn *c, const char *id, store_device *out);
WUR asset_err store_device_set_state(db_conn *c, const char *id, const device_state *st,
                                     store_device *out);
WUR asset_err store_device_set_auth_key(db_conn *c, const char *id, const unsigned char *pk,
                                        store_device *out);
/* The device's new token hash: NOT_FOUND when there is no such device. */
WUR asset_err store_device_set_token(db_conn *c, const char *id,
                                     const unsigned char th[SEAL_TOKEN_HASH_LEN]);

/* Installs app_id on the device: *inserted false when the device does not exist or has the app
 * already. groups_json: a JSON array of group ids. */
WUR asset_err store_installation_insert(db_conn *c, const char *device_id, const char *app_id,
                                        const unsigned char th[SEAL_TOKEN_HASH_LEN],
                                        const char *groups_json, bool perm_persistent,
                                        bool *inserted);
/* Uninstall, two statements to run in one transaction: the installation goes (once no write of
 * it is in flight), then the app's own assets except persistent and TRUSTED_ACCOUNT ones, and
 * its groups' assets no remaining installation of the group keeps. NOT_FOUND when the app is not
 * installed. */
WUR asset_err store_installation_remove(db_conn *c, const char *device_id, const char *app_id);
/* The installation's new token hash; its live challenges end with the old token. NOT_FOUND when
 * the app is not installed on the device. */
WUR asset_err store_installation_set_token(db_conn *c, const char *device_id, const char *app_id,
                                           const unsigned char th[SEAL_TOKEN_HASH_LEN]);
/* Inside a transaction: holds installation_id of device_id (shared advisory lock until the
 * transaction ends) and checks, after the lock, that th is still its token: UNAUTHENTICATED
 * when it is not (uninstalled, rotated or removed meanwhile). */
WUR asset_err store_installation_hold(db_conn *c, const char *device_id, int64_t installation_id,
                                      const unsigned char th[SEAL_TOKEN_HASH_LEN]);

/* SQL, a boolean: the installation principal (device dev, installation inst, token hash th,
 * device and installation generations gd, gi: SQL parameters) is still current, i.e. the app is
 * still installed with that token and neither its device nor its installation changed since the
 * principal was read (migration 0012). Folded into a statement of the request, it makes a
 * remembered principal as good as one read afresh by that statement (service/authcache.c). An
 * uncorrelated EXISTS: evaluated once, before any row of the statement is read, through two
 * unique indexes. */
#define STORE_INSTALLATION_CURRENT(dev, inst, th, gd, gi)                                          \
    "EXISTS (SELECT 1 " STORE_INSTALLATION_CURRENT_ROWS(dev, inst, th, gd, gi) ")"
/* Its rows (at most one): FROM and WHERE. For a check per row of a statement, count them in a
 * scalar subquery: an EXISTS correlated with several rows may be planned as a hash of both whole
 * tables. */
#define STORE_INSTALLATION_CURRENT_ROWS(dev, inst, th, gd, gi)                                     \
    "FROM installations i JOIN devices d ON d.id = i.device_id "                                   \
    "WHERE i.device_id = " dev " AND i.id = " inst " AND i.token_hash = " th                       \
    " AND i.generation = " gi " AND d.id = " dev " AND d.generation = " gd

/* A principal as it was read (store_token_owner below): what checks that it is still current. */
typedef struct store_principal_ref {
    const char *device_id;
    int64_t installation_id; /* 0: the device's own token */
    const unsigned char *token_hash;
    int64_t device_generation, installation_generation;
} store_principal_ref;

/* Whether a principal read earlier is still current (*current): its device (and for an
 * installation, its installation) still exists with that token hash and the generations it was
 * read at. One statement, routable by device. */
WUR asset_err store_principal_current(db_conn *c, const store_principal_ref *p, bool *current);

/* Who a token hash belongs to: an installation, or a device's own token. */
typedef struct {
    bool installation;
    char device_id[UUID_TEXT_LEN];
    int64_t installation_id; /* 0 for a device */
    char app_id[STORE_NAME_MAX + 1];
    char *groups_json; /* malloc: the installation's groups, a JSON array; NULL for a device */
    bool perm_persistent;
    device_state state;
    bool has_account;
    char account_id[STORE_NAME_MAX + 1];
    int dek_version;                                    /* the device's current data key... */
    store_wrapped_key dek;                              /* ...wrapped */
    int64_t device_generation, installation_generation; /* migration 0012; 0 for a device */
} store_token_owner;

/* NOT_FOUND when no installation or device has that token; DATA_CORRUPTED when its key is
 * malformed. On failure *out holds nothing to clear. */
WUR asset_err store_token_owner_get(db_conn *c, const unsigned char th[SEAL_TOKEN_HASH_LEN],
                                    store_token_owner *out);
/* Frees and wipes; NULL-safe. */
void store_token_owner_clear(store_token_owner *o);

#endif
