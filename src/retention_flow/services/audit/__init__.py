"""The audit trail: append-only, hash-chained, sealed events; their verification,
seal keys, signed checkpoints and the operations on them."""
