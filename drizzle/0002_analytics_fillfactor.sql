-- Leave room in each analytics page so an engine's update of a bucket can stay on its page
-- (a HOT update: no new index entries, no dead ones left behind). Only the table's values
-- change, never the indexed key, so every update qualifies when there is room. Applies to
-- pages written from now on; drizzle-kit cannot express table storage parameters.
ALTER TABLE "analytics" SET (fillfactor = 90);
