-- The key of the request stream an event is decided on (common/yk_partition.h hashes it): an
-- event, its prerequisite event and the events of its campaign share a partition, so that one
-- worker decides dose series and campaign limits from memory. Set once, when the event is made:
-- its campaign, else its prerequisite's key (the root of the prerequisite chain), else its slug.
-- Existing events keep the partition they had (campaign, else slug).
ALTER TABLE events ADD COLUMN IF NOT EXISTS partition_key text;
UPDATE events SET partition_key = coalesce(campaign, slug) WHERE partition_key IS NULL;
