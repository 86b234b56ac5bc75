"""Each selector's reference card in ``docs/``, generated from what the code declares and records.

A card lists what the selector can do, its hyperparameters (type, default, accepted values: the
scheme ``--hp`` checks), its presets with each value's source (``benchsuite.presets``) and the
deviations from its reference that ``run.json`` records. The family pages hold each card between
``<!-- card:NAME:begin -->`` and ``<!-- card:NAME:end -->``; ``python -m benchsuite.selector_cards``
rewrites them and ``--check`` (run by the tests) fails when a page and the code disagree.
"""
from __future__ import annotations

import argparse
import inspect
import re
import sys
from pathlib import Path

from .errors import ConfigError

# A checkout's docs folder, from where the command runs (an installed package carries no docs).
DOCS = Path("docs")
_MARK = re.compile(r"(<!-- card:(?P<name>[\w.-]+):begin -->\n)(?P<body>.*?)(<!-- card:(?P=name):end -->)", re.S)


def _cell(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def default_deviations(cls: type) -> tuple[str, ...] | None:
    """The deviations a run at default settings records; None where the selector has no default
    for some hyperparameter (the deviations then depend on what the user sets)."""
    raw = inspect.getattr_static(cls, "deviations", None)   # a property where they follow the settings
    if isinstance(raw, (tuple, list)):
        return tuple(raw)
    try:
        return tuple(cls().deviations)
    except (TypeError, ConfigError):
        return None


def card(name: str) -> str:
    """The markdown card of one registered selector."""
    from .hparams import describe
    from .presets import table
    from .selectors.registry import SELECTORS

    cls = SELECTORS.get(name)
    lines = [f"**`{name}`** can: {', '.join(sorted(cls.capabilities))}; spaces: {', '.join(sorted(cls.spaces))}; "
             f"reads: {', '.join(sorted(cls.inputs)) or 'the benchmark table only'}.", ""]
    rows = describe(cls)
    if rows:
        lines += ["| hyperparameter | type | default | accepted |", "|---|---|---|---|"]
        lines += [f"| `{k}` | {_cell(t)} | `{d!r}` | {_cell(lim)} |" for k, t, d, lim in rows]
    else:
        lines.append("Hyperparameters: none.")
    presets = table(name)
    if presets:
        lines += ["", "| preset | setting | value | source |", "|---|---|---|---|"]
        lines += [f"| {p} | `{k}` | `{v!r}` | {_cell(src)} |" for p, k, v, src in presets]
    devs = default_deviations(cls)
    lines.append("")
    if devs is None:
        lines.append("Deviations: they depend on hyperparameters without a default; `run.json` lists them.")
    elif devs:
        lines.append("Deviations from the reference, as `run.json` records them at default settings:")
        lines += [f"- {_cell(d)}" for d in devs]
    else:
        lines.append("Deviations from the reference: none recorded.")
    return "\n".join(lines) + "\n"


def _check_docs(docs: Path) -> None:
    # an empty or missing folder would make every check pass vacuously
    if not docs.is_dir() or not any(docs.glob("*.md")):
        raise ConfigError(f"{docs} holds no docs pages (run from a checkout's root, or give --docs)")


def pages(docs: Path = DOCS) -> dict[str, Path]:
    """Selector name -> the docs page that holds its card."""
    _check_docs(docs)
    out: dict[str, Path] = {}
    for page in sorted(docs.glob("*.md")):
        for m in _MARK.finditer(page.read_text()):
            if m["name"] in out:
                raise ConfigError(f"selector {m['name']!r} has a card in both {out[m['name']].name} and {page.name}")
            out[m["name"]] = page
    return out


def update(docs: Path = DOCS, *, check: bool = False) -> list[str]:
    """Rewrite every card (or, with ``check``, only compare): the names whose card differed."""
    _check_docs(docs)
    stale = []
    for page in sorted(docs.glob("*.md")):
        text = page.read_text()

        def fill(m: re.Match) -> str:
            new = card(m["name"])
            if m["body"] != new:
                stale.append(m["name"])
            return m.group(1) + new + m.group(4)

        new_text = _MARK.sub(fill, text)
        if not check and new_text != text:
            page.write_text(new_text)
    return stale


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchsuite.selector_cards", description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="only compare; exit 1 if a card is out of date")
    ap.add_argument("--docs", type=Path, default=DOCS)
    a = ap.parse_args(argv)
    stale = update(a.docs, check=a.check)
    if stale:
        verb = "out of date" if a.check else "rewritten"
        print(f"cards {verb}: {', '.join(stale)}", file=sys.stderr if a.check else sys.stdout)
    return 1 if (a.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
