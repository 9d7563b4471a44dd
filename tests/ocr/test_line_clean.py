"""Damage taken off a zone before it is read, and empty zones told from washed-out ones
(issue 13, scanner-class damage at moderate severity, seed 2026):

* specks beside a written date were read as ``.`` or ``7`` (``07.03.2026 .``) and widened
  the line: blobs no larger than a speck, and dot-sized blobs off the line, are dropped;
* a received-stamp's ring running into the date or signature box's edge, well off the
  writing and of lighter ink, is taken off; of the pen's own ink, or touching the writing,
  the field stays unsure; a date read after taking ink off must be written out in full;
* a scanner streak narrower than half a stroke through the writing is filled from its two
  sides; a wider one still makes the field unsure;
* an empty date under a faded (not washed-out) frame is empty when nothing in it is
  darker than paper by a quarter of the frame's contrast;
* the reverse's print showing through: faint strokes that go on beyond the box's frame
  are no washed-out writing; faint strokes that stay inside the box still are.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import pytest
from PIL import Image

from retention_flow.ocr.fields import FieldRead, read_field
from retention_flow.ocr.line_clean import drop_specks, fill_streaks, stroke_width
from retention_flow.ocr.pipeline import FormReader
from retention_flow.ocr.readers import LineRead
from retention_flow.ocr.register import register
from retention_flow.ocr.template import Box, FormTemplate, OcrField, SignatureField
from retention_flow.ocr.validate import validate_ocr
from retention_flow.ocr.zones import Streak

from .conftest import K, date_field, lookup, px, read_signature

FONT = cv2.FONT_HERSHEY_SIMPLEX


class _Keeps:
    """A line reader that keeps the line images it is given and reads a fixed text."""

    name = "keeps"

    def __init__(self, text: str) -> None:
        self.text = text
        self.lines: list[np.ndarray] = []

    def read_line(self, image: np.ndarray, whitelist: str) -> LineRead:
        self.lines.append(image)
        return LineRead(self.text, 99.0)


def _read(page: np.ndarray, template: FormTemplate, reader: _Keeps) -> FieldRead:
    return read_field(register(page, template), date_field(template), reader, 300)


def _specks(page: np.ndarray, box: Box) -> np.ndarray:
    """Toner specks (4 px, 0.34 mm) right of the writing and above it, in the date box."""
    out = page.copy()
    x0, y0, x1, y1 = px(box)
    for x, y in ((x1 - 60, (y0 + y1) // 2), (x1 - 150, y0 + 40), ((x0 + x1) // 2, y1 - 30)):
        out[y : y + 4, x : x + 4] = 40
    return out


def test_specks_beside_the_writing_are_not_read(
    template: FormTemplate, make_filled: Callable[..., Image.Image]
) -> None:
    page = np.asarray(make_filled())
    clean, speckled = _Keeps("03.11.2026"), _Keeps("03.11.2026")
    _read(page, template, clean)
    _read(_specks(page, date_field(template).box), template, speckled)
    # the line handed to the reader is the writing alone, not widened to the specks
    assert speckled.lines[0].shape == clean.lines[0].shape


def test_a_date_s_own_dots_are_no_specks() -> None:
    line = np.full((80, 400), 255, np.uint8)
    cv2.putText(line, "03.11.2026", (10, 60), cv2.FONT_HERSHEY_SIMPLEX, 1.6, 0, 5)
    ink = line < 128
    assert np.array_equal(drop_specks(ink, 300), ink)
    specked = ink.copy()
    specked[5:9, 380:384] = True  # a speck far off the line
    assert np.array_equal(drop_specks(specked, 300), ink)


def _ring(page: np.ndarray, box: Box, grey: int, off_mm: float = 0.0) -> np.ndarray:
    """A received-stamp's ring over the box's right edge (``off_mm`` further left)."""
    out = page.copy()
    _, y0, x1, y1 = px(box)
    centre = (x1 - round(off_mm * K), (y0 + y1) // 2)
    cv2.circle(out, centre, round(8 * K), grey, round(0.7 * K))
    return out


def _dater(page: np.ndarray, box: Box) -> np.ndarray:
    """A two-colour dater over the box's right part: a light (red) frame at the edge and,
    inside it, a dark (blue) date well off the frame, and no customer's writing."""
    out = _ring(page, box, 130)
    _, y0, x1, y1 = px(box)
    cv2.putText(out, "03.12.2026", (x1 - round(7 * K), (y0 + y1) // 2 + 8), FONT, 0.45, 20, 2)
    return out


def _printed(template: FormTemplate) -> OcrField:
    [field] = [f for f in template.fields if isinstance(f, OcrField) and f.printed]
    return field


def test_edge_ink_is_taken_off_only_what_our_printer_filled_in(
    template: FormTemplate, make_filled: Callable[..., Image.Image]
) -> None:
    page, box = np.asarray(make_filled()), date_field(template).box
    # on the customer's date a stamp's ring at the edge is a reason for a person
    read = _read(_ring(page, box, 130), template, _Keeps("03.11.2026"))
    assert read.problem is not None and "edge" in read.problem and read.cleaned == ()
    # a two-colour dater on an empty date box: its date is no customer's
    empty = np.asarray(make_filled(date_text=None))
    read = _read(_dater(empty, box), template, _Keeps("03.12.2026"))
    assert read.problem is not None and read.cleaned == ()
    # on the printed case number (guarded by its check and the 2D code) the ring goes
    printed = _printed(template)
    ringed = _ring(page, printed.box, 130)
    read = read_field(register(ringed, template), printed, _Keeps("x"), 300)
    assert read.cleaned == ("edge ink",) and read.problem is None, read


def test_a_date_read_after_taking_ink_off_must_be_written_in_full(
    template: FormTemplate,
) -> None:
    field = date_field(template)
    short = FieldRead("6.01.2026", 99.0, 4, empty=False, cleaned=("edge ink",))
    result = validate_ocr(field, short)
    assert result.status == "invalid" and "in full" in (result.reason or "")
    full = FieldRead("26.01.2026", 99.0, 4, empty=False, cleaned=("edge ink",))
    assert validate_ocr(field, full).status == "ok"


def _stroke_line() -> np.ndarray:
    line = np.full((80, 300), 255, np.uint8)
    cv2.putText(line, "0486", (10, 60), cv2.FONT_HERSHEY_SIMPLEX, 1.8, 0, 6)
    return line


def test_a_narrow_streak_is_filled_from_its_sides_a_wide_one_is_not() -> None:
    line = _stroke_line()
    stroke = stroke_width(line < 128)
    assert 4 <= stroke <= 8
    cut = line.copy()
    cut[:, 40:41] = 255  # a one-pixel dropout through the 0
    filled = fill_streaks(cut, [Streak("vertical", 40, 41, False)], stroke)
    assert filled is not None
    assert (filled < 128).sum() >= 0.97 * (line < 128).sum()
    wide = [Streak("vertical", 40, 40 + round(stroke), False)]
    assert fill_streaks(cut, wide, stroke) is None


def test_a_two_pixel_streak_through_the_date_is_filled_not_doubted(
    template: FormTemplate, make_filled: Callable[..., Image.Image]
) -> None:
    page = np.asarray(make_filled()).copy()
    x0, y0, x1, y1 = px(date_field(template).box)
    inside = page[y0 + 15 : y1 - 15, x0 + 15 : x1 - 15] < 128
    columns = np.flatnonzero(inside.any(axis=0)) + x0 + 15
    x = int(columns[len(columns) // 3])
    page[:, x : x + 2] = 255  # the glass drops two columns of ink out down the whole page
    read = _read(page, template, _Keeps("03.11.2026"))
    assert read.problem is None, read.problem
    assert read.cleaned == ("streak",)


def _fade(page: np.ndarray, box: Box, strength: float) -> np.ndarray:
    out = page.astype(np.float32)
    x0, y0, x1, y1 = px(box)
    m = round(6 * K)
    region = out[y0 - m : y1 + m, x0 - m : x1 + m]
    out[y0 - m : y1 + m, x0 - m : x1 + m] = region + (255 - region) * strength
    return out.astype(np.uint8)


def test_an_empty_date_under_a_faded_frame_is_empty_unless_something_shows(
    template: FormTemplate, make_filled: Callable[..., Image.Image]
) -> None:
    box = date_field(template).box
    faded = _fade(np.asarray(make_filled(date_text=None)), box, 0.64)
    read = _read(faded, template, _Keeps(""))
    assert read.empty and read.problem is None, read.problem
    # writing faded to barely above paper (lighter than the ghost level) is not empty
    ghost = faded.copy()
    x0, _, _, y1 = px(box)
    cv2.putText(ghost, "14.06.2027", (x0 + 40, y1 - 50), 0, 1.8, 229, 5)
    read = _read(ghost, template, _Keeps(""))
    assert read.empty and read.problem is not None and "faint" in read.problem
    # a frame faded below the floor stays unsure whatever the zone shows
    washed = _fade(np.asarray(make_filled(date_text=None)), box, 0.85)
    assert _read(washed, template, _Keeps("")).problem is not None


def _wave(page: np.ndarray, box: Box, grey: int, beyond_mm: float) -> np.ndarray:
    """A faint wave (a signature on the back showing through) across the box, reaching
    ``beyond_mm`` past its top and bottom edges (negative: staying inside)."""
    out = page.copy()
    x0, y0, x1, y1 = px(box)
    mid, amp = (y0 + y1) / 2, (y1 - y0) / 2 + beyond_mm * K
    xs = np.arange(x0 + 20, x1 - 20)
    ys = mid + amp * np.sin((xs - x0) / (4 * K))
    pts = np.stack([xs, ys], axis=1).round().astype(np.int32)
    cv2.polylines(out, [pts], False, grey, round(0.5 * K))
    return out


def test_show_through_across_the_frame_is_no_washed_out_writing(
    template: FormTemplate, make_filled: Callable[..., Image.Image]
) -> None:
    box = date_field(template).box
    page = np.asarray(make_filled(date_text=None))
    read = _read(_wave(page, box, 205, beyond_mm=3.0), template, _Keeps(""))
    assert read.empty and read.problem is None, read.problem
    # the same faint strokes kept inside the box may be writing
    read = _read(_wave(page, box, 205, beyond_mm=-3.0), template, _Keeps(""))
    assert read.empty and read.problem is not None and "faint strokes" in read.problem


def _sig_ring(
    page: np.ndarray, template: FormTemplate, grey: int, line_mm: float = 0.7
) -> np.ndarray:
    sig = template.field("signature")
    assert isinstance(sig, SignatureField)
    out = page.copy()
    _, y0, x1, y1 = px(sig.box)
    cv2.circle(out, (x1, (y0 + y1) // 2), round(7 * K), grey, round(line_mm * K))
    return out


def test_a_stamp_ring_at_the_signature_s_edge_keeps_the_box_for_a_person(
    template: FormTemplate, make_filled: Callable[..., Image.Image]
) -> None:
    signed = np.asarray(make_filled(signed=True))
    for grey in (130, 30):  # another ink or the pen's: unsure either way
        read = read_signature(template, _sig_ring(signed, template, grey))
        assert read.state == "unsure" and "edge" in (read.reason or ""), read
    # an unsigned box under a two-colour dater is never read as signed
    sig = template.field("signature")
    assert isinstance(sig, SignatureField)
    unsigned = np.asarray(make_filled(signed=False))
    assert read_signature(template, _dater(unsigned, sig.box)).state != "marked"
    assert read_signature(template, _sig_ring(unsigned, template, 130)).state != "marked"


@pytest.mark.tesseract
def test_a_page_with_specks_by_the_date_reads_straight_through_a_stamp_ring_does_not(
    form_reader: FormReader, template: FormTemplate, make_filled: Callable[..., Image.Image]
) -> None:
    box = date_field(template).box
    page = _specks(np.asarray(make_filled()), box)
    result = form_reader.read_page(page, lookup)
    date = result.field("signed_on")
    assert date.status == "ok" and date.value == "2026-11-03", (date.status, date.reason)
    assert result.status == "processed", result.reasons
    stamped = form_reader.read_page(_ring(page, box, 130), lookup)
    assert stamped.field("signed_on").status != "ok"
    assert stamped.status != "processed"
