"""Which form is this page, and how does it lie? Align the page with every template (by the
printed marks, else by feature matching) and keep the template whose printed boxes the page
shows where the alignment puts them. Several templates may share the same marks (a v2
layout beside v1): the boxes tell them apart, no OCR needed. The first template (in load
order) with every box in place wins at once, so a page costs one alignment per template
tried; two templates must therefore not share one box layout.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from retention_flow.ocr.features import ReferenceFeatures, reference_features, register_by_features
from retention_flow.ocr.fields import PAD_MM, snap
from retention_flow.ocr.normalise import normalise
from retention_flow.ocr.register import CAUSES, Registered, RegistrationFailed, register
from retention_flow.ocr.template import Box, CheckboxGroup, FormTemplate


def layout_boxes(template: FormTemplate) -> list[Box]:
    """Boxes printed on every form of ``template``: each text and signature field's, and the
    first tick box of each group (unused offer slots are left unprinted)."""
    return [f.boxes[0] if isinstance(f, CheckboxGroup) else f.box for f in template.fields]


#: a box whose paper is darker than this share of the page's lies in shadow: its edges are
#: looked for after evening out the light (under the page's threshold a shadow is all "ink",
#: and every edge of any layout would seem printed there)
SHADED = 0.8


def boxes_in_place(registered: Registered, template: FormTemplate, dpi: float) -> int:
    """How many of :func:`layout_boxes` show at least 3 printed edges where expected."""
    found = 0
    for box in layout_boxes(template):
        crop = registered.crop(box, PAD_MM, dpi)
        if float(np.percentile(crop[::4, ::4], 90)) >= registered.paper * SHADED:
            found += snap(crop, box, PAD_MM, dpi, registered.ink_threshold).edges_found >= 3
            continue
        norm = normalise(crop, dpi, registered.paper)
        found += snap(norm.image, box, PAD_MM, dpi, norm.threshold).edges_found >= 3
    return found


def _by_marks(gray: np.ndarray, template: FormTemplate) -> Registered | RegistrationFailed:
    try:
        return register(gray, template)
    except RegistrationFailed as exc:
        return exc


class Identifier:
    """Aligns pages with a set of templates. Thread-safe; reference features built lazily."""

    def __init__(self, templates: Sequence[FormTemplate], dpi: float, features: bool) -> None:
        self.templates = list(templates)
        self.dpi = dpi
        self.features = features
        self._references: dict[str, ReferenceFeatures] = {}
        self._lock = threading.Lock()

    def _reference(self, template: FormTemplate) -> ReferenceFeatures:
        with self._lock:
            if template.id not in self._references:
                self._references[template.id] = reference_features(template)
            return self._references[template.id]

    def align(
        self,
        gray: np.ndarray,
        template: FormTemplate,
        by_marks: Registered | RegistrationFailed | None = None,
    ) -> Registered:
        """By the marks (``by_marks``: that attempt, already made); when they are not found
        (and ``features``), by feature matching."""
        outcome = _by_marks(gray, template) if by_marks is None else by_marks
        if isinstance(outcome, Registered):
            return outcome
        if not (outcome.retry and self.features):
            raise outcome
        try:
            return register_by_features(gray, template, self._reference(template))
        except RegistrationFailed as exc:
            # the marks name the paper's problem; the features add only when they aligned
            # the page and a gate refused it (skewed, resolution, stretched)
            told = exc if exc.cause != "unaligned" else outcome
            raise RegistrationFailed(
                told.reason,
                cause=told.cause,
                detail=f"{outcome.detail}; {exc.detail}",
            ) from exc

    def identify(self, gray: np.ndarray) -> tuple[FormTemplate, Registered]:
        """The best fitting template and the page aligned with it, or RegistrationFailed
        with every template's reason."""
        fits: list[tuple[float, int, FormTemplate, Registered]] = []
        failures: list[RegistrationFailed] = []
        # templates with the same page and marks: their marks align a page the same way
        marks: dict[str, Registered | RegistrationFailed] = {}
        for order, template in enumerate(self.templates):
            key = template.page.model_dump_json() + template.registration.model_dump_json()
            if key not in marks:
                marks[key] = _by_marks(gray, template)
            try:
                registered = self.align(gray, template, marks[key])
            except RegistrationFailed as exc:
                failures.append(exc)
                if not exc.retry:  # blank, sideways, not a page: so for every template
                    break
                continue
            found, checked = (
                boxes_in_place(registered, template, self.dpi),
                len(layout_boxes(template)),
            )
            if found == checked:  # every box in place: no other layout can fit better
                return template, registered
            if found / checked >= template.registration.min_boxes_found:
                fits.append((found / checked, -order, template, registered))
            else:
                failures.append(
                    RegistrationFailed(
                        "the printed boxes are not where our forms have them: another form, "
                        "or an old version of this one",
                        cause="other_form",
                        detail=f"{template.id}: {found} of {checked} printed boxes found where "
                        "the template puts them",
                    )
                )
        if fits:
            _, _, template, registered = max(fits, key=lambda fit: fit[:2])
            return template, registered
        # one reason, the most telling cause of all templates' (they mostly agree)
        first = min(failures, key=lambda f: CAUSES.index(f.cause))
        raise RegistrationFailed(
            first.reason,
            retry=first.retry,
            cause=first.cause,
            detail=" | ".join(f.detail for f in failures),
        )
