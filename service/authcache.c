#include "authcache.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SLOTS 1024
#define STRIPES 32

typedef struct {
    unsigned char hash[SEAL_TOKEN_HASH_LEN];
    double expires; /* 0: empty */
    principal p;
} entry;

struct authcache {
    entry *slots; /* sodium_malloc */
    pthread_mutex_t locks[STRIPES];
    double ttl;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

authcache *authcache_new(int ttl_ms)
{
    authcache *c;
    if (ttl_ms <= 0 || !(c = calloc(1, sizeof *c)))
        return NULL;
    if (!(c->slots = sodium_malloc(SLOTS * sizeof *c->slots))) {
        free(c);
        return NULL;
    }
    memset(c->slots, 0, SLOTS * sizeof *c->slots);
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_init(&c->locks[i], NULL);
    c->ttl = ttl_ms / 1000.0;
    return c;
}

void authcache_free(authcache *c)
{
    if (!c)
        return;
    sodium_free(c->slots); /* wipes */
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_destroy(&c->locks[i]);
    free(c);
}

static size_t slot_of(const unsigned char *hash)
{
    size_t v;
    memcpy(&v, hash, sizeof v); /* the hash is keyed and uniform */
    return v % SLOTS;
}

bool authcache_get(authcache *c, const unsigned char hash[SEAL_TOKEN_HASH_LEN], principal *out)
{
    if (!c)
        return false;
    size_t i = slot_of(hash);
    bool hit = false;
    pthread_mutex_lock(&c->locks[i % STRIPES]);
    entry *e = &c->slots[i];
    double now = now_s();
    if (e->expires > now && sodium_memcmp(e->hash, hash, SEAL_TOKEN_HASH_LEN) == 0) {
        *out = e->p;
        hit = true;
    } else if (e->expires != 0 && e->expires <= now) {
        sodium_memzero(e, sizeof *e); /* an expired key does not wait to be overwritten */
    }
    pthread_mutex_unlock(&c->locks[i % STRIPES]);
    return hit;
}

void authcache_put(authcache *c, const unsigned char hash[SEAL_TOKEN_HASH_LEN], const principal *p)
{
    if (!c)
        return;
    size_t i = slot_of(hash);
    pthread_mutex_lock(&c->locks[i % STRIPES]);
    entry *e = &c->slots[i];
    memcpy(e->hash, hash, SEAL_TOKEN_HASH_LEN);
    e->p = *p;
    e->p.unverified = false;
    e->expires = now_s() + c->ttl;
    pthread_mutex_unlock(&c->locks[i % STRIPES]);
}

void authcache_forget(authcache *c, const unsigned char hash[SEAL_TOKEN_HASH_LEN])
{
    if (!c)
        return;
    size_t i = slot_of(hash);
    pthread_mutex_lock(&c->locks[i % STRIPES]);
    entry *e = &c->slots[i];
    if (e->expires != 0 && sodium_memcmp(e->hash, hash, SEAL_TOKEN_HASH_LEN) == 0)
        sodium_memzero(e, sizeof *e);
    pthread_mutex_unlock(&c->locks[i % STRIPES]);
}

void authcache_forget_device(authcache *c, const char *device_id)
{
    if (!c)
        return;
    for (size_t i = 0; i < SLOTS; i++) {
        pthread_mutex_lock(&c->locks[i % STRIPES]);
        entry *e = &c->slots[i];
        if (e->expires != 0 && strcmp(e->p.device_id, device_id) == 0)
            sodium_memzero(e, sizeof *e);
        pthread_mutex_unlock(&c->locks[i % STRIPES]);
    }
}
