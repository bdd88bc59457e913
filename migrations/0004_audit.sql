-- Audit log: every add, update, remove, secret read, backup and restore, refused ones included
-- (the full list of actions: openapi.yaml, listAuditEvents). Changes are written in the same
-- transaction as the change they record; secret reads and refusals by a background writer
-- (service/audit.c). Aliases only as a keyed hash.
CREATE TABLE audit_log (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    principal  text NOT NULL CHECK (principal IN ('admin', 'device', 'installation')),
    action     text NOT NULL,
    device_id  uuid,
    owner      text,
    alias_hash text,
    outcome    text NOT NULL
);
