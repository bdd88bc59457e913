/* testlib: raw TCP requests, for what libcurl will not send (conflicting framing headers, bytes
 * trickled one at a time, a body cut off mid-way, control bytes in the method). The answers are
 * tl_resp records, so the usual assertions apply; they are not written to TEST_RESPONSE_LOG. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testlib.h"

int tl_raw_connect(const tl_server *s)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        fail_msg("socket: %s", strerror(errno));
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)s->port);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
        fail_msg("connect to port %d: %s", s->port, strerror(errno));
    return fd;
}

size_t tl_raw_send(int fd, const void *data, size_t len)
{
    size_t off = 0;
    while (off < len) {
        ssize_t w = send(fd, (const char *)data + off, len - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break; /* the peer closed: the reader sees it */
        off += (size_t)w;
    }
    return off;
}

size_t tl_raw_sends(int fd, const char *s)
{
    return tl_raw_send(fd, s, strlen(s));
}

/* Reads into b until the predicate holds, EOF or the deadline. 1 EOF, 0 more data may come, -1
 * timeout. */
typedef struct {
    char *p;
    size_t len, cap;
} rbuf;

static int read_some(int fd, rbuf *b, double deadline)
{
    int left = (int)(deadline - tl_now_ms());
    if (left <= 0)
        return -1;
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, left) <= 0)
        return -1;
    if (b->len + 4097 > b->cap) {
        b->cap = b->cap ? 2 * b->cap : 8192;
        b->p = realloc(b->p, b->cap);
        if (!b->p)
            abort();
    }
    ssize_t n = recv(fd, b->p + b->len, b->cap - b->len - 1, 0);
    if (n <= 0)
        return 1; /* EOF or reset */
    b->len += (size_t)n;
    b->p[b->len] = 0;
    return 0;
}

static void header_value(const char *head, const char *name, char *out, size_t n)
{
    size_t nl = strlen(name);
    out[0] = 0;
    for (const char *p = strstr(head, "\r\n"); p && p[2];) {
        p += 2;
        const char *eol = strstr(p, "\r\n");
        if (!eol)
            return;
        if ((size_t)(eol - p) > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            snprintf(out, n, "%.*s", (int)(eol - v), v);
            return;
        }
        p = eol;
    }
}

tl_resp *tl_raw_read(int fd, int timeout_ms)
{
    tl_resp *r = calloc(1, sizeof *r);
    rbuf b = {0};
    double deadline = tl_now_ms() + timeout_ms;
    char *end = NULL;
    int rc = 0;
    if (!r)
        abort();
    snprintf(r->request, sizeof r->request, "(raw request)");
    while (!(end = b.p ? strstr(b.p, "\r\n\r\n") : NULL) && rc == 0)
        rc = read_some(fd, &b, deadline);
    if (!end) {
        snprintf(r->error, sizeof r->error, "%s before a whole response head (%zu bytes read)",
                 rc < 0 ? "timeout" : "connection closed", b.len);
        r->body = strdup("");
        r->headers = strdup(b.p ? b.p : "");
        free(b.p);
        return r;
    }
    size_t head_len = (size_t)(end - b.p) + 4;
    r->headers = strndup(b.p, head_len);
    if (strncmp(b.p, "HTTP/1.", 7) == 0 && b.len > 12)
        r->status = atol(b.p + 9);
    char cl[32];
    header_value(r->headers, "Content-Length", cl, sizeof cl);
    header_value(r->headers, "Content-Type", r->content_type, sizeof r->content_type);
    header_value(r->headers, "X-Request-Id", r->request_id, sizeof r->request_id);
    header_value(r->headers, "WWW-Authenticate", r->www_authenticate, sizeof r->www_authenticate);
    header_value(r->headers, "Retry-After", r->retry_after, sizeof r->retry_after);
    size_t want = cl[0] ? (size_t)atol(cl) : 0;
    while (b.len - head_len < want && read_some(fd, &b, deadline) == 0)
        ;
    size_t have = b.len - head_len < want ? b.len - head_len : want;
    r->body = malloc(have + 1);
    if (!r->body)
        abort();
    memcpy(r->body, b.p + head_len, have);
    r->body[have] = 0;
    r->body_len = have;
    if (have < want)
        snprintf(r->error, sizeof r->error, "body cut at %zu of %zu bytes", have, want);
    r->json = json_loadb(r->body, r->body_len, 0, NULL);
    free(b.p);
    return r;
}

bool tl_raw_closed(int fd, int timeout_ms)
{
    char buf[4096];
    double deadline = tl_now_ms() + timeout_ms;
    for (;;) {
        int left = (int)(deadline - tl_now_ms());
        if (left <= 0)
            return false;
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, left) <= 0)
            return false;
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0)
            return true;
    }
}
