"""The shared supernet trainer: model, search data, determinism, checkpoints, resume, second-order
DARTS, the CUDA-only paths (bf16 autocast, channels_last, DDP) exercised on CPU."""
import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from benchsuite.data.images import augment, load_images
from benchsuite.errors import ConfigError
from benchsuite.spaces import nb201
from benchsuite.supernet.config import preset_config
from benchsuite.supernet.data import SearchData
from benchsuite.supernet.model import Supernet, arch_to_path, argmax_arch, log_score, path_to_arch
from benchsuite.supernet.trainer import _build, _unrolled_alpha_grad, sample_cell_paths, sample_path, train_supernet

pytestmark = pytest.mark.bundle   # CIFAR images or the bundle's own files (see conftest)


@pytest.fixture(scope="module")
def images(data_dir):
    return load_images("cifar10", data_dir=data_dir)


def smoke(mode, **kw):
    return preset_config(mode, "smoke", image_source="test", **kw)


def data_for(images, cfg):
    return SearchData.from_images(images, num_classes=10, seed=cfg.seed, limit=cfg.limit,
                                  random_labels=cfg.mode == "rlnas")


def states_equal(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_augment_is_a_batched_copy_of_the_per_image_transform():
    x = torch.randn(9, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    got = augment(x, torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)
    dx, dy = torch.randint(0, 9, (9,), generator=g), torch.randint(0, 9, (9,), generator=g)
    flip = torch.rand(9, generator=g) < 0.5
    padded = F.pad(x, (4, 4, 4, 4))
    for i in range(9):
        ref = padded[i, :, dy[i]:dy[i] + 32, dx[i]:dx[i] + 32]
        assert torch.equal(got[i], ref.flip(-1) if flip[i] else ref)


def test_one_hot_weights_equal_the_single_path():
    torch.manual_seed(0)
    net = Supernet(C=4, N=1)
    x = torch.randn(4, 3, 32, 32)
    arch = nb201.all_archs()[123]
    path = arch_to_path(arch)
    w = F.one_hot(torch.tensor(path), 5).float()
    torch.testing.assert_close(net(x, weights=w), net(x, path=path))
    assert path_to_arch(path) == arch
    with pytest.raises(ValueError):
        net(x, weights=w, path=path)


def test_log_score_is_highest_for_the_argmax_cell():
    imp = torch.softmax(torch.randn(6, 5, generator=torch.Generator().manual_seed(1)), -1)
    archs = nb201.all_archs()
    scores = np.array(log_score(imp, archs))
    assert archs[int(scores.argmax())] == argmax_arch(imp)


def test_search_data_split_labels_and_ranks(images):
    d = SearchData.from_images(images, num_classes=10, seed=0, limit=200)
    assert len(d.x["weights"]) == len(d.x["arch"]) == 100
    assert torch.equal(d.y["weights"], torch.as_tensor(images.y_train[:100]))
    r1 = SearchData.from_images(images, num_classes=10, seed=0, limit=200, random_labels=True)
    r2 = SearchData.from_images(images, num_classes=10, seed=1, limit=200, random_labels=True)
    assert torch.equal(r1.y["weights"], SearchData.from_images(images, num_classes=10, seed=0, limit=200,
                                                                random_labels=True).y["weights"])
    assert not torch.equal(r1.y["weights"], r2.y["weights"])
    full = [y for _, y in d.batches("weights", 20, seed=0, epoch=3, train=False)]
    halves = [[y for _, y in d.batches("weights", 20, seed=0, epoch=3, train=False, rank=r, world=2)] for r in (0, 1)]
    for step, y in enumerate(full):  # the two DDP ranks split every global batch between them
        assert sorted(halves[0][step].tolist() + halves[1][step].tolist()) == sorted(y.tolist())


def test_sample_path_holds_the_fixed_edge():
    g = torch.Generator().manual_seed(0)
    paths = [sample_path(g, (2, 4)) for _ in range(50)]
    assert all(p[2] == 4 for p in paths) and len({tuple(p) for p in paths}) > 10


def test_each_cell_draws_its_own_path_and_rlnas_never_an_all_none_node():
    g = torch.Generator().manual_seed(0)
    steps = [sample_cell_paths(g, 15, avoid_all_none=True) for _ in range(40)]
    assert all(len(step) == 15 and len({tuple(p) for p in step}) > 10 for step in steps)   # cells differ
    node_edges = ((0,), (1, 2), (3, 4, 5))   # incoming edges of nodes 1, 2, 3 in EDGES order
    assert all(any(p[e] != 0 for e in edges) for step in steps for p in step for edges in node_edges)
    plain = [p for _ in range(40) for p in sample_cell_paths(g, 15)]   # few-shot-NAS: no redraw
    assert any(all(p[e] == 0 for e in edges) for p in plain for edges in node_edges)
    fixed = sample_cell_paths(g, 15, fixed_edge=(0, 0), avoid_all_none=True)   # node 1 fixed to none
    assert all(p[0] == 0 for p in fixed)


def test_per_cell_paths_equal_the_shared_path_when_all_cells_agree():
    torch.manual_seed(0)
    net = Supernet(C=4, N=1)
    x = torch.randn(2, 3, 32, 32)
    path = arch_to_path(nb201.all_archs()[77])
    torch.testing.assert_close(net(x, path=[list(path)] * 3), net(x, path=path))
    with pytest.raises(ValueError, match="cell paths"):
        net(x, path=[list(path)] * 2)


def test_it_trains_jointly_by_default_and_bilevel_on_request(images, monkeypatch, tmp_path):
    """IT-NAS's two readings: `joint` steps the transformer on the weight batch; `bilevel` on the
    architecture half, as DARTS steps alpha. Each has its own checkpoint."""
    splits = []
    real = SearchData.batches

    def spy(self, split, *a, **k):
        splits.append(split)
        return real(self, split, *a, **k)

    monkeypatch.setattr(SearchData, "batches", spy)
    seen = {}
    for it_train in ("joint", "bilevel"):
        splits.clear()
        cfg = smoke("it", it_train=it_train)
        net = train_supernet(cfg, data_for(images, cfg), root=tmp_path)
        seen[it_train] = (set(splits), cfg.key(), [p.detach().clone() for p in net.indicator.parameters()])
    assert seen["joint"][0] == {"weights"} and seen["bilevel"][0] == {"weights", "arch"}
    assert seen["joint"][1] != seen["bilevel"][1]
    assert smoke("spos").key() == smoke("spos", it_train="bilevel").key()   # only IT reads it
    assert any(not torch.equal(a, b) for a, b in zip(seen["joint"][2], seen["bilevel"][2]))
    with pytest.raises(ConfigError, match="it_train"):
        smoke("it", it_train="alternating")


def test_shared_sampling_is_a_named_option_with_its_own_checkpoint():
    per_cell, shared = smoke("rlnas"), smoke("rlnas", path_sampling="shared")
    assert per_cell.path_sampling == "per_cell" and per_cell.key() != shared.key()
    with pytest.raises(ConfigError, match="path_sampling"):
        smoke("spos", path_sampling="per_edge")


def test_training_is_deterministic_and_checkpoints_are_reused(images, tmp_path):
    cfg = smoke("spos")
    a = train_supernet(cfg, data_for(images, cfg), root=tmp_path / "a")
    b = train_supernet(cfg, data_for(images, cfg), root=tmp_path / "b")
    assert states_equal(a.model.state_dict(), b.model.state_dict())
    assert not a.loaded and len(a.history) == cfg.epochs
    again = train_supernet(cfg, data_for(images, cfg), root=tmp_path / "a")
    assert again.loaded and again.history == a.history
    assert states_equal(a.model.state_dict(), again.model.state_dict())
    other = train_supernet(dataclasses.replace(cfg, seed=1), data_for(images, cfg), root=tmp_path / "a")
    assert not states_equal(a.model.state_dict(), other.model.state_dict())


@pytest.mark.parametrize("mode", ["darts", "it"])
def test_interrupted_training_resumes_to_the_same_weights(images, tmp_path, mode):
    cfg = smoke(mode)
    whole = train_supernet(cfg, data_for(images, cfg), root=tmp_path / "whole")

    def stop(epoch):
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_supernet(cfg, data_for(images, cfg), root=tmp_path / "cut", on_epoch_end=stop)
    resumed = train_supernet(cfg, data_for(images, cfg), root=tmp_path / "cut")
    assert not resumed.loaded and [r["epoch"] for r in resumed.history] == [1, 2]
    assert states_equal(whole.model.state_dict(), resumed.model.state_dict())
    if mode == "darts":
        assert torch.equal(whole.alpha, resumed.alpha)
    else:
        assert states_equal(whole.indicator.state_dict(), resumed.indicator.state_dict())


def test_second_order_alpha_gradient_matches_exact_unrolled_gradient():
    """DARTS-V2's finite-difference gradient against autograd through the virtual step (float64).
    ReLUs are swapped for Softplus here: the central difference assumes a smooth loss, and ReLU
    kinks make any finite difference (ours or DARTS's) differ from the exact Hessian product."""
    cfg = preset_config("darts", "smoke", C=2, wd=0.0, second_order=True)
    net = _build(cfg, torch.device("cpu"))
    net.model.double()
    for m in list(net.model.modules()):
        for name, child in m.named_children():
            if isinstance(child, torch.nn.ReLU):
                setattr(m, name, torch.nn.Softplus())
    net.alpha = net.alpha.detach().double().requires_grad_(True)
    g = torch.Generator().manual_seed(0)
    xw, xa = torch.randn(4, 3, 32, 32, generator=g).double(), torch.randn(4, 3, 32, 32, generator=g).double()
    yw, ya = torch.randint(0, 10, (4,), generator=g), torch.randint(0, 10, (4,), generator=g)
    lr = 0.1
    w_opt = torch.optim.SGD(net.model.parameters(), lr=lr, momentum=0.9)
    _unrolled_alpha_grad(net, xw, yw, xa, ya, lr, w_opt)
    approx = net.alpha.grad.clone()

    from torch.func import functional_call
    names = [n for n, _ in net.model.named_parameters()]
    params = [p.detach() for _, p in net.model.named_parameters()]
    alpha = net.alpha.detach().clone().requires_grad_(True)

    def loss(ps, x, y):
        return F.cross_entropy(functional_call(net.model, dict(zip(names, ps)), (x,),
                                               {"weights": torch.softmax(alpha, -1)}), y)

    ps = [p.clone().requires_grad_(True) for p in params]
    grads = torch.autograd.grad(loss(ps, xw, yw), ps, create_graph=True, allow_unused=True)
    unrolled = [p - lr * (gp if gp is not None else 0) for p, gp in zip(ps, grads)]
    exact = torch.autograd.grad(loss(unrolled, xa, ya), alpha)[0]
    torch.testing.assert_close(approx, exact, rtol=1e-4, atol=1e-6)


def test_bf16_autocast_and_channels_last_paths_run_on_cpu(images, tmp_path):
    """The CUDA defaults (amp, channels_last) are separate keys and train to finite losses on CPU."""
    cfg = smoke("darts", amp=True, channels_last=True)
    assert cfg.key() != smoke("darts").key()
    net = train_supernet(cfg, data_for(images, cfg), root=tmp_path)
    assert all(np.isfinite(r["train_loss"]) for r in net.history)
    assert net.model.stem[0].weight.is_contiguous(memory_format=torch.channels_last)


def test_bad_settings_are_one_line_errors():
    with pytest.raises(ConfigError, match="preset"):
        preset_config("darts", "huge")
    with pytest.raises(ConfigError, match="mode"):
        preset_config("enas", "cpu")
    with pytest.raises(ConfigError, match="second_order"):
        preset_config("spos", "cpu", second_order=True)
    with pytest.raises(ConfigError, match="unknown supernet setting"):
        preset_config("spos", "cpu", lr_max=1.0)


def _ddp_worker(rank, world, root, port, out):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        images = load_images("cifar10")
        cfg = smoke("spos")
        net = train_supernet(cfg, data_for(images, cfg), root=root)
        torch.save(net.model.state_dict(), f"{out}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_ddp_two_cpu_ranks_train_one_model(tmp_path):
    """torchrun/DDP path on the gloo backend: both ranks end with the same weights, rank 0 saves."""
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_ddp_worker, args=(2, str(tmp_path / "ck"), port, str(tmp_path)), nprocs=2, join=True)
    a, b = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert states_equal(a, b)
    saved = list((tmp_path / "ck").glob("*/state.pt"))
    assert len(saved) == 1
    assert torch.load(saved[0], weights_only=True)["world_size"] == 2


def test_progress_shows_running_loss_and_accuracy(images, tmp_path, capsys, monkeypatch):
    from benchsuite.progress import Progress

    monkeypatch.setattr(Progress, "log_delay_s", 0.0)   # the smoke run ends before the usual first line
    cfg = smoke("spos")
    train_supernet(cfg, data_for(images, cfg), root=tmp_path)
    err = capsys.readouterr().err
    assert f"supernet {cfg.key()}" in err and "loss " in err and "acc " in err
