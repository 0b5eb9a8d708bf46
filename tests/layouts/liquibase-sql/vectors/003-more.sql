--liquibase formatted sql

--changeset kim:views runOnChange:true
--comment: A view, kept current.
-- a plain comment inside
CREATE OR REPLACE VIEW open_invoices AS
    SELECT id, amount_cents   FROM invoices
	WHERE status = 'open';  

/* block
   comment */
--rollback DROP VIEW open_invoices;

--changeset kim:crlf stripComments:false
CREATE TABLE crlf_t (a int);
-- trailing note
--rollback DROP TABLE crlf_t;

--changeset "kim lee":quoted-id labels:x context:prod
INSERT INTO crlf_t VALUES (1);  INSERT INTO crlf_t VALUES (2);
