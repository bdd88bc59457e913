-- Lookups by alias that cannot depend on statistics. An asset read, updated or removed by its
-- alias is found through a single-column unique key that no other index can serve, so the plan
-- is the same on a table just bulk-loaded and never analyzed (a restore onto a new device, a
-- fresh deployment, an import) as on an analyzed one: before this, without statistics the
-- planner could pick assets_store_seq for such a lookup and scan the owner's every row.
-- The key is SHA-256 over (device, owner kind, store, owner, alias), computed by PostgreSQL from
-- the row itself, so no writer can get it wrong; statements compute the same expression from
-- their parameters (service/store/store.h, ALIAS_KEY_SQL). Since migration 0015 the column is no
-- longer generated: assetd writes it with the row (store_alias_key, the same formula).
-- (decode(replace(t, '\', '\\'), 'escape') is t's UTF-8 bytes, as convert_to would give, but
-- immutable, which a generated column needs.)
ALTER TABLE assets ADD COLUMN alias_key bytea GENERATED ALWAYS AS (
    sha256(decode(replace(device_id::text || '/' || owner_kind::text || '/' || attr_enc::text ||
                          '/' || length(owner)::text || ':' || owner || alias, '\', '\\'),
                  'escape'))) STORED;
CREATE UNIQUE INDEX assets_alias_key ON assets (alias_key);
