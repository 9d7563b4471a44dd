"""A case's life as people see it: start (idempotent), read, correlate messages and
signals, control (cancel, suspend, correct data), move, migrate between versions,
incidents, history, and the scoped case lists the faces read."""
