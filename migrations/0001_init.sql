-- Core schema: service keys, devices and their data keys, app installations, assets.
-- Nothing secret is stored in plaintext: tokens as keyed hashes, keys wrapped by the master
-- key, secrets sealed; labels of requireAttrEncrypted assets sealed with a blind index.

CREATE TABLE service_keys (
    name        text PRIMARY KEY,          -- 'token': key of the token hashes and cursor MACs
    kek_version int NOT NULL,
    wrapped     bytea NOT NULL
);

CREATE TABLE devices (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name                text NOT NULL,
    account_id          text,
    token_hash          bytea NOT NULL UNIQUE,
    user_auth_pk        bytea,
    pwd_set             boolean NOT NULL DEFAULT false,
    screen_locked       boolean NOT NULL DEFAULT false,
    unlocked_since_boot boolean NOT NULL DEFAULT true,
    dek_version         int NOT NULL DEFAULT 1,
    created_at          timestamptz NOT NULL DEFAULT now()
);

-- Per-device data keys, wrapped by master key version kek_version.
CREATE TABLE device_keys (
    device_id   uuid NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    version     int NOT NULL,
    kek_version int NOT NULL,
    wrapped     bytea NOT NULL,
    PRIMARY KEY (device_id, version)
);
CREATE INDEX device_keys_kek ON device_keys (kek_version);

CREATE TABLE installations (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id       uuid NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    app_id          text NOT NULL,
    token_hash      bytea NOT NULL UNIQUE,
    groups          text[] NOT NULL DEFAULT '{}',
    perm_persistent boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (device_id, app_id)
);

-- owner_kind 0: owner is an appId; 1: owner is a groupId.
-- c1..c4, n1..n4, l1..l4: critical, normal and normal-local labels. Plaintext when attr_enc is
-- false; when it is true, a blind index (hex keyed hash) and the values are in labels_sealed.
CREATE TABLE assets (
    seq           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id     uuid NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    owner_kind    smallint NOT NULL CHECK (owner_kind IN (0, 1)),
    owner         text NOT NULL,
    attr_enc      boolean NOT NULL,
    alias         text NOT NULL,
    accessibility smallint NOT NULL,
    req_pwd       boolean NOT NULL,
    auth_type     smallint NOT NULL,
    sync_type     smallint NOT NULL,
    persistent    boolean NOT NULL,
    wrap_type     smallint NOT NULL,
    c1 text, c2 text, c3 text, c4 text,
    n1 text, n2 text, n3 text, n4 text,
    l1 text, l2 text, l3 text, l4 text,
    labels_sealed bytea,
    sealed        bytea NOT NULL,
    key_version   int NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (device_id, owner_kind, owner, attr_enc, alias)
);
-- Paging in insertion order within one store.
CREATE INDEX assets_store_seq ON assets (device_id, owner_kind, owner, attr_enc, seq);
