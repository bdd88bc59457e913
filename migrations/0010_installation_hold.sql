-- Writes made by an installation (add, batch add) hold it against uninstall, token rotation and
-- device removal (svc_installation_hold): a shared advisory lock on the installation, taken in the
-- writer's transaction before its token is checked again; those operations take the same lock
-- exclusively before they change the installation (STORE_INSTALLATION_LOCK in
-- service/store/store_devices.h, same key). The check runs in this VOLATILE function, so under
-- READ COMMITTED it sees whatever committed while the lock was awaited. A lock in memory rather
-- than on the row (FOR SHARE): concurrent writers of one installation create no MultiXacts and
-- write nothing to its tuple.
CREATE FUNCTION assetd_installation_hold(inst bigint, th bytea) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(7263540, (inst % 2147483647)::int);
    RETURN EXISTS (SELECT 1 FROM installations WHERE id = inst AND token_hash = th);
END
$$;
