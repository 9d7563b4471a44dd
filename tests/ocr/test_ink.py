"""Ink decisions (tick boxes, signatures, text zones) on locally normalised crops: shadows
are evened out, and what cannot be judged is ``unsure`` — never ``marked``/``empty``."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image

from retention_flow.ocr.normalise import DARK_PAPER, normalise
from retention_flow.ocr.omr import SATURATED_SIGNATURE, decide, read_box
from retention_flow.ocr.pipeline import FormReader
from retention_flow.ocr.readers import LineRead
from retention_flow.ocr.register import MM_PER_INCH, register
from retention_flow.ocr.template import FormTemplate, SignatureField

BAND = {"empty_max": 0.004, "marked_min": 0.012, "saturated": 0.3}


@pytest.mark.parametrize(
    ("density", "raw", "dark", "state", "why"),
    [
        (0.0, 0.0, False, "empty", None),
        (0.05, 0.05, False, "marked", None),
        (0.011, 0.011, False, "unsure", "too close to the line"),  # in the band
        (0.013, 0.013, False, "unsure", "too close to the line"),  # just over the line
        (0.0035, 0.0, False, "unsure", "too close to the line"),  # just under the line
        (0.53, 0.53, False, "unsure", "implausibly much ink"),  # a shadow wedge, not a name
        (0.0, 0.53, False, "unsure", "implausibly much ink"),  # dark before evening out
        (0.05, 0.0, False, "unsure", "disagree"),  # one signal sees ink, the other none
        (0.0, 0.05, False, "unsure", "disagree"),
        (0.05, 0.05, True, "unsure", "too dark"),
    ],
)
def test_decide_bands(density: float, raw: float, dark: bool, state: str, why: str | None) -> None:
    got, reason = decide(density, raw, too_dark=dark, **BAND)
    assert got == state
    assert (reason is None) if why is None else (why in (reason or ""))


def _shade(page: Image.Image, box_mm: tuple[float, float, float, float], level: int) -> Image.Image:
    """A shadow over a region: the paper there falls to ``level`` with soft edges."""
    arr = np.asarray(page.convert("L"), dtype=np.float32)
    k = 300 / MM_PER_INCH
    x0, y0, x1, y1 = (round(v * k) for v in box_mm)
    mask = np.zeros_like(arr)
    mask[y0:y1, x0:x1] = 1.0
    import cv2

    soft = cv2.GaussianBlur(mask, (0, 0), 6 * k)
    out = arr * (1 - soft * (1 - level / 255))
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8))


def _signature(template: FormTemplate, page: Image.Image):
    sig = template.field("signature")
    assert isinstance(sig, SignatureField)
    reg = register(np.asarray(page.convert("L")), template)
    return read_box(
        reg,
        sig.box,
        inset=sig.inset,
        empty_max=sig.absent_max,
        marked_min=sig.present_min,
        dpi=300,
        saturated=SATURATED_SIGNATURE,
    )


def test_moderate_shadow_is_evened_out(
    template: FormTemplate, make_filled: Callable[..., Image.Image]
) -> None:
    sig = template.field("signature")
    assert isinstance(sig, SignatureField)
    box = (sig.box.x - 10, sig.box.y - 10, sig.box.right + 10, sig.box.bottom + 10)
    unsigned = _shade(make_filled(signed=False), box, 150)
    signed = _shade(make_filled(signed=True), box, 150)
    assert _signature(template, unsigned).state == "empty"
    assert _signature(template, signed).state == "marked"


def test_black_wedge_is_never_read_as_a_signature(
    template: FormTemplate, make_filled: Callable[..., Image.Image]
) -> None:
    sig = template.field("signature")
    assert isinstance(sig, SignatureField)
    # a wedge of near-black shadow over half the box, on an unsigned form
    box = (sig.box.x + sig.box.w / 2, sig.box.y - 20, 210, sig.box.bottom + 20)
    read = _signature(template, _shade(make_filled(signed=False), box, 25))
    assert read.state == "unsure", read


def test_normalise_flags_dark_paper() -> None:
    paper = np.full((200, 400), 240, np.uint8)
    assert not normalise(paper, 300, 240).too_dark
    dark = np.full((200, 400), round(240 * DARK_PAPER * 0.8), np.uint8)
    assert normalise(dark, 300, 240).too_dark
    # pure paper with noise yields no ink after normalising
    noisy = np.clip(paper + np.random.default_rng(1).normal(0, 8, paper.shape), 0, 255)
    norm = normalise(noisy.astype(np.uint8), 300, 240)
    assert float((norm.image <= norm.threshold).mean()) < 0.001


class _Failing:
    name = "failing"

    def read_line(self, image: np.ndarray, whitelist: str) -> LineRead:
        raise RuntimeError("No text returned")


class _Garbage:
    name = "garbage"

    def read_line(self, image: np.ndarray, whitelist: str) -> LineRead:
        return LineRead("\x00??", float("nan"))


@pytest.mark.parametrize("reader", [_Failing(), _Garbage()])
def test_reader_never_raises(
    template: FormTemplate, make_filled: Callable[..., Image.Image], reader: object
) -> None:
    # the printed line alone: the 2D code would identify the case without the engine
    alone = template.model_copy(update={"code": None})
    forms = FormReader([alone], reader=reader)  # type: ignore[arg-type]
    result = forms.read_page(make_filled())
    assert result.status != "processed"
    assert result.field("signed_on").status in {"unsure", "invalid"}
    case = result.field("case_number")
    assert case.status in {"unsure", "invalid"}
    if isinstance(reader, _Failing):
        assert case.status == "unsure" and "No text returned" in (case.reason or "")
    # nothing of what the engine could not read is in the message as a sure value
    assert result.message["uncertain"] is True


def test_reader_never_raises_on_odd_images(template: FormTemplate) -> None:
    forms = FormReader([template], reader=_Failing())
    for image in (
        np.zeros((10, 10), np.uint8),
        np.full((3508, 2480), 255, np.uint8),
        np.random.default_rng(3).integers(0, 255, (3508, 2480), dtype=np.uint8),
    ):
        assert forms.read_page(image).status == "exception"
