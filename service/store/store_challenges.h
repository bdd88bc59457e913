/* store_challenges: the SQL of the challenges table (spec §4 user-authenticated queries): live
 * challenges of an installation, each bound to the assets its pre-query matched. Knows nothing
 * of signatures: the caller checks the token against the key a challenge comes back with.
 *
 * Results are structs the caller owns; store_challenge's asset list lives in the caller's arena. */
#ifndef ASSETD_STORE_CHALLENGES_H
#define ASSETD_STORE_CHALLENGES_H

#include <stdbool.h>
#include <stdint.h>

#include "../arena.h"
#include "../asset_req.h"
#include "db.h"

#define STORE_CHALLENGE_PK_LEN 32

/* Inside a transaction: locks the installation's row until it ends (so that concurrent
 * pre-queries count one after the other), drops its expired challenges and counts the live
 * ones: *live, and *retry_after the seconds until the first of them expires (at least 1). */
WUR asset_err store_challenge_live(db_conn *c, int64_t installation_id, long *live,
                                   int *retry_after);
/* A new challenge of the installation over asset_seqs (a bigint[] literal), valid validity_s
 * seconds from now: *expires_ms its end (ms since the epoch). */
WUR asset_err store_challenge_insert(db_conn *c, const unsigned char challenge[ASSET_CHALLENGE_LEN],
                                     int64_t installation_id, const char *asset_seqs,
                                     long validity_s, int64_t *expires_ms);

/* A live challenge: whose it is, the assets it matched, and the user-auth key of its device. */
typedef struct {
    int64_t installation_id;
    const char *asset_seqs; /* a bigint[] literal, in the caller's arena */
    bool has_pk;            /* false: no key, or a malformed one */
    unsigned char pk[STORE_CHALLENGE_PK_LEN];
} store_challenge;

/* NOT_FOUND when there is no such live challenge. */
WUR asset_err store_challenge_get(db_conn *c, const unsigned char challenge[ASSET_CHALLENGE_LEN],
                                  arena *a, store_challenge *out);
/* Ends the challenge if it is the installation's (nothing happens otherwise). */
WUR asset_err store_challenge_delete(db_conn *c, const unsigned char challenge[ASSET_CHALLENGE_LEN],
                                     int64_t installation_id);

#endif
