"""Every selector's presets, as data: each value with where it comes from.

``table(name)`` lists a selector's presets as (preset, key, value, source) rows (the docs are
generated from it); the selectors and ``supernet.config`` read their values through the other
functions here. A value a paper or reference repository fixes names that file (and line where
known); a value benchsuite chose for itself (the smoke and cpu presets, sized for tests and a
2-core CPU) says so.

Weight-sharing presets: ``smoke`` (seconds: tests only; numbers mean nothing), ``cpu`` (a small
supernet on the bundled CIFAR subset: minutes on 2 cores), ``paper`` (each method's published
NB-201 setting, full CIFAR; meant for a GPU).
"""
from __future__ import annotations

from typing import Any

Entry = tuple[Any, str]   # (value, source)

SMOKE = "benchsuite smoke preset: seconds, for tests (its numbers mean nothing)"
CPU = "benchsuite cpu preset: scaled down to minutes on 2 cores"
CPU_SUPERNET = "benchsuite cpu preset: a small supernet (C=8, N=1) on the bundled CIFAR subset"
NB201_NET = "each method's published NB-201 setting (C=16, N=5, full CIFAR)"
OURS = "benchsuite: the validation batches every cell or mask is measured on"

# --- rea ----------------------------------------------------------------------------------------
_NASLIB = "automl/NASLib naslib/defaults/nb201_defaults.yaml"
_AUTODL_REA = "D-X-Y/AutoDL-Projects scripts-search/algos/R-EA.sh"
_R_EA = "D-X-Y/AutoDL-Projects exps/algos/R_EA.py"
_ORACLE_FITNESS = ("benchsuite: the validation column beside the scored one, at the scored fidelity (NB-201 CIFAR-10: "
                   "cifar10-valid, 200 epochs)")
_TRIAL_MEAN = "benchsuite: the table's mean over trials (a noise-free oracle)"
_NB201_REA = {"population": (10, f"{_AUTODL_REA} `--ea_population 10`"),
              "sample_size": (3, f"{_AUTODL_REA} `--ea_sample_size 3`"),
              "mutation": ("node", f"{_R_EA} `mutate_arch_func` (a uniform node's uniform input edge)")}
REA: dict[str, dict[str, Entry]] = {
    "naslib": {"population": (30, f"{_NASLIB} `population_size: 30`"),
               "sample_size": (10, f"{_NASLIB} `sample_size: 10`"),
               "mutation": ("edge", "automl/NASLib naslib/search_spaces/nasbench201/graph.py `mutate` (a uniform "
                                    "edge)"),
               "fitness_epochs": (None, _ORACLE_FITNESS), "trial": ("mean", _TRIAL_MEAN)},
    "nb201": {**_NB201_REA, "fitness_epochs": (None, _ORACLE_FITNESS), "trial": ("mean", _TRIAL_MEAN)},
    # the NB-201 paper's protocol: R_EA.py's train_and_eval asks the API for the 12-epoch result
    # (hp="12") of cifar10-valid's validation set, one random trial (is_random=True)
    "nb201-paper": {**_NB201_REA,
                    "fitness_epochs": (12, f"{_R_EA} `train_and_eval`: `get_more_info(..., hp='12')`"),
                    "trial": ("random", f"{_R_EA} `train_and_eval`: `is_random=True`")},
}

# --- nao --------------------------------------------------------------------------------------
# seminas: SemiNAS's NB-101 code (the default); nao: NAO_pytorch's NAO_V1 search, where its values
# apply to a cell table (its encoder/decoder sizes for token pairs and its supernet do not).
_SEMINAS = "renqianluo/SemiNAS nasbench/train_seminas.py"
_NAO_V1 = "renqianluo/NAO_pytorch NAO_V1/train_search.py"
NAO: dict[str, dict[str, Entry]] = {
    "seminas": {"hidden": (64, f"{_SEMINAS} line 32 `--hidden_size 64`"),
                "mlp_layers": (2, f"{_SEMINAS} line 33 `--mlp_layers 2`"),
                "mlp_hidden": (16, f"{_SEMINAS} line 34 `--mlp_hidden_size 16`"),
                "predictor": ("residual", "renqianluo/SemiNAS nasbench/encoder.py line 44 `forward_predictor` (MLP "
                                          "back to the hidden size, residual x sqrt(0.5), linear output)"),
                "dropout": (0.1, f"{_SEMINAS} line 39 `--dropout 0.1`"),
                "max_step_size": (100, f"{_SEMINAS} line 42 `--max_step_size 100`")},
    "nao": {"hidden": (96, f"{_NAO_V1} lines 56, 61 `--controller_encoder_hidden_size 96`, "
                      "`--controller_decoder_hidden_size 96`"),
            "mlp_layers": (3, f"{_NAO_V1} line 58 `--controller_mlp_layers 3`"),
            "mlp_hidden": (200, f"{_NAO_V1} line 59 `--controller_mlp_hidden_size 200`"),
            "predictor": ("sigmoid", "renqianluo/NAO_pytorch NAO_V1/encoder.py lines 51-69 `Encoder.forward` "
                                     "(Linear-ReLU-Dropout layers, linear output, sigmoid); target min-max scaled: "
                                     f"{_NAO_V1} line 725 `encoder_target`"),
            "dropout": (0.1, f"{_NAO_V1} line 66 `--controller_mlp_dropout 0.1`"),
            "max_step_size": (50, f"{_NAO_V1} line 772 (`main`): `max_step_size = 50`")},
}

# --- supernet training, per training mode -----------------------------------------------------
MODES = ("darts", "it", "spos", "rlnas")
SUPERNET_PRESETS = ("smoke", "cpu", "paper")
_DARTS = "D-X-Y/AutoDL-Projects configs/nas-benchmark/algos/DARTS.config"
_DARTS_SH = "D-X-Y/AutoDL-Projects scripts-search/algos/DARTS-V1.sh"
_ONE_SHOT = "aoiang/few-shot-NAS Few-Shot_NasBench201/configs/nas-benchmark/algos/ONE-SHOT-SUPERNET.config"
_RLNAS = "megvii-model/RLNAS nas_bench_201/configs/nas-benchmark/algos/SPOS.config (what " \
         "scripts-search/algos/train_supernet.sh passes)"

_SMOKE_TRAIN: dict[str, Entry] = {k: (v, SMOKE) for k, v in
                                  {"C": 4, "N": 1, "limit": 128, "batch_size": 16, "epochs": 2, "steps_per_epoch": 2,
                                   "it_dim": 8}.items()}
_CPU_EPOCHS = "benchsuite cpu preset: 30 epochs for the bilevel modes, 100 for the cheap single-path ones " \
              "(about 5-7 minutes each on 2 cores)"
_DARTS_PAPER: dict[str, Entry] = {
    "C": (16, NB201_NET), "N": (5, NB201_NET),
    "epochs": (50, f"{_DARTS} (epochs 50)"), "batch_size": (64, f"{_DARTS} (batch 64)"),
    "wd": (5e-4, f"{_DARTS} (decay 5e-4)"), "nesterov": (True, f"{_DARTS} (Nesterov)"),
    "lr": (0.025, f"{_DARTS} (SGD 0.025, cosine)"), "lr_min": (0.001, f"{_DARTS} (cosine to 0.001)"),
    "momentum": (0.9, f"{_DARTS} (momentum 0.9)"),
    "grad_clip": (5.0, "D-X-Y/AutoDL-Projects exps/algos/DARTS-V1.py (clip 5)"),
    "arch_lr": (3e-4, f"{_DARTS_SH} --arch_learning_rate 0.0003"),
    "arch_wd": (1e-3, f"{_DARTS_SH} --arch_weight_decay 0.001"),
    "arch_beta1": (0.5, f"{_DARTS_SH} (Adam betas (0.5, 0.999))"),
}
TRAIN: dict[str, dict[str, dict[str, Entry]]] = {
    mode: {
        "smoke": _SMOKE_TRAIN,
        "cpu": {"C": (8, CPU_SUPERNET), "N": (1, CPU_SUPERNET), "batch_size": (64, CPU_SUPERNET),
                "epochs": (30 if mode in ("darts", "it") else 100, _CPU_EPOCHS)},
        "paper": _DARTS_PAPER,
    } for mode in ("darts", "it")
}
TRAIN["spos"] = {**TRAIN["darts"], "cpu": {**TRAIN["darts"]["cpu"], "epochs": (100, _CPU_EPOCHS)}, "paper": {
    "C": (16, NB201_NET), "N": (5, NB201_NET),
    "epochs": (600, f"{_ONE_SHOT} (epochs 600)"), "batch_size": (48, f"{_ONE_SHOT} (batch_size 48)"),
    "wd": (1e-4, f"{_ONE_SHOT} (decay 0.0001)"), "nesterov": (True, f"{_ONE_SHOT} (nesterov 1)"),
    "lr": (0.025, f"{_ONE_SHOT} (LR 0.025, cosine)"), "lr_min": (0.001, f"{_ONE_SHOT} (eta_min 0.001)"),
    "grad_clip": (0.0, "aoiang/few-shot-NAS exps/supernet/one-shot-supernet_train.py `train` steps without "
                       "clip_grad (0: none)"),
}}
TRAIN["rlnas"] = {**TRAIN["spos"], "paper": {
    "C": (16, NB201_NET), "N": (5, NB201_NET),
    "epochs": (250, f"{_RLNAS} (epochs 250)"), "batch_size": (64, f"{_RLNAS} (batch 64)"),
    "wd": (5e-4, f"{_RLNAS} (decay 0.0005)"), "nesterov": (True, f"{_RLNAS} (nesterov 1)"),
    "grad_clip": (0.0, "megvii-model/RLNAS exps/algos/rlnas_train_supernet.py `search_func` steps without "
                       "clip_grad (0: none)"),
}}

# --- what each weight-sharing selector adds to its mode's training ------------------------------
SUPERNET_MODE = {"darts": "darts", "it": "it", "darts-pt": "darts", "spos": "spos", "fewshot": "spos",
                 "rlnas": "rlnas"}
EVAL: dict[str, dict[str, Entry]] = {
    "smoke": {"eval_batches": (1, OURS), "eval_batch_size": (32, OURS)},
    "cpu": {"eval_batches": (10, OURS), "eval_batch_size": (256, OURS)},
    "paper": {"eval_batches": (20, OURS), "eval_batch_size": (500, OURS)},
}
_SPOS_SEARCH = "SPOS's reference evolutionary search (population 50, 20 generations, select 10)"
EVOLVE: dict[str, dict[str, Entry]] = {
    "smoke": {"population": (4, SMOKE), "generations": (1, SMOKE), "parents": (2, SMOKE)},
    "cpu": {"population": (20, CPU), "generations": (5, CPU), "parents": (5, CPU)},
    "paper": {"population": (50, _SPOS_SEARCH), "generations": (20, _SPOS_SEARCH), "parents": (10, _SPOS_SEARCH)},
}
_RLNAS_SEARCH = "megvii-model/RLNAS nas_bench_201/exps/algos/rlnas_evolution_search_with_angle.py lines 51-59"
_DARTS_PT = "ruocwang/darts-pt nasbench201/train_search.py"
OWN: dict[str, dict[str, dict[str, Entry]]] = {
    "darts-pt": {
        "smoke": {"proj_intv": (1, SMOKE)},
        "cpu": {"proj_intv": (1, CPU)},
        # DARTS-PT trains its own supernet under `paper`, not the 50-epoch `darts` one
        "paper": {"proj_intv": (5, f"{_DARTS_PT} --proj_intv default 5"),
                  "epochs": (100, f"{_DARTS_PT} argparse default --epochs 100"),
                  "wd": (3e-4, f"{_DARTS_PT} argparse default --weight_decay 3e-4"),
                  "nesterov": (False, "ruocwang/darts-pt nasbench201/search_model.py builds SGD without Nesterov")},
    },
    "fewshot": {
        "smoke": {"split_epochs": (1, SMOKE)},
        "cpu": {"split_epochs": (20, CPU)},
        "paper": {"split_epochs": (300, "aoiang/few-shot-NAS Few-Shot_NasBench201/configs/nas-benchmark/algos/"
                                        "FEW-SHOT-SUPERNET.config (epochs 300; batch 48, decay 1e-4 as the one-shot "
                                        "supernet)")},
    },
    "rlnas": {
        # our evolve fills half of `population` by mutation and half by crossover
        "paper": {"population": (100, f"{_RLNAS_SEARCH}: population_num 100 (mutation_num 50, crossover_num 50)"),
                  "generations": (20, f"{_RLNAS_SEARCH}: max_epochs 20"),
                  "parents": (30, f"{_RLNAS_SEARCH}: select_num 30")},
    },
}
_EVOLVES = ("spos", "fewshot", "rlnas")
_TRAIN_KEYS = {"epochs", "wd", "nesterov"}   # the OWN keys that are supernet training settings


def _supernet(name: str) -> dict[str, dict[str, Entry]]:
    mode = SUPERNET_MODE[name]
    out: dict[str, dict[str, Entry]] = {}
    for preset in SUPERNET_PRESETS:
        rows = {**TRAIN[mode][preset], **EVAL[preset]}
        if name in _EVOLVES:
            rows.update(EVOLVE[preset])
        rows.update(OWN.get(name, {}).get(preset, {}))
        out[preset] = rows
    return out


def _all(name: str) -> dict[str, dict[str, Entry]]:
    if name == "rea":
        return REA
    if name == "nao":
        return NAO
    if name in SUPERNET_MODE:
        return _supernet(name)
    return {}


def table(selector_name: str) -> list[tuple[str, str, object, str]]:
    """(preset, key, value, source) of every preset value of a selector; [] for one without presets."""
    return [(preset, key, value, source) for preset, rows in _all(selector_name).items()
            for key, (value, source) in rows.items()]


def names(selector_name: str) -> tuple[str, ...]:
    """A selector's preset names (what its ``preset`` hyperparameter accepts)."""
    return tuple(_all(selector_name))


def values(selector_name: str, preset: str) -> dict[str, Any]:
    """One preset of a selector: key -> value."""
    return {k: v for k, (v, _) in _all(selector_name)[preset].items()}


def own_training(selector_name: str, preset: str) -> dict[str, Any]:
    """Supernet training settings a selector sets over its mode's preset (DARTS-PT's paper supernet)."""
    return {k: v for k, (v, _) in OWN.get(selector_name, {}).get(preset, {}).items() if k in _TRAIN_KEYS}


def training(mode: str, preset: str) -> dict[str, Any]:
    """A supernet training mode's preset: TrainConfig field -> value."""
    return {k: v for k, (v, _) in TRAIN[mode][preset].items()}
