"""The search oracle's fitness protocol: which validation column a query reads, and whether it
answers the trial mean or one random trial (NB-201's R_EA.py: 12 epochs, ``is_random=True``)."""
import json

import numpy as np
import pandas as pd
import pytest
import torch
from nb201_results import arch_results

from benchsuite import presets
from benchsuite.benchmarks.nb201 import NB201
from benchsuite.config import RunConfig
from benchsuite.runner import run
from benchsuite.selectors.search.baselines import REA
from benchsuite.selectors.search.oracle import Oracle
from benchsuite.spaces import nb201 as space


def test_oracle_answers_one_trial_drawn_with_its_rng_and_keeps_the_answer():
    acc = {"a": 50.0, "b": 60.0}
    trials = {"a": (49.0, 51.0), "b": (59.0, 61.0)}
    answers = set()
    for seed in range(20):
        o = Oracle("nb201", acc, 2, trials=trials, rng=np.random.default_rng(seed))
        first = o.query("a")
        assert first in trials["a"] and o.query("a") == first   # asked again: the same run, no new query
        assert o.used == 1
        answers.add(first)
    assert answers == {49.0, 51.0}   # both trials are drawn over seeds, never the mean
    same = [Oracle("nb201", acc, 2, trials=trials, rng=np.random.default_rng(3)).query("b") for _ in range(2)]
    assert same[0] == same[1]
    assert Oracle("nb201", acc, 2).query("a") == 50.0   # no trials: the mean
    with pytest.raises(ValueError, match="needs its rng"):
        Oracle("nb201", acc, 2, trials=trials)


def test_rea_presets_name_their_protocol():
    paper = REA(preset="nb201-paper")
    assert paper.query_protocol() == (12, "random")
    assert (paper.population, paper.sample_size, paper.mutation) == (10, 3, "node")
    assert REA(preset="naslib").query_protocol() == (None, "mean")
    assert REA(preset="naslib", fitness_epochs=12).query_protocol() == (12, "mean")
    sources = {(p, k): src for p, k, _, src in presets.table("rea")}
    assert "R_EA.py" in sources[("nb201-paper", "fitness_epochs")]
    assert "is_random=True" in sources[("nb201-paper", "trial")]
    assert any("noise-free" in d for d in REA(preset="naslib").deviations)
    assert not any("noise-free" in d for d in paper.deviations)


def test_rea_paper_protocol_queries_the_12_epoch_column_and_reports_200_epoch_test(tmp_path):
    out = tmp_path / "rea"
    run(RunConfig(bench="nb201", selector="rea", seeds=[0], queries=60, hparams={"preset": "nb201-paper"},
                  out=str(out)), log=lambda *_: None)
    info = json.loads((out / "run.json").read_text())
    assert info["validation_column"]["fidelity"] == 12 and info["validation_column"]["dataset"] == "cifar10-valid"
    assert info["search"]["fitness"]["trial"] == "random"
    assert "no per-trial values" in info["search"]["fitness"]["answers"]   # the embedded tables hold means
    assert info["hparams"]["fitness_epochs"] == 12
    traj = pd.read_csv(out / "trajectory.csv")
    bench = NB201()
    archs = traj.arch.tolist()
    assert np.allclose(traj.valid_acc, bench.accuracy(archs, "cifar10-valid", 12, "valid"))
    assert np.allclose(traj.test_acc, bench.accuracy(archs, "cifar10", 200, "test"))
    assert not np.allclose(traj.valid_acc, bench.accuracy(archs, "cifar10-valid", 200, "valid"))


@pytest.fixture
def official_file(tmp_path):
    indexes = list(range(12))
    raw = {"meta_archs": space.all_archs(),
           "arch2infos": {i: {"less": arch_results(i, 12, 60.0 + i), "full": arch_results(i, 200, 90.0 + i)}
                          for i in indexes},
           "evaluated_indexes": indexes}
    path = tmp_path / "NAS-Bench-201-v1_1-mini.pth"
    torch.save(raw, path)
    return path


def test_official_file_keeps_each_validation_trial(official_file):
    b = NB201(official_path=str(official_file))
    a = space.all_archs()[3]
    # the fixture's two trials of cifar10-valid x-valid: base - 1 and base (seeds 777, 888)
    assert b.trials(("cifar10-valid", 12, "valid"))[a] == (62.0, 63.0)
    assert b.accuracy([a], "cifar10-valid", 12, "valid")[0] == pytest.approx(62.5)
    assert b.trials(("cifar10", 200, "test")) is None   # only validation sets: queries read those
    assert NB201().trials(("cifar10-valid", 12, "valid")) is None   # the embedded tables: means


def test_rea_on_an_official_file_reads_one_random_trial(official_file, tmp_path):
    out = tmp_path / "rea"
    run(RunConfig(bench="nb201", selector="rea", seeds=[0, 1], queries=12, official=str(official_file),
                  hparams={"preset": "nb201-paper"}, out=str(out)), log=lambda *_: None)
    info = json.loads((out / "run.json").read_text())
    assert info["search"]["fitness"]["answers"] == "one random trial"
    traj = pd.read_csv(out / "trajectory.csv")
    base = np.array([60.0 + space.all_archs().index(a) for a in traj.arch])
    offset = traj.valid_acc.to_numpy() - base
    assert set(np.round(offset, 6)) == {-1.0, 0.0}   # a trial each time, both seen, never the mean (-0.5)
    assert np.allclose(traj.test_acc, base + 30.5)   # reported: the 200-epoch test trial mean
