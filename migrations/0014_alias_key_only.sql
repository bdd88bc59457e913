-- The alias key (0007) is the assets' only unique key. Every lookup by alias already went through
-- it; now the conflict targets of adds, batch adds and restores do too (ON CONFLICT (alias_key):
-- STORE_ON_ALIAS in service/store/store.h), and batch selects and removes find their aliases by
-- it. The constraint on (device_id, owner_kind, owner, attr_enc, alias) said the same thing a
-- second time, at the cost of a second unique index over long text keys on every write.
ALTER TABLE assets DROP CONSTRAINT assets_device_id_owner_kind_owner_attr_enc_alias_key;
