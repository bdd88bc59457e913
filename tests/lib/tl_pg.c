/* testlib: the test run's own PostgreSQL cluster (started by tests/run.sh with scripts/pg.sh),
 * for tests that stop, restart or freeze it. Test binaries run one at a time, so a test may do
 * this to the shared cluster as long as it leaves it running. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testlib.h"

static char g_dir[512], g_pg_sh[1024];

const char *tl_pg_dir(void)
{
    if (g_dir[0])
        return g_dir;
    const char *url = getenv("TEST_DATABASE_URL");
    const char *h = url ? strstr(url, "host=") : NULL;
    if (!h)
        fail_msg("TEST_DATABASE_URL has no host= (run the tests with tests/run.sh)");
    h += 5;
    size_t len = strcspn(h, "&");
    if (len < 6 || len >= sizeof g_dir || strncmp(h + len - 5, "/sock", 5) != 0)
        fail_msg("TEST_DATABASE_URL's host is not <dir>/sock: %s", url);
    memcpy(g_dir, h, len - 5);
    g_dir[len - 5] = 0;
    const char *mig = getenv("ASSETD_MIGRATIONS_DIR");
    char root[768] = ".";
    if (mig && strlen(mig) > 11 && strcmp(mig + strlen(mig) - 11, "/migrations") == 0)
        snprintf(root, sizeof root, "%.*s", (int)(strlen(mig) - 11), mig);
    snprintf(g_pg_sh, sizeof g_pg_sh, "%s/scripts/pg.sh", root);
    if (access(g_pg_sh, X_OK) != 0)
        fail_msg("%s is not executable", g_pg_sh);
    return g_dir;
}

int tl_pg_ctl(const char *cmd)
{
    char line[2048];
    const char *dir = tl_pg_dir();
    snprintf(line, sizeof line, "'%s' %s '%s' >/dev/null 2>&1", g_pg_sh, cmd, dir);
    return system(line);
}

/* The postmaster's pid, from the first line of postmaster.pid; -1 if there is none. */
static long postmaster_pid(void)
{
    char path[640];
    long pid = -1;
    snprintf(path, sizeof path, "%s/pgdata/postmaster.pid", tl_pg_dir());
    FILE *f = fopen(path, "r");
    if (f) {
        if (fscanf(f, "%ld", &pid) != 1)
            pid = -1;
        fclose(f);
    }
    return pid;
}

void tl_pg_freeze(bool frozen)
{
    long pid = postmaster_pid();
    char line[256];
    if (pid <= 0)
        fail_msg("no postmaster.pid in %s/pgdata", tl_pg_dir());
    /* The backends first when freezing (none may finish a query meanwhile), the postmaster first
     * when thawing. */
    if (frozen)
        snprintf(line, sizeof line, "pkill -STOP -P %ld; kill -STOP %ld", pid, pid);
    else
        snprintf(line, sizeof line, "kill -CONT %ld; pkill -CONT -P %ld; true", pid, pid);
    if (system(line) != 0)
        fail_msg("cannot %s the cluster", frozen ? "freeze" : "thaw");
}
