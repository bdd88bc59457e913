/* db_listen: LISTEN connections outside the pool (see db_listen.h). */
#include "db_listen.h"

#include <poll.h>
#include <stdio.h>
#include <string.h>

asset_err db_listen_open(db_conn *c, const char *url, int timeout_ms, const char *channel)
{
    memset(c, 0, sizeof *c);
    asset_err e = db_connect(url, timeout_ms, &c->pg);
    if (e != ASSET_OK)
        return e;
    c->timeout_ms = timeout_ms;
    if (channel) {
        char sql[96];
        PGresult *r = NULL;
        snprintf(sql, sizeof sql, "LISTEN %s", channel);
        e = db_exec(c, sql, 0, NULL, NULL, NULL, &r);
        PQclear(r);
    }
    if (e != ASSET_OK)
        db_listen_close(c);
    return e;
}

bool db_listen_ok(const db_conn *c)
{
    return c->pg && !c->broken && PQstatus(c->pg) == CONNECTION_OK;
}

void db_listen_close(db_conn *c)
{
    if (c->pg)
        PQfinish(c->pg);
    memset(c, 0, sizeof *c);
}

int db_listen_wait(db_conn *c, int wait_ms, void (*fn)(void *ctx, const char *payload), void *ctx)
{
    struct pollfd pfd = {PQsocket(c->pg), POLLIN, 0};
    int got = 0;
    if (poll(&pfd, 1, wait_ms) <= 0)
        return 0;
    if (!PQconsumeInput(c->pg)) {
        c->broken = true;
        return -1;
    }
    PGnotify *n;
    while ((n = PQnotifies(c->pg))) {
        if (fn)
            fn(ctx, n->extra);
        PQfreemem(n);
        got = 1;
    }
    return got;
}
