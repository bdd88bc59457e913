/* testlib: the test run's own PostgreSQL cluster (started by tests/run.sh with scripts/pg.sh),
 * for tests that stop, restart or freeze it. Test binaries run one at a time, so a test may do
 * this to the shared cluster as long as it leaves it running. */
#include <dirent.h>
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

static pid_t parent_of(pid_t pid)
{
    char path[64], line[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    pid_t ppid = 0;
    if (fgets(line, sizeof line, f)) {
        const char *p = strrchr(line, ')'); /* the command may hold spaces */
        if (p)
            sscanf(p + 2, "%*c %d", &ppid);
    }
    fclose(f);
    return ppid;
}

static pid_t g_frozen[512];
static int g_nfrozen;

static void thaw_all(void)
{
    for (int i = 0; i < g_nfrozen; i++)
        kill(g_frozen[i], SIGCONT);
    g_nfrozen = 0;
}

void tl_pg_freeze(bool frozen)
{
    static bool registered;
    if (!frozen) {
        thaw_all();
        return;
    }
    long pm = postmaster_pid();
    if (pm <= 1)
        fail_msg("no postmaster.pid in %s/pgdata", tl_pg_dir());
    if (!registered) {
        atexit(thaw_all); /* whatever happens to the test, the cluster is left running */
        registered = true;
    }
    /* The postmaster first, so that it starts no new child meanwhile. */
    g_frozen[g_nfrozen++] = (pid_t)pm;
    kill((pid_t)pm, SIGSTOP);
    DIR *d = opendir("/proc");
    if (!d)
        fail_msg("cannot list /proc");
    for (struct dirent *e; (e = readdir(d)) && g_nfrozen < 512;) {
        pid_t pid = (pid_t)atoi(e->d_name);
        if (pid > 1 && parent_of(pid) == (pid_t)pm) {
            g_frozen[g_nfrozen++] = pid;
            kill(pid, SIGSTOP);
        }
    }
    closedir(d);
}
