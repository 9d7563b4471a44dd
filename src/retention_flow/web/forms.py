"""Outcome forms from a task's JSON Schema: the fields to render, and the submitted form
turned back into typed data for ``tasks.complete`` (which validates it against the same
schema; its errors come back field by field, in plain words).

Supported: booleans (Yes / No radios), strings with ``enum`` (radios for a few options,
a select for more; ``oneOf`` ``const``/``title`` pairs give the labels), free strings (a
text area when long), integers and numbers. Anything else is shown as a text field and
sent as text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ..core import strict_json

RADIO_MAX = 4  # more options than this: a select
LONG_TEXT = 200  # maxLength above this: a text area


@dataclass
class Field:
    name: str
    label: str
    kind: str  # boolean | choice | select | text | textarea | integer | number
    hint: str = ""
    required: bool = False
    options: list[tuple[str, str]] = field(default_factory=list)  # (value, label)
    value: str = ""  # the value to show, as the form sends it
    error: str = ""


def _options(spec: Mapping[str, Any]) -> list[tuple[str, str]]:
    titles = {
        str(o.get("const")): str(o.get("title") or o.get("const"))
        for o in spec.get("oneOf", [])
        if isinstance(o, Mapping) and "const" in o
    }
    return [(str(v), titles.get(str(v), str(v).replace("_", " "))) for v in spec.get("enum", [])]


def _kind(spec: Mapping[str, Any], options: list[tuple[str, str]]) -> str:
    kind = spec.get("type")
    if kind == "boolean":
        return "boolean"
    if options:
        return "choice" if len(options) <= RADIO_MAX else "select"
    if kind in ("integer", "number"):
        return str(kind)
    if int(spec.get("maxLength") or 0) > LONG_TEXT:
        return "textarea"
    return "text"


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def fields_of(
    schema: Mapping[str, Any] | None,
    values: Mapping[str, Any] | None = None,
    errors: Mapping[str, str] | None = None,
) -> list[Field]:
    """The form's fields in schema order, with the values and errors to show."""
    if not schema:
        return []
    required = set(schema.get("required", []))
    out = []
    for name, spec in (schema.get("properties") or {}).items():
        options = _options(spec)
        out.append(
            Field(
                name=name,
                label=str(spec.get("title") or name.replace("_", " ").capitalize()),
                kind=_kind(spec, options),
                hint=str(spec.get("description") or ""),
                required=name in required,
                options=options,
                value=_shown((values or {}).get(name, spec.get("default"))),
                error=(errors or {}).get(name, ""),
            )
        )
    return out


def parse(schema: Mapping[str, Any] | None, form: Mapping[str, Any]) -> dict[str, Any]:
    """The submitted form as data for the schema: empty fields are left out, booleans,
    integers and numbers converted (a value that does not convert is kept as text, so the
    schema check reports it)."""
    data: dict[str, Any] = {}
    for name, spec in ((schema or {}).get("properties") or {}).items():
        raw = form.get(name)
        if not isinstance(raw, str) or raw.strip() == "":
            continue
        text = raw.strip()
        kind = spec.get("type")
        try:
            if kind == "boolean":
                data[name] = text.lower() in ("true", "yes", "on", "1")
            elif kind == "integer":
                data[name] = _json_number(int(text), text)
            elif kind == "number":
                data[name] = _json_number(float(text), text)
            else:
                data[name] = raw if kind == "string" and not spec.get("enum") else text
        except ValueError:
            data[name] = text
    return data


def _json_number(number: float, text: str) -> float | str:
    """A number only when interoperable JSON holds it ("NaN", "inf", "1e400" or a
    20-digit integer stay text, so the form's type check names the field)."""
    return number if strict_json.is_clean(number) else text


def plain_errors(errors: list[dict[str, Any]], fields: list[Field]) -> dict[str, str]:
    """``{"field", "message"}`` from the schema check → a sentence per field."""
    labels = {f.name: f.label for f in fields}
    out: dict[str, str] = {}
    for error in errors:
        name = str(error.get("field", "")).removeprefix("data.")
        message = str(error.get("message", ""))
        label = labels.get(name, name)
        if "required property" in message or message == "required":
            text = f"Please fill in “{label}”."
        elif "is not one of" in message or "is not valid under any" in message:
            text = f"Please choose one of the options for “{label}”."
        elif "is not of type" in message:
            text = f"“{label}” has the wrong kind of value."
        elif "is too long" in message:
            text = f"“{label}” is too long."
        else:
            text = message
        out.setdefault(name if name in labels else "(form)", text)
    return out


def restrict_offers(fields: list[Field], offers: list[str]) -> list[Field]:
    """Offer choices limited to ``offers`` (the case's eligible offers, which its printed
    form shows): a field whose options include one of them keeps those and its options
    that are no offer code (``none``: "No offer ticked"). Offer codes are upper case, like
    ``DISCOUNT_10``. Without offers the fields are as the schema says."""
    allowed = {str(o) for o in offers}
    if not allowed:
        return fields
    out = []
    for f in fields:
        if f.options and any(value in allowed for value, _label in f.options):
            kept = [(v, label) for v, label in f.options if v in allowed or not v.isupper()]
            f = replace(f, options=kept)  # the same control: a list stays a list
        out.append(f)
    return out
