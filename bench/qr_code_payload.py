"""The form's QR code with the customer's self-service link in it, against the plain code
it replaces, on the same damaged pages (issue 16 item 3).

Every form is printed twice from the same data: with the plain payload
(``RF1|case|template|page|check``, version 4) and with the link payload
(``<base>/s/<token>#rf2.case.template.page.check``, a larger version: smaller modules in
the same 25 mm box). Both copies are filled in alike and damaged alike (every kind of
ocr/damage.py at every severity, the same seed), aligned as the intake aligns them, and
the code is read where the template prints it (ocr/code.py ``read_code``). Printed:
per damage kind the codes read right per payload, the totals, the ratio link / plain,
any code read *wrong* (must be 0: the check refuses a misread), the milliseconds a read
takes, and how often a phone-style decode of the whole damaged page finds the link.

    python bench/qr_code_payload.py --forms 2
    python bench/qr_code_payload.py --forms 2 --base https://a-long-public-address.example/x
"""

from __future__ import annotations

import argparse
import random
import string
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import segno
import zxingcpp
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from retention_flow.ocr.code import payload, read_code
from retention_flow.ocr.damage import KINDS, SEVERITIES, damage
from retention_flow.ocr.forms import FormData, Offer, render_image
from retention_flow.ocr.identify import Identifier
from retention_flow.ocr.register import RegistrationFailed, square_pixels
from retention_flow.ocr.synthetic import fill
from retention_flow.ocr.template import FormTemplate, load_template

TEMPLATE = Path(__file__).resolve().parents[1] / "ocr_templates" / "retention_offer_v1"
OFFERS = (Offer("DISCOUNT_20", "20 % off"), Offer("NEW_DEVICE", "New device"))
PAYLOADS = ("plain", "link")
TOKEN_CHARS = string.ascii_letters + string.digits + "-_"


def _token(rng: random.Random) -> str:
    """A token shaped like services/self_service_links.make_token's (16 + 1 + 12)."""
    return "".join(rng.choices(TOKEN_CHARS, k=16)) + "." + "".join(rng.choices(TOKEN_CHARS, k=12))


def _printed(template: FormTemplate, base: str, seed: int, form: int) -> dict[str, object]:
    rng = random.Random(seed * 1_000_003 + form)
    case = f"RC-2026{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}-C-{rng.randrange(10**6):06d}"
    link = f"{base.rstrip('/')}/s/{_token(rng)}"
    printed: dict[str, object] = {"case": case, "url": link}
    for kind in PAYLOADS:
        extra = {"self_service_url": link} if kind == "link" else {}
        data = FormData(case, "Erika Muster", ("Hauptstrasse 5", "10115 Berlin"), OFFERS, extra)
        page = render_image(template, data)
        printed[kind] = fill(
            page, template, ticks=[1], date_text="07.01.2026", signed=True, rng=random.Random(form)
        )
    return printed


def _read(identifier: Identifier, template: FormTemplate, image: Image.Image) -> tuple[str, float]:
    """(the case number the code gave, "" when none, or "not aligned"; ms the read took)."""
    gray = square_pixels(np.asarray(image.convert("L")), template)
    try:
        _found, registered = identifier.identify(gray)
    except RegistrationFailed:
        return "not aligned", 0.0
    assert template.code is not None
    start = time.perf_counter()
    read = read_code(registered, template.code, template.id, 300)
    spent = (time.perf_counter() - start) * 1000
    return (read.case_number or ""), spent


def _phone(image: Image.Image) -> str:
    found = zxingcpp.read_barcodes(
        np.asarray(image.convert("L")),
        # zxingcpp's stub types ``formats`` as BarcodeFormats only; the binding (and its
        # docstring) takes a single BarcodeFormat as well
        formats=zxingcpp.BarcodeFormat.QRCode,  # type: ignore[arg-type]
    )
    return str(found[0].text) if found else ""


def _sizes(template: FormTemplate, base: str) -> None:
    assert template.code is not None
    rng = random.Random(0)
    link = f"{base.rstrip('/')}/s/{_token(rng)}"
    for kind in PAYLOADS:
        text = payload("RC-20260312-C-123456", template.id, 1, link if kind == "link" else None)
        code = segno.make(text, error="m", micro=False)
        modules = code.symbol_size(border=0)[0]
        print(
            f"{kind:6} {len(text):4} characters, version {code.version}, {modules} modules, "
            f"{template.code.w / modules:.2f} mm a module in the {template.code.w:g} mm box"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--forms", type=int, default=2, help="forms per damage kind/severity")
    parser.add_argument("--base", default="https://selfservice.example-telco.de")
    parser.add_argument("--seed", type=int, default=16)
    args = parser.parse_args()
    template = load_template(TEMPLATE)
    identifier = Identifier([template], 300, True)
    _sizes(template, args.base)
    kinds = [("clean", 0)] + [(k, s) for k in KINDS for s in SEVERITIES]
    tally: dict[str, Counter[str]] = {k: Counter() for k in PAYLOADS}
    per_kind: dict[str, Counter[str]] = {}
    millis: dict[str, list[float]] = {k: [] for k in PAYLOADS}
    phone = Counter[str]()
    forms = [_printed(template, args.base, args.seed, f) for f in range(max(args.forms, 1))]
    for index, (kind, severity) in enumerate(kinds):
        row = per_kind.setdefault(kind, Counter())
        for n in range(args.forms):
            form = forms[n]
            damage_seed = args.seed * 7919 + index * 101 + n
            for payload_kind in PAYLOADS:
                page = form[payload_kind]
                assert isinstance(page, Image.Image)
                if kind != "clean":
                    page = damage(page, kind, severity, random.Random(damage_seed))[0]
                read, spent = _read(identifier, template, page)
                outcome = (
                    read
                    if read in {"not aligned"}
                    else ("right" if read == form["case"] else ("wrong" if read else "unreadable"))
                )
                tally[payload_kind][outcome] += 1
                row[f"{payload_kind}:{outcome}"] += 1
                if spent:
                    millis[payload_kind].append(spent)
                if payload_kind == "link":
                    phone["pages"] += 1
                    phone["link found"] += _phone(page).startswith(str(form["url"]) + "#")
    print(f"\n{'damage':13} {'plain right':>11} {'link right':>10}  (of pages aligned / all)")
    for kind, row in per_kind.items():
        cells = []
        for p in PAYLOADS:
            aligned = sum(v for k, v in row.items() if k.startswith(p) and "not aligned" not in k)
            cells.append(
                f"{row[f'{p}:right']}/{aligned}/{sum(v for k, v in row.items() if k.startswith(p))}"
            )
        print(f"{kind:13} {cells[0]:>11} {cells[1]:>10}")
    print()
    for p in PAYLOADS:
        t = tally[p]
        ms = sorted(millis[p])
        median = ms[len(ms) // 2] if ms else 0.0
        print(
            f"{p:6} codes read right {t['right']:4} of {sum(t.values())} pages; "
            f"wrong {t['wrong']}; "
            f"unreadable {t['unreadable']}; not aligned {t['not aligned']}; "
            f"read median {median:.1f} ms"
        )
    plain, link = tally["plain"]["right"], tally["link"]["right"]
    print(f"RATIO link / plain codes read right: {link / plain if plain else float('nan'):.3f}")
    wrong = f"plain {tally['plain']['wrong']}, link {tally['link']['wrong']}"
    print(f"WRONG CODES READ (must be 0): {wrong}")
    found = f"{phone['link found']} of {phone['pages']}"
    print(f"phone-style decode of the whole damaged page found the link: {found}")


if __name__ == "__main__":
    main()
