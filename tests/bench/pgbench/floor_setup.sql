-- Floors B and C: run after migrations/*.sql were applied to the separate database
-- assetd_floor (so the assets table has exactly assetd's columns, constraints and indexes).
-- One device row, then 100,000 asset-shaped rows, so that the table and its indexes are as large
-- as assetd's after seeding. Their alias keys follow assetd's formula (store_alias_key).
-- psql variables: dev (uuid text).
INSERT INTO devices (id, name, token_hash) VALUES (:'dev', 'floor', '\x00'::bytea);
INSERT INTO assets (device_id, owner_kind, owner, attr_enc, alias, accessibility, req_pwd,
                    auth_type, sync_type, persistent, wrap_type, n1, sealed, key_version, alias_key)
SELECT :'dev', 0, 'com.bench.floor', false, 'seed' || lpad(i::text, 7, '0'), 1, false, 0, 2,
       false, 0, 'grp-' || (i % 10),
       substr(decode(repeat(md5(i::text), 67), 'hex'), 1, 1064), 1,
       sha256(convert_to(:'dev' || '/0/false/15:com.bench.floor' || 'seed' || lpad(i::text, 7, '0'),
                         'UTF8'))
FROM generate_series(0, 99999) AS i;
VACUUM ANALYZE assets;
