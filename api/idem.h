/* idem (HTTP side): the Idempotency-Key header (spec §13) for the routes flagged IDEMPOTENT in
 * the route table (api/router.c). Before the handler: validate the key, hash the request
 * (method, path, query, body) and claim the key, or answer at once with the first answer
 * (Idempotent-Replayed: true), 409 IDEMPOTENCY_CONFLICT for another request, or 409 with
 * Retry-After while the first one runs. After the handler: keep the answer (2xx and 4xx except
 * 401 and 429), or release the key (5xx, 401, 429: the client should retry). */
#ifndef ASSETD_API_IDEM_H
#define ASSETD_API_IDEM_H

#include "http.h"
#include "../service/idem.h"

typedef struct {
    bool claimed;
    bool unaudited; /* a replay, or a repeat while the first runs: the first one is audited */
    char principal[IDEM_PRINCIPAL_LEN];
} idem_ctx;

/* true: run the handler (no key, or the key is claimed); false: answered. */
bool idem_start_or_reply(http_req *rq, idem_ctx *ic);
/* After the handler of a claimed request: keep or release its answer. */
void idem_end(http_req *rq, idem_ctx *ic);

#endif
