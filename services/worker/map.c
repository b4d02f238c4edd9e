/* map: string → pointer hash map used by the worker's partition state.
 * Keys are copied (strdup) and freed by map_clear; values are never touched except by free_val. */
#include "map.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t map_hash(const char *s)
{
    uint64_t h = 14695981039346656037u; /* FNV-1a 64: short keys, no adversary worth a keyed hash */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211u;
    }
    return h;
}

static map_slot *map_find(const map *m, const char *key)
{
    if (m->cap == 0)
        return NULL;
    for (size_t i = map_hash(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1))
        if (m->slots[i].key == NULL || strcmp(m->slots[i].key, key) == 0)
            return &m->slots[i];
}

void *map_get(const map *m, const char *key)
{
    map_slot *s = map_find(m, key);
    return s && s->key ? s->val : NULL;
}

static int map_grow(map *m)
{
    size_t cap = m->cap ? m->cap * 2 : 16;
    map_slot *old = m->slots;
    size_t oldcap = m->cap;
    m->slots = calloc(cap, sizeof *m->slots);
    if (m->slots == NULL) {
        m->slots = old;
        return -1;
    }
    m->cap = cap;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].key)
            *map_find(m, old[i].key) = old[i];
    free(old);
    return 0;
}

void **map_ref(map *m, const char *key)
{
    /* Load factor ≤ 1/2 keeps probe chains short and guarantees map_find meets an empty slot. */
    if ((m->len + 1) * 2 > m->cap && map_grow(m) != 0)
        return NULL;
    map_slot *s = map_find(m, key);
    if (s->key == NULL) {
        if ((s->key = strdup(key)) == NULL)
            return NULL;
        s->val = NULL;
        m->len++;
    }
    return &s->val;
}

void map_del(map *m, const char *key, void (*free_val)(void *))
{
    map_slot *s = map_find(m, key);
    if (s == NULL || s->key == NULL)
        return;
    if (free_val)
        free_val(s->val);
    free(s->key);
    m->len--;
    /* Backward-shift deletion: pull later members of the probe chain into the hole unless their
     * home slot lies cyclically in (hole, member], so every key stays reachable from its home. */
    size_t mask = m->cap - 1, hole = (size_t)(s - m->slots);
    for (size_t j = (hole + 1) & mask; m->slots[j].key; j = (j + 1) & mask) {
        size_t home = map_hash(m->slots[j].key) & mask;
        if (hole <= j ? (hole < home && home <= j) : (hole < home || home <= j))
            continue;
        m->slots[hole] = m->slots[j];
        hole = j;
    }
    m->slots[hole].key = NULL;
    m->slots[hole].val = NULL;
}

void map_clear(map *m, void (*free_val)(void *))
{
    for (size_t i = 0; i < m->cap; i++) {
        if (m->slots[i].key == NULL)
            continue;
        if (free_val)
            free_val(m->slots[i].val);
        free(m->slots[i].key);
    }
    free(m->slots);
    m->slots = NULL;
    m->cap = m->len = 0;
}
