"""Email: the outbox's sender (one node at a time), its transports and its templates."""
