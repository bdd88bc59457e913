/* store_idem: the SQL of the idempotency_keys table (spec §13; the policy — who, which requests,
 * hashing — is service/idem.c). A key is kept per (principal, key) with a keyed hash of the
 * request; a claim is a lease (STORE_IDEM_LEASE_SECONDS), an answer is kept STORE_IDEM_KEEP_HOURS.
 *
 * Each call is one statement in its own transaction on a pooled connection. An answer read back
 * owns its memory (malloc'd); store_idem_answer_free() frees it (NULL-safe), also after a failed
 * read, which leaves it empty. */
#ifndef ASSETD_STORE_IDEM_H
#define ASSETD_STORE_IDEM_H

#include <stdbool.h>
#include <stddef.h>

#include "db.h"

#define STORE_IDEM_HASH_LEN 32
#define STORE_IDEM_LEASE_SECONDS 300
#define STORE_IDEM_KEEP_HOURS 24

typedef struct {
    int status;
    char *content_type; /* NULL: none */
    unsigned char *body;
    size_t body_len;
    char *location, *etag; /* NULL: none */
} store_idem_answer;

void store_idem_answer_free(store_idem_answer *a);

/* Claims (who, key) for a request hashing to hash: inserts it, or takes over a key whose answer
 * expired or whose first request died before answering (its lease ran out). Purges a bounded
 * number of expired keys of others on the way. *claimed: whether this call holds it now. */
WUR asset_err store_idem_claim(db_pool *p, const char *who, const char *key,
                               const unsigned char hash[STORE_IDEM_HASH_LEN], bool *claimed);
/* The key as kept: *found; when found, *answered (an answer is kept), *same (kept for a request
 * with this hash) and, when both, *ans. */
WUR asset_err store_idem_lookup(db_pool *p, const char *who, const char *key,
                                const unsigned char hash[STORE_IDEM_HASH_LEN], bool *found,
                                bool *answered, bool *same, store_idem_answer *ans);
/* Keeps ans for a key this caller claimed (and that nobody answered yet). */
WUR asset_err store_idem_complete(db_pool *p, const char *who, const char *key,
                                  const store_idem_answer *ans);
/* Releases a claimed key without an answer. */
WUR asset_err store_idem_abandon(db_pool *p, const char *who, const char *key);

#endif
