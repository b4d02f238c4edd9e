/* yk_jarena: a bump arena for jansson, for the values of one request while its body is parsed and
 * checked (malloc and free were a twentieth of the ingress's instructions per booking).
 * jansson's allocator is process-wide, so the arena serves only between yk_jarena_begin and
 * yk_jarena_end; at any other time, for a block larger than what is left, and for every free of
 * a block that is not the arena's, malloc and free do. The arena counts its live blocks and is
 * reused only once every one of them has been freed: a value that outlives its request keeps the
 * arena from being reused (the next requests use malloc), it never gets overwritten.
 * Single-threaded, like the services' loops. */
#ifndef YK_JARENA_H
#define YK_JARENA_H

#include <stddef.h>

/* Makes jansson allocate through the arena's functions; once, before the loop runs. */
void yk_jarena_install(void);
/* From now until yk_jarena_end, new jansson blocks come from the arena while it has room. */
void yk_jarena_begin(void);
void yk_jarena_end(void);
/* Bytes of the arena handed out since it was last empty (0: every arena block was freed). */
size_t yk_jarena_used(void);

#endif
