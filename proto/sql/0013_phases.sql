-- Phased opening (contract §2 "Phases"): the event definition's phases as checked by the ingress
-- (services/ingress/definition.c, common/yk_phase.c), NULL when the event has none. Read by the
-- ingress's catalogue and by the deciding worker.
ALTER TABLE events ADD COLUMN IF NOT EXISTS phases jsonb;
