-- The grants the search flow queries (runbook step 4.1, search flow).
CREATE TABLE granter.grants (
    id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    title text NOT NULL,
    funder text NOT NULL,
    region text NOT NULL,
    amount numeric(12, 2) NOT NULL,
    deadline date NOT NULL
);
