-- The Sábana lists each request's number of files and the time of its last movement. They are
-- kept on the request, written in the same transaction as each attachment and history entry
-- (store::requests::insert_attachment and insert_event), instead of being looked up for each
-- row of an export: at a million rows those two lookups per row made a third of the export's
-- database time. Attachments and history entries are never deleted, so a count and a maximum
-- kept this way stay exact.
ALTER TABLE requests ADD COLUMN attachment_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE requests ADD COLUMN last_event_at BIGINT;
UPDATE requests SET
    attachment_count = (SELECT COUNT(*) FROM attachments a WHERE a.request_id = requests.id),
    last_event_at = (SELECT MAX(e.created_at) FROM request_events e WHERE e.request_id = requests.id);
