/* authcache: authenticated principals by token hash (ASSETD_AUTH_CACHE_MS, default 60 s; 0 =
 * off), each with the generations of the device and installation rows it was read from
 * (migration 0012). A remembered principal is never trusted as is: every request checks it
 * against the current rows, in its own statement when the operation can
 * (svc_authenticate_deferred: GET /assets/{alias} in one round trip) or in a small statement of
 * its own (svc_authenticate); a failed check drops the entry and reads the principal afresh. So a
 * device state change, an uninstall, a token rotation or a device removal made through ANY
 * instance is seen by the very next request on every instance (§6, §2, §13), and the time-to-live
 * only bounds how long a data key stays in memory. This process also drops a device's entries at
 * once when such a change goes through it. Entries hold unwrapped device keys, so the table lives
 * in sodium_malloc memory and is wiped on eviction. The table owns its memory: authcache_free()
 * wipes and frees it. */
#ifndef ASSETD_AUTHCACHE_H
#define ASSETD_AUTHCACHE_H

#include "svc.h"

typedef struct authcache authcache;

/* NULL when ttl_ms is 0 or memory is short (then nothing is cached). */
authcache *authcache_new(int ttl_ms);
void authcache_free(authcache *c);
/* true and *out filled when a fresh entry exists. NULL-safe. */
bool authcache_get(authcache *c, const unsigned char hash[SEAL_TOKEN_HASH_LEN], principal *out);
void authcache_put(authcache *c, const unsigned char hash[SEAL_TOKEN_HASH_LEN], const principal *p);
/* Drop the entry of a token hash. */
void authcache_forget(authcache *c, const unsigned char hash[SEAL_TOKEN_HASH_LEN]);
/* Drop every entry of a device. */
void authcache_forget_device(authcache *c, const char *device_id);

#endif
