/* row: result rows read by column name. A row type is a table of column names, in the order of
 * its enum of column indexes; row_bind() finds each name in a result once (by the result's
 * column names, not positions), so a statement may list its columns in any order and a column
 * missing from it is an error, not a read of the wrong value.
 *
 * A row_cache next to a statement (static, zero-initialized) remembers the positions after the
 * first result of that statement: a prepared statement's columns never move, so later results
 * bind without looking names up. Readers borrow the PGresult; they own nothing. */
#ifndef ASSETD_ROW_H
#define ASSETD_ROW_H

#include <libpq-fe.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../arena.h"
#include "../err.h"
#include "../err.h"

#define ROW_MAX_COLS 40

/* A row type: n column names; a row type's enum gives each its index in names. */
typedef struct {
    const char *const *names;
    int n;
} row_type;

/* Positions of a row type's columns in one statement's results, once known. */
typedef struct {
    atomic_int ready;
    int nfields; /* of the results it was learnt from: a result of another shape looks up */
    int col[ROW_MAX_COLS];
} row_cache;

/* A result bound to a row type: col[k] is the position of names[k] in res. */
typedef struct {
    const PGresult *res;
    int col[ROW_MAX_COLS];
} row_reader;

/* Binds res to t (cache: NULL, or the statement's cache). 0, or -1 when a column of t is not in
 * res (the reader is then unusable). */
WUR int row_bind(row_reader *r, const PGresult *res, const row_type *t, row_cache *cache);

/* row_bind, then room for one element of elem bytes per row: returns it (zeroed, in a; NULL when
 * there is no row, or on failure) with *n, the number of rows, and *e: OK; DATA_CORRUPTED when
 * a column of t is missing; OUT_OF_MEMORY. */
void *row_bind_array(row_reader *r, const PGresult *res, const row_type *t, row_cache *cache,
                     arena *a, size_t elem, int *n, asset_err *e);

/* row_bind for a statement that must return exactly one row: OK; DATA_CORRUPTED when a column
 * of t is missing; NOT_FOUND when there is no row (or more than one). */
WUR asset_err row_bind_one(row_reader *r, const PGresult *res, const row_type *t, row_cache *cache);

int row_count(const row_reader *r);
bool row_null(const row_reader *r, int i, int k);
/* The text of column k of row i ("" for NULL); *len gets its length when len is not NULL. In
 * either result format (libpq ends binary values with a NUL byte too). */
const char *row_text(const row_reader *r, int i, int k, size_t *len);
/* Integer and boolean columns, in either result format (text, or binary as requested with
 * db_exec_binary). 0 for NULL or malformed: use row_i64_checked for values that must be well
 * formed. */
int64_t row_i64(const row_reader *r, int i, int k);
int row_int(const row_reader *r, int i, int k);
bool row_bool(const row_reader *r, int i, int k);
/* An int8/int4/int2 column that must hold a number: 0, or -1 when NULL or malformed. */
WUR int row_i64_checked(const row_reader *r, int i, int k, int64_t *out);
/* A bytea column (text format: hex; or binary format) decoded into arena memory; NULL stays NULL
 * (*p = NULL, *n = 0). 0, or -1 when malformed or out of memory. */
WUR int row_bytea(const row_reader *r, int i, int k, arena *a, const unsigned char **p, size_t *n);
/* The same without a copy where there is nothing to decode: in binary format *p points into
 * the result (valid while it is, as row_text's values are); hex is decoded into a. */
WUR int row_bytea_ref(const row_reader *r, int i, int k, arena *a, const unsigned char **p,
                      size_t *n);

#endif
