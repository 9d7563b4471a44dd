"""The service operators' parameters, as the lint checks a service task against them
(``engine.lint_model.ServiceSpec``), and the literal values some of them take."""

from __future__ import annotations

from retention_flow.engine.lint_model import ServiceSpec

LETTER_KINDS = frozenset({"confirmation", "response_form", "reminder", "cancellation"})
RISK_LEVELS = ("low", "medium", "high")

#: the parameters of the product's operators (a service task passes exactly these); the
#: other registered operators (``echo``, ``resolve_scan_page``) are checked by name only
SERVICE_SPECS: dict[str, ServiceSpec] = {
    "enqueue_campaign_batch": ServiceSpec(
        frozenset({"campaign", "batch_size", "min_churn_risk"}),
        {"min_churn_risk": frozenset(RISK_LEVELS)},
    ),
    "book_contract_change": ServiceSpec(frozenset({"customer_id", "case_number", "offer_code"})),
    "write_letter": ServiceSpec(
        frozenset({"case_number", "customer_id", "kind", "offer_codes"}),
        {"kind": LETTER_KINDS},
    ),
    "allocate_partner": ServiceSpec(frozenset({"case_number", "eligible_partners", "exclude"})),
    "record_settlement": ServiceSpec(frozenset({"case_number", "partner_id", "offer_code"})),
    "process_cancellation": ServiceSpec(frozenset({"customer_id", "case_number"})),
}
