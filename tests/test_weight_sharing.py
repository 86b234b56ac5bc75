"""Weight-sharing selectors: RLNAS's angle against the reference construction, evolution, DARTS-PT's
projection, few-shot routing, and the run outputs (derived cell, training curves)."""
import copy
import json

import numpy as np
import pandas as pd
import pytest
import torch

from benchsuite import get_selector
from benchsuite.cli import main
from benchsuite.selectors.base import Context
from benchsuite.selectors.weight_sharing.evolution import evolve
from benchsuite.selectors.weight_sharing.rlnas import AngleTable
from benchsuite.spaces import nb201
from benchsuite.supernet.model import Supernet, arch_to_path

pytestmark = pytest.mark.bundle   # CIFAR images or the bundle's own files (see conftest)


def reference_angle(init: dict, now: dict, arch: str, n_cells: int, fixed: tuple[int, ...]) -> float:
    """RLNAS's weight_angle.get_arch_angle, restated literally on our parameter names: paths in
    the reference order, concatenated vectors, arccos of the cosine."""
    ops = nb201.parse_arch(arch)
    edge_of = {e: k for k, e in enumerate(nb201.EDGES)}
    head = ["stem.0.weight", "stem.1.weight", "stem.1.bias"]
    tail = ["lastact.0.weight", "lastact.0.bias", "classifier.weight", "classifier.bias"]
    fixed_names = ["conv_a.1.weight", "conv_a.2.weight", "conv_a.2.bias", "conv_b.1.weight", "conv_b.2.weight",
                   "conv_b.2.bias", "downsample.1.weight"]
    a = [init[n].flatten() for n in head]
    b = [now[n].flatten() for n in head]
    none_paths, fixed_added = 0, 0
    for path in ((0, 3), (0, 2, 3), (0, 1, 2, 3), (0, 1, 3)):
        for cell in range(n_cells):
            if cell in fixed:   # reduction blocks: added the first time a surviving path reaches them
                if fixed_added < len(fixed):
                    a += [init[f"cells.{cell}.{n}"].flatten() for n in fixed_names]
                    b += [now[f"cells.{cell}.{n}"].flatten() for n in fixed_names]
                    fixed_added += 1
                continue
            pa, pb, dead = [], [], False
            for t in range(1, len(path)):
                e = edge_of[(path[t], path[t - 1])]
                op = ops[e]
                if op == "none":
                    dead = True
                    break
                if op == "avg_pool_3x3":
                    c = init[f"cells.{cell}.edges.{e}.ops.3.1.weight"].shape[0]
                    pa.append(torch.full((c * 9,), 1 / 9.0))
                    pb.append(torch.full((c * 9,), 1 / 9.0))
                elif op.startswith("nor_conv"):
                    k = 2 if op == "nor_conv_1x1" else 3
                    pa.append(init[f"cells.{cell}.edges.{e}.ops.{k}.1.weight"].flatten())
                    pb.append(now[f"cells.{cell}.edges.{e}.ops.{k}.1.weight"].flatten())
            if dead:
                none_paths += 1
                break
            a += pa
            b += pb
    if none_paths == 4:
        return 0.0
    a += [init[n].flatten() for n in tail]
    b += [now[n].flatten() for n in tail]
    va, vb = torch.cat(a).double(), torch.cat(b).double()
    return float(torch.arccos(torch.clamp(va @ vb / (va.norm() * vb.norm()), -1, 1)))


def test_rlnas_angle_matches_the_reference_construction():
    torch.manual_seed(0)
    model = Supernet(C=4, N=2)
    init = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    table = AngleTable(model, init)
    now = model.state_dict()
    fixed = tuple(i for i, s in enumerate(model.stage_of) if s < 0)
    archs = nb201.all_archs()[:40] + [nb201.format_arch(["none"] * 6), nb201.format_arch(["skip_connect"] * 6),
                                      nb201.format_arch(["avg_pool_3x3"] * 6)]
    for arch in archs:
        want = reference_angle(init, now, arch, len(model.stage_of), fixed)
        assert table.angle(arch_to_path(arch)) == pytest.approx(want, rel=1e-7, abs=1e-12), arch
    assert table.angle(arch_to_path(archs[-3])) == 0.0                      # every path through none
    assert AngleTable(model, now).angle(arch_to_path(archs[0])) == pytest.approx(0.0, abs=1e-6)  # no training


def test_evolution_finds_the_optimum_and_evaluates_each_cell_once():
    calls: list[str] = []

    def fitness(cells):
        calls.extend(cells)
        return [sum(op == "nor_conv_3x3" for op in nb201.parse_arch(c)) for c in cells]

    best, fit, n = evolve(fitness, seed=0, population=30, generations=15, parents=8, mutate_prob=0.3)
    assert fit == 6 and best == nb201.format_arch(["nor_conv_3x3"] * 6)
    assert len(calls) == len(set(calls)) == n
    assert evolve(fitness, seed=0, population=30, generations=15, parents=8, mutate_prob=0.3)[0] == best


CTX = Context(space="nb201", dataset="cifar10", seed=0)


@pytest.mark.slow
def test_darts_pt_keeps_the_op_whose_masking_hurts_most():
    """proj_intv=1 as projection.py runs it: 5 tune epochs, a projection at the start of each, so
    five edges are projected and the sixth takes the argmax of its tuned weights (genotype())."""
    sel = get_selector("darts-pt", seed=0, preset="smoke", eval_batches=2)
    archs = nb201.all_archs()[:5]
    cell = sel.derive(CTX)
    steps = sel.derived["projection"]
    assert len(steps) == 5 and len(sel.derived["argmax_edges"]) == 1
    assert sorted([s["edge"] for s in steps] + sel.derived["argmax_edges"]) == list(range(6))
    for s in steps:
        assert s["op"] == int(np.argmin(s["masked_acc"]))
        assert nb201.parse_arch(cell)[s["edge"]] == nb201.OPS[s["op"]]
        assert len(s["tune"]) == 1   # one tune epoch after each projection
    drops = sel.drops(CTX)
    want = [sum(float(drops[e, k]) for e, k in enumerate(arch_to_path(a))) for a in archs]
    np.testing.assert_allclose(sel.score(archs, CTX), want)


@pytest.mark.slow
def test_darts_pt_schedule_and_continued_architect(tmp_path, monkeypatch):
    """proj_intv=2: 10 tune epochs, projections at epochs 0, 2, 4, 6, 8 and 9 (the last), every edge
    projected; the architect's Adam starts from the search checkpoint's state, not afresh."""
    from benchsuite.supernet.trainer import load_checkpoint

    ctx = Context(space="nb201", dataset="cifar10", seed=0, cache_dir=str(tmp_path))
    loaded = []
    real = torch.optim.Adam.load_state_dict

    def spy(opt, state):
        loaded.append(copy.deepcopy(state))   # the optimiser steps the loaded tensors in place
        return real(opt, state)

    monkeypatch.setattr(torch.optim.Adam, "load_state_dict", spy)
    monkeypatch.setattr("benchsuite.selectors.weight_sharing.base._MEMO", {})   # train here, in tmp_path
    sel = get_selector("darts-pt", seed=0, preset="smoke", eval_batches=2, proj_intv=2)
    sel.derive(ctx)
    steps = sel.derived["projection"]
    assert [len(s["tune"]) for s in steps] == [2, 2, 2, 2, 1, 1] and sel.derived["argmax_edges"] == []
    net = sel.supernet(ctx)
    search = load_checkpoint(net.config, tmp_path / "supernet")["a_opt"]   # as saved after the last epoch
    for state in (loaded[-1], net.arch_optimizer):
        assert torch.equal(state["state"][0]["exp_avg"], search["state"][0]["exp_avg"])
    assert int(search["state"][0]["step"]) > 0   # there is state to continue


def test_fewshot_scores_each_cell_with_its_sub_supernet():
    sel = get_selector("fewshot", seed=0, preset="smoke", split_edge=3)
    archs = [nb201.format_arch(["nor_conv_3x3"] * 3 + [op] + ["skip_connect"] * 2) for op in nb201.OPS[:3]]
    sel.score(archs, CTX)
    assert sorted(sel._subs) == [0, 1, 2]
    for op, sub in sel._subs.items():
        assert sub.config.fixed_edge == (3, op) and sub.config.init_from.startswith("spos-")
    with pytest.raises(Exception, match="split_edge"):
        get_selector("fewshot", split_edge=6)


def test_cli_run_reports_derived_cell_and_training_curves(tmp_path, capsys):
    from benchsuite.benchmarks.nb201 import NB201

    table = NB201()
    out = tmp_path / "run"
    rc = main(["run", "--bench", "nb201", "--selector", "spos", "--hp", "preset=smoke", "--sample", "8",
               "--seeds", "0,1", "--out", str(out)])
    assert rc == 0
    info = json.loads((out / "run.json").read_text())
    derived = pd.read_csv(out / "derived.csv", dtype={"arch": str})
    assert list(derived.seed) == [0, 1]
    for _, row in derived.iterrows():
        assert row.true_acc == pytest.approx(float(table.accuracy([row.arch], "cifar10")[0]))
        assert info["seeds"][str(row.seed)]["derived"]["arch"] == row.arch
        rep = info["seeds"][str(row.seed)]["selector_report"]
        assert rep["supernets"][0]["images_per_s"] > 0 and rep["supernets"][0]["train_seconds"] > 0
    training = pd.read_csv(out / "training.csv")
    assert set(training.seed) == {0, 1} and training.groupby("seed").epoch.max().tolist() == [2, 2]
    assert (out / "training.png").is_file()
    assert "derived=" in capsys.readouterr().out
    assert main(["report", str(out), "--out", str(tmp_path / "rep")]) == 0
    summary = pd.read_csv(tmp_path / "rep" / "summary.csv")
    assert summary.derived_acc[0] == pytest.approx(derived.true_acc.mean())
    assert summary.supernet_seconds[0] == pytest.approx(training.seconds.sum()) and summary.supernet_seconds[0] > 0


def test_paper_preset_refuses_the_image_subset(tmp_path, capsys):
    rc = main(["run", "--bench", "nb201", "--selector", "darts", "--hp", "preset=paper", "--sample", "4",
               "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "full CIFAR" in err[0]


def test_weight_sharing_selectors_reject_nb101(tmp_path, capsys):
    rc = main(["run", "--bench", "nb101", "--selector", "rlnas", "--hp", "preset=smoke", "--out", str(tmp_path / "r")])
    assert rc == 2 and "nb201" in capsys.readouterr().err


def test_train_supernet_command_prepares_what_run_loads(tmp_path, capsys):
    assert main(["train-supernet", "--selector", "rlnas", "--hp", "preset=smoke", "--seeds", "3"]) == 0
    assert "trained" in capsys.readouterr().out
    from benchsuite.selectors.weight_sharing import base as weight_sharing

    weight_sharing._MEMO.clear()   # a later `benchsuite run` is a new process: it must find the checkpoint
    out = tmp_path / "run"
    assert main(["run", "--selector", "rlnas", "--hp", "preset=smoke", "--seeds", "3", "--sample", "5",
                 "--out", str(out), "--no-plots"]) == 0
    rep = json.loads((out / "run.json").read_text())["seeds"]["3"]["selector_report"]
    assert rep["supernets"][0]["from_checkpoint"] is True
    assert main(["train-supernet", "--selector", "synflow"]) == 2
    assert "weight-sharing selectors: darts" in capsys.readouterr().err


def test_torchrun_two_cpu_ranks(tmp_path):
    """The DDP entry point end to end: torchrun starts two gloo ranks on CPU; one checkpoint."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "BENCHSUITE_CACHE": str(tmp_path), "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                        "-m", "benchsuite", "train-supernet", "--selector", "spos", "--hp", "preset=smoke",
                        "--device", "cpu"], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.count("trained") == 1   # rank 0 reports
    saved = list((tmp_path / "supernet").glob("*/state.pt"))
    assert len(saved) == 1 and torch.load(saved[0], weights_only=True)["world_size"] == 2
