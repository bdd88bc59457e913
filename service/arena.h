/* arena: request-scoped memory. Many small allocations, freed (and wiped, since they may hold
 * opened secrets) together by arena_free(). */
#ifndef ASSETD_ARENA_H
#define ASSETD_ARENA_H

#include <stddef.h>

typedef struct arena_chunk arena_chunk;
typedef struct {
    arena_chunk *head;
} arena;

/* NULL when out of memory. Memory is zeroed and 16-byte aligned. */
void *arena_alloc(arena *a, size_t n);
/* A copy of p[0..n) plus a NUL, or NULL. */
char *arena_strndup(arena *a, const char *p, size_t n);
/* Wipes and frees everything; the arena is empty and reusable afterwards. NULL-safe. */
void arena_free(arena *a);
/* Wipes everything and frees all but the newest chunk, which later allocations reuse:
 * for a loop that needs the same scratch memory again on every round (the sync worker, per
 * record), so it stays in the cache and is never handed back to the system and faulted in
 * again. arena_free still frees it. NULL-safe. */
void arena_reset(arena *a);

#endif
