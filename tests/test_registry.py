import sys
import types
from importlib import metadata

import pytest

from benchsuite.errors import DuplicateNameError, UnknownNameError
from benchsuite.registry import Registry


def test_decorator_create_and_list():
    reg = Registry("widget")

    @reg.register("a")
    class A:
        def __init__(self, *, x=1):
            self.x = x

    assert reg.names() == ["a"]
    assert reg.create("a", x=3).x == 3


def test_duplicate_name_is_an_error():
    reg = Registry("widget")
    reg.register("a", "mod:A")
    with pytest.raises(DuplicateNameError, match="'a' is already registered"):
        reg.register("a", "mod:B")


def test_unknown_name_lists_known_ones():
    reg = Registry("widget")
    reg.register("b", "m:B")
    reg.register("a", "m:A")
    with pytest.raises(UnknownNameError) as e:
        reg.get("zzz")
    assert str(e.value) == "unknown widget 'zzz'; known: a, b"


def test_lazy_entry_imports_only_on_lookup(monkeypatch):
    mod = types.ModuleType("bs_fake_plugin")

    class Thing:
        pass

    mod.Thing = Thing
    monkeypatch.setitem(sys.modules, "bs_fake_plugin", mod)
    reg = Registry("widget")
    reg.register("t", "bs_fake_plugin:Thing")
    reg.register("other", "no_such_module_anywhere:X")  # never imported: looked up first
    assert "t" in reg.names()
    assert reg.get("t") is Thing
    with pytest.raises(ModuleNotFoundError):
        reg.get("other")


def test_lazy_entry_materialised_by_its_own_decorator():
    reg = Registry("widget")
    reg.register("t", f"{__name__}:Later")
    later = type("Later", (), {"__module__": __name__})
    reg.register("t")(later)  # what the module's decorator does when the lazy entry is imported
    assert reg.get("t") is later
    with pytest.raises(DuplicateNameError):
        reg.register("t")(type("Other", (), {"__module__": __name__}))


def test_entry_points_are_loaded_and_clash_detected(monkeypatch):
    ep = metadata.EntryPoint(name="ext", value="benchsuite.selectors.baselines:RandomSelector",
                             group="benchsuite.selectors")
    monkeypatch.setattr(metadata, "entry_points", lambda group=None: [ep] if group == "benchsuite.selectors" else [])
    reg = Registry("selector", "benchsuite.selectors")
    reg.register("params", "benchsuite.selectors.baselines:ParamsSelector")
    assert reg.names() == ["ext", "params"]
    assert reg.get("ext").__name__ == "RandomSelector"

    clash = Registry("selector", "benchsuite.selectors")
    clash.register("ext", "benchsuite.selectors.baselines:ParamsSelector")
    with pytest.raises(DuplicateNameError, match="clashes"):
        clash.names()


def test_builtin_selector_listing_does_not_import_torch():
    import subprocess

    code = ("import sys; from benchsuite.selectors.registry import SELECTORS; SELECTORS.names(); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_temporary_registration_is_undone_even_on_error(monkeypatch):
    ep = metadata.EntryPoint(name="ext", value="m:Ext", group="g")
    monkeypatch.setattr(metadata, "entry_points", lambda group=None: [ep] if group == "g" else [])
    reg = Registry("widget", "g")
    reg.register("a", "m:A")

    class B:
        pass

    with pytest.raises(KeyError):
        with reg.temporary("b", B) as got:
            assert got is B and reg.get("b") is B and reg.names() == ["a", "b", "ext"]
            raise KeyError("boom")
    assert reg.names() == ["a", "ext"]
    with reg.temporary("a", B):   # shadows an entry, which comes back unresolved afterwards
        assert reg.get("a") is B
    with reg.temporary("ext", B):   # an entry point too: no clash on leaving
        assert reg.get("ext") is B
    assert reg.names() == ["a", "ext"]
    for name in ("a", "ext"):   # the lazy entries again: looking them up imports their (absent) module
        with pytest.raises(ModuleNotFoundError, match="'m'"):
            reg.get(name)
