"""Who works what next: the next-task offer and its fairness record, agent skills,
customer segments, the first channel for a new case, and retention rates learned
from the audit trail."""
