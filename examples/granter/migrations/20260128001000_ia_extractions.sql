-- IA extraction results, with the provider that answered (primary or fallback).
CREATE TABLE granter.ia_extractions (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    provider text NOT NULL,
    fallback_used boolean NOT NULL DEFAULT false,
    fields jsonb NOT NULL,
    confidence numeric(3, 2) NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
