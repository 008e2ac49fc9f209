-- The figures of the company's answer, fixed when it is given (store::stats::answer_figures):
-- its date in Chile, which decides whether it was on time, and the business days it took.
-- The compliance page then counts a period with grouped queries instead of reading each
-- request. Rows answered before this migration are filled at start-up
-- (store::stats::fill_missing_answer_figures); the partial index lists exactly those.
ALTER TABLE requests ADD COLUMN answered_on TEXT;
ALTER TABLE requests ADD COLUMN business_days_taken BIGINT;
CREATE INDEX requests_answer_figures_missing ON requests (id)
    WHERE answered_at IS NOT NULL AND answered_on IS NULL;
