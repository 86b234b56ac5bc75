"""Zero-cost proxies as selectors: synflow, snip, grasp, fisher, grad_norm, jacov, naswot, zico.

Each selector computes only its own proxy; with ``share=True`` it computes all eight from the
shared passes of ``measures.compute`` and caches them, so running the other seven later is
served from the cache. Isomorphic cells (same canonical form) are computed once, on the
canonical representative, so their scores are equal and independent of what else is scored.
``network="reference"`` (default) scores NB201 cells on the network zero-cost-nas builds (see
``spaces/nb201_net``), ``"benchmark"`` on the trained one. ``cell_batch`` cells share one packed
pass (``packed``; default 16 on CUDA, 1 on CPU).

Synflow alone (``share=False``) reads no image: like zero-cost-nas it feeds an all-ones input of
the images' shape, so it runs with no images anywhere and its cache entry does not name any.
Every other proxy, and ``share=True``, reads a seeded image batch, which ``preflight`` loads before
the run folder is made.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...data.images import IMAGE_SHAPE, NUM_CLASSES, PAD_DEVIATION, load_images, proxy_batch
from ...hparams import Choice, Interval, Rule
from ...spaces import get_space
from ..base import Context, Selector
from ..registry import SELECTORS
from .cache import ProxyCache, score_with_cache

# Which image set stands in for each benchmark dataset (ImageNet16-120 images are not bundled:
# its cells are scored on CIFAR-100 images with 120 output classes).
_IMAGES = {"cifar10": "cifar10", "cifar10-valid": "cifar10", "cifar100": "cifar100", "imagenet16": "cifar100"}
_CLASSES = {"cifar10": 10, "cifar10-valid": 10, "cifar100": 100, "imagenet16": 120}


def load_batch(ctx: Context, batch_size: int, seed: int, cifar_dir: str | None, *, train_transform: bool = True):
    """The seeded image batch standing in for ``ctx.dataset``: (images, labels, image source)."""
    images = load_images(_IMAGES[ctx.dataset], data_dir=ctx.data_dir, cifar_dir=cifar_dir)
    x, y = proxy_batch(images, batch_size, seed, train_transform=train_transform)
    return x, y, images.source


NETWORKS = ("reference", "benchmark")
# The eight on NB-101 (the newer proxies state their own NB-101 settings).
NB101_DEVIATION = ("NB-101 cells are scored on benchsuite's network at PyTorch's default initialisation with the "
                   "same batch as NB-201; zero-cost-nas's nasbench1_pred.py scores its nasbench1.Network, which "
                   "initialises itself (nasbench1.py:93-106), with batch 256 (nasbench1_pred.py:40)")


# Which ReLUs naswot's kernel counts. "all": BayesWatch's score_networks.py counts a ReLU once a
# backward pass has reached it, and NB-201's `none` is x.mul(0.), which keeps a dead branch in the
# graph, so every ReLU counts. "live": only ReLUs on a path to the output (a dead edge, see
# nb201_net.live_edges, is left out), so a cell's score does not depend on convs that cannot act.
NASWOT_RELUS = ("all", "live")
# The constraints the proxies share (benchsuite.hparams): sizes, the network and the image folder.
POSITIVE = Interval(int, 1, None)
PROXY_CONSTRAINTS = {"batch_size": POSITIVE, "share": bool, "C": [POSITIVE, None], "N": [POSITIVE, None],
                     "network": Choice(*NETWORKS), "cell_batch": [POSITIVE, None], "cifar_dir": [str, None]}


def own_batch(name: str, why: str) -> Rule:
    """share=true refused: the selector reads its own inputs, and the eight would be computed (and
    cached) on them instead of the seeded batch."""
    return Rule(("share",), lambda share: not share, f"{name} reads its own {why}; it cannot share the other proxies' "
                "seeded batch ({share}=true)")


def _network_kwargs(space: str, C: int | None, N: int | None, network: str = "benchmark") -> dict:
    """Width/depth overrides: NB201 init channels C and cells per stage N; NB101 stem channels and
    cells per stack. None keeps each benchmark's own network (the one its table was trained with).
    ``network="reference"`` on NB201 scores zero-cost-nas's variant of it (see ``nb201_net``); NB101
    has one network. The key is added only when it changes the network, so caches stay valid."""
    names = {"nb201": ("C", "N"), "nb101": ("stem_channels", "cells_per_stack")}[space]
    kw = {k: v for k, v in zip(names, (C, N)) if v is not None}
    if space == "nb201" and network == "reference":
        kw["style"] = "zero-cost-nas"
    return kw


class ZeroCostSelector(Selector):
    proxy = ""
    inputs = frozenset({"images"})   # every proxy but the image-free ones (extra.image_free) reads a batch
    relus = "all"   # the ReLUs naswot counts: NaswotSelector's hyperparameter; the shared passes
                    # compute naswot for the other proxies too, always the reference's way
    deviations = (PAD_DEVIATION, NB101_DEVIATION)   # synflow, which reads no image, keeps the second
    fast_hparams = {"C": 4, "N": 1, "batch_size": 8}
    hparam_constraints = PROXY_CONSTRAINTS

    def __init__(self, *, seed: int = 0, device: str = "cpu", batch_size: int = 64, share: bool = False,
                 C: int | None = None, N: int | None = None, network: str = "reference",
                 cell_batch: int | None = None, cifar_dir: str | None = None) -> None:
        super().__init__(seed=seed)
        self.cell_batch = cell_batch
        self.network = network
        self.device = device
        self.batch_size = batch_size
        self.share = share
        self.C, self.N = C, N
        self.cifar_dir = cifar_dir
        self._batch: tuple | None = None   # (x, y, source), loaded once per image set
        self._batch_of: str | None = None  # the image set it was drawn from
        self._images: tuple[str, str] | None = None   # (image set, source) the scores were computed on

    @property
    def score_chunk(self) -> int:
        """One cell per call on CPU (progress per cell); a packed pass's worth on CUDA."""
        return self._chunk()

    def _chunk(self) -> int:
        """Cells per pass: packing is for a GPU, which one small network leaves mostly idle; on
        this 2-core CPU it measured slower than one cell at a time (perf_proxies --pack)."""
        if self.cell_batch is not None:
            return self.cell_batch
        return 16 if str(self.device).startswith("cuda") else 1

    def _images_drawn(self) -> int:
        """Images in the one seeded batch every proxy is computed on."""
        return self.batch_size

    def _names(self) -> set[str]:
        from .measures import PROXIES

        return {self.proxy, *PROXIES} if self.share else {self.proxy}

    def measure_params(self) -> dict:
        """A measure's own settings (hyperparameters beyond the shared ones), handed to it as
        ``MeasureInput.params`` and keyed in the cache."""
        return {}

    def _extra_versions(self) -> dict[str, int]:
        from .extra import TABLE

        return {n: TABLE[n].version for n in sorted(self._names()) if n in TABLE}

    def reads_images(self) -> bool:
        """Whether any proxy computed needs the image batch: all but synflow and the image-free
        measures of ``extra`` do, and share=True computes the eight."""
        from .extra import image_free

        return bool(self._names() - image_free())

    def preflight(self, ctx: Context) -> None:
        """Load the image batch now (or fail naming what is missing), kept for ``score``."""
        if self.reads_images():
            self._image_batch(ctx)

    def _image_batch(self, ctx: Context) -> tuple:
        """The seeded batch of ``ctx.dataset``'s image set: (images, labels, image source)."""
        name = _IMAGES[ctx.dataset]
        if self._batch is None or self._batch_of != name:
            self._batch, self._batch_of = load_batch(ctx, self._images_drawn(), self.seed, self.cifar_dir), name
        return self._batch

    def score(self, archs: Sequence[str], ctx: Context) -> np.ndarray:
        from .measures import VERSION, compute

        space = get_space(ctx.space)
        net_kw = _network_kwargs(ctx.space, self.C, self.N, self.network)
        key = {"seed": self.seed, "classes": _CLASSES[ctx.dataset], "net": net_kw, "version": VERSION}
        extras = self._extra_versions()
        if extras:   # keyed only where an extra measure is computed, so the eight's caches stay valid
            key["measures"] = extras
            if self.measure_params():
                key["params"] = self.measure_params()
        if self.reads_images():
            x, y, source = self._image_batch(ctx)
            y = y % _CLASSES[ctx.dataset] if _CLASSES[ctx.dataset] < NUM_CLASSES[_IMAGES[ctx.dataset]] else y
            key.update(batch=self._images_drawn(), images=source)
            self._images = (_IMAGES[ctx.dataset], source)
        else:   # synflow (or a measure reading no image): its value depends on the input's shape only
            x = y = None
            key["input"] = list(IMAGE_SHAPE)
            if extras:   # a measure that makes its own input batch: its size keys the value
                key["batch"] = self._images_drawn()
        if self.relus != "all":  # keyed only when it changes a value, so caches stay valid
            key["naswot_relus"] = self.relus
        cache = ProxyCache.open(ctx.space, key, root=ctx.cache_dir)
        names = self._names()

        def builder(rep: str):
            def build(bn: bool) -> object:
                return space.build_network(rep, num_classes=_CLASSES[ctx.dataset], bn=bn, **net_kw)

            return build

        def compute_cell(rep: str) -> dict[str, float]:
            return compute(builder(rep), x, y, names, seed=self.seed, device=self.device,
                           naswot_relus=self.relus, shape=IMAGE_SHAPE, batch_size=self._images_drawn(),
                           params=self.measure_params())

        def compute_cells(reps: list[str]) -> list[dict[str, float]]:
            from .packed import compute_packed

            return compute_packed([builder(r) for r in reps], x, y, names, seed=self.seed, device=self.device,
                                  naswot_relus=self.relus, shape=IMAGE_SHAPE)

        # NB101 cells differ in depth and width: one network at a time; the extra measures too
        packed = ctx.space == "nb201" and not extras
        before = (cache.hits, cache.misses)
        out = score_with_cache(archs, ctx, cache, self.proxy, compute_cell,
                               compute_cells=compute_cells if packed else None, chunk=self._chunk())
        hits, misses = getattr(self, "cache_stats", (0, 0))
        self.cache_stats = (hits + cache.hits - before[0], misses + cache.misses - before[1])
        return out

    def report(self) -> dict:
        """The images every score was computed on (run.json records which, and their checksums), or
        that synflow alone read none."""
        if not hasattr(self, "cache_stats"):
            return {}
        from ...data.images import source_checksums

        out: dict = {"proxies_computed": sorted(self._names()),
                     "proxy_cache": {"hits": self.cache_stats[0], "misses": self.cache_stats[1]}}
        if self._images is None:
            shape = "x".join(map(str, IMAGE_SHAPE))
            what = f"all-ones {shape}" if self._names() == {"synflow"} else f"inputs of shape {shape} made by the proxy"
            return {"input": f"{what} (no images read)", **out}
        name, source = self._images
        return {"images": source, "images_checksums": source_checksums(name, source), **out}


def _make(proxy: str, doc: str, deviations: tuple[str, ...] = (PAD_DEVIATION, NB101_DEVIATION),
          inputs: frozenset[str] = frozenset({"images"})) -> type:
    cls = type(f"{proxy.title().replace('_', '')}Selector", (ZeroCostSelector,),
               {"name": proxy, "proxy": proxy, "__doc__": doc, "__module__": __name__, "deviations": deviations,
                "inputs": inputs})
    cls.__qualname__ = cls.__name__
    return SELECTORS.register(proxy)(cls)


SynflowSelector = _make("synflow", "Synaptic flow (Tanaka et al. 2020) at initialisation, as in zero-cost-nas.",
                        deviations=(NB101_DEVIATION,), inputs=frozenset())
SnipSelector = _make("snip", "SNIP saliency Σ|w·∂L/∂w| (Lee et al. 2019).")
GraspSelector = _make("grasp", "GraSP Σ −w·Hg (Wang et al. 2020).")
FisherSelector = _make("fisher", "Fisher channel saliency (Turner et al. 2020), summed over weights.")
GradNormSelector = _make("grad_norm", "Σ over layers of the L2 norm of the weight gradient.")
JacovSelector = _make("jacov", "Jacobian covariance score (Mellor et al. 2021 v1).")


@SELECTORS.register("naswot")
class NaswotSelector(ZeroCostSelector):
    """NASWOT log|det K| of ReLU binary codes (Mellor et al. 2021).

    ``relus="all"`` (default) counts the ReLUs BayesWatch's ``score_networks.py`` counts: every one
    a backward pass reached, which on NB-201 (``none`` = ``x.mul(0.)``) is every ReLU, also those of
    a conv on a branch that cannot reach the output. ``relus="live"`` leaves those out (NB-201 cells'
    dead edges, ``nb201_net.live_edges``), so such a conv no longer changes the score; NB-101 cells
    are pruned of dead vertices, so there the two are the same."""

    name = proxy = "naswot"
    hparam_constraints = {"relus": Choice(*NASWOT_RELUS)}

    def __init__(self, *, seed: int = 0, device: str = "cpu", batch_size: int = 64, relus: str = "all",
                 share: bool = False, C: int | None = None, N: int | None = None, network: str = "reference",
                 cell_batch: int | None = None, cifar_dir: str | None = None) -> None:
        super().__init__(seed=seed, device=device, batch_size=batch_size, share=share, C=C, N=N, network=network,
                         cell_batch=cell_batch, cifar_dir=cifar_dir)
        self.relus = relus

    @property
    def deviations(self) -> tuple[str, ...]:
        if self.relus == "all":
            return (PAD_DEVIATION, NB101_DEVIATION)
        return (PAD_DEVIATION, NB101_DEVIATION,
                "relus=live: the kernel leaves out the ReLUs of ops on NB-201 edges that cannot reach the cell "
                "output; BayesWatch's score_networks.py counts every ReLU a backward pass reached, which with "
                "none = x.mul(0.) is all of them (--hp relus=all)")


ZICO_BATCHES = ("halves", "loader")


@SELECTORS.register("zico")
class ZicoSelector(ZeroCostSelector):
    """ZiCo Σ log Σ mean|g|/std(g) across two gradient samples (Li et al. 2023).

    ``batches="halves"`` (default; the tables were measured so) takes the two samples from the
    halves of one seeded batch of ``batch_size`` images. ``batches="loader"`` is SLDGroup/ZiCo's
    scheme: ``evolution_search.py`` keeps ``--maxbatch`` (default 2) successive training-loader
    batches of ``--batch_size`` images each and ``getzico`` takes one gradient per batch, so two
    samples of ``batch_size`` images: here one seeded draw of 2 × ``batch_size`` images, split in
    two (the same computation as ``halves`` at twice the batch size, and the same cache entry)."""

    name = proxy = "zico"
    hparam_constraints = {"batches": Choice(*ZICO_BATCHES)}
    hparam_rules = (Rule(("batches", "share"), lambda batches, share: not (batches == "loader" and share),
                         "{batches}=loader draws twice the images; it cannot share one batch with the other proxies "
                         "({share}=true)"),)

    def __init__(self, *, seed: int = 0, device: str = "cpu", batch_size: int = 64, batches: str = "halves",
                 share: bool = False, C: int | None = None, N: int | None = None, network: str = "reference",
                 cell_batch: int | None = None, cifar_dir: str | None = None) -> None:
        super().__init__(seed=seed, device=device, batch_size=batch_size, share=share, C=C, N=N, network=network,
                         cell_batch=cell_batch, cifar_dir=cifar_dir)
        self.batches = batches

    def _images_drawn(self) -> int:
        return 2 * self.batch_size if self.batches == "loader" else self.batch_size

    @property
    def deviations(self) -> tuple[str, ...]:
        if self.batches == "loader":
            return (PAD_DEVIATION, NB101_DEVIATION)
        return (PAD_DEVIATION, NB101_DEVIATION,
                "the two gradient samples are the halves of one seeded batch of batch_size images; "
                "SLDGroup/ZiCo's getzico takes two successive loader batches of batch_size images each "
                "(--hp batches=loader)")
