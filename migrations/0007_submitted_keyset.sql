-- The Sábana reads requests in (submitted_at, id) order, one keyset batch after another. With
-- the id in the index, each batch is one seek and no sort; without it SQLite's planner, given
-- the statistics of a million rows, chose for some batches a skip-scan of another index and
-- sorted the whole period for each of them. The new index serves every query the old one did.
CREATE INDEX requests_submitted_id ON requests (submitted_at, id);
DROP INDEX requests_submitted;
