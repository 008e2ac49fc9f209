-- The four requests (solicitudes), their attachments, their history, and the reference tables
-- SEC edits: the deadline table and the links of "Enlaces de Interés".

CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('folio', 0);

-- Answer deadline per request kind, in business days; NULL means no deadline (MC).
CREATE TABLE request_deadlines (
    kind TEXT PRIMARY KEY CHECK (kind IN ('SI', 'SC', 'MC', 'NC')),
    business_days BIGINT CHECK (business_days IS NULL OR business_days > 0)
);
INSERT INTO request_deadlines (kind, business_days) VALUES ('SI', 10), ('SC', 20), ('MC', NULL), ('NC', 20);

CREATE TABLE requests (
    id TEXT PRIMARY KEY,
    folio TEXT NOT NULL UNIQUE,
    folio_number BIGINT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('SI', 'SC', 'MC', 'NC')),
    status TEXT NOT NULL CHECK (status IN ('sent', 'pending_answer', 'pending_payment',
        'pending_validation', 'payment_rejected', 'pending_answer_payment_validated', 'answered',
        'auto_answered', 'annulled')),
    applicant_id TEXT NOT NULL REFERENCES users (id),
    distributor_id TEXT NOT NULL REFERENCES distributors (id),
    region_code TEXT NOT NULL REFERENCES regions (code),
    comuna_code TEXT NOT NULL REFERENCES comunas (code),
    client_number TEXT,
    feasibility_number TEXT,
    additional_email TEXT,
    brings_meter BIGINT NOT NULL DEFAULT 0 CHECK (brings_meter IN (0, 1)),
    related_request_id TEXT REFERENCES requests (id),
    distributor_reference TEXT,
    submitted_at BIGINT NOT NULL,
    due_on TEXT,
    answered_at BIGINT,
    version BIGINT NOT NULL DEFAULT 1,
    CHECK ((client_number IS NULL) <> (feasibility_number IS NULL))
);
CREATE INDEX requests_applicant ON requests (applicant_id, submitted_at);
CREATE INDEX requests_distributor ON requests (distributor_id, submitted_at);
CREATE INDEX requests_related ON requests (related_request_id);
CREATE INDEX requests_submitted ON requests (submitted_at);

-- The history (Histórico de transacciones): append-only, one row per transition or message.
CREATE TABLE request_events (
    id TEXT PRIMARY KEY,
    request_id TEXT NOT NULL REFERENCES requests (id),
    action TEXT NOT NULL,
    actor_id TEXT REFERENCES users (id),
    from_status TEXT,
    to_status TEXT NOT NULL,
    comment TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX request_events_request ON request_events (request_id, created_at);
CREATE INDEX request_events_actor ON request_events (actor_id);

CREATE TABLE attachments (
    id TEXT PRIMARY KEY,
    request_id TEXT NOT NULL REFERENCES requests (id),
    event_id TEXT REFERENCES request_events (id),
    slot TEXT NOT NULL,
    -- Not unique: a company's standard answer file is shared by every request it answers.
    storage_key TEXT NOT NULL,
    file_name TEXT NOT NULL,
    file_kind TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX attachments_request ON attachments (request_id);
CREATE INDEX attachments_storage_key ON attachments (storage_key);
CREATE INDEX attachments_event ON attachments (event_id);

-- One-time tokens of submitted forms: a second click on "Grabar" finds its token used.
CREATE TABLE submission_tokens (
    token TEXT PRIMARY KEY,
    request_id TEXT NOT NULL REFERENCES requests (id),
    created_at BIGINT NOT NULL
);
CREATE INDEX submission_tokens_request ON submission_tokens (request_id);

-- E-mail texts edited by SEC; a missing row means the built-in default.
CREATE TABLE email_templates (
    key TEXT PRIMARY KEY,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE links (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    url TEXT NOT NULL,
    description TEXT NOT NULL,
    sort_order BIGINT NOT NULL,
    active BIGINT NOT NULL DEFAULT 1 CHECK (active IN (0, 1))
);
INSERT INTO links (id, title, url, description, sort_order) VALUES
  ('proceso-conexion', 'Proceso de Conexión', 'https://www.sec.cl/generacion-ciudadana/', 'Los pasos para conectar su equipo de generación a la red de distribución.', 1),
  ('formularios', 'Descarga de Formularios', 'https://www.sec.cl/generacion-ciudadana/formularios/', 'Los formularios de cada solicitud, para descargar y completar.', 2),
  ('te4', 'Declaración de puesta en servicio (TE4)', 'https://www.sec.cl/te4/', 'El trámite eléctrico TE4 ante la SEC para generadoras residenciales.', 3),
  ('generacion-ciudadana-sec', 'La Generación Ciudadana en la SEC', 'https://www.sec.cl/', 'La Ley 20.571 y el rol de la Superintendencia.', 4),
  ('acerca', 'Acerca de la Generación Ciudadana', 'https://www.sec.cl/generacion-ciudadana/acerca/', 'Qué es la generación distribuida para autoconsumo.', 5),
  ('ayuda', 'Ayuda (Ingreso al portal de Generación Ciudadana)', 'https://www.sec.cl/generacion-ciudadana/ayuda/', 'El manual de usuario y respuestas a preguntas frecuentes.', 6);
