-- A restore's report without a row per accepted record. In a restore onto a device that can take
-- them, nearly every record is accepted, and its report row (restore_records, 0009) with the
-- row's two index entries was a fifth of the database's work per record. A job whose
-- report_chunk is set keeps rows only for the records it refused (rule > 0); its accepted records
-- are implied: record o of its backup, taking part in its kind of move
-- (sync_type & sync_bit <> 0), was accepted when chunk o / report_chunk is done and o has no row.
-- (Such a job's chunks are cut from ordinal 0 in report_chunk records each: chunk o /
-- report_chunk holds ordinal o.) The same transaction writes a chunk's refused rows and its done
-- mark, so the implied outcomes appear exactly when the stored ones do.
--
-- report_chunk is set for the jobs queued from now on that are not retries. A retry's chunks
-- cover only the records it retries, and it keeps a row for every outcome, inherited ones
-- included, as before. The jobs already stored keep their rows as they are (report_chunk NULL):
-- the report reads both forms, so nothing of theirs needs rewriting.
ALTER TABLE restores ADD COLUMN report_chunk int CHECK (report_chunk > 0);

-- The report of one owner's records (GET /sync-result/records) reads such a job's accepted
-- records from the backup, in ordinal order: the backup's records by owner, as restore_records
-- has them (restore_records_owner). Written once per backup, where a restore wrote the report's
-- twice per record.
CREATE INDEX backup_records_owner ON backup_records (backup_id, owner_kind, owner, attr_enc,
                                                     ordinal);
