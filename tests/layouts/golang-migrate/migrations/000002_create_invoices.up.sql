CREATE TABLE invoices (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id),
    amount_cents bigint NOT NULL CHECK (amount_cents >= 0),
    status varchar(16) NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'paid', 'void'))
);
