/* challenge: user-authenticated reads of authType ANY assets (spec §4 pre-query / query /
 * post-query). A challenge is 32 random bytes kept in the database (so any instance can serve
 * the next step), bound to the installation and to the assets its pre-query matched, and
 * proven with the device's Ed25519 user-auth key: authToken = sign(challenge || appId). */
#ifndef ASSETD_CHALLENGE_H
#define ASSETD_CHALLENGE_H

#include "asset_ops.h"

#define CHALLENGE_LIVE_MAX 16
#define CHALLENGE_MATCH_MAX 1000

/* Pre-query: NOT_FOUND (no auth-gated match), UNSUPPORTED (matches with more than one
 * (accessibility, requirePasswordSet) pair, or more than CHALLENGE_MATCH_MAX), STATUS_MISMATCH
 * (not accessible now), LIMIT_EXCEEDED (16 live challenges; *retry_after set). */
WUR asset_err challenge_pre_query(svc *s, const principal *p, const asset_req *q,
                                  unsigned char challenge[ASSET_CHALLENGE_LEN], int64_t *expires_ms,
                                  int *retry_after);
/* Query with q->challenge and q->auth_token: ACCESS_DENIED for any bad challenge or token. */
WUR asset_err challenge_query(svc *s, const principal *p, const asset_req *q, asset_list *out);
/* Post-query: ends the challenge if it is the caller's; always succeeds unless the database
 * fails, or q names a group the app does not belong to (PERMISSION_DENIED). */
WUR asset_err challenge_post_query(svc *s, const principal *p, const asset_req *q);

#endif
