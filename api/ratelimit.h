/* ratelimit: per-token request rate limit (token buckets, ASSETD_RATE_LIMIT requests per second
 * with a burst of twice that). Buckets live in a fixed table keyed by a keyed hash of the token;
 * two tokens that share a slot take turns resetting it, which only ever loosens, never blocks,
 * a client wrongly for long. */
#ifndef ASSETD_RATELIMIT_H
#define ASSETD_RATELIMIT_H

#include <stddef.h>

/* 0: allowed. -1: over the limit; *retry_after = whole seconds until a request is allowed. */
int ratelimit_check(const char *token, size_t len, int rate, int *retry_after);

#endif
