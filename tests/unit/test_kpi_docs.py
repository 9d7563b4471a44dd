"""docs/kpis.md names every KPI the code defines (one written definition per figure)."""

from pathlib import Path

from retention_flow.services.insight.kpi_definitions import CSV_KPIS, KPI_KEYS

DOC = Path(__file__).resolve().parents[2] / "docs" / "kpis.md"


def test_the_doc_names_every_kpi() -> None:
    text = DOC.read_text()
    missing = [k for k in (*KPI_KEYS, *CSV_KPIS) if f"`{k}" not in text]
    assert not missing, f"docs/kpis.md does not define {missing}"
