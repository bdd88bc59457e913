/* db_listen: connections outside the pool, most of them waiting for NOTIFYs — each sync worker's
 * own (new restore jobs; it also runs the worker's transactions), the long-poll listener's
 * (finished jobs) and, listening to nothing, the audit writer's. The caller owns the db_conn it
 * passes and closes it with db_listen_close. */
#ifndef ASSETD_DB_LISTEN_H
#define ASSETD_DB_LISTEN_H

#include "db.h"

/* Connects c (statement timeout timeout_ms) and LISTENs on channel (NULL: none, e.g. behind a
 * transaction pooler, where a LISTEN stays with whichever server connection ran it). On failure
 * c is left closed. */
WUR asset_err db_listen_open(db_conn *c, const char *url, int timeout_ms, const char *channel);
/* Whether c is open and usable (not marked broken, connection not lost). */
bool db_listen_ok(const db_conn *c);
/* Closes c (no-op when closed). */
void db_listen_close(db_conn *c);
/* Waits up to wait_ms for input on c and takes the notifications that came, calling fn(ctx,
 * payload) for each when fn is not NULL. 1 when at least one came, 0 when none, -1 when the
 * connection broke (then c is marked broken: notifications may have been lost). */
WUR int db_listen_wait(db_conn *c, int wait_ms, void (*fn)(void *ctx, const char *payload),
                       void *ctx);

#endif
