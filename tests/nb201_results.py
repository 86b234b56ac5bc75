"""NAS-Bench-201 results in the official state-dict layout (``ArchResults.state_dict()``), which both
the NB-201 ``.pth`` and NATS-Bench's topology files hold; the tests build their small files from it."""
import numpy as np
from nas_201_api import ArchResults, ResultsCount

from benchsuite.spaces import nb201 as space


def trial(name, seed, epochs, evals, params=0.1, latency=None):
    r = ResultsCount(name, None, {e: 50.0 for e in range(epochs)}, {e: 1.0 for e in range(epochs)},
                     params=params, flop=10.0, arch_config={"arch_str": "x"}, seed=seed, epochs=epochs,
                     latency=latency)
    accs, losses, times = {}, {}, {}
    for setname, acc in evals.items():
        for e in range(epochs):
            key = f"{setname}@{e}"
            accs[key], losses[key], times[key] = acc if e == epochs - 1 else 10.0, 1.0, 0.1
    r.update_eval(accs, losses, times)
    return r


def arch_results(index, epochs, base, numpy_scalars=False):
    """Two trials per dataset; with ``numpy_scalars`` params and latency are numpy float64, as in
    NATS-Bench's files (so a reader must unpickle numpy scalars)."""
    ar = ArchResults(index, space.all_archs()[index])
    params = np.float64(0.1 + index / 1000) if numpy_scalars else 0.1
    latency = [np.float64(0.01)] if numpy_scalars else None
    for seed, jitter in ((777, 0.0), (888, 1.0)):  # two trials: the table holds their mean
        ar.update("cifar10", seed, trial("cifar10", seed, epochs, {"ori-test": base + jitter}, params, latency))
        ar.update("cifar10-valid", seed, trial("cifar10-valid", seed, epochs,
                                                {"x-valid": base - 1 + jitter, "ori-test": base - 2 + jitter}))
        ar.update("cifar100", seed, trial("cifar100", seed, epochs, {"x-valid": base - 20, "x-test": base - 21}))
    return ar.state_dict()
