/* sync_notify: the long-poll listener's connection (sync_notify.h), over db_listen. */
#include "sync_notify.h"

#include <stdlib.h>

#include "../store/db_listen.h"
#include "sync.h"

bool sync_listener_supported(void)
{
    return !db_transaction_pooler();
}

struct sync_listener {
    db_conn c;
};

sync_listener *sync_listener_open(const char *url, int timeout_ms)
{
    sync_listener *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    if (db_listen_open(&l->c, url, timeout_ms, SYNC_DONE_CHANNEL) != ASSET_OK) {
        free(l);
        return NULL;
    }
    return l;
}

void sync_listener_free(sync_listener *l)
{
    if (!l)
        return;
    db_listen_close(&l->c);
    free(l);
}

int sync_listener_wait(sync_listener *l, int wait_ms, void (*fn)(void *ctx, const char *restore_id),
                       void *ctx)
{
    return db_listen_wait(&l->c, wait_ms, fn, ctx) < 0 ? -1 : 0;
}
