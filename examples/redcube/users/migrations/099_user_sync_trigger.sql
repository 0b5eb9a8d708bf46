-- 99-user-sync-trigger.sql: copy each new user into the content database over dblink, and the
-- views the runbook checks. "content" is a dblink_fdw foreign server that points at the content
-- database (operations create it with the extension; the rehearsal creates both, see links:).
CREATE EXTENSION IF NOT EXISTS dblink;

CREATE FUNCTION sync_user_to_content() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM dblink_exec('content', format(
        'INSERT INTO users (id, email) VALUES (%s, %L) ON CONFLICT (id) DO NOTHING',
        NEW.id, NEW.email));
    RETURN NEW;
END;
$$;

CREATE TRIGGER trg_user_sync AFTER INSERT ON users
    FOR EACH ROW EXECUTE FUNCTION sync_user_to_content();

CREATE VIEW v_user_sync_missing AS
    SELECT u.id, u.email, u.created_at FROM users u
    WHERE NOT EXISTS (
        SELECT 1 FROM dblink('content', 'SELECT id FROM users') AS c (id bigint)
        WHERE c.id = u.id);

CREATE VIEW v_user_sync_status AS
    SELECT (SELECT count(*) FROM users) AS users_count,
           (SELECT count(*) FROM dblink('content', 'SELECT id FROM users') AS c (id bigint))
               AS synced_count,
           (SELECT count(*) FROM v_user_sync_missing) AS missing_count;
