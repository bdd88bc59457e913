-- Floor D: a prepared label page, the statement assetd runs for
-- GET /assets?dataLabelNormal1=grp-N&limit=100 (service/store/store.c store_asset_select): the
-- same columns (STORE_ASSET_COLS), the same scope and label filter as parameters, the same order
-- and the same LIMIT (a page of 100 asks for 101 rows: the extra one says a next page exists),
-- so the same index. The floor table's rows carry n1 = 'grp-' || (i % 10) like the seeded ones.
-- pgbench -D variables: dev (uuid), owner (the floor rows' owner); in -M prepared every
-- :variable is a parameter, as assetd's are.
\set g random(0, 9)
\set kind 0
\set enc 0
SELECT seq, owner_kind, owner, attr_enc, alias, accessibility, req_pwd, auth_type, sync_type,
       persistent, wrap_type, c1, c2, c3, c4, n1, n2, n3, n4, l1, l2, l3, l4, labels_sealed,
       sealed, key_version, (extract(epoch FROM updated_at) * 1000)::bigint AS update_ms, version
FROM assets
WHERE device_id = :dev::uuid AND owner_kind = :kind::smallint AND owner = :owner::text
  AND attr_enc = :enc::boolean AND n1 = ('grp-' || :g)::text
ORDER BY seq LIMIT 101;
