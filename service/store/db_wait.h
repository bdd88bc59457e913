/* db_wait: start-up patience. `serve`, `worker` and `migrate` call db_wait_ready() before
 * anything else touches the database, so a process started together with PostgreSQL (compose,
 * Kubernetes, a reboot) waits for it instead of exiting on the first refused connection. */
#ifndef ASSETD_DB_WAIT_H
#define ASSETD_DB_WAIT_H

#include "../err.h"

/* Connects to url, retrying with a growing backoff (0.1 s doubling to 2 s) for at most
 * timeout_s seconds (0: one attempt), and logs every failed attempt as one JSON line on stderr
 * (attempt number, elapsed time, next delay, libpq's reason). SIGTERM or SIGINT (blocked in the
 * calling thread, as assetd's main thread does) stops the waiting at once.
 * Returns 0 once a connection succeeded (it is closed again), -1 when the time ran out or the
 * URL cannot be parsed, 1 when a signal asked to stop. */
WUR int db_wait_ready(const char *url, int timeout_s);

/* Behind a transaction pooler assetd cannot set statement_timeout itself (db.h,
 * db_set_transaction_pooler): logs one warning line when the server's value for this role is
 * 0 (no timeout), naming where to set it. Best effort: silent when it cannot ask. */
void db_warn_no_statement_timeout(const char *url);

#endif
