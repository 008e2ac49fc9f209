-- The company inbox filtered by status (and form): the page and its count read a range of this
-- index instead of every request of the company (measured in bench/RESULTS.md).
CREATE INDEX requests_distributor_status ON requests (distributor_id, status, kind, submitted_at);
