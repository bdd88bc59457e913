/* http: response construction, percent-decoding and the wipe-on-free allocator shared by the
 * server, the router and the handlers (no daemon here, so unit tests can link it). */
#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "jsonparse.h"

/* ---- memory that may hold secrets: wiped when freed ---- */

#define SECURE_HDR 16

/* Jansson drops data instead of failing when an allocation fails inside the parser or the
 * serialiser, so failed allocations are counted per thread and checked around both. */
static _Thread_local unsigned long alloc_failures;

void *http_secure_malloc(size_t n)
{
    if (n > SIZE_MAX - SECURE_HDR)
        return NULL;
    unsigned char *b = malloc(n + SECURE_HDR);
    if (!b) {
        alloc_failures++;
        return NULL;
    }
    memcpy(b, &n, sizeof n);
    return b + SECURE_HDR;
}

void http_secure_free(void *p)
{
    if (!p)
        return;
    unsigned char *b = (unsigned char *)p - SECURE_HDR;
    size_t n;
    memcpy(&n, b, sizeof n);
    sodium_memzero(p, n);
    free(b);
}

/* ---- responses ---- */

static void reset_response(http_req *rq)
{
    http_secure_free(rq->resp);
    rq->resp = NULL;
    rq->resp_len = 0;
}

void http_json(http_req *rq, int status, json_t *body)
{
    reset_response(rq);
    unsigned long failures = alloc_failures;
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (text && alloc_failures != failures) { /* possibly missing parts: never send that */
        http_secure_free(text);
        text = NULL;
    }
    if (!text) {
        /* Out of memory while building the answer: a fixed problem, no allocation. */
        static const char oom[] =
            "{\"type\":\"urn:assetd:error:OUT_OF_MEMORY\",\"title\":\"Out of memory\","
            "\"status\":503,\"detail\":\"out of memory\",\"code\":24000006,"
            "\"name\":\"OUT_OF_MEMORY\"}";
        text = http_secure_malloc(sizeof oom);
        if (text)
            memcpy(text, oom, sizeof oom);
        status = 503;
        rq->content_type = "application/problem+json";
    } else {
        rq->content_type = "application/json";
    }
    rq->status = status;
    rq->resp = text;
    rq->resp_len = text ? strlen(text) : 0;
}

void http_empty(http_req *rq, int status)
{
    reset_response(rq);
    rq->status = status;
    rq->content_type = NULL;
}

void http_text(http_req *rq, int status, const char *content_type, char *text, size_t len)
{
    reset_response(rq);
    rq->status = status;
    rq->content_type = content_type;
    rq->resp = text;
    rq->resp_len = len;
}

/* ---- query strings ---- */

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

int http_pct_decode(arena *a, const char *p, size_t n, bool plus_is_space, const char **out,
                    size_t *out_len)
{
    char *buf = arena_alloc(a, n + 1);
    size_t j = 0;
    if (!buf)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '%') {
            int h, l;
            if (i + 2 >= n || (h = hexval(p[i + 1])) < 0 || (l = hexval(p[i + 2])) < 0)
                return -1;
            buf[j++] = (char)(h * 16 + l);
            i += 2;
        } else {
            buf[j++] = plus_is_space && p[i] == '+' ? ' ' : p[i];
        }
    }
    buf[j] = 0;
    *out = buf;
    *out_len = j;
    return 0;
}

int http_parse_json_body(json_t **out, const char *body, size_t len, int *err_pos, char *dup_key,
                         size_t dup_key_len)
{
    jsonparse_error err;
    unsigned long failures = alloc_failures;
    *err_pos = -1;
    if (dup_key_len)
        dup_key[0] = 0;
    /* U+0000 is let through the parser so that validation can name the field it is in: every
     * text is checked with text_valid_utf8(), which refuses it. */
    *out = jsonparse(body, len, &err);
    if (alloc_failures != failures || err.status == JSONPARSE_NO_MEMORY) {
        json_decref(*out);
        *out = NULL;
        return -2;
    }
    if (!*out) {
        *err_pos = err.position > INT_MAX ? INT_MAX : (int)err.position;
        /* A repeated key is a field error: name the field (a key, never a value). */
        if (err.status == JSONPARSE_DUPLICATE_KEY && err.key_len && err.key_len < dup_key_len &&
            err.key_len < sizeof err.key) {
            memcpy(dup_key, err.key, err.key_len + 1);
            return -3;
        }
        return -1;
    }
    return 0;
}

static _Thread_local principal *key_page;

principal *http_principal_open(void)
{
    if (!key_page && !(key_page = sodium_malloc(sizeof *key_page)))
        return NULL;
    memset(key_page, 0, sizeof *key_page);
    return key_page;
}

void http_principal_close(void)
{
    if (!key_page)
        return;
    /* Wiped, not mprotect()ed: changing page protection per request costs a TLB shootdown
     * across the process's threads (measured: +130 us of CPU per request). */
    sodium_memzero(key_page, sizeof *key_page);
}

/* The principals of group reads: a few arrays of ASSET_GET_GROUP_MAX, each in use by one run of
 * reads at a time (dispatch.c allows a few at once), kept for the next run. Shared rather than
 * per thread: any request worker may run reads, and an array is 80 KiB of locked memory. */
typedef struct group_pages {
    principal p[ASSET_GET_GROUP_MAX];
    struct group_pages *next;
} group_pages;

static pthread_mutex_t pages_mu = PTHREAD_MUTEX_INITIALIZER;
static group_pages *pages_free;

principal *http_principals_open(int n)
{
    group_pages *g;
    if (n > ASSET_GET_GROUP_MAX)
        return NULL;
    pthread_mutex_lock(&pages_mu);
    if ((g = pages_free))
        pages_free = g->next;
    pthread_mutex_unlock(&pages_mu);
    if (!g && !(g = sodium_malloc(sizeof *g)))
        return NULL;
    memset(g->p, 0, (size_t)n * sizeof g->p[0]);
    return g->p;
}

void http_principals_close(principal *p, int n)
{
    group_pages *g = (group_pages *)(void *)p; /* p is its first member */
    if (!g)
        return;
    sodium_memzero(g->p, (size_t)n * sizeof g->p[0]);
    pthread_mutex_lock(&pages_mu);
    g->next = pages_free;
    pages_free = g;
    pthread_mutex_unlock(&pages_mu);
}
