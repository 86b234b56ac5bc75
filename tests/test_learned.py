"""Learned selectors: the encodings they share (golden against the references' own), CTNAS's
comparator and controller grammar, NAO's and TNAO's decoders, and the search they run."""
import numpy as np
import pytest
import torch

from benchsuite import get_selector
from benchsuite.selectors.base import Context
from benchsuite.selectors.learned.common import allowed_tokens, graph_batch
from benchsuite.selectors.learned.ctnas import _nac_module
from benchsuite.selectors.learned.ctnas_controller import GRAMMARS, controller_module
from benchsuite.selectors.search.domain import Domain
from benchsuite.selectors.search.oracle import Oracle
from benchsuite.spaces import get_space, nb101, nb201


def test_nb201_graph_is_naslibs_node_op_dag():
    # NASLib's 8-node form of an NB201 cell (input, the six edges' ops, output).
    expected = [[0, 1, 1, 0, 1, 0, 0, 0], [0, 0, 0, 1, 0, 1, 0, 0], [0, 0, 0, 0, 0, 0, 1, 0],
                [0, 0, 0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0, 1],
                [0, 0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0, 0]]
    adj, ops = nb201.to_graph("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|none~2|")
    assert adj.tolist() == expected and ops == [1, 5, 2, 3, 6, 4, 2, 7]


def test_nb101_sequence_is_seminas_layout():
    # SemiNAS convert_arch_to_seq on a 5-node cell: per column j the edge bits (+1) then the op token,
    # columns after the output all zero.
    m = [[0, 1, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 1, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]]
    ops = ["input", "conv1x1-bn-relu", "conv3x3-bn-relu", "maxpool3x3", "output"]
    arch = nb101.make_cell(m, ops).to_string()
    assert nb101.to_sequence(arch) == [2, 3, 2, 1, 4, 1, 2, 2, 5, 1, 1, 2, 2, 6] + [0] * 13
    assert nb101.from_sequence(nb101.to_sequence(arch)) == arch
    adj, labels = nb101.to_graph(arch)
    assert adj[:5, :5].tolist() == m and not adj[5:].any() and labels == [1, 3, 2, 4, 5, 0, 0]


def test_graph_conv_sums_predecessors_as_ctnas():
    """One layer is X' = (A^T + I)(X W) + X + b with A[from, to]: a node gathers its inputs."""
    torch.manual_seed(0)
    nac = _nac_module(nb201.GRAPH_VOCAB, 8, 2)
    adj, ops = graph_batch("nb201", [nb201.all_archs()[7]])
    layer = nac.gcn[0]
    x = torch.randn(1, 8, 8)
    a = torch.from_numpy(nb201.GRAPH_ADJACENCY.astype(np.float32))
    want = (a.T + torch.eye(8)) @ (x[0] @ layer.weight) + x[0] + layer.bias
    torch.testing.assert_close(layer(x, adj)[0], want)


def _labelled(bench, space_key, n, seed=0):
    pool = bench.archs(*space_key)
    idx = np.random.default_rng(seed).permutation(len(pool))
    return pool, idx, dict(zip([pool[i] for i in idx[:n]], bench.accuracy([pool[i] for i in idx[:n]], *space_key)))


@pytest.mark.slow
def test_trained_comparator_is_consistent_and_orders_clear_cases(request):
    bench = request.getfixturevalue("nb201")
    pool, idx, labelled = _labelled(bench, ("cifar10-valid", 200, "valid"), 100)
    sel = get_selector("ctnas", seed=0, nac_epochs=150, embedding_dim=64, pl_iters=1, derive_every=1, n_derive=2,
                       pseudo_every=1)
    sel._ensure_fit(Context(space="nb201", dataset="cifar10", seed=0, labelled=labelled))   # seeded, as the runner fits
    held = [pool[i] for i in idx[100:2100]]   # 1,000 held-out pairs: the share ordered right has SE ~0.015
    a, b = held[:1000], held[1000:]
    p_ab, p_ba = sel._prob(a, b), sel._prob(b, a)
    assert np.mean(np.abs(p_ab + p_ba - 1)) < 0.1
    acc = dict(zip(held, bench.accuracy(held, "cifar10-valid", 200, "valid")))
    right = np.mean([(p > 0.5) == (acc[x] > acc[y]) for p, x, y in zip(p_ab, a, b)])
    assert right > 0.62   # a coin is 0.5; this small comparator (150 epochs, 100 labels) orders ~0.7
    best = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
    worst = "|avg_pool_3x3~0|+|none~0|none~1|+|none~0|none~1|avg_pool_3x3~2|"
    assert sel._prob([best], [worst])[0] > 0.9 and sel._prob([worst], [best])[0] < 0.1


def test_nb101_controller_grammar_always_yields_valid_cells():
    g = GRAMMARS["nb101"]()
    torch.manual_seed(0)
    ctrl = controller_module(g, 16)
    seqs = ctrl.sample(300) + ctrl.sample(300, uniform=True)
    cells = [g.to_arch(s) for s in seqs]
    assert all(nb101.parse_cell(c) for c in cells) and len(set(cells)) > 100
    # CTNAS's seq2arch: n=2 hidden nodes; node1 <- 0 (conv1x1), node2 <- 1 (maxpool); output <- 2;
    # then 9-2-1 = 6 extra edge pairs, (0, 3) an edge and equal pairs none.
    tokens = [1, 0, 1, 1, 2, 2, 0, 3, 1, 1, 2, 2, 0, 0, 3, 3]
    cell = nb101.parse_cell(g.to_arch(tokens))
    assert cell.ops == ("input", "conv1x1-bn-relu", "maxpool3x3", "output")
    assert cell.array.tolist() == [[0, 1, 0, 1], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]]
    # Batched sampling follows the grammar for every cell, with its log-probability when trained.
    tok, logp, ent = ctrl()
    assert g.next(tok) is None and logp.requires_grad and float(ent.detach()) > 0


@pytest.mark.parametrize("space", ["nb201", "nb101"])
def test_decoders_always_yield_valid_cells(space):
    """Untrained NAO and TNAO decoders, fed random embeddings, emit only allowed tokens and every
    decoded sequence is a valid cell (SemiNAS would discard many NB-101 ones as invalid)."""
    from benchsuite.selectors.learned.nao import _nao_module
    from benchsuite.selectors.learned.tnao import _tnao_module

    mod = get_space(space)
    allowed = allowed_tokens(space)
    torch.manual_seed(0)
    models = [_nao_module(mod.SEQ_VOCAB, mod.SEQ_LENGTH, 16, 8, 0.1, allowed).eval(),
              _tnao_module(mod.SEQ_VOCAB, mod.SEQ_LENGTH, 16, 2, 1, allowed).eval()]
    emb = torch.nn.functional.normalize(torch.randn(200, 16), dim=-1)
    with torch.no_grad():
        outs = [models[0].decode(emb.unsqueeze(1).expand(-1, mod.SEQ_LENGTH, -1).contiguous(), emb),
                models[1].decode(emb)]
    for tokens in outs:
        rows = tokens.tolist()
        assert all(t in mod.seq_allowed(r[:p]) for r in rows for p, t in enumerate(r))
        assert all(mod.from_sequence(r) is not None for r in rows)
    if space == "nb101":   # the constraint still leaves every real cell's own sequence allowed
        from benchsuite.benchmarks.nb101 import NB101

        for arch in NB101().archs("cifar10"):
            seq = mod.to_sequence(arch)
            if 0 not in seq:   # a 7-node cell: written without padding
                assert all(t in mod.seq_allowed(seq[:p]) for p, t in enumerate(seq))


@pytest.mark.slow
@pytest.mark.parametrize("name, space", [("nao", "nb201"), ("nao", "nb101"), ("tnao", "nb201"), ("tnao", "nb101")])
def test_generated_cells_are_valid_new_and_covered(name, space, request):
    from benchsuite.benchmarks.nb101 import NB101

    bench = request.getfixturevalue("nb201") if space == "nb201" else NB101()
    key = bench.validation_column(bench.resolve("cifar10"))
    pool, _, labelled = _labelled(bench, key, 20, seed=1)
    valid = dict(zip(pool, bench.accuracy(pool, *key)))
    # Trained a little longer than fast_hparams: an untrained NB-101 decoder maps every embedding to
    # the same few (valid) cells, and the search then stops early for want of new ones.
    longer = {"epochs": 400, "max_step_size": 30, "new_arch": 20} if space == "nb101" and name == "nao" else {}
    sel = get_selector(name, seed=1, **{**get_selector(name).fast_hparams, **longer})
    oracle = Oracle(space, valid, budget=40)
    for a in labelled:
        oracle.query(a)
    sel.search(oracle, Context(space=space, dataset="cifar10", seed=1, labelled=dict(list(labelled.items())[:8])))
    queried = [a for a, _ in oracle.history]
    assert len(set(queried)) == len(queried) and oracle.used > 20
    mod = get_space(space)
    assert all(mod.canonical(a) for a in queried) and all(a in valid for a in queried)


@pytest.mark.slow
def test_nao_autoencoder_reconstructs_what_it_trained_on():
    cells = nb201.all_archs()[:40]
    labelled = {a: float(i) for i, a in enumerate(cells)}
    sel = get_selector("nao", seed=0, epochs=1000, hidden=32, mlp_hidden=8)
    sel._ensure_fit(Context(space="nb201", dataset="cifar10", seed=0, labelled=labelled))   # seeded, as the runner fits
    model = sel.model.eval()
    from benchsuite.selectors.learned.common import decode_cells, sequence_batch

    with torch.no_grad():
        out, emb, _ = model.encode(sequence_batch("nb201", cells))
        back = decode_cells("nb201", model.decode(out, emb))
    assert np.mean([a == b for a, b in zip(back, cells)]) > 0.9
    # The predictor learned the order it was given.
    s = sel.predict(cells, None)
    assert np.corrcoef(s, list(labelled.values()))[0, 1] > 0.9


def test_tnao_swarm_moves_losers_only_and_scores_by_remapping():
    cells = nb201.all_archs()[:30]
    labelled = {a: float(sum(nb201.flat_code(a))) for a in cells}
    sel = get_selector("tnao", seed=0, **{**get_selector("tnao").fast_hparams, "epochs": 5})
    sel._ensure_fit(Context(space="nb201", dataset="cifar10", seed=0, labelled=labelled))   # seeded, as the runner fits
    model = sel.model.eval()
    from benchsuite.selectors.learned.common import sequence_batch

    with torch.no_grad():
        x = model.encode(sequence_batch("nb201", cells[:4]))
    decoded, fit = sel._remap(model, x)
    with torch.no_grad():   # the remapping score is the predictor on the decoded cell's own encoding
        want = model.predict(model.encode(sequence_batch("nb201", decoded))).numpy()
    np.testing.assert_allclose(fit, want, rtol=1e-6)
    met = sel.swarm_search(model, labelled, np.random.default_rng(0))
    assert met and all(nb201.parse_arch(c) for c in met)


def test_domain_keeps_nb201_moves_inside_the_full_table():
    d = Domain("nb201", nb201.all_archs())
    assert d.full
    rng = np.random.default_rng(0)
    a = nb201.random_arch(rng)
    assert all(d.mutate(a, rng, "edge") != a for _ in range(20)) and d.projected == 0


@pytest.mark.parametrize("name, bars", [
    ("ctnas", {"ctnas comparator": "nac_epochs", "ctnas controller": "pl_iters"}),
    ("nao", {"nao train (8 cells)": "epochs"}),
    ("tnao", {"tnao train (8 labelled)": "epochs"}),
])
def test_training_shows_a_progress_bar_with_its_total(name, bars, capsys, monkeypatch):
    """A learned selector's training was minutes of silence: each phase now has a bar on stderr
    (epochs or steps, with their total), and stdout stays clean."""
    import re

    from benchsuite.progress import Progress

    monkeypatch.setattr(Progress, "log_delay_s", 0.0)   # the tiny run ends before a log's first line
    hp = get_selector(name).fast_hparams
    cells = nb201.all_archs()[:hp["labels"]]
    sel = get_selector(name, seed=0, **hp)
    sel._ensure_fit(Context(space="nb201", dataset="cifar10", seed=0,
                            labelled={a: float(i) for i, a in enumerate(cells)}))
    out, err = capsys.readouterr()
    assert out == ""
    for desc, key in bars.items():
        assert re.search(rf"{re.escape(desc)}: 100%\|.*\| {hp[key]}/{hp[key]} ", err), err


def _labelled_oracle(labels: int, *, budget: int):
    """An oracle over 64 NB-201 cells (valid = the cell's code sum) whose first ``labels`` cells
    are already queried, as the runner queries a learned selector's labelled cells first."""
    cells = nb201.all_archs()[:64]
    valid = {a: float(sum(nb201.flat_code(a))) for a in cells}
    oracle = Oracle("nb201", valid, budget=budget)
    labelled = dict(list(valid.items())[:labels])
    for a in labelled:
        oracle.query(a)
    return oracle, labelled


def test_learned_search_shows_its_queries(capsys, monkeypatch):
    from benchsuite.progress import Progress

    monkeypatch.setattr(Progress, "log_delay_s", 0.0)
    hp = get_selector("nao").fast_hparams
    oracle, labelled = _labelled_oracle(hp["labels"], budget=12)
    get_selector("nao", seed=0, **hp).search(oracle, Context(space="nb201", dataset="cifar10", seed=0,
                                                             labelled=labelled))
    out, err = capsys.readouterr()
    assert out == "" and "nao queries: 100%" in err and "| 12/12 " in err and oracle.used == 12


def test_tnao_searches_without_fine_tuning():
    """The default (finetune_epochs=0, training and search separated): the search goes on with the
    stage-1 model, round after round, until the budget is spent."""
    hp = get_selector("tnao").fast_hparams
    oracle, labelled = _labelled_oracle(hp["labels"], budget=16)
    sel = get_selector("tnao", seed=0, **hp)
    sel.search(oracle, Context(space="nb201", dataset="cifar10", seed=0, labelled=labelled))
    assert sel.finetune_epochs == 0 and oracle.used == 16
    assert len(sel.fit_report["rounds"]) == 1 and sel.fit_report["search_rounds"] == 2
