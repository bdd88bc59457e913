#include "ratelimit.h"

#include <pthread.h>
#include <sodium.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#define SLOTS 4096
#define STRIPES 64

typedef struct {
    uint64_t key;
    double tokens, last;
} bucket;

static bucket buckets[SLOTS];
static pthread_mutex_t stripes[STRIPES];
static unsigned char hash_key[crypto_shorthash_KEYBYTES];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init(void)
{
    randombytes_buf(hash_key, sizeof hash_key);
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_init(&stripes[i], NULL);
}

int ratelimit_check(const char *token, size_t len, int rate, int *retry_after)
{
    unsigned char h[crypto_shorthash_BYTES];
    uint64_t key;
    struct timespec ts;
    pthread_once(&once, init);
    crypto_shorthash(h, (const unsigned char *)token, len, hash_key);
    memcpy(&key, h, sizeof key);
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9, burst = 2.0 * rate;
    size_t slot = (size_t)(key % SLOTS);
    pthread_mutex_t *mu = &stripes[slot % STRIPES];
    int rc = 0;
    pthread_mutex_lock(mu);
    bucket *b = &buckets[slot];
    if (b->key != key) {
        b->key = key;
        b->tokens = burst;
        b->last = now;
    }
    b->tokens += (now - b->last) * rate;
    if (b->tokens > burst)
        b->tokens = burst;
    b->last = now;
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
    } else {
        double wait = (1.0 - b->tokens) / rate;
        *retry_after = (int)wait + 1;
        rc = -1;
    }
    pthread_mutex_unlock(mu);
    return rc;
}
