-- Issue #11: security and reliability.

-- Where the database came from ('demo' | 'init'): only a demo database may keep a generated
-- signing secret. A database seeded as the demo before this migration is recognised by its demo admin.
INSERT INTO settings (key, value)
SELECT 'database_origin', 'demo'
WHERE EXISTS (SELECT 1 FROM users WHERE email = 'admin@demo.sortie')
  AND NOT EXISTS (SELECT 1 FROM settings WHERE key = 'database_origin');

-- Failed logins per account (the lower-cased e-mail, known or not), shared by replicas: after too many
-- in a window the account answers 429 until `locked_until`, even to the right password.
CREATE TABLE login_failures (
    email TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    window_start TIMESTAMP NOT NULL,
    locked_until TIMESTAMP
);
