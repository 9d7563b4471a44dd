"""The CI-size run of bench/ocr_accuracy.py: every damage kind at every severity once (one
page each, two workers), the calibration table, the issue-13 targets and the speed of both
backends are printed; no wrong value is booked without a person."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from retention_flow.ocr.damage import KINDS, SEVERITIES

BENCH = Path(__file__).resolve().parents[2] / "bench" / "ocr_accuracy.py"


@pytest.mark.tesseract
def test_the_damage_bench_runs_small(line_reader: object) -> None:
    pages = 1 + len(KINDS) * len(SEVERITIES)
    run = subprocess.run(  # noqa: S603 - our own bench, with our own arguments
        [sys.executable, str(BENCH), "--pages", str(pages), "--jobs", "2", "--speed-pages", "2"],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "OMP_THREAD_LIMIT": "1"},
        check=False,
    )
    out = run.stdout
    assert run.returncode == 0, run.stderr[-3000:]
    for kind in KINDS:
        for severity in SEVERITIES:
            assert re.search(rf"^  {kind}/{severity} +1 ", out, re.M), (kind, severity)
    assert "calibration: fields booked without a person" in out
    wrong = re.search(r"WRONG VALUES AUTO-ACCEPTED over (\d+) damaged pages +(\d+)", out)
    assert wrong is not None and wrong.groups() == (str(pages - 1), "0"), out
    assert re.search(r"FORMS/S PER CORE tesserocr, 2 clean 300 dpi pages \(2 read right\)", out)
    assert re.search(r"FORMS/S PER CORE pytesseract, 2 clean 300 dpi pages \(2 read right\)", out)
    assert "tesserocr / pytesseract:" in out
