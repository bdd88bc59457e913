/* authcache: recently authenticated principals by token hash, for a short time-to-live
 * (ASSETD_AUTH_CACHE_MS, default 0 = off), so a request costs one database round trip instead
 * of two. Off by default because with several instances a cached principal can miss a device
 * state change or an uninstall made through another instance for up to the TTL (§6, §2 want
 * them at once): turn it on only for a single instance. Entries hold unwrapped device keys, so the
 * table lives in sodium_malloc memory and is wiped on eviction. This process drops a device's
 * entries at once when its state changes, an app is uninstalled, a token is rotated or the device
 * is removed through it (§13); other instances see such changes within the TTL. The table owns its
 * memory: authcache_free() wipes and frees it. */
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
/* Drop every entry of a device. */
void authcache_forget_device(authcache *c, const char *device_id);

#endif
