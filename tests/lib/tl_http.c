/* testlib: HTTP with libcurl, assertions on responses, encoders, convenience calls. */
#include <ctype.h>
#include <curl/curl.h>
#include <dlfcn.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "testlib.h"
#include "tl_internal.h"

/* ---- live responses (freed by tl_finish when a failed test abandoned them) ---- */

typedef struct live_resp {
    tl_resp *r;
    struct live_resp *next;
} live_resp;
static live_resp *g_live;
static pthread_mutex_t g_live_mu = PTHREAD_MUTEX_INITIALIZER;

static void live_add(tl_resp *r)
{
    live_resp *l = malloc(sizeof *l);
    if (!l)
        abort();
    l->r = r;
    pthread_mutex_lock(&g_live_mu);
    l->next = g_live;
    g_live = l;
    pthread_mutex_unlock(&g_live_mu);
}

static void live_remove(tl_resp *r)
{
    pthread_mutex_lock(&g_live_mu);
    for (live_resp **p = &g_live; *p; p = &(*p)->next)
        if ((*p)->r == r) {
            live_resp *l = *p;
            *p = l->next;
            free(l);
            break;
        }
    pthread_mutex_unlock(&g_live_mu);
}

static void resp_release(tl_resp *r)
{
    json_decref(r->json);
    free(r->body);
    free(r->headers);
    free(r);
}

/* libcurl is loaded at run time (dlopen), so that every binary linking this library links
 * without -lcurl (the integration tests are linked without it) and can still speak HTTP. */
static struct {
    CURLcode (*global_init)(long);
    void (*global_cleanup)(void);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_perform)(CURL *);
    void (*easy_cleanup)(CURL *);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    const char *(*easy_strerror)(CURLcode);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
} cu;

static pthread_once_t g_curl_once = PTHREAD_ONCE_INIT;
static bool g_curl_ok;
static void *g_curl_lib;
static char g_curl_why[256];

static void curl_init_once(void)
{
    static const char *const names[] = {"libcurl.so.4", "libcurl.so", "libcurl-gnutls.so.4"};
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !g_curl_lib; i++)
        g_curl_lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!g_curl_lib) {
        snprintf(g_curl_why, sizeof g_curl_why, "cannot load libcurl: %s", dlerror());
        return;
    }
#define SYM(field, name)                                                                           \
    do {                                                                                           \
        void *f = dlsym(g_curl_lib, name);                                                         \
        if (!f) {                                                                                  \
            snprintf(g_curl_why, sizeof g_curl_why, "libcurl lacks %s", name);                     \
            return;                                                                                \
        }                                                                                          \
        memcpy(&cu.field, &f, sizeof f);                                                           \
    } while (0)
    SYM(global_init, "curl_global_init");
    SYM(global_cleanup, "curl_global_cleanup");
    SYM(easy_init, "curl_easy_init");
    SYM(easy_setopt, "curl_easy_setopt");
    SYM(easy_perform, "curl_easy_perform");
    SYM(easy_cleanup, "curl_easy_cleanup");
    SYM(easy_getinfo, "curl_easy_getinfo");
    SYM(easy_strerror, "curl_easy_strerror");
    SYM(slist_append, "curl_slist_append");
    SYM(slist_free_all, "curl_slist_free_all");
#undef SYM
    g_curl_ok = cu.global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
    if (!g_curl_ok)
        snprintf(g_curl_why, sizeof g_curl_why, "curl_global_init failed");
}

void tl__http_cleanup(void)
{
    pthread_mutex_lock(&g_live_mu);
    while (g_live) {
        live_resp *l = g_live;
        g_live = l->next;
        resp_release(l->r);
        free(l);
    }
    pthread_mutex_unlock(&g_live_mu);
    if (g_curl_ok)
        cu.global_cleanup();
    g_curl_ok = false;
    /* The library stays loaded (unloading libcurl and its TLS stack at exit buys nothing). */
}

/* ---- growable buffers ---- */

typedef struct {
    char *p;
    size_t len, cap;
} buf;

static void buf_add(buf *b, const void *data, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np)
            abort();
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    buf_add(ud, data, size * nmemb);
    return size * nmemb;
}

typedef struct {
    tl_resp *r;
    buf all;
} hdr_ctx;

static void copy_value(char *out, size_t n, const char *v, size_t len)
{
    while (len && (v[len - 1] == '\r' || v[len - 1] == '\n' || v[len - 1] == ' '))
        len--;
    while (len && *v == ' ') {
        v++;
        len--;
    }
    if (len >= n)
        len = n - 1;
    memcpy(out, v, len);
    out[len] = 0;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
    hdr_ctx *h = ud;
    size_t n = size * nmemb;
    tl_resp *r = h->r;
    if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        /* A new response (after 100 Continue, say): forget the previous headers. */
        h->all.len = 0;
        r->content_type[0] = r->request_id[0] = r->location[0] = r->retry_after[0] =
            r->www_authenticate[0] = 0;
    }
    buf_add(&h->all, data, n);
    static const struct {
        const char *name;
        size_t off, size;
    } known[] = {
        {"content-type", offsetof(tl_resp, content_type), sizeof((tl_resp *)0)->content_type},
        {"x-request-id", offsetof(tl_resp, request_id), sizeof((tl_resp *)0)->request_id},
        {"location", offsetof(tl_resp, location), sizeof((tl_resp *)0)->location},
        {"retry-after", offsetof(tl_resp, retry_after), sizeof((tl_resp *)0)->retry_after},
        {"www-authenticate", offsetof(tl_resp, www_authenticate),
         sizeof((tl_resp *)0)->www_authenticate},
    };
    const char *colon = memchr(data, ':', n);
    if (!colon)
        return n;
    size_t klen = (size_t)(colon - data);
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strlen(known[i].name) == klen && strncasecmp(data, known[i].name, klen) == 0)
            copy_value((char *)r + known[i].off, known[i].size, colon + 1, n - klen - 1);
    return n;
}

typedef struct {
    const char *p;
    size_t left;
} upload;

static size_t on_read(char *dest, size_t size, size_t nmemb, void *ud)
{
    upload *u = ud;
    size_t n = size * nmemb;
    /* Small pieces, so a chunked body really comes in several chunks. */
    if (n > 1000)
        n = 1000;
    if (n > u->left)
        n = u->left;
    memcpy(dest, u->p, n);
    u->p += n;
    u->left -= n;
    return n;
}

/* When TEST_RESPONSE_LOG is set, append {"method","path","status","contentType","body",
 * "bodyText","headers"} as one line, for tests/sdk/validate-responses.mjs. */
static void log_response(const char *method, const char *path, const tl_resp *r)
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    const char *file = getenv("TEST_RESPONSE_LOG");
    if (!file || !*file)
        return;
    json_t *headers = json_object();
    for (const char *p = r->headers; p && *p;) {
        const char *eol = strstr(p, "\r\n");
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        const char *colon = memchr(p, ':', len);
        if (colon && colon > p) {
            char name[128];
            size_t n =
                (size_t)(colon - p) < sizeof name - 1 ? (size_t)(colon - p) : sizeof name - 1;
            for (size_t i = 0; i < n; i++)
                name[i] = (char)tolower((unsigned char)p[i]);
            name[n] = 0;
            const char *v = colon + 1;
            while (v < p + len && *v == ' ')
                v++;
            json_object_set_new(headers, name, json_stringn(v, (size_t)(p + len - v)));
        }
        p = eol ? eol + 2 : p + len;
    }
    json_t *line = json_pack("{s:s, s:s, s:I, s:o, s:O?, s:o}", "method", method, "path", path,
                             "status", (json_int_t)r->status, "contentType",
                             r->content_type[0] ? json_string(r->content_type) : json_null(),
                             "body", r->json, "headers", headers);
    if (line && !r->json && r->body_len)
        json_object_set_new(line, "bodyText", json_stringn(r->body, r->body_len));
    if (line && !r->json)
        json_object_set_new(line, "body", json_null());
    char *text = line ? json_dumps(line, JSON_COMPACT) : NULL;
    json_decref(line);
    if (!text)
        return;
    pthread_mutex_lock(&mu);
    FILE *f = fopen(file, "a");
    if (f) {
        fprintf(f, "%s\n", text);
        fclose(f);
    }
    pthread_mutex_unlock(&mu);
    free(text);
}

tl_resp *tl_http_raw(const tl_server *s, const char *method, const char *path,
                     const char *authorization, const void *body, size_t body_len,
                     const tl_http_opts *opts)
{
    static const tl_http_opts none = {0};
    tl_resp *r = calloc(1, sizeof *r);
    buf resp_body = {0};
    hdr_ctx h = {r, {0}};
    struct curl_slist *hdrs = NULL;
    char url[4096], line[2048];
    upload up = {body, body_len};
    if (!r)
        abort();
    live_add(r);
    if (!opts)
        opts = &none;
    snprintf(r->request, sizeof r->request, "%s %s", method, path);
    pthread_once(&g_curl_once, curl_init_once);
    if (!g_curl_ok) {
        snprintf(r->error, sizeof r->error, "%s", g_curl_why);
        r->body = strdup("");
        return r;
    }
    CURL *c = cu.easy_init();
    if (!c)
        abort();
    int w = snprintf(url, sizeof url, "%s%s", s->base_url, path);
    if (w < 0 || (size_t)w >= sizeof url) {
        /* Long URLs: allocate. */
        size_t n = strlen(s->base_url) + strlen(path) + 1;
        char *big = malloc(n);
        if (!big)
            abort();
        snprintf(big, n, "%s%s", s->base_url, path);
        cu.easy_setopt(c, CURLOPT_URL, big);
        free(big); /* libcurl copies the URL */
    } else {
        cu.easy_setopt(c, CURLOPT_URL, url);
    }
    cu.easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    cu.easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    cu.easy_setopt(c, CURLOPT_TIMEOUT_MS, opts->timeout_ms > 0 ? opts->timeout_ms : 30000L);
    cu.easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    cu.easy_setopt(c, CURLOPT_ERRORBUFFER, r->error);
    cu.easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    cu.easy_setopt(c, CURLOPT_WRITEDATA, &resp_body);
    cu.easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    cu.easy_setopt(c, CURLOPT_HEADERDATA, &h);
    hdrs = cu.slist_append(hdrs, "Expect:");
    if (authorization) {
        snprintf(line, sizeof line, "Authorization: %s", authorization);
        hdrs = cu.slist_append(hdrs, line);
    }
    if (body && !opts->no_content_type)
        hdrs = cu.slist_append(hdrs, "Content-Type: application/json");
    for (size_t i = 0; opts->headers && opts->headers[i]; i++)
        hdrs = cu.slist_append(hdrs, opts->headers[i]);
    if (body && opts->chunked) {
        hdrs = cu.slist_append(hdrs, "Transfer-Encoding: chunked");
        cu.easy_setopt(c, CURLOPT_POST, 1L);
        cu.easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        cu.easy_setopt(c, CURLOPT_READDATA, &up);
    } else if (body) {
        cu.easy_setopt(c, CURLOPT_POST, 1L);
        cu.easy_setopt(c, CURLOPT_POSTFIELDS, (const char *)body);
        cu.easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    } else if (strcmp(method, "HEAD") == 0) {
        cu.easy_setopt(c, CURLOPT_NOBODY, 1L);
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 &&
        !(strcmp(method, "POST") == 0 && body))
        cu.easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    cu.easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    CURLcode rc = cu.easy_perform(c);
    if (rc == CURLE_OK) {
        cu.easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    } else {
        r->status = 0;
        if (!r->error[0])
            snprintf(r->error, sizeof r->error, "%s", cu.easy_strerror(rc));
    }
    cu.slist_free_all(hdrs);
    cu.easy_cleanup(c);
    r->body = resp_body.p ? resp_body.p : strdup("");
    r->body_len = resp_body.len;
    r->headers = h.all.p ? h.all.p : strdup("");
    if (r->body_len) {
        json_error_t err;
        r->json = json_loadb(r->body, r->body_len, JSON_DECODE_ANY, &err);
    }
    if (r->status > 0)
        log_response(method, path, r);
    return r;
}

tl_resp *tl_http(const tl_server *s, const char *method, const char *path, const char *token,
                 const char *body)
{
    char auth[600];
    if (token)
        snprintf(auth, sizeof auth, "Bearer %s", token);
    return tl_http_raw(s, method, path, token ? auth : NULL, body, body ? strlen(body) : 0, NULL);
}

tl_resp *tl_http_json(const tl_server *s, const char *method, const char *path, const char *token,
                      json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    if (body && !text)
        fail_msg("tl_http_json: cannot serialise the body for %s %s", method, path);
    json_decref(body);
    tl_resp *r = tl_http(s, method, path, token, text);
    free(text);
    return r;
}

tl_resp *tl_httpf(const tl_server *s, const char *method, const char *token, const char *body,
                  const char *path_fmt, ...)
{
    va_list ap;
    va_start(ap, path_fmt);
    int n = vsnprintf(NULL, 0, path_fmt, ap);
    va_end(ap);
    char *path = malloc((size_t)n + 1);
    if (!path)
        abort();
    va_start(ap, path_fmt);
    vsnprintf(path, (size_t)n + 1, path_fmt, ap);
    va_end(ap);
    tl_resp *r = tl_http(s, method, path, token, body);
    free(path);
    return r;
}

void tl_resp_free(tl_resp *r)
{
    if (!r)
        return;
    live_remove(r);
    resp_release(r);
}

bool tl_resp_header(const tl_resp *r, const char *name, char *out, size_t n)
{
    size_t nl = strlen(name);
    const char *p = r->headers;
    while (p && *p) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p + 1) : strlen(p);
        if (len > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
            copy_value(out, n, p + nl + 1, len - nl - 1);
            return true;
        }
        p += len;
    }
    if (n)
        out[0] = 0;
    return false;
}

/* ---- encoders ---- */

char *tl_pathf(char *out, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(out, n, fmt, ap);
    va_end(ap);
    if (w < 0 || (size_t)w >= n)
        fail_msg("tl_pathf: %d bytes do not fit in %zu", w, n);
    return out;
}

char *tl_urlencn(char *out, size_t n, const void *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p = s;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = p[i];
        bool plain = isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
        if (o + (plain ? 1 : 3) >= n)
            fail_msg("tl_urlenc: the encoding of %zu bytes does not fit in %zu", len, n);
        if (plain) {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    if (o >= n)
        fail_msg("tl_urlenc: no room");
    out[o] = 0;
    return out;
}

char *tl_urlenc(char *out, size_t n, const char *s)
{
    return tl_urlencn(out, n, s, strlen(s));
}

char *tl_b64(char *out, size_t n, const void *bytes, size_t len)
{
    tl__sodium();
    if (n < sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL))
        fail_msg("tl_b64: no room for the base64 of %zu bytes", len);
    sodium_bin2base64(out, n, bytes, len, sodium_base64_VARIANT_ORIGINAL);
    return out;
}

long tl_b64_decode(void *out, size_t cap, const char *b64)
{
    size_t len = 0;
    const char *end = NULL;
    tl__sodium();
    if (!b64 ||
        sodium_base642bin(out, cap, b64, strlen(b64), NULL, &len, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        *end)
        return -1;
    return (long)len;
}

char *tl_unique(char *out, size_t n, const char *prefix)
{
    unsigned char b[8];
    char hex[17];
    tl__sodium();
    randombytes_buf(b, sizeof b);
    sodium_bin2hex(hex, sizeof hex, b, sizeof b);
    snprintf(out, n, "%s-%s", prefix, hex);
    return out;
}

char *tl_random_token(char out[64])
{
    unsigned char b[32];
    tl__sodium();
    randombytes_buf(b, sizeof b);
    sodium_bin2base64(out, 64, b, sizeof b, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return out;
}

/* ---- assertions ---- */

static const struct {
    const char *name;
    long code;
} g_codes[] = {
    {"PERMISSION_DENIED", 201},
    {"INVALID_ARGUMENT", 401},
    {"SERVICE_UNAVAILABLE", 24000001},
    {"NOT_FOUND", 24000002},
    {"DUPLICATED", 24000003},
    {"ACCESS_DENIED", 24000004},
    {"STATUS_MISMATCH", 24000005},
    {"OUT_OF_MEMORY", 24000006},
    {"DATA_CORRUPTED", 24000007},
    {"DATABASE_ERROR", 24000008},
    {"CRYPTO_ERROR", 24000009},
    {"LIMIT_EXCEEDED", 24000016},
    {"UNSUPPORTED", 24000017},
    {"PARAM_VERIFICATION_FAILED", 24000018},
    {"INCONSISTENT_ATTRIBUTE", 24000019},
    {"PRECONDITION_FAILED", 24100001},
    {"IDEMPOTENCY_CONFLICT", 24100002},
    {"IN_PROGRESS", 24100003},
};

long tl_error_code(const char *name)
{
    for (size_t i = 0; i < sizeof g_codes / sizeof g_codes[0]; i++)
        if (strcmp(g_codes[i].name, name) == 0)
            return g_codes[i].code;
    return -1;
}

const char *tl_jstr(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

long long tl_jint(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

bool tl_jbool(const json_t *obj, const char *key)
{
    return json_is_true(json_object_get(obj, key));
}

static void describe(const tl_resp *r)
{
    if (!r->status)
        print_error("  %.300s%s: transport error: %s\n", r->request,
                    strlen(r->request) > 300 ? "..." : "", r->error);
    else
        print_error("  %.300s%s -> %ld (Content-Type: %s)\n  body: %.2000s\n", r->request,
                    strlen(r->request) > 300 ? "..." : "", r->status, r->content_type, r->body);
}

tl_resp *tl__expect_status(tl_resp *r, long status, const char *file, int line)
{
    if (r->status != status) {
        print_error("expected status %ld\n", status);
        describe(r);
        tl_resp_free(r);
        _fail(file, line);
    }
    return r;
}

tl_resp *tl__expect_problem(tl_resp *r, long status, const char *name, const char *field,
                            const char *file, int line)
{
    char why[512] = "";
    const json_t *j = r->json;
    char type[128];
    snprintf(type, sizeof type, "urn:assetd:error:%s", name);
    if (r->status != status)
        snprintf(why, sizeof why, "expected status %ld (%s)", status, name);
    else if (strncasecmp(r->content_type, "application/problem+json", 24) != 0)
        snprintf(why, sizeof why, "Content-Type is not application/problem+json");
    else if (!json_is_object(j))
        snprintf(why, sizeof why, "the body is not a JSON object");
    else if (!tl_jstr(j, "name") || strcmp(tl_jstr(j, "name"), name) != 0)
        snprintf(why, sizeof why, "expected name %s", name);
    else if (tl_jint(j, "code") != tl_error_code(name))
        snprintf(why, sizeof why, "expected code %ld", tl_error_code(name));
    else if (tl_jint(j, "status") != status)
        snprintf(why, sizeof why, "\"status\" is not %ld", status);
    else if (!tl_jstr(j, "type") || strcmp(tl_jstr(j, "type"), type) != 0)
        snprintf(why, sizeof why, "expected type %s", type);
    else if (!tl_jstr(j, "title") || !tl_jstr(j, "title")[0])
        snprintf(why, sizeof why, "no title");
    else if (!tl_jstr(j, "detail") || !tl_jstr(j, "detail")[0])
        snprintf(why, sizeof why, "no detail");
    else if (json_object_size(j) != 6)
        snprintf(why, sizeof why,
                 "the problem has members besides type, title, status, "
                 "detail, code and name");
    else if (field && !strstr(tl_jstr(j, "detail"), field))
        snprintf(why, sizeof why, "the detail does not name %s", field);
    else if (!r->request_id[0])
        snprintf(why, sizeof why, "no X-Request-Id header");
    else if (status == 401 && strncmp(r->www_authenticate, "Bearer", 6) != 0)
        snprintf(why, sizeof why, "401 without WWW-Authenticate: Bearer");
    if (why[0]) {
        print_error("%s\n", why);
        describe(r);
        tl_resp_free(r);
        _fail(file, line);
    }
    return r;
}

tl_resp *tl__expect_body(tl_resp *r, const char *text, bool present, const char *file, int line)
{
    if ((strstr(r->body, text) != NULL) != present) {
        print_error("the body %s \"%s\"\n", present ? "lacks" : "contains", text);
        describe(r);
        tl_resp_free(r);
        _fail(file, line);
    }
    return r;
}

/* ---- convenience ---- */

tl_device tl_device_create(const tl_server *s, const char *name, const char *account_id)
{
    tl_device d;
    memset(&d, 0, sizeof d);
    json_t *body = json_pack("{s:s}", "name", name ? name : "test-device");
    if (account_id)
        json_object_set_new(body, "accountId", json_string(account_id));
    tl_resp *r = tl_http_json(s, "POST", "/devices", s->admin_token, body);
    tl_expect_status(r, 201);
    if (!tl_jstr(r->json, "id") || !tl_jstr(r->json, "deviceToken")) {
        describe(r);
        fail_msg("POST /devices: no id or deviceToken");
    }
    snprintf(d.id, sizeof d.id, "%s", tl_jstr(r->json, "id"));
    snprintf(d.token, sizeof d.token, "%s", tl_jstr(r->json, "deviceToken"));
    tl_resp_free(r);
    return d;
}

tl_app tl_app_install(const tl_server *s, const char *device_id, const char *app_id,
                      const char *const *groups, bool persistent)
{
    tl_app a;
    char path[256];
    memset(&a, 0, sizeof a);
    json_t *body = json_pack("{s:s}", "appId", app_id);
    if (groups) {
        json_t *g = json_array();
        for (size_t i = 0; groups[i]; i++)
            json_array_append_new(g, json_string(groups[i]));
        json_object_set_new(body, "groups", g);
    }
    if (persistent)
        json_object_set_new(body, "permissions", json_pack("[s]", "STORE_PERSISTENT_DATA"));
    tl_resp *r = tl_http_json(s, "POST", tl_pathf(path, sizeof path, "/devices/%s/apps", device_id),
                              s->admin_token, body);
    tl_expect_status(r, 201);
    if (!tl_jstr(r->json, "token") || !tl_jstr(r->json, "appId") ||
        strcmp(tl_jstr(r->json, "appId"), app_id) != 0) {
        describe(r);
        fail_msg("install: no token, or another appId");
    }
    snprintf(a.app_id, sizeof a.app_id, "%s", app_id);
    snprintf(a.token, sizeof a.token, "%s", tl_jstr(r->json, "token"));
    tl_resp_free(r);
    return a;
}

void tl_app_uninstall(const tl_server *s, const char *device_id, const char *app_id)
{
    char path[1200], enc[900];
    tl_pathf(path, sizeof path, "/devices/%s/apps/%s", device_id,
             tl_urlenc(enc, sizeof enc, app_id));
    tl_req_status(s, "DELETE", path, s->admin_token, NULL, 204);
}

void tl_device_set_state(const tl_server *s, const char *device_id, bool pwd, bool locked,
                         bool unlocked_since_boot)
{
    char path[256];
    json_t *body = json_pack("{s:b, s:b, s:b}", "lockScreenPasswordSet", pwd, "screenLocked",
                             locked, "unlockedSinceBoot", unlocked_since_boot);
    tl_resp *r = tl_http_json(s, "PUT", tl_pathf(path, sizeof path, "/devices/%s/state", device_id),
                              s->admin_token, body);
    tl_expect_status(r, 200);
    json_t *st = json_object_get(r->json, "state");
    if (tl_jbool(st, "lockScreenPasswordSet") != pwd || tl_jbool(st, "screenLocked") != locked ||
        tl_jbool(st, "unlockedSinceBoot") != unlocked_since_boot) {
        describe(r);
        fail_msg("PUT state: the state was not echoed back");
    }
    tl_resp_free(r);
}

json_t *tl_asset_add(const tl_server *s, const char *token, const char *json_body)
{
    tl_resp *r = tl_http(s, "POST", "/assets", token, json_body);
    tl_expect_status(r, 201);
    json_t *j = json_incref(r->json);
    tl_resp_free(r);
    return j;
}

char *tl_backup_create(const tl_server *s, const char *token, const char *device_id, char *id)
{
    char body[128];
    snprintf(body, sizeof body, "{\"deviceId\":\"%s\"}", device_id);
    tl_resp *r = tl_http(s, "POST", "/backups", token, body);
    tl_expect_status(r, 201);
    snprintf(id, 64, "%s", tl_jstr(r->json, "id"));
    tl_resp_free(r);
    return id;
}

char *tl_restore_create(const tl_server *s, const char *token, const char *backup_id,
                        const char *target_id, char *id)
{
    char body[200];
    snprintf(body, sizeof body, "{\"backupId\":\"%s\",\"targetDeviceId\":\"%s\"}", backup_id,
             target_id);
    tl_resp *r = tl_http(s, "POST", "/restores", token, body);
    tl_expect_status(r, 202);
    snprintf(id, 64, "%s", tl_jstr(r->json, "id"));
    tl_resp_free(r);
    return id;
}

json_t *tl_restore_wait(const tl_server *s, const char *token, const char *id, int timeout_ms)
{
    char path[128];
    tl_pathf(path, sizeof path, "/restores/%s", id);
    for (double until = tl_now_ms() + tl_scaled_ms(timeout_ms); tl_now_ms() < until;) {
        tl_resp *r = tl_http(s, "GET", path, token, NULL);
        tl_expect_status(r, 200);
        const char *status = tl_jstr(r->json, "status");
        if (status && (strcmp(status, "done") == 0 || strcmp(status, "failed") == 0)) {
            json_t *j = json_incref(r->json);
            tl_resp_free(r);
            return j;
        }
        tl_resp_free(r);
        tl_sleep_ms(50);
    }
    return NULL;
}

tl_app tl_fresh_app(const tl_server *s, const char *app_id, tl_device *device_out)
{
    tl_device d = tl_device_create(s, NULL, NULL);
    if (device_out)
        *device_out = d;
    return tl_app_install(s, d.id, app_id, NULL, false);
}

json_t *tl_asset_addf(const tl_server *s, const char *token, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *body = malloc((size_t)n + 1);
    if (!body)
        abort();
    va_start(ap, fmt);
    vsnprintf(body, (size_t)n + 1, fmt, ap);
    va_end(ap);
    json_t *j = tl_asset_add(s, token, body);
    free(body);
    return j;
}

char *tl_list(const tl_server *s, const char *token, const char *query, char *out, size_t n)
{
    char *cursor = NULL;
    size_t len = 0;
    out[0] = 0;
    for (int page = 0;; page++) {
        tl_resp *r;
        if (cursor) {
            char enc[4096];
            r = tl_httpf(s, "GET", token, NULL, "/assets?%s%scursor=%s", query, *query ? "&" : "",
                         tl_urlenc(enc, sizeof enc, cursor));
            free(cursor);
            cursor = NULL;
        } else {
            r = tl_httpf(s, "GET", token, NULL, "/assets%s%s", *query ? "?" : "", query);
        }
        if (page == 0 && r->status == 404) {
            tl_expect_problem(r, 404, "NOT_FOUND");
            tl_resp_free(r);
            snprintf(out, n, "404");
            return out;
        }
        tl_expect_status(r, 200);
        json_t *arr = json_object_get(r->json, "assets"), *a;
        json_t *next = json_object_get(r->json, "nextCursor");
        size_t i;
        if (!json_is_array(arr) || json_array_size(arr) == 0 ||
            !(json_is_null(next) || json_is_string(next))) {
            describe(r);
            fail_msg("tl_list: not a non-empty page of assets");
        }
        json_array_foreach(arr, i, a)
        {
            const char *alias = tl_jstr(a, "alias");
            int w = snprintf(out + len, n - len, "%s%s", len ? "," : "", alias ? alias : "?");
            if (w < 0 || (size_t)w >= n - len)
                fail_msg("tl_list: the aliases do not fit in %zu bytes", n);
            len += (size_t)w;
        }
        if (json_is_string(next))
            cursor = strdup(json_string_value(next));
        tl_resp_free(r);
        if (!cursor)
            return out;
        if (page > 10000)
            fail_msg("tl_list: more than 10000 pages");
    }
}

char *tl_get_secret(const tl_server *s, const char *token, const char *alias,
                    const char *extra_query, char *out, size_t n)
{
    char enc[1024];
    tl_resp *r = tl_httpf(s, "GET", token, NULL, "/assets/%s?returnType=ALL%s%s",
                          tl_urlenc(enc, sizeof enc, alias), extra_query ? "&" : "",
                          extra_query ? extra_query : "");
    tl_expect_status(r, 200);
    long len = tl_b64_decode(out, n - 1, tl_jstr(r->json, "secret"));
    if (len < 0) {
        describe(r);
        fail_msg("tl_get_secret: no secret, or it is not base64 or too long");
    }
    out[len] = 0;
    tl_resp_free(r);
    return out;
}
