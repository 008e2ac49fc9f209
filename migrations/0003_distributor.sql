-- The distribuidora's back office: answers withheld until a payment is validated, payments,
-- the company's settings and standard answers, and the deadline clock's pauses.

-- An answer file attached together with a payment request stays hidden from the applicant
-- until the payment is validated.
ALTER TABLE attachments ADD COLUMN withheld BIGINT NOT NULL DEFAULT 0 CHECK (withheld IN (0, 1));

-- The deadline of a proof of payment's validation (2 business days), when one is pending.
ALTER TABLE requests ADD COLUMN validation_due_on TEXT;

CREATE TABLE payments (
    id TEXT PRIMARY KEY,
    request_id TEXT NOT NULL REFERENCES requests (id),
    amount_clp BIGINT NOT NULL CHECK (amount_clp > 0),
    concept TEXT NOT NULL,
    -- Accepted methods, comma-separated codes: transfer, voucher, bill_discount.
    methods TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('requested', 'proof_sent', 'validated', 'rejected')),
    chosen_method TEXT CHECK (chosen_method IN ('transfer', 'voucher', 'bill_discount')),
    rejection_reason TEXT,
    requested_by TEXT NOT NULL REFERENCES users (id),
    requested_at BIGINT NOT NULL,
    proof_at BIGINT,
    decided_at BIGINT
);
CREATE INDEX payments_request ON payments (request_id);
CREATE INDEX payments_requested_by ON payments (requested_by);

-- Periods in which the deadline clock stood still (waiting on the applicant's payment).
CREATE TABLE request_pauses (
    id TEXT PRIMARY KEY,
    request_id TEXT NOT NULL REFERENCES requests (id),
    started_at BIGINT NOT NULL,
    ended_at BIGINT
);
CREATE INDEX request_pauses_request ON request_pauses (request_id);

CREATE TABLE distributor_settings (
    distributor_id TEXT PRIMARY KEY REFERENCES distributors (id),
    bank_details TEXT NOT NULL DEFAULT '',
    payment_instructions TEXT NOT NULL DEFAULT '',
    updated_at BIGINT NOT NULL
);

-- "Respondido Automático": the file with which new requests of a kind are answered at once.
CREATE TABLE standard_answers (
    distributor_id TEXT NOT NULL REFERENCES distributors (id),
    kind TEXT NOT NULL CHECK (kind IN ('SI', 'SC', 'MC', 'NC')),
    storage_key TEXT NOT NULL,
    file_name TEXT NOT NULL,
    file_kind TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (distributor_id, kind)
);

CREATE INDEX requests_status ON requests (distributor_id, status);
CREATE INDEX requests_folio_number ON requests (distributor_id, folio_number);
