CREATE TABLE "biometrics_counts" (
	"patient_id" integer NOT NULL,
	"type" text NOT NULL,
	"n" bigint NOT NULL,
	CONSTRAINT "biometrics_counts_pkey" PRIMARY KEY("patient_id","type")
);
--> statement-breakpoint
ALTER TABLE "biometrics_counts" ADD CONSTRAINT "biometrics_counts_patient_id_patients_id_fk" FOREIGN KEY ("patient_id") REFERENCES "public"."patients"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
-- Statement-level triggers with transition tables: one counter update per statement and
-- (patient, type), whatever door wrote the readings (API, bulk, loader, COPY, psql).
-- For INSERT ... ON CONFLICT DO UPDATE the inserted-rows table holds only new rows.
-- Counters are locked in (patient_id, type) order, so concurrent writers cannot deadlock on them.
CREATE FUNCTION biometrics_counts_add() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO biometrics_counts AS c (patient_id, type, n)
  SELECT patient_id, type, count(*) FROM added GROUP BY patient_id, type ORDER BY patient_id, type
  ON CONFLICT (patient_id, type) DO UPDATE SET n = c.n + excluded.n;
  RETURN NULL;
END;
$$;
--> statement-breakpoint
CREATE FUNCTION biometrics_counts_remove() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM 1 FROM biometrics_counts c
  WHERE (c.patient_id, c.type) IN (SELECT patient_id, type FROM removed)
  ORDER BY c.patient_id, c.type FOR NO KEY UPDATE;
  UPDATE biometrics_counts c SET n = c.n - r.n
  FROM (SELECT patient_id, type, count(*) AS n FROM removed GROUP BY patient_id, type) r
  WHERE c.patient_id = r.patient_id AND c.type = r.type;
  RETURN NULL;
END;
$$;
--> statement-breakpoint
-- No code path changes a reading's patient or type; this keeps the counts right if an operator does.
CREATE FUNCTION biometrics_counts_move() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE biometrics_counts SET n = n - 1 WHERE patient_id = OLD.patient_id AND type = OLD.type;
  INSERT INTO biometrics_counts AS c (patient_id, type, n) VALUES (NEW.patient_id, NEW.type, 1)
  ON CONFLICT (patient_id, type) DO UPDATE SET n = c.n + 1;
  RETURN NULL;
END;
$$;
--> statement-breakpoint
CREATE FUNCTION biometrics_counts_clear() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM biometrics_counts;
  RETURN NULL;
END;
$$;
--> statement-breakpoint
CREATE TRIGGER biometrics_counts_on_insert
  AFTER INSERT ON biometrics REFERENCING NEW TABLE AS added
  FOR EACH STATEMENT EXECUTE FUNCTION biometrics_counts_add();
--> statement-breakpoint
CREATE TRIGGER biometrics_counts_on_delete
  AFTER DELETE ON biometrics REFERENCING OLD TABLE AS removed
  FOR EACH STATEMENT EXECUTE FUNCTION biometrics_counts_remove();
--> statement-breakpoint
CREATE TRIGGER biometrics_counts_on_move
  AFTER UPDATE OF patient_id, type ON biometrics
  FOR EACH ROW WHEN (OLD.patient_id IS DISTINCT FROM NEW.patient_id OR OLD.type IS DISTINCT FROM NEW.type)
  EXECUTE FUNCTION biometrics_counts_move();
--> statement-breakpoint
CREATE TRIGGER biometrics_counts_on_truncate
  AFTER TRUNCATE ON biometrics
  FOR EACH STATEMENT EXECUTE FUNCTION biometrics_counts_clear();
--> statement-breakpoint
-- Existing readings. The triggers above already hold a lock that keeps writers out until
-- the migration commits, so no reading is counted twice or missed.
INSERT INTO biometrics_counts (patient_id, type, n)
SELECT patient_id, type, count(*) FROM biometrics GROUP BY patient_id, type;
