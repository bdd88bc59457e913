/* db_wait: retries the first database connection with backoff at start-up (see db_wait.h).
 * Owns nothing past the call: each attempt's connection is closed at once. */
#include "db_wait.h"

#include <errno.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../log.h"

#define FIRST_DELAY_MS 100
#define MAX_DELAY_MS 2000
#define ATTEMPT_TIMEOUT_S 5

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The first line of libpq's message, at most cap - 1 bytes (log.h escapes it). */
static void reason_of(PGconn *pg, char *out, size_t cap)
{
    const char *m = pg ? PQerrorMessage(pg) : "out of memory";
    size_t j = 0;
    for (; *m && *m != '\n' && j + 1 < cap; m++)
        out[j++] = *m;
    out[j] = 0;
}

/* One connection attempt, bounded by the time left; fills reason on failure. */
static int attempt(const char *url, long long left_ms, char *reason, size_t cap)
{
    char timeout[16];
    long long s = (left_ms + 999) / 1000;
    snprintf(timeout, sizeof timeout, "%lld",
             s < 2                   ? 2
             : s > ATTEMPT_TIMEOUT_S ? ATTEMPT_TIMEOUT_S
                                     : s);
    const char *keys[] = {"dbname", "connect_timeout", "application_name", NULL};
    const char *vals[] = {url, timeout, "assetd", NULL};
    PGconn *pg = PQconnectdbParams(keys, vals, 1);
    int ok = pg && PQstatus(pg) == CONNECTION_OK;
    if (!ok)
        reason_of(pg, reason, cap);
    PQfinish(pg);
    return ok ? 0 : -1;
}

/* Sleeps ms, or less when SIGTERM/SIGINT arrives (consumed): 1 then, else 0. */
static int sleep_or_signal(long long ms)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    for (;;) {
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig > 0)
            return 1;
        if (errno == EAGAIN)
            return 0;
        /* EINTR: another signal; waiting a little less than asked is harmless. */
    }
}

void db_warn_no_statement_timeout(const char *url)
{
    const char *keys[] = {"dbname", "connect_timeout", "application_name", NULL};
    const char *vals[] = {url, "5", "assetd", NULL};
    PGconn *pg = PQconnectdbParams(keys, vals, 1);
    PGresult *r = pg && PQstatus(pg) == CONNECTION_OK ? PQexec(pg, "SHOW statement_timeout") : NULL;
    if (r && PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
        strcmp(PQgetvalue(r, 0, 0), "0") == 0)
        log_warn("statement_timeout is 0 behind the transaction pooler: set it on the role or in "
                 "the pooler (see deploy/README.md, PgBouncer)");
    PQclear(r);
    PQfinish(pg);
}

int db_wait_ready(const char *url, int timeout_s)
{
    char *err = NULL, reason[256];
    PQconninfoOption *opts = PQconninfoParse(url, &err);
    if (!opts) {
        log_error("DATABASE_URL is not a valid libpq connection string");
        PQfreemem(err);
        return -1;
    }
    PQconninfoFree(opts);
    long long start = now_ms(), deadline = start + (long long)timeout_s * 1000;
    long long delay = FIRST_DELAY_MS;
    for (int n = 1;; n++) {
        if (attempt(url, deadline - now_ms(), reason, sizeof reason) == 0) {
            if (n > 1)
                log_info("database reachable", LOG_INT("attempt", n),
                         LOG_INT("elapsedMs", now_ms() - start));
            return 0;
        }
        long long t = now_ms(), left = deadline - t;
        if (left <= 0) {
            log_error("database not reachable, giving up", LOG_INT("attempt", n),
                      LOG_INT("elapsedMs", t - start), LOG_INT("timeoutS", timeout_s),
                      LOG_STR("reason", reason));
            return -1;
        }
        long long wait = delay < left ? delay : left;
        log_warn("database not reachable, retrying", LOG_INT("attempt", n),
                 LOG_INT("elapsedMs", t - start), LOG_INT("retryInMs", wait),
                 LOG_STR("reason", reason));
        if (sleep_or_signal(wait)) {
            log_info("stopped while waiting for the database");
            return 1;
        }
        delay = delay * 2 > MAX_DELAY_MS ? MAX_DELAY_MS : delay * 2;
    }
}
