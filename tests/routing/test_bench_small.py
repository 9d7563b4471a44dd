"""The routing bench, small (CI): 12 agents and 600 cases through FIFO-by-role,
skills-only and outcome-based offering on the same arrivals. Skills are never violated
by the two policies that know them (FIFO-by-role, which does not, does violate them: the
count can fail), and outcome-based offering retains more than FIFO at the same service
level. ``bench/routing.py`` at full size is the measure; this guards that it still runs
and that the direction holds."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "routing.py"


def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("routing_bench", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_small_bench_keeps_skills_and_retains_more(capsys: pytest.CaptureFixture[str]) -> None:
    routing = bench()
    out = routing.run(n_agents=12, n_cases=600, seed=19)
    figs = out["figures"]
    assert figs["fifo"]["violations"] > 0
    assert figs["skills"]["violations"] == 0
    assert figs["outcome"]["violations"] == 0
    assert figs["outcome"]["retention"] > figs["fifo"]["retention"] * 1.03
    assert abs(figs["outcome"]["service_level"] - figs["fifo"]["service_level"]) <= 0.02
    for policy in routing.POLICIES:  # every case is worked once, by one agent
        result = out["results"][policy]
        assert len(result.started) == len(result.worked_by) <= len(out["cases"])
    args = argparse.Namespace(agents=12, cases=600, seed=19, history_days=0)
    routing.report(out, args)
    printed = capsys.readouterr().out
    assert "outcome vs fifo: retention" in printed
    assert "learning curve" in printed
