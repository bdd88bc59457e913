#include "edge.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "../service/log.h"

/* How often the sweep looks for connections past their deadline. */
#define SWEEP_MS 250

typedef struct edge_conn {
    struct edge_conn *prev, *next;
    struct edge *e;
    int fd;
    atomic_llong deadline_ms; /* monotonic; 0: none */
    bool cut;                 /* shut down by the sweep (under e->mu) */
} edge_conn;

struct edge {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    edge_conn *head;
    long long timeout_ms;
    pthread_t thread;
    bool started, stop;
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- whole-request deadline ---- */

static void *sweep_main(void *arg)
{
    edge *e = arg;
    pthread_mutex_lock(&e->mu);
    while (!e->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += SWEEP_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&e->cv, &e->mu, &until);
        log_flush(); /* the request lines held (log_emit_later) */
        long long now = now_ms();
        int cut = 0;
        /* The socket is still open: libmicrohttpd reports a connection closed (and we unlink
         * it, under this mutex) before it closes the socket. */
        for (edge_conn *ec = e->head; ec; ec = ec->next) {
            long long d = atomic_load(&ec->deadline_ms);
            if (d && now > d && !ec->cut) {
                shutdown(ec->fd, SHUT_RDWR);
                ec->cut = true;
                cut++;
            }
        }
        if (cut)
            log_info("connections closed: request not received within the connection timeout",
                     LOG_INT("connections", cut));
    }
    pthread_mutex_unlock(&e->mu);
    return NULL;
}

int edge_start(edge **out, int request_timeout_s)
{
    edge *e = calloc(1, sizeof *e);
    *out = NULL;
    if (!e)
        return -1;
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    e->timeout_ms = (long long)request_timeout_s * 1000;
    if (pthread_create(&e->thread, NULL, sweep_main, e) != 0) {
        edge_stop(e);
        return -1;
    }
    e->started = true;
    *out = e;
    return 0;
}

void edge_stop(edge *e)
{
    if (!e)
        return;
    pthread_mutex_lock(&e->mu);
    e->stop = true;
    pthread_cond_signal(&e->cv);
    pthread_mutex_unlock(&e->mu);
    if (e->started)
        pthread_join(e->thread, NULL);
    /* The daemon is stopped: every connection was reported closed. Free stragglers anyway. */
    while (e->head) {
        edge_conn *ec = e->head;
        e->head = ec->next;
        free(ec);
    }
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->cv);
    free(e);
}

void edge_on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                        enum MHD_ConnectionNotificationCode code)
{
    edge *e = cls;
    edge_conn *ec = *socket_context;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *fd =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!fd || !(ec = calloc(1, sizeof *ec)))
            return; /* no deadline for this one: the idle timeout still applies */
        ec->e = e;
        ec->fd = fd->connect_fd;
        atomic_store(&ec->deadline_ms, now_ms() + e->timeout_ms);
        pthread_mutex_lock(&e->mu);
        ec->next = e->head;
        if (e->head)
            e->head->prev = ec;
        e->head = ec;
        pthread_mutex_unlock(&e->mu);
        *socket_context = ec;
        return;
    }
    if (!ec)
        return;
    pthread_mutex_lock(&e->mu);
    if (ec->prev)
        ec->prev->next = ec->next;
    else
        e->head = ec->next;
    if (ec->next)
        ec->next->prev = ec->prev;
    pthread_mutex_unlock(&e->mu);
    free(ec);
    *socket_context = NULL;
}

static edge_conn *conn_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *i =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return i ? i->socket_context : NULL;
}

/* Called when the request line is complete (headers may still trickle in). Returns the
 * request's initial context: none, the access handler makes it. */
void *edge_on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    edge *e = cls;
    edge_conn *ec = conn_of(c);
    (void)uri;
    if (ec)
        atomic_store(&ec->deadline_ms, now_ms() + e->timeout_ms);
    return NULL;
}

void edge_request_received(struct MHD_Connection *c)
{
    edge_conn *ec = conn_of(c);
    if (ec)
        atomic_store(&ec->deadline_ms, 0);
}

void edge_request_done(struct MHD_Connection *c)
{
    edge_conn *ec = conn_of(c);
    if (ec)
        atomic_store(&ec->deadline_ms, now_ms() + ec->e->timeout_ms);
}

/* ---- framing ---- */

#define KEYS_MAX 128

typedef struct {
    int te, cl, host, auth;
    const char *auth_value;
    const char *keys[KEYS_MAX]; /* where each header's name starts */
    int nkeys;
} header_counts;

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    header_counts *n = cls;
    (void)kind;
    if (n->nkeys < KEYS_MAX)
        n->keys[n->nkeys++] = key;
    if (strcasecmp(key, MHD_HTTP_HEADER_AUTHORIZATION) == 0)
        n->auth_value = value;
    if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0)
        n->te++;
    else if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
        n->cl++;
    else if (strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0)
        n->host++;
    else if (strcasecmp(key, MHD_HTTP_HEADER_AUTHORIZATION) == 0)
        n->auth++;
    return MHD_YES;
}

/* libmicrohttpd 0.9.75 keeps a header's value up to its first NUL byte and says nothing of the
 * rest ("Bearer <token>\0junk" reads as "Bearer <token>"; 1.0 refuses such a line). Its values
 * and names point into the request's read buffer, where a line's end (CR, LF) is overwritten
 * with NULs: so the byte after the value's NUL is another NUL, or, with bare-LF line ends, the
 * first byte of the next header's name. Anything else is what followed a NUL inside the line. */
static bool value_was_cut(const header_counts *n, const char *value)
{
    const char *after = value + strlen(value) + 1;
    if (*after == 0)
        return false;
    for (int i = 0; i < n->nkeys; i++)
        if (n->keys[i] == after)
            return false;
    return n->nkeys < KEYS_MAX; /* past KEYS_MAX headers: not known, not refused */
}

int edge_check_framing_or_reply(http_req *rq, const char *version)
{
    header_counts n = {0};
    MHD_get_connection_values(rq->conn, MHD_HEADER_KIND, count_header, &n);
    const char *field = NULL, *detail = NULL;
    if (n.te && n.cl) {
        field = "Content-Length";
        detail = "must not be sent together with Transfer-Encoding";
    } else if (n.cl > 1 || n.te > 1 || n.host > 1 || n.auth > 1) {
        field = n.cl > 1     ? "Content-Length"
                : n.te > 1   ? "Transfer-Encoding"
                : n.host > 1 ? "Host"
                             : "Authorization";
        detail = "header is given more than once";
    } else if (n.auth_value && value_was_cut(&n, n.auth_value)) {
        field = "Authorization";
        detail = "header holds a NUL byte";
    } else if (!n.host && version && strcmp(version, MHD_HTTP_VERSION_1_1) == 0) {
        field = "Host";
        detail = "header is required in an HTTP/1.1 request";
    }
    if (field) {
        http_problem_status(rq, 400, ASSET_INVALID_ARGUMENT, field, detail);
        return -1;
    }
    const char *te =
        MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    if (te && strcasecmp(te, "chunked") != 0) {
        /* libmicrohttpd would read such a body until the peer closes: refuse it at once. */
        http_problem_status(rq, 501, ASSET_UNSUPPORTED, "Transfer-Encoding",
                            "is not supported: only chunked is");
        return -1;
    }
    return 0;
}

/* ---- raw answers ---- */

void edge_answer_raw(http_req *rq)
{
    const union MHD_ConnectionInfo *fd =
        MHD_get_connection_info(rq->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!fd)
        return;
    const char *reason = MHD_get_reason_phrase_for((unsigned)rq->status);
    char head[512], extra[64] = "";
    if (rq->www_auth)
        snprintf(extra, sizeof extra, "WWW-Authenticate: Bearer\r\n");
    else if (rq->retry_after > 0)
        snprintf(extra, sizeof extra, "Retry-After: %d\r\n", rq->retry_after);
    int len = snprintf(head, sizeof head,
                       "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                       "X-Request-Id: %s\r\nCache-Control: no-store\r\n%sConnection: close\r\n\r\n",
                       rq->status, reason && *reason ? reason : "Error",
                       rq->content_type ? rq->content_type : "application/octet-stream",
                       rq->resp ? rq->resp_len : 0, rq->request_id, extra);
    if (len <= 0 || (size_t)len >= sizeof head)
        return;
    struct iovec iov[2] = {{head, (size_t)len}, {rq->resp, rq->resp ? rq->resp_len : 0}};
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
    size_t left = iov[0].iov_len + iov[1].iov_len;
    /* Non-blocking: a few hundred bytes into an idle socket's send buffer. */
    while (left > 0) {
        ssize_t w = sendmsg(fd->connect_fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        left -= (size_t)w;
        while (w > 0 && msg.msg_iovlen > 0) {
            size_t take = (size_t)w < msg.msg_iov->iov_len ? (size_t)w : msg.msg_iov->iov_len;
            msg.msg_iov->iov_base = (char *)msg.msg_iov->iov_base + take;
            msg.msg_iov->iov_len -= take;
            w -= (ssize_t)take;
            if (msg.msg_iov->iov_len == 0) {
                msg.msg_iov++;
                msg.msg_iovlen--;
            }
        }
    }
    /* Tell the peer the answer is complete; libmicrohttpd closes the socket next. */
    shutdown(fd->connect_fd, SHUT_WR);
}
