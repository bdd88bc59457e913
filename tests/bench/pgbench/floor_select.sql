-- Floor C: a prepared primary-key SELECT of one whole asset row (assetd's column list).
-- pgbench -D variables: maxseq (the largest seq in the table).
\set id random(1, :maxseq)
SELECT seq, owner_kind, owner, attr_enc, alias, accessibility, req_pwd, auth_type, sync_type,
       persistent, wrap_type, c1, c2, c3, c4, n1, n2, n3, n4, l1, l2, l3, l4, labels_sealed,
       sealed, key_version, (extract(epoch FROM updated_at) * 1000)::bigint
FROM assets WHERE seq = :id;
