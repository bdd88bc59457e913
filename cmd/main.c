/* assetd: the process — subcommands, start-up (config, migrations, service, HTTP, workers),
 * signals and graceful shutdown. */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "../api/http.h"
#include "../api/server.h"
#include "../service/config.h"
#include "../service/log.h"
#include "../service/store/db.h"
#include "../service/store/db_wait.h"
#include "../service/sync/sync.h"
#include "../service/svc.h"
#include "tools.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: assetd [serve|worker|migrate|rotate-key|sign-challenge|version]\n"
               "  serve           HTTP API plus ASSETD_SYNC_WORKERS sync workers (default)\n"
               "  worker          sync workers only (at least one)\n"
               "  migrate         apply migrations and exit\n"
               "  rotate-key      re-wrap every stored key under the newest master key\n"
               "  sign-challenge  sign a pre-query challenge for testing (see README)\n"
               "Configuration comes from environment variables: see README.md.\n");
}

/* glibc gives threads that contend on malloc an arena of their own, up to 8 per core, and each
 * arena keeps what was freed in it: with a dozen threads (HTTP, request workers, sync workers)
 * passing requests to each other, memory freed in one arena is asked for again in another. One
 * arena per core (at least two) took about 5 MiB off the peak at 1,000 connections
 * (docs/performance.md). It overrides glibc's MALLOC_ARENA_MAX. */
static void limit_malloc_arenas(void)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    mallopt(M_ARENA_MAX, cores > 2 ? (int)cores : 2);
}

/* Secrets must not end up in core files. */
static void harden_process(void)
{
    struct rlimit none = {0, 0};
    setrlimit(RLIMIT_CORE, &none);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

/* The signals main takes with sigwait (blocked in every thread). */
static void handled_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGQUIT);
    sigaddset(set, SIGHUP);
    sigaddset(set, SIGUSR1);
    sigaddset(set, SIGUSR2);
}

/* Waits for a signal that stops the process (TERM, INT, QUIT: graceful). HUP, USR1 and USR2
 * are logged and otherwise ignored: every setting comes from the environment, so there is
 * nothing to reload; a restart applies a change (README, "Commands"). Meanwhile, at most once a
 * second and only when no request is in flight, the heap's free pages go back to the system
 * (malloc_trim): a burst (a queue of a thousand requests) leaves megabytes free in the arenas,
 * which glibc would otherwise keep; under load the trim (which locks each arena) is skipped. */
static int wait_for_signal(void)
{
    sigset_t set;
    const struct timespec second = {1, 0};
    handled_signals(&set);
    for (;;) {
        int sig = sigtimedwait(&set, NULL, &second);
        if (sig < 0) {
            if (errno == EAGAIN && server_in_flight() == 0)
                malloc_trim(0);
            continue;
        }
        if (sig == SIGTERM || sig == SIGINT || sig == SIGQUIT)
            return sig;
        log_info("signal ignored: settings come from the environment, restart to change them",
                 LOG_INT("signal", sig));
    }
}

/* serve_http: `serve` (HTTP and ASSETD_SYNC_WORKERS workers, 0 allowed); else `worker`
 * (ASSETD_SYNC_WORKERS workers, at least 1). */
static int run(int serve_http)
{
    config cfg;
    char err[512];
    svc s;
    app_ctx app = {0};
    sync_workers *w = NULL;
    const char *why = NULL;
    int rc = 1;
    unsigned need = CONFIG_NEED_MASTER_KEY | (serve_http ? CONFIG_NEED_ADMIN_TOKEN : 0);
    /* Before any thread starts: every thread inherits this mask, main alone takes the signals
     * with sigwait. (The one-shot commands keep the default actions.) */
    sigset_t set;
    handled_signals(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (config_load(&cfg, need, err, sizeof err) != 0) {
        log_error(err);
        return 2;
    }
    int workers = serve_http || cfg.sync_workers > 0 ? cfg.sync_workers : 1;
    db_set_transaction_pooler(cfg.db_transaction_pooler);
    int waited = db_wait_ready(cfg.database_url, cfg.db_connect_timeout_s);
    if (waited != 0) {
        rc = waited > 0 ? 0 : 1; /* stopped by a signal while waiting: a clean stop */
        goto out_cfg;
    }
    if (cfg.db_transaction_pooler)
        db_warn_no_statement_timeout(cfg.database_url);
    if (db_migrate(cfg.database_url, cfg.migrations_dir) < 0)
        goto out_cfg;
    if (svc_open(&s, &cfg, &why) != 0) {
        log_error(why);
        goto out_cfg;
    }
    app.svc = &s;
    app.cfg = &cfg;
    if (serve_http && server_start(&app) != 0)
        goto out_svc;
    if (workers > 0 && sync_workers_start(&w, &s, workers, cfg.lease_seconds) != 0) {
        log_error("cannot start the sync workers");
        goto out_http;
    }
    log_info("assetd started", LOG_BOOL("http", serve_http), LOG_INT("port", cfg.port),
             LOG_INT("httpThreads", cfg.http_threads), LOG_INT("syncWorkers", workers));
    int sig = wait_for_signal();
    log_info("shutting down", LOG_INT("signal", sig));
    rc = 0;
    sync_workers_stop(w);
out_http:
    server_stop(&app);
out_svc:
    svc_close(&s);
out_cfg:
    config_free(&cfg);
    return rc;
}

static int migrate_only(void)
{
    config cfg;
    char err[512];
    if (config_load(&cfg, 0, err, sizeof err) != 0) {
        log_error(err);
        return 2;
    }
    db_set_transaction_pooler(cfg.db_transaction_pooler);
    int latest = db_wait_ready(cfg.database_url, cfg.db_connect_timeout_s) == 0
                     ? db_migrate(cfg.database_url, cfg.migrations_dir)
                     : -1;
    config_free(&cfg);
    return latest < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : "serve";
    if (sodium_init() < 0) {
        log_error("libsodium failed to initialise");
        return 1;
    }
    limit_malloc_arenas();
    json_set_alloc_funcs(http_secure_malloc, http_secure_free);
    harden_process();
    signal(SIGPIPE, SIG_IGN);

    if (strcmp(cmd, "serve") == 0)
        return run(1);
    if (strcmp(cmd, "worker") == 0)
        return run(0);
    if (strcmp(cmd, "migrate") == 0)
        return migrate_only();
    if (strcmp(cmd, "rotate-key") == 0)
        return tool_rotate_key();
    if (strcmp(cmd, "sign-challenge") == 0)
        return tool_sign_challenge(argc - 2, argv + 2);
    if (strcmp(cmd, "version") == 0) {
        printf("assetd 0.1.0\n");
        return 0;
    }
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    usage(stderr);
    return 2;
}
