/* Load generator of the benchmark: raw non-blocking sockets and epoll, HTTP/1.1 keep-alive, one
 * thread. (libcurl multi was tried first: about 250 µs of CPU per request, which on a 2-core
 * machine is CPU taken from assetd; this costs a few tens of µs.)
 *
 *   loadgen seed  BASE TOKEN COUNT CONC PREFIX
 *       POST /assets COUNT times over CONC connections (closed loop): alias PREFIX%07d, a 1 KiB
 *       secret (base64 in env BENCH_SECRET), dataLabelNormal1 "grp-<i mod 10>", syncType
 *       [TRUSTED_DEVICE]. A 5xx or a broken connection is retried (up to 3 times); a 409 on a
 *       retry means the first try was committed. Exit 1 unless every asset ends up created.
 *
 *   loadgen pace  BASE TOKEN RATE SECONDS CONC MODE ARG
 *       Open loop at a fixed RATE (requests/s) for SECONDS, over at most CONC connections.
 *       MODE get:  GET /assets/<ARG><random 0..BENCH_ALIASES-1 as %07d>?returnType=ALL
 *       MODE post: POST /assets, alias <ARG><n> (unique), body as for seed.
 *       Request i is due at t0 + i/RATE. Its latency runs from that due time, not from when it
 *       was actually written, so waiting for a free connection counts (no coordinated
 *       omission). Requests due in the first second (warm-up) are not recorded.
 *
 * BASE is http://IPv4:PORT. Both modes print one line "LOADGEN key=value ..." on stdout.
 * Every loop is bounded in time (seed: BENCH_LOADGEN_MAX_S, default 300 s; pace: SECONDS + 15). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { C_CLOSED, C_IDLE, C_BUSY };

typedef struct {
    int fd, state;
    char *out;
    size_t out_len, out_off, out_cap;
    char *in;
    size_t in_len, in_cap;
    long index;  /* seed: asset index */
    double due;  /* pace: when the request was due (s since t0) */
    double sent; /* pace: when it was written */
} conn;

typedef struct {
    int status; /* HTTP status, or -1 when the connection broke */
    conn *c;
} result;

static struct sockaddr_in addr;
static char host_hdr[96], auth[600];
static const char *secret_b64;
static int ep;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p) {
        fprintf(stderr, "loadgen: out of memory\n");
        exit(1);
    }
    return p;
}

static int parse_base(const char *base)
{
    char ip[64];
    int port = 0;
    if (sscanf(base, "http://%63[0-9.]:%d", ip, &port) != 2 || port <= 0 || port > 65535)
        return -1;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, ip, &addr.sin_addr) != 1)
        return -1;
    snprintf(host_hdr, sizeof host_hdr, "%s:%d", ip, port);
    return 0;
}

static void conn_close(conn *c)
{
    if (c->fd >= 0) {
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
    c->state = C_CLOSED;
    c->in_len = c->out_len = c->out_off = 0;
}

static int conn_open(conn *c)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
    if (fd < 0)
        return -1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
        close(fd);
        return -1;
    }
    c->fd = fd;
    c->state = C_IDLE;
    c->in_len = 0;
    return 0;
}

static void out_reserve(conn *c, size_t n)
{
    if (c->out_cap < n) {
        free(c->out);
        c->out_cap = n + 256;
        c->out = xmalloc(c->out_cap);
    }
}

static void build_post(conn *c, const char *alias, long label)
{
    char head[1024];
    size_t blen = strlen(secret_b64) + strlen(alias) + 128;
    out_reserve(c, blen + sizeof head);
    /* body first, after room for the head, then the head in front of it */
    char *body = c->out + sizeof head;
    int bn = snprintf(body, blen,
                      "{\"secret\":\"%s\",\"alias\":\"%s\",\"dataLabelNormal1\":\"grp-%ld\","
                      "\"syncType\":[\"TRUSTED_DEVICE\"]}",
                      secret_b64, alias, label % 10);
    int hn =
        snprintf(head, sizeof head,
                 "POST /assets HTTP/1.1\r\nHost: %s\r\n%s\r\nContent-Type: application/json\r\n"
                 "Content-Length: %d\r\n\r\n",
                 host_hdr, auth, bn);
    memmove(c->out + hn, body, (size_t)bn);
    memcpy(c->out, head, (size_t)hn);
    c->out_len = (size_t)(hn + bn);
    c->out_off = 0;
}

static void build_get(conn *c, const char *alias)
{
    out_reserve(c, 1024);
    int n = snprintf(c->out, c->out_cap,
                     "GET /assets/%s?returnType=ALL HTTP/1.1\r\nHost: %s\r\n%s\r\n\r\n", alias,
                     host_hdr, auth);
    c->out_len = (size_t)n;
    c->out_off = 0;
}

/* Write what is pending; -1 on a broken connection. */
static int conn_flush(conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n > 0) {
            c->out_off += (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR || errno == ENOTCONN))
            return 0; /* EPOLLOUT (edge) tells when to go on; also covers a pending connect */
        return -1;
    }
    return 0;
}

static int conn_send(conn *c)
{
    if (c->state == C_CLOSED && conn_open(c) != 0)
        return -1;
    c->state = C_BUSY;
    c->in_len = 0;
    return conn_flush(c);
}

/* A complete response in c->in? Returns its status, 0 when incomplete, -1 when malformed. */
static int parse_response(conn *c, size_t *used)
{
    char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
    if (!end)
        return 0;
    size_t head = (size_t)(end - c->in) + 4;
    int status = 0;
    if (c->in_len < 12 || sscanf(c->in, "HTTP/1.%*d %d", &status) != 1)
        return -1;
    long clen = 0;
    for (char *p = c->in; p && p < end;) {
        char *eol = memmem(p, (size_t)(end + 2 - p), "\r\n", 2);
        if (!eol)
            break;
        if ((size_t)(eol - p) > 15 && strncasecmp(p, "Content-Length:", 15) == 0)
            clen = strtol(p + 15, NULL, 10);
        p = eol + 2;
    }
    if (c->in_len < head + (size_t)clen)
        return 0;
    *used = head + (size_t)clen;
    return status;
}

/* Read what is there; appends finished responses to res. */
static void conn_read(conn *c, result *res, int *nres)
{
    for (;;) {
        if (c->in_cap - c->in_len < 4096) {
            c->in_cap = c->in_cap ? c->in_cap * 2 : 16384;
            char *nb = xmalloc(c->in_cap);
            if (c->in_len)
                memcpy(nb, c->in, c->in_len);
            free(c->in);
            c->in = nb;
        }
        ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
        if (n > 0) {
            c->in_len += (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            break;
        /* closed or failed */
        int was_busy = c->state == C_BUSY;
        conn_close(c);
        if (was_busy)
            res[(*nres)++] = (result){-1, c};
        return;
    }
    if (c->state != C_BUSY)
        return;
    size_t used = 0;
    int st = parse_response(c, &used);
    if (st == 0)
        return;
    if (st < 0) {
        conn_close(c);
        res[(*nres)++] = (result){-1, c};
        return;
    }
    memmove(c->in, c->in + used, c->in_len - used);
    c->in_len -= used;
    c->state = C_IDLE;
    res[(*nres)++] = (result){st, c};
}

/* Wait for events up to timeout seconds (microsecond resolution); collect finished requests. */
static void poll_once(double timeout, result *res, int *nres)
{
    struct epoll_event evs[256];
    struct timespec ts = {(time_t)timeout, (long)((timeout - (double)(time_t)timeout) * 1e9)};
    *nres = 0;
    int n = epoll_pwait2(ep, evs, 256, &ts, NULL);
    for (int i = 0; i < n; i++) {
        conn *c = evs[i].data.ptr;
        if (c->fd < 0)
            continue;
        if ((evs[i].events & EPOLLOUT) && c->state == C_BUSY && conn_flush(c) != 0) {
            conn_close(c);
            res[(*nres)++] = (result){-1, c};
            continue;
        }
        if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
            conn_read(c, res, nres);
    }
}

static conn *conns_new(int n)
{
    conn *cs = calloc((size_t)n, sizeof *cs);
    if (!cs) {
        fprintf(stderr, "loadgen: out of memory\n");
        exit(1);
    }
    for (int i = 0; i < n; i++)
        cs[i].fd = -1;
    return cs;
}

/* ---- seed ---- */

static int seed(long count, int conc, const char *prefix)
{
    conn *cs = conns_new(conc);
    long *retry = calloc((size_t)count, sizeof *retry), nretry = 0;
    unsigned char *tries = calloc((size_t)count, 1);
    long next = 0, created = 0, failed = 0, retried = 0, in_flight = 0;
    const char *mx = getenv("BENCH_LOADGEN_MAX_S");
    double limit = mx && atof(mx) > 0 ? atof(mx) : 300, t0 = now_s();
    result res[512];
    char alias[64];
    if (!retry || !tries)
        return 1;
    for (;;) {
        for (int i = 0; i < conc; i++) {
            conn *c = &cs[i];
            if (c->state == C_BUSY)
                continue;
            if (nretry > 0)
                c->index = retry[--nretry];
            else if (next < count)
                c->index = next++;
            else
                continue;
            snprintf(alias, sizeof alias, "%s%07ld", prefix, c->index);
            build_post(c, alias, c->index);
            tries[c->index]++;
            in_flight++;
            if (conn_send(c) != 0) {
                conn_close(c);
                in_flight--;
                retry[nretry++] = c->index;
                if (tries[c->index] > 3) {
                    fprintf(stderr, "loadgen seed: cannot connect\n");
                    return 1;
                }
            }
        }
        if (in_flight == 0)
            break;
        if (now_s() - t0 > limit) {
            fprintf(stderr, "loadgen seed: time limit of %.0f s reached\n", limit);
            break;
        }
        int nres = 0;
        poll_once(0.1, res, &nres);
        for (int i = 0; i < nres; i++) {
            conn *c = res[i].c;
            int st = res[i].status;
            in_flight--;
            if (st == 201 || (st == 409 && tries[c->index] > 1)) {
                created++;
            } else if ((st < 0 || st >= 500) && tries[c->index] < 4) {
                retry[nretry++] = c->index;
                retried++;
            } else {
                if (failed < 5)
                    fprintf(stderr, "loadgen seed: asset %ld: HTTP %d\n", c->index, st);
                failed++;
            }
        }
    }
    double t = now_s() - t0;
    printf("LOADGEN mode=seed count=%ld created=%ld failed=%ld retried=%ld seconds=%.3f "
           "rate=%.1f\n",
           count, created, failed, retried, t, created / (t > 0 ? t : 1));
    return created == count ? 0 : 1;
}

/* ---- pace ---- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(const double *v, long n, double p)
{
    if (n == 0)
        return NAN;
    long i = (long)ceil(p / 100.0 * (double)n) - 1;
    if (i < 0)
        i = 0;
    if (i >= n)
        i = n - 1;
    return v[i];
}

static int pace(double rate, double seconds, int conc, const char *mode, const char *arg)
{
    const double warmup = 1.0;
    int is_post = strcmp(mode, "post") == 0, want = is_post ? 201 : 200;
    const char *na = getenv("BENCH_ALIASES");
    long aliases = na && atol(na) > 0 ? atol(na) : 100000;
    long total = (long)(rate * seconds), issued = 0, done = 0, errors = 0, late = 0, nlat = 0;
    double *lat = calloc((size_t)total + 1, sizeof *lat);
    double *svc = calloc((size_t)total + 1, sizeof *svc);
    conn *cs = conns_new(conc);
    /* Idle connections in a FIFO ring: the least recently used goes next, so the load spreads
     * over every connection (and so over every server thread), as many independent clients
     * would spread it. (A stack would keep reusing a few connections, and with a server that
     * binds each connection to one thread, queue requests behind each other.) */
    conn **idle = calloc((size_t)conc, sizeof *idle);
    int nidle = conc, ihead = 0;
    result res[512];
    char alias[128];
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    if (!lat || !svc || !idle)
        return 1;
    for (int i = 0; i < conc; i++)
        idle[i] = &cs[i];
    double t0 = now_s(), hard_end = seconds + 15.0;
    while (done < total) {
        double t = now_s() - t0;
        if (t > hard_end) {
            fprintf(stderr, "loadgen pace: %ld requests still open after %.0f s\n", total - done,
                    hard_end);
            errors += total - done;
            break;
        }
        /* Every due request goes to an idle connection; the rest wait, their clock running. */
        while (issued < total && (double)issued / rate <= t && nidle > 0) {
            conn *c = idle[ihead];
            ihead = (ihead + 1) % conc;
            nidle--;
            c->due = (double)issued / rate;
            c->sent = t;
            if (t - c->due > 0.0005)
                late++;
            if (is_post) {
                snprintf(alias, sizeof alias, "%s%ld", arg, issued);
                build_post(c, alias, issued);
            } else {
                snprintf(alias, sizeof alias, "%s%07ld", arg, (long)(rand_r(&seed) % aliases));
                build_get(c, alias);
            }
            issued++;
            if (conn_send(c) != 0) {
                conn_close(c);
                idle[(ihead + nidle++) % conc] = c;
                done++;
                errors++;
            }
        }
        double wait = 0.01;
        if (issued < total && nidle > 0) {
            wait = (double)issued / rate - (now_s() - t0);
            wait = wait < 0 ? 0 : wait > 0.01 ? 0.01 : wait;
        }
        int nres = 0;
        poll_once(wait, res, &nres);
        double end = now_s() - t0;
        for (int i = 0; i < nres; i++) {
            conn *c = res[i].c;
            idle[(ihead + nidle++) % conc] = c;
            done++;
            if (res[i].status != want) {
                if (errors < 5)
                    fprintf(stderr, "loadgen pace: HTTP %d\n", res[i].status);
                errors++;
                continue;
            }
            if (c->due >= warmup) {
                lat[nlat] = (end - c->due) * 1e3;
                svc[nlat] = (end - c->sent) * 1e3;
                nlat++;
            }
        }
    }
    double elapsed = now_s() - t0;
    qsort(lat, (size_t)nlat, sizeof *lat, cmp_double);
    qsort(svc, (size_t)nlat, sizeof *svc, cmp_double);
    printf("LOADGEN mode=pace-%s target_rate=%.1f achieved_rate=%.1f seconds=%.3f requests=%ld "
           "recorded=%ld errors=%ld late_starts=%ld p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f "
           "p999_ms=%.3f max_ms=%.3f svc_p50_ms=%.3f svc_p99_ms=%.3f\n",
           mode, rate, (double)done / elapsed, elapsed, done, nlat, errors, late,
           pct(lat, nlat, 50), pct(lat, nlat, 90), pct(lat, nlat, 99), pct(lat, nlat, 99.9),
           nlat ? lat[nlat - 1] : NAN, pct(svc, nlat, 50), pct(svc, nlat, 99));
    return errors > total / 100 ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        goto usage;
    secret_b64 = getenv("BENCH_SECRET");
    if (!secret_b64 || !*secret_b64) {
        fprintf(stderr, "loadgen: BENCH_SECRET (base64 of the secret) is not set\n");
        return 2;
    }
    if ((ep = epoll_create1(EPOLL_CLOEXEC)) < 0) {
        perror("loadgen: epoll_create1");
        return 1;
    }
    if (argc >= 4) {
        if (parse_base(argv[2]) != 0) {
            fprintf(stderr, "loadgen: BASE must be http://IPv4:PORT\n");
            return 2;
        }
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", argv[3]);
    }
    if (strcmp(argv[1], "seed") == 0 && argc == 7) {
        long count = atol(argv[4]);
        int conc = atoi(argv[5]);
        if (count <= 0 || conc <= 0 || conc > 4096)
            goto usage;
        return seed(count, conc, argv[6]);
    }
    if (strcmp(argv[1], "pace") == 0 && argc == 9) {
        double rate = atof(argv[4]), secs = atof(argv[5]);
        int conc = atoi(argv[6]);
        if (rate <= 0 || secs <= 1 || conc <= 0 || conc > 4096 ||
            (strcmp(argv[7], "get") != 0 && strcmp(argv[7], "post") != 0))
            goto usage;
        return pace(rate, secs, conc, argv[7], argv[8]);
    }
usage:
    fprintf(stderr, "usage: loadgen seed BASE TOKEN COUNT CONC PREFIX\n"
                    "       loadgen pace BASE TOKEN RATE SECONDS CONC get|post ARG\n");
    return 2;
}
