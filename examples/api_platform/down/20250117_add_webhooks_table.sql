-- Reverts 20250117_add_webhooks_table.sql.
DROP TABLE IF EXISTS platform.webhooks;
