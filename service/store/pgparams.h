/* pgparams: the parameters of one statement built up one by one, scalars and arrays alike.
 * Arrays travel in PostgreSQL's binary array format (no quoting, no parsing of hundreds of
 * parameters), so that a statement can take any number of rows and spread them with unnest.
 *
 * A pg_params starts zeroed ({0}). Scalar texts are borrowed (they must outlive pgp_exec);
 * arrays are owned, and pgp_exec frees (and wipes: rows hold sealed values and labels) them,
 * whatever happens, leaving the pg_params zeroed for reuse. An allocation that fails marks the
 * pg_params failed: the rest of the building is skipped and pgp_exec returns OUT_OF_MEMORY. */
#ifndef ASSETD_PGPARAMS_H
#define ASSETD_PGPARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"

/* Element type OIDs of the arrays sent (pg_type.h). */
enum { OID_BOOL = 16, OID_BYTEA = 17, OID_INT8 = 20, OID_INT2 = 21, OID_INT4 = 23, OID_TEXT = 25 };

/* A one-dimensional array in PostgreSQL's binary format (array_recv): header, then each element
 * as a 4-byte length (-1 for NULL) and its bytes. */
typedef struct {
    unsigned char *buf;
    size_t len, cap;
} pg_array;

#define PGP_MAX 48

typedef struct {
    const char *vals[PGP_MAX];
    int lens[PGP_MAX], fmts[PGP_MAX];
    pg_array arr[PGP_MAX];
    char num[PGP_MAX][24];
    int n;
    bool failed;
} pg_params;

/* Starts the next parameter as an array of n elements of type oid; returns it to fill with
 * exactly n pgp_el_* calls. */
pg_array *pgp_array(pg_params *ps, uint32_t oid, int n);
/* Elements: bytes (NULL p: an SQL NULL), an integer of size 2, 4 or 8 bytes, a boolean. */
void pgp_el_bytes(pg_params *ps, pg_array *a, const void *p, size_t n);
void pgp_el_int(pg_params *ps, pg_array *a, int size, int64_t v);
void pgp_el_bool(pg_params *ps, pg_array *a, bool v);
/* Scalars: a text (binary, no terminator needed, when n >= 0; else a C string), an integer. */
void pgp_text(pg_params *ps, const char *p, long n);
void pgp_int(pg_params *ps, long long v);
/* Runs prepared statement st with the parameters (db_exec_stmt: *out the result, caller's to
 * PQclear) and releases them. */
WUR asset_err pgp_exec(pg_params *ps, db_conn *c, const db_stmt *st, PGresult **out);

#endif
