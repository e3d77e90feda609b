"""PostgreSQL back ends: call records, the outbox and node leases shared by every node (``store.url``)."""
