-- User-authenticated reads (pre-query / query / post-query). A challenge is bound to one
-- installation (deleted with it, so an uninstall revokes it) and to the assets its pre-query
-- matched; it lives until post-query (which deletes it) or expires_at.
CREATE TABLE challenges (
    challenge       bytea PRIMARY KEY,
    installation_id bigint NOT NULL REFERENCES installations (id) ON DELETE CASCADE,
    asset_seqs      bigint[] NOT NULL,
    expires_at      timestamptz NOT NULL
);
CREATE INDEX challenges_installation ON challenges (installation_id, expires_at);
