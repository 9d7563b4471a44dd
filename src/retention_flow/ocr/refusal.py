"""Why a page cannot be aligned with a form: :class:`RegistrationFailed`, its plain-words
reason and its cause (one of CAUSES, the most telling first)."""

from __future__ import annotations

#: causes a page is refused for, the most telling first (ocr/identify.py keeps the first
#: of several templates' reasons): each names the paper's problem, not the method's
CAUSES = (
    "blank",
    "sideways",
    "resolution",
    "angle",
    "skew",
    "orientation",
    "other_form",
    "distorted",
    "cut_off",
    "unaligned",
)


class RegistrationFailed(Exception):
    """The page cannot be aligned with the template; ``reason`` says why in plain words,
    ``detail`` adds the measurements (for logs), ``cause`` is one of CAUSES. ``retry``:
    another method (feature matching) may still align it — not so for a blank or sideways
    page."""

    def __init__(
        self,
        reason: str,
        *,
        retry: bool = True,
        cause: str = "unaligned",
        detail: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry = retry
        self.cause = cause if cause in CAUSES else "unaligned"
        self.detail = detail or reason
