"""Page cleanup before registration: scanner streaks and toner specks are painted over; a
clean page, the desk beside a photo and the smallest print (a full stop) are left alone."""

from __future__ import annotations

import random
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image

from retention_flow.ocr.cleanup import clean_page, remove_specks, remove_streaks, streak_columns
from retention_flow.ocr.damage import damage
from retention_flow.ocr.pipeline import FormReader
from retention_flow.ocr.template import FormTemplate, SignatureField
from tests.ocr.conftest import lookup

DPI = 300.0


def _page(make_filled: Callable[..., Image.Image]) -> np.ndarray:
    return np.asarray(make_filled().convert("L"))


def test_a_clean_page_is_left_as_it_is(make_filled: Callable[..., Image.Image]) -> None:
    page = _page(make_filled)
    assert clean_page(page, DPI) is page  # nothing found, nothing copied


def test_dark_streaks_are_painted_with_the_paper_beside_them(
    make_filled: Callable[..., Image.Image],
) -> None:
    page = _page(make_filled)
    streaked = page.copy()
    streaked[:, 1200:1203] = 30  # through the tick boxes, the date and the signature
    streaked[:, 400] = 0
    assert streak_columns(streaked, DPI) == [(400, 401), (1200, 1203)]
    cleaned = remove_streaks(streaked, DPI)
    # where the page was paper beside the streak, it is paper again
    paper_rows = (page[:, 1199] > 200) & (page[:, 1203] > 200)
    assert (cleaned[paper_rows, 1200:1203] > 200).all()
    assert np.abs(cleaned.astype(int) - page.astype(int))[:, 1190:1213].mean() < 3


def test_the_generator_s_streaks_are_found(make_filled: Callable[..., Image.Image]) -> None:
    damaged, _ = damage(make_filled(), "streaks", 3, random.Random(4))
    a = np.asarray(damaged)
    dark = [x for x in range(a.shape[1]) if (a[:, x] <= 90).mean() > 0.99]
    found = {x for start, end in streak_columns(a, DPI) for x in range(start, end)}
    assert dark and set(dark) <= found


def test_a_wide_dark_band_is_no_streak() -> None:
    """The desk beside a photographed page, a shadow along an edge."""
    photo = np.full((1000, 800), 230, np.uint8)
    photo[:, :60] = 100  # desk
    photo[:, 500:540] = 60  # a shadow 3.4 mm wide
    assert streak_columns(photo, DPI) == []
    assert remove_streaks(photo, DPI) is photo


def test_specks_are_removed_from_a_speckled_page_and_print_stays(
    make_filled: Callable[..., Image.Image],
) -> None:
    page = _page(make_filled)
    speckled, _ = damage(Image.fromarray(page), "speckle", 2, random.Random(5))
    a = np.asarray(speckled)
    cleaned = remove_specks(a, DPI)
    assert cleaned is not a
    # the isolated dark dots are gone: far fewer dark pixels where the page is paper
    paper = page > 250
    assert (cleaned[paper] <= 110).sum() < 0.1 * (a[paper] <= 110).sum()
    # print (dark on the clean page) stays dark
    ink = page < 60
    assert (cleaned[ink] <= 110).mean() > 0.97


def test_a_full_stop_is_print_not_a_speck() -> None:
    """A page with only a few small dots (full stops of a 10 pt line) is not speckled."""
    page = np.full((3508, 2480), 255, np.uint8)
    for i in range(40):
        y, x = 1700 + (i % 4) * 60, 300 + i * 50
        page[y : y + 4, x : x + 4] = 0
    assert remove_specks(page, DPI) is page


@pytest.mark.tesseract
def test_a_page_with_a_streak_through_the_signature_reads_straight_through(
    form_reader: FormReader, make_filled: Callable[..., Image.Image], template: FormTemplate
) -> None:
    page = _page(make_filled).copy()
    signature = next(f for f in template.fields if f.name == "signature")
    assert isinstance(signature, SignatureField)
    box = signature.box
    x = round((box.x + box.w / 3) * DPI / 25.4)
    page[:, x : x + 3] = 20  # dirt on the glass, down through the signature box
    result = form_reader.read_page(page, lookup)
    assert result.status == "processed", result.reasons
    assert result.field("signature").value is True


@pytest.mark.tesseract
@pytest.mark.parametrize("turn", [1, 3])
def test_a_page_scanned_sideways_is_refused_as_sideways(
    form_reader: FormReader, make_filled: Callable[..., Image.Image], turn: int
) -> None:
    """A landscape image of the portrait form has the shape of a 200x100 dpi fax; it is
    not "cut off" but sideways."""
    sideways = np.ascontiguousarray(np.rot90(_page(make_filled), turn))
    result = form_reader.read_page(sideways, lookup)
    assert result.status == "exception" and result.refusal == "sideways"
    assert result.reasons == [
        "the page is sideways (a landscape scan of a portrait form): scan it upright"
    ]
