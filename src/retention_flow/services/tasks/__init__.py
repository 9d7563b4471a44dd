"""Work items: queue pages, the task page and what an agent sees beside it, claims and
assignment, completing with form validation, and work time."""
