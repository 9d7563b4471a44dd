"""retention-flow: a workflow engine for telecom customer-retention cases."""

__version__ = "0.1.0"
