"""Reading uploads within limits: bundle files (.bpmn/.dmn/.json files, or one .zip) and
scanned files (the bytes of each; decoding them is services/scans/decode.py's, on threads
of their own so a slow file never holds a request thread)."""

from __future__ import annotations

from pathlib import PurePosixPath

import anyio
from fastapi import FastAPI, UploadFile

from retention_flow.services.process_models.bundles import load_zip

from ..core.errors import PayloadTooLarge, ValidationFailed

#: threads that wait on decoder children (their number is bounded in services/scan_decode)
DECODE_THREADS = 32
ALLOWED_SUFFIXES = (".bpmn", ".dmn", ".json")
CHUNK = 64 * 1024


async def read_bundle(files: list[UploadFile], max_bytes: int) -> dict[str, bytes]:
    """The bundle as ``{file name: content}``; 413 past ``max_bytes`` in total."""
    if not files:
        raise ValidationFailed("no files uploaded", errors=[{"field": "files", "message": "empty"}])
    out: dict[str, bytes] = {}
    total = 0
    for upload in files:
        name = PurePosixPath((upload.filename or "").replace("\\", "/")).name
        suffix = PurePosixPath(name).suffix.lower()
        if suffix not in (*ALLOWED_SUFFIXES, ".zip"):
            raise ValidationFailed(
                f"'{name or '(unnamed)'}' is not a .bpmn, .dmn, .json or .zip file",
                errors=[{"field": "files", "message": f"unsupported file: {name or '(unnamed)'}"}],
            )
        content = bytearray()
        while chunk := await upload.read(CHUNK):
            total += len(chunk)
            if total > max_bytes:
                raise PayloadTooLarge(f"the upload is larger than {max_bytes} bytes")
            content.extend(chunk)
        if suffix == ".zip":
            if len(files) > 1:
                raise ValidationFailed(
                    "upload one .zip alone, or loose files",
                    errors=[{"field": "files", "message": "a zip must be the only file"}],
                )
            return load_zip(bytes(content), max_total=max_bytes * 4)
        if name in out:
            raise ValidationFailed(
                f"'{name}' uploaded twice", errors=[{"field": "files", "message": "duplicate"}]
            )
        out[name] = bytes(content)
    return out


async def read_scan_files(files: list[UploadFile], max_bytes: int) -> list[tuple[str, bytes]]:
    """``(file name, content)`` of each file; 413 when one is larger than ``max_bytes``."""
    out = []
    for upload in files:
        data = await upload.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise PayloadTooLarge(f"'{upload.filename}' is larger than {max_bytes} bytes")
        out.append((upload.filename or "", data))
    return out


def decode_threads(app: FastAPI) -> anyio.CapacityLimiter:
    """The app's threads for decoding uploads, apart from the request threads."""
    limiter: anyio.CapacityLimiter | None = getattr(app.state, "scan_decode_threads", None)
    if limiter is None:
        limiter = anyio.CapacityLimiter(DECODE_THREADS)
        app.state.scan_decode_threads = limiter
    return limiter
