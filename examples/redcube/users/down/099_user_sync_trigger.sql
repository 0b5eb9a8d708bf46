-- rollback-migration.sh 99: the views, the trigger and its function; dblink stays (it was there).
DROP VIEW IF EXISTS v_user_sync_status;
DROP VIEW IF EXISTS v_user_sync_missing;
DROP TRIGGER IF EXISTS trg_user_sync ON users;
DROP FUNCTION IF EXISTS sync_user_to_content();
