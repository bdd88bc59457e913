-- A principal (what a bearer token stands for: its device's state, data key version, account,
-- and for an app its installation, groups and permissions) may be kept in memory by any assetd
-- instance (service/authcache.c). So that a change made through ANY instance is seen by the very
-- next request on every instance, each row a principal is read from carries a generation, bumped
-- by this trigger on every UPDATE whatever statement makes it (state, user-auth key, token
-- rotation, data key version, groups): a request with a remembered principal checks, inside its
-- own statement, that the device and the installation still exist with the token it presented
-- and the generations it was read at (STORE_INSTALLATION_CURRENT / STORE_PRINCIPAL_CURRENT in
-- service/store/store_devices.h). An uninstall or a device removal deletes the row: the check
-- fails as well. Bumped on every update, even one that changes nothing: a needless re-read of the
-- principal costs one query, a missed change would hand out a secret the contract refuses.
ALTER TABLE devices ADD COLUMN generation bigint NOT NULL DEFAULT 0;
ALTER TABLE installations ADD COLUMN generation bigint NOT NULL DEFAULT 0;

CREATE FUNCTION assetd_bump_generation() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.generation := OLD.generation + 1;
    RETURN NEW;
END
$$;

CREATE TRIGGER devices_generation BEFORE UPDATE ON devices
    FOR EACH ROW EXECUTE FUNCTION assetd_bump_generation();
CREATE TRIGGER installations_generation BEFORE UPDATE ON installations
    FOR EACH ROW EXECUTE FUNCTION assetd_bump_generation();
