-- Folding count deltas deletes rows all the time, and a patient's dead rows stay in the
-- index until a vacuum: a much-read, much-written patient's total then reads thousands of
-- dead entries (4 ms instead of 0.1). Vacuum this table after a fixed number of changes,
-- not a fifth of it; it stays small, so each vacuum is short. drizzle-kit cannot express
-- table storage parameters.
ALTER TABLE "biometrics_counts" SET (
  autovacuum_vacuum_scale_factor = 0,
  autovacuum_vacuum_threshold = 2000,
  autovacuum_vacuum_insert_scale_factor = 0,
  autovacuum_vacuum_insert_threshold = 10000
);
