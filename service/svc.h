/* svc: the service context every operation runs in (configuration, database pool, service
 * keys), and authentication: a bearer token becomes a principal (admin, device or app
 * installation) with what it may touch. */
#ifndef ASSETD_SVC_H
#define ASSETD_SVC_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "store/db.h"
#include "rules.h"
#include "crypto/seal.h"

#define APP_ID_MAX 256
#define APP_GROUPS_MAX 16
#define NAME_MAX_BYTES 256

typedef struct {
    const config *cfg;
    db_pool *pool;
    unsigned char *token_key; /* sodium_malloc, read-only: token hashes and cursor MACs */
    int migrations_latest;
    struct audit_writer *audit;   /* audit.c's background writer */
    struct authcache *auth_cache; /* authcache.c; NULL when off */
    struct add_group *adds;       /* asset_add.c's group commit; NULL when off */
    /* Called around an add's time in a group commit (waiting for the group, or writing it for
     * many on one connection), so that the caller's thread pool may run another request
     * meanwhile (api/dispatch.h). NULL: nothing to tell. */
    void (*wait_begin)(void), (*wait_end)(void);
} svc;

typedef enum { PRINCIPAL_ADMIN, PRINCIPAL_DEVICE, PRINCIPAL_INSTALLATION } principal_kind;

typedef struct {
    principal_kind kind;
    char device_id[UUID_TEXT_LEN];
    int64_t installation_id;
    char app_id[APP_ID_MAX + 1];
    int ngroups;
    char groups[APP_GROUPS_MAX][128];
    bool perm_persistent;
    device_state state;
    bool has_account;
    char account_id[NAME_MAX_BYTES + 1];
    unsigned char token_hash[SEAL_TOKEN_HASH_LEN]; /* of the token it authenticated with */
    int dek_version;
    unsigned char dek[SEAL_KEY_LEN]; /* the device's current data key, unwrapped */
    /* The generations of its device and installation rows when it was read (migration 0012). */
    int64_t device_generation, installation_generation;
    /* Remembered (service/authcache.c) and not checked yet: the operation must check it is still
     * current in its own statement (svc_authenticate_deferred). */
    bool unverified;
} principal;

/* Opens the pool and loads (or, on first start, creates) the service keys. Needs migrations
 * applied. On failure everything is released and *why says what failed. */
WUR int svc_open(svc *s, const config *cfg, const char **why);
void svc_close(svc *s);

/* A presented bearer token -> principal. PERMISSION_DENIED when unknown; SERVICE_UNAVAILABLE
 * when the database is down. principal_clear() wipes the key it holds. A principal this
 * instance remembers (the auth cache) is checked to be still current first, in one statement
 * (store_principal_current); one it does not is read and remembered. */
WUR asset_err svc_authenticate(svc *s, const char *token, size_t len, principal *out);
/* The same, but a remembered principal comes back unchecked (out->unverified): for operations
 * that check it inside their own statement, so that a request costs one round trip
 * (assets_query). Such an operation must, when the check fails, get the principal afresh with
 * svc_principal_refresh and run again. */
WUR asset_err svc_authenticate_deferred(svc *s, const char *token, size_t len, principal *out);
/* p was found not to be current: forget it, and read its token's owner afresh into *fresh
 * (checked, remembered). UNAUTHENTICATED when the token is no longer valid (uninstalled, rotated,
 * device removed). */
WUR asset_err svc_principal_refresh(svc *s, const principal *p, principal *fresh);
/* For an answer given without the operation's statement (a request refused as malformed): OK
 * when unverified p is still current or its token is still valid; UNAUTHENTICATED when it is not
 * (the answer must then be 401, as if it had been checked first). */
WUR asset_err svc_principal_verify(svc *s, const principal *p);
/* Outside a transaction: whether p is still current (*current); a verified p is, without a
 * statement. */
WUR asset_err svc_principal_check(svc *s, const principal *p, bool *current);
/* Inside a connection: whether p is still current (*current). */
WUR asset_err svc_principal_current(db_conn *c, const principal *p, bool *current);
/* What the store needs to check p in a statement of its own (store_asset_get_current). */
struct store_principal_ref;
void svc_principal_ref(const principal *p, struct store_principal_ref *ref);
/* The index of p's ref among refs[0..*n), appended (*n grows; refs must have room) when no equal
 * one is there: the distinct principals of a group of requests, each checked once. */
int svc_principal_ref_index(const principal *p, struct store_principal_ref *refs, int *n);
void principal_clear(principal *p);

/* Inside a transaction on c: holds the caller's installation, as authenticated, until the
 * transaction ends (a shared advisory lock, migration 0010), so that an uninstall, a token
 * rotation or a device removal either waits for this write to commit (and then sees it) or has
 * committed before it (and then this returns
 * UNAUTHENTICATED: the token is no longer valid). The token check and the write are thus one
 * atomic step. Other principals: nothing to hold. */
WUR asset_err svc_installation_hold(db_conn *c, const principal *p);
/* Its exclusive side is STORE_INSTALLATION_LOCK (store/store_devices.h). */

/* Whether p may manage device `device_id` (admin, or that device itself). */
bool principal_may_manage(const principal *p, const char *device_id);
/* Whether an installation belongs to group g. */
bool principal_in_group(const principal *p, const char *g, size_t n);

/* Readiness: database reachable and every migration applied. */
WUR asset_err svc_ready(svc *s);

/* UUID text check (lowercase or uppercase hex, canonical 8-4-4-4-12 form). */
bool uuid_valid(const char *p, size_t n);
/* Lower-case a valid UUID text in place: ids have one canonical form everywhere (key
 * bindings, comparisons, the same-device test of a restore). */
void uuid_lower(char *p);
/* A new random (version 4) UUID. */
void uuid_new(char out[UUID_TEXT_LEN]);

/* Unwrap the data key of (device, version) through conn. */
WUR asset_err svc_device_key(svc *s, db_conn *c, const char *device_id, int version,
                             unsigned char key[SEAL_KEY_LEN]);

/* The binding of a wrapped data key to its device and version. */
void svc_dek_purpose(char *out, size_t n, const char *device_id, int version);

#endif
