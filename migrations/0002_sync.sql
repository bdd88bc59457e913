-- Backup and restore (spec §7, §8).
-- A backup holds sealed records only: each secret and its labels re-sealed under the backup's own
-- transport key (wrapped by the master key), never a plaintext. Local labels are not synced.

CREATE TABLE backups (
    id                  uuid PRIMARY KEY,
    device_id           uuid NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    account_id          text,
    pwd_set             boolean NOT NULL,
    screen_locked       boolean NOT NULL,
    unlocked_since_boot boolean NOT NULL,
    kek_version         int NOT NULL,
    wrapped_key         bytea NOT NULL,
    record_count        int NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE backup_records (
    backup_id     uuid NOT NULL REFERENCES backups (id) ON DELETE CASCADE,
    ordinal       int NOT NULL,
    owner_kind    smallint NOT NULL,
    owner         text NOT NULL,
    attr_enc      boolean NOT NULL,
    alias         text NOT NULL,
    accessibility smallint NOT NULL,
    req_pwd       boolean NOT NULL,
    auth_type     smallint NOT NULL,
    sync_type     smallint NOT NULL,
    persistent    boolean NOT NULL,
    wrap_type     smallint NOT NULL,
    labels_sealed bytea NOT NULL,
    sealed        bytea NOT NULL,
    PRIMARY KEY (backup_id, ordinal)
);

-- A restore job. (As first written, next_ordinal, the counts and the records advanced together in
-- one transaction per batch under a lease. Since 0006 a job is cut into chunks, each claimed and
-- written in one transaction; lease_owner/lease_until are informational, and 0011 drops
-- next_ordinal.)
CREATE TABLE restores (
    id               uuid PRIMARY KEY,
    backup_id        uuid NOT NULL REFERENCES backups (id) ON DELETE CASCADE,
    target_device_id uuid NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    sync_bit         smallint NOT NULL,   -- 1 THIS_DEVICE (same device) or 2 TRUSTED_DEVICE
    status           text NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'running', 'done', 'failed')),
    total            int NOT NULL,
    processed        int NOT NULL DEFAULT 0,
    accepted         int NOT NULL DEFAULT 0,
    failed           int NOT NULL DEFAULT 0,
    f_password       int NOT NULL DEFAULT 0,
    f_unlocked       int NOT NULL DEFAULT 0,
    f_user_auth      int NOT NULL DEFAULT 0,
    f_first_unlock   int NOT NULL DEFAULT 0,
    next_ordinal     int NOT NULL DEFAULT 0,
    lease_owner      text,
    lease_until      timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz
);
CREATE INDEX restores_pending ON restores (created_at) WHERE status IN ('queued', 'running');

-- Per-owner counts of a running restore, folded into sync_results when it finishes.
CREATE TABLE restore_owner_counts (
    restore_id uuid NOT NULL REFERENCES restores (id) ON DELETE CASCADE,
    owner_kind smallint NOT NULL,
    owner      text NOT NULL,
    attr_enc   boolean NOT NULL,
    total      int NOT NULL,
    failed     int NOT NULL,
    PRIMARY KEY (restore_id, owner_kind, owner, attr_enc)
);

CREATE TABLE sync_results (
    device_id   uuid NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    owner_kind  smallint NOT NULL,
    owner       text NOT NULL,
    attr_enc    boolean NOT NULL,
    restore_id  uuid NOT NULL,
    total       int NOT NULL,
    failed      int NOT NULL,
    finished_at timestamptz NOT NULL,
    PRIMARY KEY (device_id, owner_kind, owner, attr_enc)
);
