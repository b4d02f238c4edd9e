/* map: a compact string → pointer hash map (open addressing, linear probing) for the worker's
 * in-memory state. It owns copies of its keys; values are the caller's (map_clear frees them). */
#ifndef MAP_H
#define MAP_H

#include <stddef.h>

typedef struct {
    char *key; /* owned copy; NULL = empty slot */
    void *val;
} map_slot;

typedef struct {
    map_slot *slots;
    size_t cap, len; /* cap is 0 or a power of two */
} map;

#define MAP_INIT                                                                                   \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

/* The value stored under key, or NULL. */
void *map_get(const map *m, const char *key);

/* Address of the value under key, inserting it with value NULL if absent. NULL only when
 * memory runs out. The address is valid until the next insertion. */
__attribute__((warn_unused_result)) void **map_ref(map *m, const char *key);

/* Removes key and its value (free_val, may be NULL, is called on it); nothing if absent. */
void map_del(map *m, const char *key, void (*free_val)(void *));

/* Removes every entry; free_val (may be NULL) is called on each value. The map stays usable. */
void map_clear(map *m, void (*free_val)(void *));

/* Iteration: for (size_t i = 0; i < m.cap; i++) if (m.slots[i].key) ... */

#endif
