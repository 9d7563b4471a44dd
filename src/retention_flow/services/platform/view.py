"""The base of the typed views that services return to the faces.

A service answers with a frozen pydantic model, not a ``dict[str, Any]``: the faces read
attributes, so a renamed field breaks in mypy (CI), not on a page at run time. The field
names are the REST contract's JSON keys, so the API answers a view as it stands
(``response_model`` is the view, or an API schema built from it) and the JSON is the
same as the dicts it replaces.

Views are built from rows the service has already checked, so hot paths may use
``model_construct`` to skip validation; everything else validates.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

from pydantic import BaseModel, ConfigDict


class View(BaseModel):
    """A read-only answer of a service: frozen, and no field it does not declare."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    @classmethod
    def of(cls, row: Mapping[Any, Any], **more: Any) -> Self:
        """The view of a stored row: the row's columns that the view declares, and
        ``more`` (fields the row does not hold, or that replace a column's value)."""
        picked = {name: row[name] for name in cls.model_fields if name in row and name not in more}
        return cls.model_validate(picked | more)


__all__ = ["View"]
