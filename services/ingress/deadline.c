/* deadline: owns the one timer and the list of pending items, ordered by expiry (items are few:
 * status reads and statistics, not reservations, so insertion walks the list). */
#include "deadline.h"

#include "ingress.h"

static deadline_item *head;
static uv_timer_t timer;
static int timer_state; /* 0: not initialised, 1: ready, 2: closed */

static void arm(void);

static void fire(uv_timer_t *t)
{
    (void)t;
    uint64_t now = uv_now(ingress.loop);
    while (head && head->at <= now) {
        deadline_item *d = head;
        deadline_cancel(d);
        d->expired(d);
    }
    arm();
}

static void arm(void)
{
    if (head == NULL || timer_state != 1) {
        if (timer_state == 1)
            uv_timer_stop(&timer);
        return;
    }
    uint64_t now = uv_now(ingress.loop);
    uv_timer_start(&timer, fire, head->at > now ? head->at - now : 0, 0);
}

uint64_t deadline_wait_ms(void)
{
    return ingress.wait_ms >= 1000 ? (uint64_t)ingress.wait_ms : 1000;
}

int deadline_add(deadline_item *d, uint64_t ms, void (*expired)(deadline_item *d))
{
    if (timer_state == 0 && uv_timer_init(ingress.loop, &timer) == 0)
        timer_state = 1;
    if (timer_state != 1)
        return -1;
    d->expired = expired;
    d->at = uv_now(ingress.loop) + ms;
    deadline_item **p = &head, *prev = NULL;
    while (*p && (*p)->at <= d->at) {
        prev = *p;
        p = &(*p)->next;
    }
    d->next = *p;
    d->prev = prev;
    if (*p)
        (*p)->prev = d;
    *p = d;
    d->listed = 1;
    if (head == d)
        arm();
    return 0;
}

void deadline_cancel(deadline_item *d)
{
    if (!d->listed)
        return;
    if (d->prev)
        d->prev->next = d->next;
    else
        head = d->next;
    if (d->next)
        d->next->prev = d->prev;
    d->prev = d->next = NULL;
    d->listed = 0;
}

void deadline_close(void)
{
    if (timer_state == 1)
        uv_close((uv_handle_t *)&timer, NULL);
    timer_state = 2;
    while (head)
        deadline_cancel(head);
}
