-- Floor B: one asset-sized row per transaction (autocommit, synchronous_commit on), the same
-- statement shape as assetd's asset_insert: unique key conflict check, RETURNING seq and time.
-- pgbench -D variables: dev (uuid), sealed (\x + hex of 1,064 bytes: a 1 KiB secret sealed).
-- The alias key by assetd's formula (store_alias_key), which assetd computes itself; chr(58) is
-- the ':' that pgbench would otherwise read as the start of a variable.
\set r random(1, 1000000000000)
INSERT INTO assets (device_id, owner_kind, owner, attr_enc, alias, accessibility, req_pwd,
                    auth_type, sync_type, persistent, wrap_type, c1, c2, c3, c4, n1, n2, n3, n4,
                    l1, l2, l3, l4, labels_sealed, sealed, key_version, alias_key)
VALUES (:dev::uuid, 0, 'com.bench.floor', false, 'f' || :client_id::text || '-' || :r::text, 1,
        false, 0, 2, false, 0, NULL, NULL, NULL, NULL, 'grp-' || (:r::bigint % 10)::text, NULL,
        NULL, NULL, NULL, NULL, NULL, NULL, NULL, :sealed::bytea, 1,
        sha256(convert_to(:dev::text || '/0/false/15' || chr(58) || 'com.bench.floor' || 'f'
                          || :client_id::text || '-' || :r::text, 'UTF8')))
ON CONFLICT (alias_key) DO NOTHING
RETURNING seq, (extract(epoch FROM updated_at) * 1000)::bigint;
