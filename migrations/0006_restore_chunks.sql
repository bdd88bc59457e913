-- A restore job cut into chunks of backup records, so that several sync workers share one job.
-- A worker holds a chunk only through a row lock inside the transaction that writes it and marks
-- it done: exactly once without leases (restores.next_ordinal is no longer used).
CREATE TABLE restore_chunks (
    restore_id    uuid NOT NULL REFERENCES restores (id) ON DELETE CASCADE,
    chunk         int NOT NULL,
    first_ordinal int NOT NULL,
    last_ordinal  int NOT NULL,
    done          boolean NOT NULL DEFAULT false,
    PRIMARY KEY (restore_id, chunk)
);
CREATE INDEX restore_chunks_todo ON restore_chunks (restore_id, chunk) WHERE NOT done;
