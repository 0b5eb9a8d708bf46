CREATE OR REPLACE VIEW user_emails AS SELECT id, lower(email) AS email FROM users;
