-- Sync beyond the Kit (spec §12): the per-record report of restores, retries, backup listing.

-- One row per decided record of a restore, written by the sync worker in the transaction of the
-- chunk that decides the record (so exactly once, like the counts). rule: 0 accepted, else the
-- §7 rule that refused it (1 password, 2 unlocked, 3 user_auth, 4 first_unlock). The alias is
-- not copied: it is read from backup_records (the report goes with the backup).
-- A retry job also carries, as inherited rows, the outcomes of its base job's other records of
-- the owners it touches, so the records behind a sync result are always those of one job.
CREATE TABLE restore_records (
    restore_id uuid NOT NULL REFERENCES restores (id) ON DELETE CASCADE,
    ordinal    int NOT NULL,
    owner_kind smallint NOT NULL,
    owner      text NOT NULL,
    attr_enc   boolean NOT NULL,
    rule       smallint NOT NULL,
    inherited  boolean NOT NULL DEFAULT false,
    PRIMARY KEY (restore_id, ordinal)
);
CREATE INDEX restore_records_owner ON restore_records (restore_id, owner_kind, owner, attr_enc,
                                                       ordinal);

-- A retry: retry_of the job it was asked for, retry_root the first job of the family,
-- retry_base the job whose failed records it decides again (the family's latest), and
-- retry_rules the rules (bit 1 << rule) whose failures it takes.
ALTER TABLE restores ADD COLUMN retry_of uuid REFERENCES restores (id) ON DELETE SET NULL;
ALTER TABLE restores ADD COLUMN retry_root uuid REFERENCES restores (id) ON DELETE CASCADE;
ALTER TABLE restores ADD COLUMN retry_base uuid REFERENCES restores (id) ON DELETE CASCADE;
ALTER TABLE restores ADD COLUMN retry_rules smallint NOT NULL DEFAULT 0;
CREATE INDEX restores_family ON restores (retry_root, created_at) WHERE retry_root IS NOT NULL;
CREATE INDEX restores_backup ON restores (backup_id);

-- GET /backups?deviceId=: newest first, keyset on (created_at, id).
CREATE INDEX backups_device ON backups (device_id, created_at DESC, id DESC);

-- What the restore rules read of a backup, per distinct combination (a backup never changes):
-- POST /restores/preview decides these groups, not the records. Written with the backup, in its
-- transaction; filled here for the backups taken before.
CREATE TABLE backup_groups (
    backup_id     uuid NOT NULL REFERENCES backups (id) ON DELETE CASCADE,
    owner_kind    smallint NOT NULL,
    owner         text NOT NULL,
    attr_enc      boolean NOT NULL,
    accessibility smallint NOT NULL,
    req_pwd       boolean NOT NULL,
    auth_type     smallint NOT NULL,
    sync_type     smallint NOT NULL,
    n             int NOT NULL
);
CREATE INDEX backup_groups_backup ON backup_groups (backup_id);
INSERT INTO backup_groups
SELECT backup_id, owner_kind, owner, attr_enc, accessibility, req_pwd, auth_type, sync_type,
       count(*)
FROM backup_records
GROUP BY backup_id, owner_kind, owner, attr_enc, accessibility, req_pwd, auth_type, sync_type;
