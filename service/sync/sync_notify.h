/* sync_notify: a connection that LISTENs for finished restores (SYNC_DONE_CHANNEL, sent by
 * whichever instance's sync worker ends a job), for the long-poll listener of api/: api/ never
 * speaks to PostgreSQL itself. The caller owns a listener; sync_listener_free closes it. */
#ifndef ASSETD_SYNC_NOTIFY_H
#define ASSETD_SYNC_NOTIFY_H

#include <stdbool.h>

#include "../err.h"

typedef struct sync_listener sync_listener;

/* Whether LISTEN works here: not behind a transaction pooler (ASSETD_DB_POOLER=transaction),
 * where a session does not stay with this client; then waiters must poll instead. */
bool sync_listener_supported(void);
/* Connects and LISTENs; NULL when the database cannot be reached (try again later). */
sync_listener *sync_listener_open(const char *url, int timeout_ms);
/* NULL-safe. */
void sync_listener_free(sync_listener *l);
/* Waits up to wait_ms for notifications and calls fn(ctx, restore_id) for each. 0, or -1 when
 * the connection broke (free the listener and open another: notifications may have been lost). */
WUR int sync_listener_wait(sync_listener *l, int wait_ms,
                           void (*fn)(void *ctx, const char *restore_id), void *ctx);

#endif
