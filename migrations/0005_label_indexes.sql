-- Label filters (GET /assets?dataLabel...=v, remove by label) within one store. Partial, so an
-- asset pays only for the labels it has. `make bench` showed label-filtered pages scanning every
-- asset of the owner without them.
CREATE INDEX assets_label_c1 ON assets (device_id, owner_kind, owner, attr_enc, c1) WHERE c1 IS NOT NULL;
CREATE INDEX assets_label_c2 ON assets (device_id, owner_kind, owner, attr_enc, c2) WHERE c2 IS NOT NULL;
CREATE INDEX assets_label_c3 ON assets (device_id, owner_kind, owner, attr_enc, c3) WHERE c3 IS NOT NULL;
CREATE INDEX assets_label_c4 ON assets (device_id, owner_kind, owner, attr_enc, c4) WHERE c4 IS NOT NULL;
CREATE INDEX assets_label_n1 ON assets (device_id, owner_kind, owner, attr_enc, n1) WHERE n1 IS NOT NULL;
CREATE INDEX assets_label_n2 ON assets (device_id, owner_kind, owner, attr_enc, n2) WHERE n2 IS NOT NULL;
CREATE INDEX assets_label_n3 ON assets (device_id, owner_kind, owner, attr_enc, n3) WHERE n3 IS NOT NULL;
CREATE INDEX assets_label_n4 ON assets (device_id, owner_kind, owner, attr_enc, n4) WHERE n4 IS NOT NULL;
CREATE INDEX assets_label_l1 ON assets (device_id, owner_kind, owner, attr_enc, l1) WHERE l1 IS NOT NULL;
CREATE INDEX assets_label_l2 ON assets (device_id, owner_kind, owner, attr_enc, l2) WHERE l2 IS NOT NULL;
CREATE INDEX assets_label_l3 ON assets (device_id, owner_kind, owner, attr_enc, l3) WHERE l3 IS NOT NULL;
CREATE INDEX assets_label_l4 ON assets (device_id, owner_kind, owner, attr_enc, l4) WHERE l4 IS NOT NULL;
