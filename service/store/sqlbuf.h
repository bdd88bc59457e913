/* sqlbuf: a growing SQL text with its parameters, for statements whose shape depends on the
 * request (filters, multi-row inserts). Parameters borrow caller memory, except integers and
 * booleans, which are copied in. sqlbuf_free() releases everything; NULL-safe. */
#ifndef ASSETD_SQLBUF_H
#define ASSETD_SQLBUF_H

#include <stdbool.h>
#include <stddef.h>

#include "db.h"

typedef struct {
    char *sql;
    size_t len, cap;
    int n, pcap;
    const char **vals;
    int *lens, *fmts;
    char **owned; /* copies made for integer parameters */
    int nowned;
    bool failed; /* out of memory: the statement must not run */
} sqlbuf;

void sqlbuf_init(sqlbuf *b);
void sqlbuf_free(sqlbuf *b);
void sqlbuf_add(sqlbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Each returns the parameter's number ($n). Text is sent in binary format, so it needs no NUL
 * terminator; a NULL pointer is SQL NULL. */
int sqlbuf_text(sqlbuf *b, const char *p, size_t n);
int sqlbuf_cstr(sqlbuf *b, const char *s); /* text format, NUL-terminated */
int sqlbuf_int(sqlbuf *b, long long v);
int sqlbuf_bool(sqlbuf *b, bool v);
/* Runs it (OUT_OF_MEMORY if building failed). */
WUR asset_err sqlbuf_exec(sqlbuf *b, db_conn *c, PGresult **out);
/* The same, with the result in binary format (db_exec_binary). */
WUR asset_err sqlbuf_exec_binary(sqlbuf *b, db_conn *c, PGresult **out);

/* copybuf: rows in COPY text format, for bulk writes (the audit writer's) that would otherwise be
 * huge multi-row VALUES lists, costly for PostgreSQL to parse and plan. (Backups and restores
 * write sealed values: they use binary COPY, copybin.h.) Fields of a row are
 * added in column order; copybuf_row() ends the row. */
typedef struct {
    char *buf;
    size_t len, cap;
    bool row_open, failed;
} copybuf;

void copybuf_init(copybuf *b);
void copybuf_free(copybuf *b);                          /* wipes: rows may hold sealed values */
void copybuf_text(copybuf *b, const char *p, size_t n); /* NULL p: SQL NULL */
void copybuf_bytea(copybuf *b, const unsigned char *p, size_t n);
void copybuf_int(copybuf *b, long long v);
void copybuf_bool(copybuf *b, bool v);
void copybuf_row(copybuf *b);
/* Runs `COPY ... FROM STDIN` (copy_sql) with the rows. */
WUR asset_err copybuf_send(copybuf *b, db_conn *c, const char *copy_sql);

#endif
