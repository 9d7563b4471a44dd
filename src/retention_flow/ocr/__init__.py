"""Response forms: print them per case, read scans back. Pure: no database, no settings.

Public API (what a service calls)::

    from retention_flow.ocr import FormReader, OcrContext, FormData, Offer, load_template
    template = load_template("ocr_templates/retention_offer_v1")
    pdf = render_pdf(template, FormData(case_number, name, address_lines, offers))
    reader = FormReader.from_folder("ocr_templates", OcrContext())   # once per process
    pages = reader.read_file(upload_bytes, lookup)   # list[PageResult]; UnreadableInput
    page = reader.read_page(pil_or_ndarray, lookup)  # PageResult

``lookup(case_number) -> offer codes printed on that case's form, or None (no such case)``.
A ``PageResult`` has ``status`` (processed / verification / exception), ``reasons``,
``case_number``, ``fields`` (value, confidence, status, reason, crop ``box``) and
``message``, the ``response_form_received`` payload.
"""

from retention_flow.ocr.errors import OcrUnavailable, TemplateInvalid, UnreadableInput
from retention_flow.ocr.forms import FormData, Offer, case_line, render_image, render_pdf
from retention_flow.ocr.pipeline import CaseLookup, FormReader, OcrContext, PageResult
from retention_flow.ocr.template import FormTemplate, load_template, load_templates
from retention_flow.ocr.validate import FieldResult

__all__ = [
    "CaseLookup",
    "FieldResult",
    "FormData",
    "FormReader",
    "FormTemplate",
    "OcrContext",
    "OcrUnavailable",
    "Offer",
    "PageResult",
    "TemplateInvalid",
    "UnreadableInput",
    "case_line",
    "load_template",
    "load_templates",
    "render_image",
    "render_pdf",
]
