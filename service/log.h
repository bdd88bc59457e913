/* log: the process's log, one JSON object per line on stderr:
 *   {"ts":"2026-01-02T03:04:05.678Z","level":"info","msg":"...", <fields>}
 * Every part of the line is escaped (quotes, backslashes, control bytes, invalid UTF-8), so a
 * value that came from a client can neither break a line nor add a field to it. A line is built
 * in a fixed buffer (no allocation: it works when memory is short) and written whole with one
 * write(2) (alone, or with other lines held for it: log_emit_later), so lines of concurrent
 * threads never interleave; a line longer than LOG_LINE_MAX ends with its
 * last string cut short and "truncated":true. Usage messages of the command line are not log
 * lines and stay plain text.
 *
 *   log_info("migration applied", LOG_STR("name", name));
 *   log_error("database error", LOG_STR("sqlstate", state), LOG_INT("attempt", n));
 *
 * Fields are values of log_field made by the LOG_* macros (keys are string literals); the macros
 * add the terminating LOG_END. */
#ifndef ASSETD_LOG_H
#define ASSETD_LOG_H

#include <stdbool.h>
#include <stddef.h>

#define LOG_LINE_MAX 4096

typedef enum { LOG_INFO, LOG_WARN, LOG_ERROR } log_level;

typedef enum { LOG_T_END, LOG_T_STR, LOG_T_INT, LOG_T_MS, LOG_T_BOOL } log_type;

typedef struct {
    const char *key;
    log_type type;
    union {
        const char *s; /* NULL is written as null */
        long long i;
        double ms; /* written with three decimals */
        bool b;
    } v;
} log_field;

#define LOG_STR(k, x) ((log_field){.key = (k), .type = LOG_T_STR, .v.s = (x)})
#define LOG_INT(k, x) ((log_field){.key = (k), .type = LOG_T_INT, .v.i = (long long)(x)})
#define LOG_MS(k, x) ((log_field){.key = (k), .type = LOG_T_MS, .v.ms = (double)(x)})
#define LOG_BOOL(k, x) ((log_field){.key = (k), .type = LOG_T_BOOL, .v.b = (x)})
#define LOG_END ((log_field){.key = 0, .type = LOG_T_END})

/* Writes one line: msg, then the log_field arguments up to LOG_END. */
void log_emit(log_level level, const char *msg, ...);
/* The same line held and written with others, at the latest by the next log_flush() or line
 * written at once: one write(2) for many lines (the request log: a write per request was a tenth
 * of an HTTP thread's time). Lines keep their order. */
void log_emit_later(log_level level, const char *msg, ...);
/* Writes the lines held. Called about every quarter second (api/edge.c) and at exit. */
void log_flush(void);

#define log_at(level, ...) log_emit((level), __VA_ARGS__, LOG_END)
#define log_info(...) log_emit(LOG_INFO, __VA_ARGS__, LOG_END)
#define log_warn(...) log_emit(LOG_WARN, __VA_ARGS__, LOG_END)
#define log_error(...) log_emit(LOG_ERROR, __VA_ARGS__, LOG_END)
#define log_later(level, ...) log_emit_later((level), __VA_ARGS__, LOG_END)

/* The line log_emit writes (the newline included, NUL-terminated) for n fields, built into out
 * of cap bytes (at least LOG_LINE_MIN; log_emit uses LOG_LINE_MAX), with ts the time in
 * milliseconds since the epoch; its length, or -1 if cap is too small. */
#define LOG_LINE_MIN 128
int log_format(char *out, size_t cap, long long ts, log_level level, const char *msg,
               const log_field *fields, int n);

#endif
