"""What every domain may use: the ORM base, errors, the event envelope and catalog, cursors, the
outbox, idempotency keys, rate limits and the audit log."""
