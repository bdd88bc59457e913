/* pgparams: the parameters of one statement built up one by one, scalars and arrays alike.
 * Arrays travel in PostgreSQL's binary array format (no quoting, no parsing of hundreds of
 * parameters), so that a statement can take any number of rows and spread them with unnest.
 *
 * A pg_params starts zeroed ({0}). Scalar texts are borrowed (they must outlive pgp_exec);
 * arrays are owned, and pgp_exec frees (and wipes: rows hold sealed values and labels) them,
 * whatever happens, leaving the pg_params zeroed for reuse. An array's elements are written with
 * copybin's field functions (copybin_bytes, copybin_i16, ...: the same encoding); an allocation
 * that fails marks it failed, and pgp_exec then returns OUT_OF_MEMORY without running. */
#ifndef ASSETD_PGPARAMS_H
#define ASSETD_PGPARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "copybin.h"
#include "db.h"

/* Element type OIDs of the arrays sent (pg_type.h). */
enum { OID_BOOL = 16, OID_BYTEA = 17, OID_INT8 = 20, OID_INT2 = 21, OID_INT4 = 23, OID_TEXT = 25 };

/* One array parameter: PostgreSQL's binary array format (array_recv), its elements as copybin
 * fields. */
typedef copybin pg_array;

#define PGP_MAX 48

typedef struct {
    const char *vals[PGP_MAX];
    int lens[PGP_MAX], fmts[PGP_MAX];
    pg_array arr[PGP_MAX];
    char num[PGP_MAX][24];
    int n;
    bool failed;        /* more than PGP_MAX parameters */
    bool binary_result; /* the result's columns in binary format (row.c reads either) */
} pg_params;

/* Starts the next parameter as an array of n elements of type oid; returns it to fill with
 * exactly n pgp_el_* calls. */
pg_array *pgp_array(pg_params *ps, uint32_t oid, int n);
/* Scalars: a text (binary, no terminator needed, when n >= 0; else a C string), an integer. */
void pgp_text(pg_params *ps, const char *p, long n);
void pgp_int(pg_params *ps, long long v);
/* Runs prepared statement st with the parameters (db_exec_stmt: *out the result, caller's to
 * PQclear) and releases them. */
WUR asset_err pgp_exec(pg_params *ps, db_conn *c, const db_stmt *st, PGresult **out);

#endif
