"""The selectors' cards in docs/ say what the code declares and what run.json records."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchsuite import selector_cards
from benchsuite.cli import main
from benchsuite.errors import ConfigError
from benchsuite.selectors.registry import SELECTORS

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_every_card_in_docs_is_what_the_code_generates():
    stale = selector_cards.update(DOCS, check=True)
    assert not stale, f"docs cards out of date (python -m benchsuite.selector_cards): {stale}"


def test_a_folder_without_docs_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="holds no docs pages"):
        selector_cards.update(tmp_path, check=True)


def test_every_registered_selector_has_one_card():
    assert set(selector_cards.pages(DOCS)) == set(SELECTORS.names())


def test_a_changed_deviation_makes_the_card_stale(monkeypatch):
    cls = SELECTORS.get("rea")
    monkeypatch.setattr(cls, "deviations", ("a deviation the docs do not state",), raising=False)
    assert "rea" in selector_cards.update(DOCS, check=True)


def test_a_changed_preset_makes_the_card_stale(monkeypatch):
    from benchsuite import presets

    rows = presets.table("rea")
    changed = [(p, k, (v + 1 if isinstance(v, int) else v), s) for p, k, v, s in rows]
    monkeypatch.setattr(presets, "table", lambda name: changed if name == "rea" else rows)
    assert "rea" in selector_cards.update(DOCS, check=True)


@pytest.mark.parametrize("selector, args", [
    ("params", ["--sample", "4"]),
    ("synflow", ["--sample", "4", "--hp", "C=4", "--hp", "N=1"]),
    ("zen", ["--sample", "4", "--hp", "C=4", "--hp", "N=1"]),
    ("random-search", ["--queries", "5"]),
    ("rea", ["--queries", "5"]),
])
def test_run_json_records_the_cards_deviations(selector, args, tmp_path):
    out = tmp_path / selector
    assert main(["run", "--bench", "nb201", "--selector", selector, "--seeds", "0", "--out", str(out), "--no-plots",
                 *args]) == 0
    recorded = json.loads((out / "run.json").read_text())["deviations"]
    assert tuple(recorded) == selector_cards.default_deviations(SELECTORS.get(selector))
    assert all(d in selector_cards.card(selector) for d in recorded)
    if selector in ("random-search", "rea"):
        assert recorded   # the search methods state how they count queries
