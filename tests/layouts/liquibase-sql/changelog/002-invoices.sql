--liquibase formatted sql

--changeset dana:create-invoices
CREATE TABLE invoices (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id),
    amount_cents bigint NOT NULL CHECK (amount_cents >= 0),
    status varchar(16) NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'paid', 'void'))
);
--rollback DROP TABLE invoices;

--changeset dana:index-invoices runInTransaction:false
CREATE INDEX CONCURRENTLY idx_invoices_user ON invoices (user_id);
--rollback DROP INDEX idx_invoices_user;
