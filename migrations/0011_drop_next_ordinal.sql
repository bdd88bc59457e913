-- Restore jobs are cut into chunks (0006): next_ordinal, the per-job position of the first
-- design, has not been read or written since.
ALTER TABLE restores DROP COLUMN next_ordinal;
