#include "sync_notify.h"

#include <libpq-fe.h>
#include <poll.h>
#include <stdlib.h>

#include "../store/db.h"
#include "sync.h"

bool sync_listener_supported(void)
{
    return !db_transaction_pooler();
}

struct sync_listener {
    PGconn *pg;
};

sync_listener *sync_listener_open(const char *url, int timeout_ms)
{
    sync_listener *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    if (db_connect(url, timeout_ms, &l->pg) != ASSET_OK) {
        free(l);
        return NULL;
    }
    db_conn c = {.pg = l->pg, .timeout_ms = timeout_ms};
    PGresult *r = NULL;
    asset_err e = db_exec(&c, "LISTEN " SYNC_DONE_CHANNEL, 0, NULL, NULL, NULL, &r);
    PQclear(r);
    if (e != ASSET_OK) {
        sync_listener_free(l);
        return NULL;
    }
    return l;
}

void sync_listener_free(sync_listener *l)
{
    if (!l)
        return;
    PQfinish(l->pg);
    free(l);
}

int sync_listener_wait(sync_listener *l, int wait_ms, void (*fn)(void *ctx, const char *restore_id),
                       void *ctx)
{
    struct pollfd pfd = {PQsocket(l->pg), POLLIN, 0};
    if (poll(&pfd, 1, wait_ms) <= 0)
        return 0;
    if (!PQconsumeInput(l->pg))
        return -1;
    PGnotify *n;
    while ((n = PQnotifies(l->pg))) {
        fn(ctx, n->extra);
        PQfreemem(n);
    }
    return 0;
}
