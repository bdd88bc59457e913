/* idem: the store of Idempotency-Key answers (spec §13, table idempotency_keys). A key is kept
 * per (principal, key) for 24 hours with a keyed hash of the request; the first request claims
 * it (a lease, so a request that died frees it), then either completes it with its answer or
 * abandons it (an answer the client should retry, 5xx). The HTTP side is api/idem.c; the SQL is
 * service/store/store_idem.c.
 *
 * An idem_answer read back owns its memory (malloc'd); idem_answer_free() frees it (NULL-safe). */
#ifndef ASSETD_IDEM_H
#define ASSETD_IDEM_H

#include <sodium.h>

#include "store/store_idem.h"
#include "svc.h"

#define IDEM_KEY_MAX 255
#define IDEM_HASH_LEN STORE_IDEM_HASH_LEN
#define IDEM_PRINCIPAL_LEN 64
/* How long a claim holds while its request runs, and how long answers are kept. */
#define IDEM_LEASE_SECONDS STORE_IDEM_LEASE_SECONDS
#define IDEM_KEEP_HOURS STORE_IDEM_KEEP_HOURS

typedef enum {
    IDEM_CLAIMED,  /* the caller runs the request, then completes or abandons the key */
    IDEM_REPLAY,   /* the same request was answered: *ans is that answer */
    IDEM_MISMATCH, /* the key was used for another request */
    IDEM_IN_FLIGHT /* the first request with this key still runs */
} idem_state;

/* An answer kept: status, content type, body, Location and ETag (NULL: none). */
typedef store_idem_answer idem_answer;
#define idem_answer_free store_idem_answer_free

/* "admin", "device:<id>" or "installation:<id>": whose keys these are. */
void idem_principal(char out[IDEM_PRINCIPAL_LEN], const principal *p);

/* The request hash: idem_hash_init, then idem_hash_part for each part (method, path, query,
 * body; each length-prefixed, so parts cannot run into each other), then idem_hash_final. */
void idem_hash_init(crypto_generichash_state *st, const svc *s);
void idem_hash_part(crypto_generichash_state *st, const void *p, size_t n);
void idem_hash_final(crypto_generichash_state *st, unsigned char out[IDEM_HASH_LEN]);

/* Claim key for principal, or say why not. Also purges a bounded number of expired keys. */
WUR asset_err idem_begin(svc *s, const char *who, const char *key,
                         const unsigned char hash[IDEM_HASH_LEN], idem_state *state,
                         idem_answer *ans);
/* Store the answer of a claimed key. */
WUR asset_err idem_complete(svc *s, const char *who, const char *key, const idem_answer *ans);
/* Release a claimed key without an answer (a repeat runs the request again). */
WUR asset_err idem_abandon(svc *s, const char *who, const char *key);

#endif
