/* testlib: child processes (assetd serve / worker / tools), the temporary folder, tl_finish. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testlib.h"
#include "tl_internal.h"

extern char **environ;

/* Every child ever started, for tl_finish (logs, leftovers). */
#define MAX_CHILDREN 256
typedef struct {
    char name[64];
    char log_path[512];
    tl_proc *live; /* NULL once freed */
    int status;
    bool reaped;
} child_rec;
static child_rec g_children[MAX_CHILDREN];
static int g_nchildren;
static int g_serial;
static bool g_unclean;      /* a child stopped with a non-zero status */
static bool g_setup_failed; /* a testlib step failed outside of a test's own assertions */
static char g_tmpdir[512];
static char g_master_key[128];

void tl__note_failure(void)
{
    g_setup_failed = true;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

void tl__sodium(void)
{
    if (sodium_init() < 0) {
        fprintf(stderr, "testlib: libsodium failed to initialise\n");
        abort();
    }
}

const char *tl_tmpdir(void)
{
    if (g_tmpdir[0])
        return g_tmpdir;
    const char *base = getenv("TEST_TMPDIR");
    char prog[64] = "test";
    FILE *f = fopen("/proc/self/comm", "r");
    if (f) {
        if (fgets(prog, sizeof prog, f))
            prog[strcspn(prog, "\n")] = 0;
        fclose(f);
    }
    snprintf(g_tmpdir, sizeof g_tmpdir, "%s/%s.XXXXXX", base && *base ? base : "/tmp", prog);
    if (!mkdtemp(g_tmpdir)) {
        fprintf(stderr, "testlib: mkdtemp %s: %s\n", g_tmpdir, strerror(errno));
        g_tmpdir[0] = 0;
        tl__note_failure();
        fail_msg("cannot create a temporary folder");
    }
    return g_tmpdir;
}

/* ---- environments ---- */

static size_t env_len(char **env)
{
    size_t n = 0;
    while (env && env[n])
        n++;
    return n;
}

void tl__env_free(char **env)
{
    for (size_t i = 0; env && env[i]; i++)
        free(env[i]);
    free(env);
}

/* Set "NAME=value" in a malloc'd environment array (replacing NAME). */
static char **env_put(char **env, const char *kv)
{
    const char *eq = strchr(kv, '=');
    size_t klen = eq ? (size_t)(eq - kv) : strlen(kv);
    size_t n = env_len(env);
    for (size_t i = 0; i < n; i++)
        if (strncmp(env[i], kv, klen) == 0 && env[i][klen] == '=') {
            free(env[i]);
            env[i] = strdup(kv);
            return env;
        }
    char **ne = realloc(env, (n + 2) * sizeof *ne);
    if (!ne)
        abort();
    ne[n] = strdup(kv);
    ne[n + 1] = NULL;
    return ne;
}

static char **env_putf(char **env, const char *name, const char *value)
{
    size_t n = strlen(name) + strlen(value) + 2;
    char *kv = malloc(n);
    if (!kv)
        abort();
    snprintf(kv, n, "%s=%s", name, value);
    env = env_put(env, kv);
    free(kv);
    return env;
}

static char **env_copy(char **src)
{
    size_t n = env_len(src);
    char **env = calloc(n + 1, sizeof *env);
    if (!env)
        abort();
    for (size_t i = 0; i < n; i++)
        env[i] = strdup(src[i]);
    return env;
}

static bool keep_inherited(const char *kv)
{
    if (strncmp(kv, "DATABASE_URL=", 13) == 0)
        return false;
    if (strncmp(kv, "ASSETD_", 7) != 0)
        return true;
    /* ASSETD_DB_POOLER: run.d/70-pgbouncer.sh runs every suite through a transaction pooler. */
    return strncmp(kv, "ASSETD_MIGRATIONS_DIR=", 22) == 0 ||
           strncmp(kv, "ASSETD_LOG_REQUESTS=", 20) == 0 || strncmp(kv, "ASSETD_BIN=", 11) == 0 ||
           strncmp(kv, "ASSETD_DB_POOLER=", 17) == 0;
}

static const char *master_key(void)
{
    const char *k = getenv("TEST_MASTER_KEY");
    if (k && *k)
        return k;
    if (!g_master_key[0]) {
        unsigned char b[32];
        tl__sodium();
        randombytes_buf(b, sizeof b);
        tl_b64(g_master_key, sizeof g_master_key, b, sizeof b);
    }
    return g_master_key;
}

/* The environment tl_server_start gives (without port), then extra overrides. */
static char **base_env(const char *const *extra, char *admin_out, size_t admin_n, char *key_out,
                       size_t key_n)
{
    char **env = calloc(1, sizeof *env);
    char token[64];
    const char *db = getenv("TEST_DATABASE_URL");
    if (!env)
        abort();
    for (char **e = environ; *e; e++)
        if (keep_inherited(*e))
            env = env_put(env, *e);
    if (!db || !*db) {
        tl__env_free(env);
        tl__note_failure();
        fail_msg("TEST_DATABASE_URL is not set (run the tests with tests/run.sh)");
    }
    env = env_putf(env, "DATABASE_URL", db);
    env = env_putf(env, "ASSETD_LISTEN_ADDR", "127.0.0.1");
    env = env_putf(env, "ASSETD_MASTER_KEY", master_key());
    env = env_putf(env, "ASSETD_ADMIN_TOKEN", tl_random_token(token));
    env = env_putf(env, "ASSETD_SYNC_WORKERS", "0");
    if (!getenv("ASSETD_MIGRATIONS_DIR"))
        env = env_putf(env, "ASSETD_MIGRATIONS_DIR", "migrations");
    for (size_t i = 0; extra && extra[i]; i++)
        env = env_put(env, extra[i]);
    for (size_t i = 0; env[i]; i++) {
        if (admin_out && strncmp(env[i], "ASSETD_ADMIN_TOKEN=", 19) == 0)
            snprintf(admin_out, admin_n, "%s", env[i] + 19);
        if (key_out && strncmp(env[i], "ASSETD_MASTER_KEY=", 18) == 0)
            snprintf(key_out, key_n, "%s", env[i] + 18);
    }
    return env;
}

/* ---- spawning ---- */

static const char *assetd_bin(void)
{
    const char *bin = getenv("ASSETD_BIN");
    if (!bin || !*bin) {
        tl__note_failure();
        fail_msg("ASSETD_BIN is not set (run the tests with tests/run.sh)");
    }
    return bin;
}

static child_rec *rec_of(const tl_proc *p)
{
    for (int i = 0; i < g_nchildren; i++)
        if (g_children[i].live == p)
            return &g_children[i];
    return NULL;
}

/* Takes ownership of env. */
static tl_proc *spawn(const char *kind, const char *const *args, char **env)
{
    const char *bin = assetd_bin();
    const char *dir = tl_tmpdir();
    tl_proc *p = calloc(1, sizeof *p);
    size_t nargs = 0;
    while (args && args[nargs])
        nargs++;
    char **argv = calloc(nargs + 2, sizeof *argv);
    if (!p || !argv)
        abort();
    argv[0] = (char *)bin;
    for (size_t i = 0; i < nargs; i++)
        argv[i + 1] = (char *)args[i];
    p->env = env;
    snprintf(p->name, sizeof p->name, "assetd-%s-%d", kind, ++g_serial);
    if ((size_t)snprintf(p->log_path, sizeof p->log_path, "%.400s/%s.log", dir, p->name) >=
        sizeof p->log_path)
        abort();
    int logfd = open(p->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (logfd < 0) {
        free(argv);
        tl__env_free(env);
        free(p);
        tl__note_failure();
        fail_msg("cannot create a log file in %s", dir);
    }
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        /* The child dies with the test process, whatever happens to it. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        int nul = open("/dev/null", O_RDONLY);
        if (nul >= 0)
            dup2(nul, 0);
        dup2(logfd, 1);
        dup2(logfd, 2);
        close_range(3, ~0U, 0);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execve(bin, argv, env);
        dprintf(2, "testlib: cannot execute %s: %s\n", bin, strerror(errno));
        _exit(127);
    }
    close(logfd);
    free(argv);
    if (pid < 0) {
        tl__env_free(env);
        free(p);
        tl__note_failure();
        fail_msg("fork: %s", strerror(errno));
    }
    p->pid = pid;
    if (g_nchildren < MAX_CHILDREN) {
        child_rec *r = &g_children[g_nchildren++];
        snprintf(r->name, sizeof r->name, "%s", p->name);
        snprintf(r->log_path, sizeof r->log_path, "%s", p->log_path);
        r->live = p;
    }
    return p;
}

static int decode_status(int st)
{
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return 255;
}

static void reaped(tl_proc *p, int st)
{
    p->status = decode_status(st);
    p->pid = 0;
    child_rec *r = rec_of(p);
    if (r) {
        r->status = p->status;
        r->reaped = true;
    }
}

bool tl_proc_running(tl_proc *p)
{
    int st;
    if (!p || !p->pid)
        return false;
    pid_t w = waitpid(p->pid, &st, WNOHANG);
    if (w == p->pid) {
        reaped(p, st);
        return false;
    }
    if (w < 0 && errno != EINTR) {
        /* Not our child any more (reaped elsewhere): treat as gone. */
        p->status = 255;
        p->pid = 0;
        return false;
    }
    return true;
}

int tl_proc_wait(tl_proc *p, int timeout_ms)
{
    double end = now_ms() + timeout_ms;
    if (!p)
        return -1;
    for (;;) {
        if (!tl_proc_running(p))
            return p->status;
        if (now_ms() >= end)
            return -1;
        sleep_ms(10);
    }
}

void tl_proc_signal(tl_proc *p, int sig)
{
    if (p && p->pid)
        kill(p->pid, sig);
}

static void free_proc(tl_proc *p)
{
    child_rec *r = rec_of(p);
    if (r)
        r->live = NULL;
    tl__env_free(p->env);
    free(p);
}

int tl_proc_log_count(const tl_proc *p, const char *text)
{
    FILE *f = fopen(p->log_path, "r");
    char line[4096];
    int n = 0;
    while (f && fgets(line, sizeof line, f))
        n += strstr(line, text) != NULL;
    if (f)
        fclose(f);
    return n;
}

void tl_proc_print_log(const tl_proc *p, int max_lines)
{
    if (p)
        tl__print_log(p->name, p->log_path, max_lines);
}

void tl__print_log(const char *name, const char *path, int max_lines)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "testlib: no log for %s (%s)\n", name, path);
        return;
    }
    /* Count lines, then skip to the last max_lines. */
    long lines = 0;
    int c;
    while ((c = fgetc(f)) != EOF)
        if (c == '\n')
            lines++;
    rewind(f);
    long skip = max_lines > 0 && lines > max_lines ? lines - max_lines : 0;
    fprintf(stderr, "----- log of %s (%s)%s -----\n", name, path, skip ? " (last lines)" : "");
    while (skip > 0 && (c = fgetc(f)) != EOF)
        if (c == '\n')
            skip--;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        fwrite(buf, 1, n, stderr);
    fprintf(stderr, "----- end of log of %s -----\n", name);
    fclose(f);
}

int tl_proc_stop(tl_proc *p)
{
    if (!p)
        return 0;
    int status = p->status;
    if (p->pid) {
        kill(p->pid, SIGTERM);
        status = tl_proc_wait(p, 60000);
        if (status < 0) {
            fprintf(stderr, "testlib: %s did not exit 60 s after SIGTERM: killing it\n", p->name);
            kill(p->pid, SIGKILL);
            status = tl_proc_wait(p, 10000);
            if (status < 0)
                status = 255;
            status = status ? status : 255;
        }
    }
    if (status != 0) {
        g_unclean = true;
        fprintf(stderr, "testlib: %s exited with status %d\n", p->name, status);
        tl_proc_print_log(p, 300);
    }
    free_proc(p);
    return status;
}

int tl_proc_kill9(tl_proc *p)
{
    if (!p)
        return 0;
    if (p->pid) {
        kill(p->pid, SIGKILL);
        if (tl_proc_wait(p, 10000) < 0)
            fprintf(stderr, "testlib: %s survived SIGKILL for 10 s\n", p->name);
    }
    int status = p->status;
    free_proc(p);
    return status;
}

/* ---- servers ---- */

static int free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* GET /healthz over a plain socket (no libcurl needed): true on a 200 answer. */
static bool healthy(int port)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool ok = false;
    if (fd < 0)
        return false;
    struct timeval tv = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) {
        static const char req[] = "GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
        char buf[64] = {0};
        if (write(fd, req, sizeof req - 1) == (ssize_t)(sizeof req - 1)) {
            size_t got = 0;
            while (got < 12) {
                ssize_t n = read(fd, buf + got, sizeof buf - 1 - got);
                if (n <= 0)
                    break;
                got += (size_t)n;
            }
            ok = got >= 12 && strncmp(buf, "HTTP/1.", 7) == 0 && strncmp(buf + 9, "200", 3) == 0;
        }
    }
    close(fd);
    return ok;
}

tl_server *tl_server_start(const char *const *extra_env)
{
    static const char *const serve[] = {"serve", NULL};
    for (int attempt = 1; attempt <= 3; attempt++) {
        tl_server *s = calloc(1, sizeof *s);
        char kv[32];
        if (!s)
            abort();
        char **env = base_env(extra_env, s->admin_token, sizeof s->admin_token, s->master_key,
                              sizeof s->master_key);
        /* The port: the one given in extra_env, else a free one. */
        bool fixed_port = false;
        for (size_t i = 0; extra_env && extra_env[i]; i++)
            if (strncmp(extra_env[i], "ASSETD_PORT=", 12) == 0) {
                s->port = atoi(extra_env[i] + 12);
                fixed_port = true;
            }
        if (!fixed_port) {
            s->port = free_port();
            snprintf(kv, sizeof kv, "ASSETD_PORT=%d", s->port);
            env = env_put(env, kv);
        }
        snprintf(s->base_url, sizeof s->base_url, "http://127.0.0.1:%d", s->port);
        s->proc = spawn("serve", serve, env);
        double end = now_ms() + 20000;
        bool up = false, died = false;
        while (now_ms() < end) {
            if (!tl_proc_running(s->proc)) {
                died = true;
                break;
            }
            if (healthy(s->port)) {
                up = true;
                break;
            }
            sleep_ms(25);
        }
        if (up)
            return s;
        /* Died: maybe the port was taken in between; try another one. */
        bool port_taken = false;
        if (died && !fixed_port) {
            FILE *f = fopen(s->proc->log_path, "r");
            char line[1024];
            while (f && fgets(line, sizeof line, f))
                if (strstr(line, "cannot listen"))
                    port_taken = true;
            if (f)
                fclose(f);
        }
        if (port_taken && attempt < 3) {
            tl_proc_kill9(s->proc);
            free(s);
            continue;
        }
        fprintf(stderr, "testlib: assetd serve %s (port %d)\n",
                died ? "exited before it answered GET /healthz"
                     : "did not answer GET /healthz in 20 s",
                s->port);
        tl_proc_print_log(s->proc, 0);
        tl_proc_kill9(s->proc);
        free(s);
        tl__note_failure();
        fail_msg("assetd serve did not start");
    }
    return NULL; /* not reached */
}

int tl_server_stop(tl_server *s)
{
    if (!s)
        return 0;
    int status = tl_proc_stop(s->proc);
    free(s);
    return status;
}

int tl_server_kill9(tl_server *s)
{
    if (!s)
        return 0;
    int status = tl_proc_kill9(s->proc);
    free(s);
    return status;
}

tl_proc *tl_worker_start(const tl_server *s, const char *const *extra_env)
{
    static const char *const worker[] = {"worker", NULL};
    return tl_assetd_spawn(s, worker, extra_env);
}

tl_proc *tl_assetd_spawn(const tl_server *s, const char *const *args, const char *const *extra_env)
{
    char **env = s ? env_copy(s->proc->env) : base_env(NULL, NULL, 0, NULL, 0);
    for (size_t i = 0; extra_env && extra_env[i]; i++)
        env = env_put(env, extra_env[i]);
    return spawn(args && args[0] ? args[0] : "run", args, env);
}

int tl_assetd_run(const tl_server *s, const char *const *args, const char *const *extra_env,
                  int timeout_ms, char **out)
{
    tl_proc *p = tl_assetd_spawn(s, args, extra_env);
    int status = tl_proc_wait(p, timeout_ms);
    if (status < 0) {
        fprintf(stderr, "testlib: %s did not finish in %d ms\n", p->name, timeout_ms);
        tl_proc_kill9(p);
        return -1;
    }
    if (out) {
        FILE *f = fopen(p->log_path, "r");
        size_t cap = 4096, len = 0, n;
        char *buf = malloc(cap);
        if (!buf)
            abort();
        while (f && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
            len += n;
            if (cap - len < 2) {
                cap *= 2;
                if (!(buf = realloc(buf, cap)))
                    abort();
            }
        }
        buf[len] = 0;
        if (f)
            fclose(f);
        *out = buf;
    }
    free_proc(p);
    return status;
}

/* ---- the end ---- */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int tl_finish(int rc)
{
    bool leftover = false;
    for (int i = 0; i < g_nchildren; i++) {
        child_rec *r = &g_children[i];
        if (r->live && r->live->pid) {
            leftover = true;
            fprintf(stderr, "testlib: %s was still running at the end: killing it\n", r->name);
            kill(r->live->pid, SIGKILL);
            tl_proc_wait(r->live, 10000);
        }
    }
    bool failed = rc != 0 || g_unclean || g_setup_failed;
    if (failed) {
        if (rc == 0)
            fprintf(stderr, "testlib: failing: %s\n",
                    g_unclean ? "a child process exited with a non-zero status"
                              : "a set-up or tear-down step failed");
        for (int i = 0; i < g_nchildren; i++)
            tl__print_log(g_children[i].name, g_children[i].log_path, 300);
    }
    (void)leftover;
    for (int i = 0; i < g_nchildren; i++)
        if (g_children[i].live) {
            free_proc(g_children[i].live);
        }
    tl__db_close();
    tl__http_cleanup();
    if (g_tmpdir[0]) {
        if (!failed || getenv("TEST_TMPDIR"))
            nftw(g_tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        else
            fprintf(stderr, "testlib: logs kept in %s\n", g_tmpdir);
    }
    if (rc != 0)
        return rc;
    return failed ? 1 : 0;
}

double tl_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void tl_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

bool tl_is_asan(void)
{
    const char *m = getenv("TEST_MODE");
    return m && strcmp(m, "asan") == 0;
}

int tl_scaled_ms(int ms)
{
    return tl_is_asan() ? ms * 4 : ms;
}
