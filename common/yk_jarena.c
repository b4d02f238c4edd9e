/* yk_jarena: owns the arena jansson allocates from during yk_jarena_begin/end, and jansson's
 * allocation functions for the whole process (see yk_jarena.h). */
#include "yk_jarena.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

/* gcc defines __SANITIZE_ADDRESS__ under ASan; clang does not, it answers
 * __has_feature(address_sanitizer) instead */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define JARENA_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define JARENA_ASAN 1
#endif

#ifdef JARENA_ASAN
#include <sanitizer/asan_interface.h>
#else
#define ASAN_POISON_MEMORY_REGION(addr, size) ((void)(addr), (void)(size))
#define ASAN_UNPOISON_MEMORY_REGION(addr, size) ((void)(addr), (void)(size))
#endif

#define ARENA_BYTES 16384 /* a booking's body and its checked fields take well under 2 KB */
#define ALIGN _Alignof(max_align_t)

static _Alignas(max_align_t) char arena[ARENA_BYTES];
static size_t used; /* bytes handed out since the arena was last empty */
static size_t live; /* arena blocks not yet freed */
static int active;

static int in_arena(const void *p)
{
    return (uintptr_t)p >= (uintptr_t)arena && (uintptr_t)p < (uintptr_t)arena + ARENA_BYTES;
}

static void *jarena_malloc(size_t n)
{
    if (!active || n > ARENA_BYTES)
        return malloc(n);
    size_t size = (n + ALIGN - 1) / ALIGN * ALIGN;
    if (size > ARENA_BYTES - used)
        return malloc(n);
    void *p = arena + used;
    used += size;
    live++;
    ASAN_UNPOISON_MEMORY_REGION(p, n); /* the padding stays poisoned: overruns are caught */
    return p;
}

static void jarena_free(void *p)
{
    if (!in_arena(p)) {
        free(p);
        return;
    }
    if (--live == 0) {
        used = 0;
        ASAN_POISON_MEMORY_REGION(arena, ARENA_BYTES);
    }
}

void yk_jarena_install(void)
{
    ASAN_POISON_MEMORY_REGION(arena, ARENA_BYTES);
    json_set_alloc_funcs(jarena_malloc, jarena_free);
}

void yk_jarena_begin(void)
{
    active = 1;
}

void yk_jarena_end(void)
{
    active = 0;
}

size_t yk_jarena_used(void)
{
    return used;
}
