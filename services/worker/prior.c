/* prior: per identity, the slot starts and attendance of an event's active bookings, as the
 * prerequisite check of the events that depend on it reads them. Memory only. */
#include "prior.h"

#include <stdlib.h>

int prior_add(map *h, const char *ident, int64_t start, bool attended)
{
    void **ref = map_ref(h, ident);
    if (ref == NULL)
        return -1;
    prior_list *l = *ref;
    if (l == NULL) {
        if ((l = calloc(1, sizeof *l)) == NULL) {
            map_del(h, ident, NULL);
            return -1;
        }
        *ref = l;
    }
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 2;
        void *v = realloc(l->v, (size_t)cap * sizeof *l->v);
        if (v == NULL)
            return -1; /* an empty list left behind means the same as none */
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n].start = start;
    l->v[l->n].attended = attended;
    l->n++;
    return 0;
}

void prior_remove(map *h, const char *ident, int64_t start)
{
    prior_list *l = h ? map_get(h, ident) : NULL;
    for (int i = 0; l && i < l->n; i++) {
        if (l->v[i].start != start || l->v[i].attended)
            continue; /* only a confirmed booking can be cancelled */
        l->v[i] = l->v[--l->n];
        return;
    }
}

void prior_attend(map *h, const char *ident, int64_t start)
{
    prior_list *l = h ? map_get(h, ident) : NULL;
    for (int i = 0; l && i < l->n; i++) {
        if (l->v[i].start == start && !l->v[i].attended) {
            l->v[i].attended = true;
            return;
        }
    }
}

bool prior_met(const map *h, const char *ident, int64_t start, int min_days, bool attended)
{
    const prior_list *l = h ? map_get(h, ident) : NULL;
    for (int i = 0; l && i < l->n; i++)
        if ((!attended || l->v[i].attended) && l->v[i].start <= start - (int64_t)min_days * 86400)
            return true;
    return false;
}

void prior_list_free(void *p)
{
    prior_list *l = p;
    if (l) {
        free(l->v);
        free(l);
    }
}
