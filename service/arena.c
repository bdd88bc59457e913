#include "arena.h"

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The first chunk is small: most requests need a few hundred bytes (headers, arguments), and
 * every request waiting in the queue holds one; later chunks double up to CHUNK_MAX. */
#define CHUNK_FIRST 1024
#define CHUNK_MAX 8192

struct arena_chunk {
    arena_chunk *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

void *arena_alloc(arena *a, size_t n)
{
    if (n > SIZE_MAX - sizeof(arena_chunk) - 15)
        return NULL;
    n = (n + 15) & ~(size_t)15;
    arena_chunk *c = a->head;
    if (!c || c->cap - c->used < n) {
        size_t grow = c ? (c->cap < CHUNK_MAX / 2 ? c->cap * 2 : CHUNK_MAX) : CHUNK_FIRST;
        size_t cap = n > grow ? n : grow;
        c = calloc(1, sizeof *c + cap);
        if (!c)
            return NULL;
        c->cap = cap;
        c->next = a->head;
        a->head = c;
    }
    void *p = c->data + c->used;
    c->used += n;
    return p;
}

char *arena_strndup(arena *a, const char *p, size_t n)
{
    char *s = arena_alloc(a, n + 1);
    if (s && n)
        memcpy(s, p, n);
    return s;
}

/* Wipes and frees c and every chunk after it. */
static void free_chunks(arena_chunk *c)
{
    while (c) {
        arena_chunk *next = c->next;
        sodium_memzero(c->data, c->used);
        free(c);
        c = next;
    }
}

void arena_free(arena *a)
{
    if (!a)
        return;
    free_chunks(a->head);
    a->head = NULL;
}

void arena_reset(arena *a)
{
    if (!a || !a->head)
        return;
    arena_chunk *c = a->head;
    free_chunks(c->next);
    /* Zeroed again, as arena_alloc promises. */
    sodium_memzero(c->data, c->used);
    c->used = 0;
    c->next = NULL;
}
