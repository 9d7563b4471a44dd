"""Scan intake throughput: N filled-in forms of live mail cases as one multi-page TIFF,

  (a) read by the bare OCR reader in memory (the baseline, this same run),
  (b) through ``scans.ingest`` on a SQLite file, in-process with 1 and with 2 threads
      (page rows with their images, one case step per page, audit),

and prints pages/s and the ratio b/a, plus how many pages went straight through. With
``--celery N`` it also sends the batch to N Celery worker processes (``worker --celery``,
Redis at 127.0.0.1:6379/12) and times until every page is routed (start-up excluded).

    OMP_THREAD_LIMIT=1 python bench/scan_intake.py [--forms 20] [--celery 2]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from PIL import Image  # noqa: E402

from retention_flow.core.clock import FrozenClock  # noqa: E402
from retention_flow.core.config import Settings  # noqa: E402
from retention_flow.engine.bundle import load_bundle_path  # noqa: E402
from retention_flow.ocr.pages import rasterise_pdf  # noqa: E402
from retention_flow.ocr.synthetic import degrade, fill  # noqa: E402
from retention_flow.services.cases import lifecycle as cases  # noqa: E402
from retention_flow.services.outreach import response_forms as forms  # noqa: E402
from retention_flow.services.platform.bootstrap import build_context  # noqa: E402
from retention_flow.services.platform.context import Actor, AppContext  # noqa: E402
from retention_flow.services.process_models import deployments as processes  # noqa: E402
from retention_flow.services.scans import intake as scans  # noqa: E402
from retention_flow.services.scans.ocr_jobs import form_reader  # noqa: E402

BUNDLE = ROOT / "processes" / "retention"
START = json.loads((BUNDLE / "scenarios.json").read_text())["bundles"]["mail_response"][
    "start_data"
]
BACK = Actor("bench", frozenset({"back_office", "process_owner"}))


def _context(folder: Path, threads: int, name: str) -> AppContext:
    settings = Settings(database_url=f"sqlite:///{folder}/{name}.db", scan_threads=threads)
    ctx = build_context(settings, clock=FrozenClock(datetime.now(UTC)))
    processes.deploy(ctx, load_bundle_path(BUNDLE), BACK)
    return ctx


def _batch(ctx: AppContext, n: int, seed: int) -> tuple[bytes, list[Image.Image]]:
    rng = random.Random(seed)
    pages = []
    for i in range(n):
        data = {**START, "case_number": f"RC-2026-{seed:02d}{i:04d}-1", "customer_id": f"C-{i}"}
        case = cases.start_case(ctx, BACK, "mail_response", data)
        [printed] = rasterise_pdf(forms.case_form(ctx, case.id)[1], max_pages=1)
        filled = fill(
            printed, forms.template(), ticks=(i % 3,), date_text="07.01.2026", signed=True, rng=rng
        )
        pages.append(degrade(filled, "rotate", rng)[0])
    buffer = io.BytesIO()
    pages[0].save(buffer, "TIFF", save_all=True, append_images=pages[1:], compression="tiff_lzw")
    return buffer.getvalue(), pages


def _celery(folder: Path, forms: int, processes_n: int) -> tuple[float, int]:
    """Pages/s through Celery workers: the batch is read by ``processes_n`` processes."""
    broker = "redis://127.0.0.1:6379/12"
    ctx = _context(folder, 1, "celery")
    data, _pages = _batch(ctx, forms, seed=99)
    env = {
        **os.environ,
        "RETENTION_FLOW_DATABASE_URL": str(ctx.settings.database_url),
        "RETENTION_FLOW_CELERY_BROKER_URL": broker,
        "RETENTION_FLOW_CELERY_QUEUE": f"bench-{os.getpid()}",
    }
    command = [sys.executable, "-m", "retention_flow.cli", "worker", "--celery"]
    command += ["--concurrency", str(processes_n)]
    quiet = subprocess.DEVNULL
    worker = subprocess.Popen(command, env=env, stdout=quiet, stderr=quiet)  # noqa: S603
    try:
        time.sleep(8)  # let the worker processes start and load Tesseract
        ctx.settings.celery_broker_url = broker
        ctx.settings.celery_queue = env["RETENTION_FLOW_CELERY_QUEUE"]
        started = time.perf_counter()
        scan = scans.ingest(ctx, BACK, "batch.tif", data).model_dump()
        while scans.get_scan(ctx, scan["id"]).model_dump()["status"] != "read":
            time.sleep(0.05)
        took = time.perf_counter() - started
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    pages = scans.get_scan(ctx, scan["id"]).model_dump()["pages"]
    return forms / took, sum(p["status"] == "processed" for p in pages)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--forms", type=int, default=20)
    parser.add_argument("--celery", type=int, default=0, help="Celery worker processes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows: list[tuple[int, float, float, int]] = []
        for round_no, threads in enumerate((1, 2, 2, 1)):  # alternated: the machine is shared
            ctx = _context(Path(tmp), threads, f"round{round_no}")
            data, pages = _batch(ctx, args.forms, seed=round_no)
            reader = form_reader(ctx)
            reader.read_page(pages[0])  # warm up the engine
            started = time.perf_counter()
            for page in pages:
                reader.read_page(page)
            bare = time.perf_counter() - started
            started = time.perf_counter()
            scan = scans.ingest(ctx, BACK, "batch.tif", data).model_dump()
            took = time.perf_counter() - started
            straight = sum(p["status"] == "processed" for p in scan["pages"])
            rows.append((threads, args.forms / bare, args.forms / took, straight))
        for threads, bare_rate, rate, straight in rows:
            print(
                f"threads={threads}: bare OCR {bare_rate:.1f} pages/s, ingest {rate:.1f} pages/s "
                f"(ratio {rate / bare_rate:.2f}), straight through {straight}/{args.forms}"
            )
        if args.celery:
            rate, straight = _celery(Path(tmp), args.forms, args.celery)
            print(
                f"celery processes={args.celery}: {rate:.1f} pages/s, "
                f"straight through {straight}/{args.forms}"
            )


if __name__ == "__main__":
    main()
