"""OCR template: the machine-readable description of one printed response form.

A template folder (``ocr_templates/<id>/``) holds ``template.json`` and the blank reference
image generated from it (``reference.png``). Coordinates are millimetres from the top-left
corner of the page. Loading validates everything and names the field and the problem.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from retention_flow.ocr.errors import TemplateInvalid

TEMPLATE_FILE = "template.json"
MARK_SPREAD_MM = 100.0
MIN_BOX_MM = 4.0  # a smaller printed box cannot be found (snapped) reliably
#: the letters go out tri-folded (DL envelope): folds at 1/3 and 2/3 of the page height;
#: no field may come closer to a fold than this (a crease reads as ink)
FOLD_MARGIN_MM = 2.0
MIN_CODE_MM = 15.0  # a smaller QR code does not survive a 150 dpi scan or a phone photo
PT_TO_MM = 25.4 / 72
#: the target of the field that identifies the case (the message correlation key)
CASE_TARGET = "case_number"
REFERENCE_FILE = "reference.png"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Box(_Model):
    """A rectangle on the page, in mm: left, top, width, height."""

    x: float = Field(ge=0)
    y: float = Field(ge=0)
    w: float = Field(gt=0)
    h: float = Field(gt=0)

    @property
    def right(self) -> float:
        return self.x + self.w

    @property
    def bottom(self) -> float:
        return self.y + self.h

    def overlaps(self, other: Box) -> bool:
        return not (
            self.right <= other.x
            or other.right <= self.x
            or self.bottom <= other.y
            or other.bottom <= self.y
        )


class Page(_Model):
    width_mm: float = Field(gt=0, le=1000)
    height_mm: float = Field(gt=0, le=1000)


class Mark(_Model):
    """A registration mark: a solid square, or a ring (square with a square hole) that tells
    which way up the page is. Exactly one mark per template is a ring."""

    name: str
    center: tuple[float, float]
    size_mm: float = Field(gt=2, le=30)
    shape: Literal["square", "ring"] = "square"
    hole_mm: float = 0.0

    @model_validator(mode="after")
    def _hole(self) -> Mark:
        if self.shape == "ring" and not 0 < self.hole_mm < self.size_mm * 0.8:
            raise ValueError("a ring mark needs 0 < hole_mm < 0.8 * size_mm")
        return self


class Registration(_Model):
    marks: list[Mark] = Field(min_length=4, max_length=4)
    max_residual_mm: float = Field(default=1.0, gt=0)
    max_rotation_deg: float = Field(default=6.0, gt=0, le=45)
    min_dpi: float = Field(default=150, gt=0)
    max_dpi: float = Field(default=650, gt=0)
    max_anisotropy: float = Field(default=0.03, ge=0, le=0.5)
    min_boxes_found: float = Field(
        default=0.75, ge=0, le=1, description="share of printed field boxes found in place"
    )

    @model_validator(mode="after")
    def _one_ring(self) -> Registration:
        rings = [m.name for m in self.marks if m.shape == "ring"]
        if len(rings) != 1:
            raise ValueError(f"exactly one mark must be a ring (orientation), found {rings}")
        names = [m.name for m in self.marks]
        if len(set(names)) != len(names):
            raise ValueError(f"mark names must be unique: {names}")
        if self.min_dpi >= self.max_dpi:
            raise ValueError(f"min_dpi {self.min_dpi:g} must be below max_dpi {self.max_dpi:g}")
        xs = sorted(m.center[0] for m in self.marks)
        ys = sorted(m.center[1] for m in self.marks)
        # two marks at each side, far apart: the fit needs a wide, non-degenerate base
        if xs[1] + MARK_SPREAD_MM > xs[2] or ys[1] + MARK_SPREAD_MM > ys[2]:
            raise ValueError(
                "the marks must sit near the four corners, at least "
                f"{MARK_SPREAD_MM:g} mm apart across and down the page"
            )
        return self


class _FieldBase(_Model):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str = ""
    target: str = Field(
        pattern=r"^[a-z][a-z0-9_]*$",
        description="the message field / process variable the value maps to",
    )
    required: bool = True


class OcrField(_FieldBase):
    """A printed or written line read by Tesseract in single-line mode."""

    kind: Literal["text", "digits", "date"]
    box: Box
    whitelist: str = Field(min_length=1)
    min_confidence: float = Field(default=75, ge=0, le=100)
    #: how ``min_confidence`` was obtained (JSON holds no comments): see bench/ocr_calibrate.py
    min_confidence_source: str | None = None
    validator: Literal["none", "mod97_10", "mod37_36", "mod11_10", "date", "regex"] = "none"
    pattern: str | None = None
    date_format: str = "%d.%m.%Y"
    font_size_pt: float = Field(default=14, gt=4, le=40)
    printed: bool = Field(default=False, description="filled in by our printer, not the customer")

    @model_validator(mode="after")
    def _consistent(self) -> OcrField:
        if self.validator == "regex" and not self.pattern:
            raise ValueError("validator 'regex' needs a pattern")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                message = f"pattern {self.pattern!r} is not a regular expression: {exc}"
                raise ValueError(message) from exc
        if min(self.box.w, self.box.h) < MIN_BOX_MM:
            raise ValueError(f"box {self.box.w:g}x{self.box.h:g} mm is below {MIN_BOX_MM:g} mm")
        if self.printed and self.font_size_pt * PT_TO_MM > self.box.h * 0.8:
            raise ValueError(
                f"a {self.font_size_pt:g} pt line does not fit a box {self.box.h:g} mm high"
            )
        needed = {
            "mod97_10": "0123456789- ",
            "mod37_36": "0123456789 ",
            "mod11_10": "0123456789",
            "date": "0123456789" + re.sub(r"%.", "", self.date_format),
        }.get(self.validator, "")
        missing = sorted(set(needed) - set(self.whitelist))
        if missing:
            raise ValueError(
                f"validator {self.validator!r} needs {''.join(missing)!r} in the whitelist"
            )
        if self.validator == "date":
            sample = datetime(2026, 11, 3)
            try:
                ok = datetime.strptime(sample.strftime(self.date_format), self.date_format)
            except ValueError:
                ok = None
            if ok is None or ok.date() != sample.date():
                raise ValueError(f"date_format {self.date_format!r} cannot hold a full date")
        if self.kind == "digits" and not set(self.whitelist) <= set("0123456789 "):
            raise ValueError("a digits field's whitelist may hold only digits and space")
        if self.kind == "date" and self.validator not in {"date", "none"}:
            raise ValueError("a date field takes validator 'date'")
        if self.validator in {"mod97_10", "mod37_36"} and self.kind != "text":
            raise ValueError(f"validator {self.validator!r} applies to text fields")
        return self


class CheckboxGroup(_FieldBase):
    """Tick boxes read by ink density; one box per offer slot."""

    kind: Literal["checkbox_group"]
    boxes: list[Box] = Field(min_length=1, max_length=12)
    validator: Literal["exactly_one", "at_most_one", "any"] = "exactly_one"
    empty_max: float = Field(default=0.03, ge=0, le=1, description="ink share at most: empty")
    filled_min: float = Field(default=0.08, ge=0, le=1, description="ink share at least: ticked")
    inset: float = Field(default=0.18, ge=0, lt=0.5, description="share of the box left out")

    @model_validator(mode="after")
    def _band(self) -> CheckboxGroup:
        if self.empty_max >= self.filled_min:
            raise ValueError("empty_max must be below filled_min (the band between is 'unsure')")
        for i, box in enumerate(self.boxes):
            if min(box.w, box.h) < MIN_BOX_MM:
                raise ValueError(f"boxes.{i}: {box.w:g}x{box.h:g} mm is below {MIN_BOX_MM:g} mm")
        return self


class SignatureField(_FieldBase):
    """Signature presence by ink density."""

    kind: Literal["signature"]
    box: Box
    absent_max: float = Field(default=0.004, ge=0, le=1)
    present_min: float = Field(default=0.012, ge=0, le=1)
    inset: float = Field(default=0.06, ge=0, lt=0.5)

    @model_validator(mode="after")
    def _band(self) -> SignatureField:
        if self.absent_max >= self.present_min:
            raise ValueError("absent_max must be below present_min")
        return self


AnyField = Annotated[OcrField | CheckboxGroup | SignatureField, Field(discriminator="kind")]


class FormTemplate(_Model):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    version: int = Field(ge=1)
    title: str
    page: Page
    registration: Registration
    fields: list[AnyField] = Field(min_length=1)
    #: where the 2D code (case number, template, page; see ocr/code.py) is printed
    code: Box | None = None

    @model_validator(mode="after")
    def _layout(self) -> FormTemplate:
        names = [f.name for f in self.fields]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"field names must be unique: {dupes}")
        targets = [f.target for f in self.fields]
        dupes = sorted({t for t in targets if targets.count(t) > 1})
        if dupes:
            raise ValueError(f"two fields map to the same target: {dupes}")
        if CASE_TARGET not in targets:
            raise ValueError(f"no field maps to {CASE_TARGET!r} (the correlation key)")
        boxes: list[tuple[str, Box]] = []
        for f in self.fields:
            if isinstance(f, CheckboxGroup):
                boxes += [(f"{f.name}[{i}]", b) for i, b in enumerate(f.boxes)]
            else:
                boxes.append((f.name, f.box))
        if self.code is not None:
            if min(self.code.w, self.code.h) < MIN_CODE_MM:
                raise ValueError(f"code: {self.code.w:g} mm is below {MIN_CODE_MM:g} mm")
            boxes.append(("code", self.code))
        for m in self.registration.marks:
            half = m.size_mm / 2
            boxes.append(
                (
                    f"mark {m.name}",
                    Box(x=m.center[0] - half, y=m.center[1] - half, w=m.size_mm, h=m.size_mm),
                )
            )
        for name, b in boxes:
            if b.right > self.page.width_mm or b.bottom > self.page.height_mm:
                raise ValueError(f"{name}: box {b} lies outside the page")
        for fold in (self.page.height_mm / 3, self.page.height_mm * 2 / 3):
            for name, b in boxes:
                if b.y < fold + FOLD_MARGIN_MM and b.bottom > fold - FOLD_MARGIN_MM:
                    raise ValueError(
                        f"{name} lies on the fold at {fold:.0f} mm of the tri-folded letter "
                        f"(keep {FOLD_MARGIN_MM:g} mm clear of it)"
                    )
        for i, (name_a, a) in enumerate(boxes):
            for name_b, b in boxes[i + 1 :]:
                if a.overlaps(b):
                    raise ValueError(f"{name_a} overlaps {name_b}")
        return self

    def field(self, name: str) -> OcrField | CheckboxGroup | SignatureField:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def ocr_fields(self) -> list[OcrField]:
        return [f for f in self.fields if isinstance(f, OcrField)]


def _where(data: object, loc: tuple[int | str, ...]) -> str:
    """``fields.0.text.box`` → ``fields.0 (case_number).box``: a field is named, and the
    discriminator (its kind) left out of the path."""
    parts = [str(p) for p in loc]
    if len(loc) < 2 or loc[0] != "fields" or not isinstance(loc[1], int):
        return ".".join(parts) or "(template)"
    fields = data.get("fields") if isinstance(data, dict) else None
    entry = fields[loc[1]] if isinstance(fields, list) and loc[1] < len(fields) else {}
    entry = entry if isinstance(entry, dict) else {}
    rest = parts[2:]
    if rest and rest[0] == str(entry.get("kind")):
        rest = rest[1:]
    name = entry.get("name")
    head = f"fields.{loc[1]}" + (f" ({name})" if isinstance(name, str) else "")
    return ".".join([head, *rest])


def parse_template(raw: str | bytes, *, source: str = "<template>") -> FormTemplate:
    """Parse and validate a template's JSON text; errors name the field and the problem."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise TemplateInvalid(
            f"{source}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from exc
    try:
        return FormTemplate.model_validate(data)
    except ValidationError as exc:
        errors = [
            {"field": _where(data, err["loc"]), "message": err["msg"].removeprefix("Value error, ")}
            for err in exc.errors()
        ]
        listed = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        raise TemplateInvalid(f"{source}: {listed}", errors=errors) from exc


def load_template(folder: str | Path) -> FormTemplate:
    """Load ``<folder>/template.json``; the folder name must be the template's id."""
    folder = Path(folder)
    path = folder / TEMPLATE_FILE
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise TemplateInvalid(f"{path}: cannot read ({exc.strerror})") from exc
    template = parse_template(raw, source=str(path))
    if template.id != folder.name:
        raise TemplateInvalid(f"{path}: id {template.id!r} differs from its folder {folder.name!r}")
    if not (folder / REFERENCE_FILE).is_file():
        raise TemplateInvalid(
            f"{folder}: {REFERENCE_FILE} is missing (write it with "
            "retention_flow.ocr.forms.write_reference)"
        )
    return template


def load_templates(root: str | Path) -> dict[str, FormTemplate]:
    """Every template folder under ``root`` (``ocr_templates/``), keyed by id."""
    found = sorted(p.parent for p in Path(root).glob(f"*/{TEMPLATE_FILE}"))
    return {t.id: t for t in (load_template(p) for p in found)}
