-- Client safety (spec §13): asset versions (strong ETags), idempotency keys, device removal.

-- Versions come from one global sequence, so an asset removed and added again never gets an
-- earlier tag. Inserts take the default; every UPDATE of a row, whichever statement makes it
-- (PATCH, OVERWRITE, restore, batch), takes the next value through the trigger.
CREATE SEQUENCE asset_version_seq;
ALTER TABLE assets ADD COLUMN version bigint NOT NULL DEFAULT nextval('asset_version_seq');

CREATE FUNCTION assets_next_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.version := nextval('asset_version_seq');
    RETURN NEW;
END $$;
CREATE TRIGGER assets_version BEFORE UPDATE ON assets
    FOR EACH ROW EXECUTE FUNCTION assets_next_version();

-- Idempotency-Key: the first complete answer per (principal, key), kept 24 hours. status is
-- NULL while the first request runs (its claim lasts until lease_until, so a request that died
-- frees its key). Answers never hold a secret (none of the routes that take a key returns one).
CREATE TABLE idempotency_keys (
    principal    text NOT NULL,        -- admin | device:<uuid> | installation:<id>
    key          text NOT NULL,
    request_hash bytea NOT NULL,       -- keyed BLAKE2b of method, path, query and body
    status       int,                  -- NULL: in flight
    content_type text,
    body         bytea,
    location     text,
    etag         text,
    lease_until  timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    PRIMARY KEY (principal, key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);

-- Device removal keeps the device's backups (restorable onto another device of the account) and
-- the history of the restore jobs onto it (they end 'failed'): these two references no longer
-- cascade, the removal deletes what must go itself. device_id / target_device_id keep the id of
-- a removed device. (Backups by device: the index backups_device of migration 0009.)
ALTER TABLE backups DROP CONSTRAINT backups_device_id_fkey;
ALTER TABLE restores DROP CONSTRAINT restores_target_device_id_fkey;
CREATE INDEX restores_target ON restores (target_device_id);
