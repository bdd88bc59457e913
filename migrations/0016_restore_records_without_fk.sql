-- A restore's report rows (restore_records, 0009) keep no foreign key to their job. The key made
-- PostgreSQL look the job up and lock its row (FOR KEY SHARE, a MultiXact as soon as the other
-- worker had updated it) once for every record of a chunk: a sixth of the database's time in a
-- restore. What it guaranteed is kept with one lock per chunk instead of one lookup per row:
--   * no report row without its job: rows are written only by the transaction that holds the
--     chunk's row (restore_chunks, FOR UPDATE), whose own key to restores makes the job's
--     deletion wait for that transaction; a retry writes its inherited rows in the transaction
--     that creates it;
--   * the cascade: deleting jobs (with their backup, or their device's) deletes their report
--     rows, by the statement trigger below, once per statement rather than once per row.
ALTER TABLE restore_records DROP CONSTRAINT restore_records_restore_id_fkey;

CREATE FUNCTION restore_records_cascade() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM restore_records r USING gone g WHERE r.restore_id = g.id;
    RETURN NULL;
END $$;
CREATE TRIGGER restores_records_cascade AFTER DELETE ON restores
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION restore_records_cascade();
