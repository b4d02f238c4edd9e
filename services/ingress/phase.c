/* phase: builds the booking_closed refusal of a booker whose phase is not open; owns nothing. */
#include "phase.h"

json_t *phase_refusal(const cat_event *e, const json_t *fields, int64_t now)
{
    const char *opens;
    if (e->phases.n == 0 || yk_phases_open(&e->phases, fields, now, &opens))
        return NULL;
    return json_pack("{s:s,s:s,s:o}", "error", "booking_closed", "message",
                     opens ? "Bookings for you open later." : "Bookings are not open to you.",
                     "opens_at", opens ? json_string(opens) : json_null());
}
