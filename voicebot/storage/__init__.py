"""What lives in SQLite files under the data directory: call records, the outbox, live events, retention."""
