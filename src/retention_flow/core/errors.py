"""The one error tree. Every error has a stable machine ``code``; the API maps codes to HTTP."""

from __future__ import annotations

from typing import Any


class RetentionFlowError(Exception):
    code = "error"
    title = "Error"

    def __init__(self, detail: str, *, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


class NotFound(RetentionFlowError):
    code = "not_found"
    title = "Not found"


class AuthenticationFailed(RetentionFlowError):
    """Wrong credentials, an unknown, disabled or locked user, or a bad/expired token."""

    code = "authentication_failed"
    title = "Authentication failed"


class TooManyAttempts(RetentionFlowError):
    """Too many failed logins for this user name from this client address: wait
    ``retry_after`` seconds (the API answers 429 with a ``Retry-After`` header)."""

    code = "too_many_attempts"
    title = "Too many attempts"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class PayloadTooLarge(RetentionFlowError):
    code = "payload_too_large"
    title = "Payload too large"


class Forbidden(RetentionFlowError):
    code = "forbidden"
    title = "Forbidden"


class SkillsMissing(Forbidden):
    """The agent lacks a skill (or the proficiency) the task needs."""

    code = "skills_missing"
    title = "Skills missing"


class ValidationFailed(RetentionFlowError):
    """Input does not fit; ``errors`` lists ``{"field", "message"}``."""

    code = "validation_failed"
    title = "Validation failed"


class InvalidProcess(RetentionFlowError):
    """A BPMN/DMN bundle does not validate; ``errors`` lists ``{file, element_id, message}``."""

    code = "invalid_process"
    title = "Invalid process"


class Conflict(RetentionFlowError):
    code = "conflict"
    title = "Conflict"


class CaseConflict(Conflict):
    """The case changed underneath us (optimistic lock); retrying on fresh state may succeed."""

    code = "case_conflict"


class TaskAlreadyClaimed(Conflict):
    code = "task_already_claimed"


class TaskNotReady(Conflict):
    """The task was completed or cancelled by someone else, or is not open."""

    code = "task_not_ready"


class TaskNotClaimed(Conflict):
    code = "task_not_claimed"


class CaseNotActive(Conflict):
    code = "case_not_active"


class CaseSuspended(Conflict):
    """The case is suspended: its tasks cannot be claimed or completed, messages to it
    are refused until it is resumed."""

    code = "case_suspended"


class IncidentNotOpen(Conflict):
    """The incident was retried (or resolved) meanwhile."""

    code = "incident_not_open"


class IdempotencyKeyInFlight(Conflict):
    """A request with the same idempotency key (same user, same operation) is still running."""

    code = "idempotency_key_in_flight"


class IdempotencyKeyReused(ValidationFailed):
    """The idempotency key was already used by this user for a different request."""

    code = "idempotency_key_reused"
    title = "Idempotency key reused"


class MessageNotCorrelated(RetentionFlowError):
    code = "message_not_correlated"
    title = "Message not correlated"


class ScriptError(RetentionFlowError):
    """A script, expression or service in a diagram failed (recorded as an incident)."""

    code = "script_error"
    title = "Script error"


class ScriptRefused(ScriptError):
    """The sandbox refused a script (forbidden name, import, attribute...)."""

    code = "script_refused"


class ScriptBudgetExceeded(ScriptError):
    code = "script_budget_exceeded"


class AuditKeysUnavailable(RetentionFlowError):
    """The audit seal keys are missing or unreadable: nothing can be audited (so nothing
    is written) until they are provisioned."""

    code = "audit_keys_unavailable"
    title = "Audit keys unavailable"


class ScanLimitExceeded(PayloadTooLarge):
    """Files of an upload ask for more than the scan limits grant (pages, pixels, embedded
    images, drawing work, time or memory to decode); ``errors`` lists each refused file
    ``{field, file, limit, message}``. Nothing of the request is stored."""

    code = "scan_limit_exceeded"
    title = "Scan over a limit"


class Busy(RetentionFlowError):
    """The server is at capacity for this kind of work; try again after ``retry_after``
    seconds (503 with ``Retry-After``)."""

    code = "busy"
    title = "Busy"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after
