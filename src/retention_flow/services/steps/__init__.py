"""One workflow step persisted in one transaction: running an operation on a case's
workflow, planning what to write, writing it, and the service-task handlers that
run inside a step."""
