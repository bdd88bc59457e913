/* log: JSON lines on stderr (see log.h). Nothing here allocates; each line is built on the stack
 * of the thread that writes it, or held in one static buffer (log_emit_later). */
#include "log.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_MAX_FIELDS 32

static const char *const level_names[] = {
    [LOG_INFO] = "info", [LOG_WARN] = "warn", [LOG_ERROR] = "error"};

/* Room kept at the end of the buffer, whatever was cut: a closing quote, then
 * ,"truncated":true}\n and the NUL. */
#define RESERVE 24

typedef struct {
    char *p;
    size_t len, limit;
    bool cut; /* something did not fit: nothing more is added */
} line;

static bool put(line *l, const char *s, size_t n)
{
    if (l->cut || l->len + n > l->limit) {
        l->cut = true;
        return false;
    }
    memcpy(l->p + l->len, s, n);
    l->len += n;
    return true;
}

/* Always fits: only for the closing bytes RESERVE keeps room for. */
static void force(line *l, const char *s)
{
    size_t n = strlen(s);
    memcpy(l->p + l->len, s, n);
    l->len += n;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if it is not one (a stray continuation
 * byte, an overlong form, a surrogate, a code point past U+10FFFF, a cut sequence). */
static int utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    int n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
    if (n == 0 || c > 0xf4)
        return 0;
    for (int i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] >= 0xa0) || (c == 0xf0 && s[1] < 0x90) ||
        (c == 0xf4 && s[1] >= 0x90))
        return 0;
    return n;
}

/* The inside of a JSON string: what JSON requires escaped is escaped, DEL too, and a byte that
 * is not part of valid UTF-8 becomes U+FFFD. Stops at the first piece that does not fit. */
static bool escape(line *l, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    while (*s) {
        char tmp[8];
        const char *piece = tmp;
        size_t n;
        unsigned c = *s;
        if (c == '"' || c == '\\') {
            tmp[0] = '\\', tmp[1] = (char)c, n = 2;
        } else if (c == '\n' || c == '\r' || c == '\t') {
            tmp[0] = '\\', tmp[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't', n = 2;
        } else if (c < 0x20 || c == 0x7f) {
            n = (size_t)snprintf(tmp, sizeof tmp, "\\u%04x", c);
        } else if (c < 0x80) {
            piece = (const char *)s, n = 1;
        } else if ((n = (size_t)utf8_len(s)) > 0) {
            piece = (const char *)s;
        } else {
            piece = "\\ufffd", n = 6;
            if (!put(l, piece, n))
                return false;
            s++;
            continue;
        }
        if (!put(l, piece, n))
            return false;
        s += piece == (const char *)s ? n : 1;
    }
    return true;
}

/* "...": a string cut short still gets its closing quote; false if not even its opening one
 * fits. */
static bool string(line *l, const char *s)
{
    if (!put(l, "\"", 1))
        return false;
    escape(l, s);
    force(l, "\"");
    return true;
}

static void field(line *l, const log_field *f)
{
    size_t mark = l->len;
    if (!put(l, ",\"", 2) || !escape(l, f->key) || !put(l, "\":", 2)) {
        l->len = mark;
        return;
    }
    char num[48];
    int n = 0;
    switch (f->type) {
    case LOG_T_STR:
        if (!f->v.s)
            n = snprintf(num, sizeof num, "null");
        else if (!string(l, f->v.s))
            l->len = mark;
        break;
    case LOG_T_INT:
        n = snprintf(num, sizeof num, "%lld", f->v.i);
        break;
    case LOG_T_MS:
        n = isfinite(f->v.ms) ? snprintf(num, sizeof num, "%.3f", f->v.ms)
                              : snprintf(num, sizeof num, "null");
        break;
    case LOG_T_BOOL:
        n = snprintf(num, sizeof num, "%s", f->v.b ? "true" : "false");
        break;
    case LOG_T_END:
        break;
    }
    if (n > 0 && !put(l, num, (size_t)n))
        l->len = mark;
}

int log_format(char *out, size_t cap, long long ts, log_level level, const char *msg,
               const log_field *fields, int n)
{
    if (!out || cap < LOG_LINE_MIN)
        return -1;
    line l = {.p = out, .limit = cap - RESERVE};
    time_t secs = (time_t)(ts / 1000);
    struct tm tm;
    char when[32] = "1970-01-01T00:00:00";
    if (gmtime_r(&secs, &tm))
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    char head[96];
    int h = snprintf(head, sizeof head, "{\"ts\":\"%s.%03dZ\",\"level\":\"%s\",\"msg\":", when,
                     (int)(ts % 1000), level_names[level <= LOG_ERROR ? level : LOG_ERROR]);
    put(&l, head, (size_t)h);
    string(&l, msg ? msg : "");
    for (int i = 0; i < n; i++)
        field(&l, &fields[i]);
    if (l.cut)
        force(&l, ",\"truncated\":true");
    force(&l, "}\n");
    out[l.len] = 0;
    return (int)l.len;
}

static long long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Lines held for a batched write (log_emit_later), and what orders every write. */
#define PENDING_MAX 32768
static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;
static char pending[PENDING_MAX];
static size_t pending_len;

static void write_all(const char *p, size_t len)
{
    size_t off = 0;
    int saved = errno;
    while (off < len) {
        ssize_t w = write(STDERR_FILENO, p + off, len - off);
        if (w > 0)
            off += (size_t)w;
        else if (w == 0 || errno != EINTR)
            break;
    }
    errno = saved;
}

/* Under out_mu. */
static void flush_pending(void)
{
    write_all(pending, pending_len);
    pending_len = 0;
}

void log_flush(void)
{
    pthread_mutex_lock(&out_mu);
    flush_pending();
    pthread_mutex_unlock(&out_mu);
}

static void emit(bool later, log_level level, const char *msg, va_list ap)
{
    log_field fields[LOG_MAX_FIELDS];
    int n = 0;
    for (log_field f; (f = va_arg(ap, log_field)).type != LOG_T_END;)
        if (n < LOG_MAX_FIELDS)
            fields[n++] = f;
    char buf[LOG_LINE_MAX];
    int len = log_format(buf, sizeof buf, now_ms(), level, msg, fields, n);
    if (len <= 0)
        return;
    /* Lines held earlier go first, so the log stays in order; each line is written whole. */
    pthread_mutex_lock(&out_mu);
    if (!later || pending_len + (size_t)len > sizeof pending)
        flush_pending();
    if (later) {
        memcpy(pending + pending_len, buf, (size_t)len);
        pending_len += (size_t)len;
    } else {
        write_all(buf, (size_t)len);
    }
    pthread_mutex_unlock(&out_mu);
}

void log_emit(log_level level, const char *msg, ...)
{
    va_list ap;
    va_start(ap, msg);
    emit(false, level, msg, ap);
    va_end(ap);
}

void log_emit_later(log_level level, const char *msg, ...)
{
    va_list ap;
    va_start(ap, msg);
    emit(true, level, msg, ap);
    va_end(ap);
}
