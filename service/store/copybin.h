/* copybin: rows in COPY's binary format (COPY ... FROM STDIN (FORMAT binary)), for the bulk
 * writes of backups and restores. Every value goes as the bytes of its type's binary form
 * (bytea as its bytes, integers big-endian, uuid as 16 bytes), so neither side encodes or parses
 * text: no hex of sealed values, no number printing. A row is started with the number of its
 * fields, then each field is added in the COPY statement's column order, with the function of
 * the column's exact type (binary COPY does not convert: an int2 column takes 2 bytes).
 *
 * A field is encoded as an element of an array in binary format is (array_recv: a 4-byte
 * length, -1 for NULL, then the bytes), so the arrays of pgparams.h are built with the same
 * functions, on a buffer started with copybin_init_raw. */
#ifndef ASSETD_COPYBIN_H
#define ASSETD_COPYBIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"

typedef struct {
    unsigned char *buf;
    size_t len, cap;
    bool failed; /* out of memory, or a malformed uuid: copybin_send refuses to send */
    bool ended;  /* the trailer is written: no more rows */
} copybin;

/* Starts the data (the format's header) with room for about size_hint bytes. */
void copybin_init(copybin *b, size_t size_hint);
/* A buffer without the COPY header, for other binary data (pgparams.h's arrays); copybin_put32
 * appends a bare big-endian integer (a header of that data). */
void copybin_init_raw(copybin *b, size_t size_hint);
void copybin_put32(copybin *b, uint32_t v);
/* Starts the data afresh (as copybin_init) in the buffer b already holds, its bytes wiped first:
 * for a writer that sends one COPY after another and keeps its buffer between them (the sync
 * worker, a chunk at a time). A zeroed copybin is started as by copybin_init. */
void copybin_restart(copybin *b, size_t size_hint);
/* Wipes (rows hold sealed values and labels) and frees; NULL-safe. */
void copybin_free(copybin *b);
/* Starts a row of nfields fields. */
void copybin_row(copybin *b, int nfields);
/* A text or bytea field: n bytes at p (text must be valid UTF-8); NULL p: SQL NULL. */
void copybin_bytes(copybin *b, const void *p, size_t n);
void copybin_i16(copybin *b, int v);
void copybin_i32(copybin *b, int32_t v);
void copybin_i64(copybin *b, int64_t v);
void copybin_bool(copybin *b, bool v);
/* A uuid field from its text form (any case, with hyphens); a malformed one fails the data. */
void copybin_uuid(copybin *b, const char *text);
/* The 16 bytes of a uuid's text form (as copybin_uuid reads it), for rows that all hold the same
 * one: copybin_bytes(b, out, 16) is then its field. 0, or -1 when malformed. */
WUR int copybin_uuid_bytes(unsigned char out[16], const char *text);
/* Ends the data (the format's trailer; once). */
void copybin_finish(copybin *b);
/* Ends the data and runs copy_sql (a `COPY ... FROM STDIN (FORMAT binary)`) with it: db_copy_in's
 * errors; OUT_OF_MEMORY when building failed. The same data may be sent again (to another
 * table of the same columns). */
WUR asset_err copybin_send(copybin *b, db_conn *c, const char *copy_sql);

#endif
