DROP TABLE login_failures;
DELETE FROM settings WHERE key = 'database_origin';
