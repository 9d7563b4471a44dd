"""What every process of the service stands on: the composition root (``AppContext``),
bootstrapping, the background worker and its leases, idempotency keys, the demo
data, ``doctor``, and reading stored values for display."""
