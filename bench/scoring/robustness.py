"""Robustness across the models of a leaderboard.

- Effective robustness (Taori et al. 2020; "accuracy on the line", Miller et al. 2021):
  over reference models fit :math:`\\mathrm{logit}(a_{OOD}) = a\\,\\mathrm{logit}(a_{ID}) + b`
  by least squares; a model's effective robustness is its residual on the accuracy
  scale, :math:`\\rho = a_{OOD} - \\sigma(a\\,\\mathrm{logit}(a_{ID}) + b)`
  (:func:`effective_robustness`).
- Agreement of domain rankings across tasks: Kendall's coefficient of concordance
  :math:`W` (:func:`kendalls_w`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit, logit
from scipy.stats import chi2, rankdata

from bench.errors import StatisticsError
from bench.scoring.metrics import get_metric, primary_of
from bench.scoring.tables import POOLED, TaskInfo, model_keys
from bench.suites.kinds import kind_of

__all__ = [
    "AGREEMENT_COLUMNS",
    "ROBUSTNESS_COLUMNS",
    "EffectiveRobustness",
    "KendallW",
    "domain_agreement_table",
    "effective_robustness",
    "effective_robustness_table",
    "kendalls_w",
]

ROBUSTNESS_COLUMNS = ["suite", "task", "model", "acc_id", "acc_ood", "predicted_ood", "effective_robustness",
                      "reference", "slope", "intercept", "r_squared", "n_reference"]
AGREEMENT_COLUMNS = ["model", "suite", "metrics", "tasks", "domains", "kendall_w", "chi2", "p_value"]


@dataclass(frozen=True)
class EffectiveRobustness:
    """The linear fit in logit space and each model's residual.

    Attributes
    ----------
    slope, intercept
        :math:`a` and :math:`b` of :math:`\\mathrm{logit}(a_{OOD}) = a\\,\\mathrm{logit}(a_{ID}) + b`.
    r_squared
        Coefficient of determination of the fit over the reference models (logit scale).
    n_reference
        Number of reference models.
    predicted
        :math:`\\sigma(a\\,\\mathrm{logit}(a_{ID}) + b)` per model.
    residuals
        Effective robustness :math:`\\rho` per model (positive: more robust than the line).
    """

    slope: float
    intercept: float
    r_squared: float
    n_reference: int
    predicted: dict[str, float]
    residuals: dict[str, float]


def _logit(p: np.ndarray, eps: float) -> np.ndarray:
    return logit(np.clip(p, eps, 1 - eps))


def effective_robustness(acc_id: Mapping[str, float], acc_ood: Mapping[str, float],
                         reference: Sequence[str] | None = None, *, eps: float = 1e-4) -> EffectiveRobustness:
    """Fit the logit line over ``reference`` models (default: all) and score every model.

    Parameters
    ----------
    acc_id, acc_ood
        In-domain and out-of-domain accuracy (fractions) per model.
    reference
        Models that define the line (at least 3 with distinct in-domain accuracy).
    eps
        Accuracies are clipped to ``[eps, 1 − eps]`` before the logit.

    Raises
    ------
    StatisticsError
        If the mappings name different models, an accuracy is outside [0, 1], or fewer
        than 3 usable reference models remain.
    """
    if set(acc_id) != set(acc_ood):
        raise StatisticsError(f"acc_id and acc_ood must name the same models. Got {sorted(acc_id)} and "
                              f"{sorted(acc_ood)}.")
    models = list(acc_id)
    x_all, y_all = np.array([acc_id[m] for m in models], float), np.array([acc_ood[m] for m in models], float)
    if np.any(~np.isfinite(x_all) | (x_all < 0) | (x_all > 1)) or np.any(~np.isfinite(y_all) | (y_all < 0) | (y_all > 1)):
        raise StatisticsError("Accuracies must be finite fractions in [0, 1].")
    ref = list(models if reference is None else reference)
    unknown = [m for m in ref if m not in acc_id]
    if unknown:
        raise StatisticsError(f"Reference model(s) {', '.join(map(repr, unknown))} have no accuracies; "
                              f"known: {', '.join(models)}.")
    x, y = _logit(np.array([acc_id[m] for m in ref]), eps), _logit(np.array([acc_ood[m] for m in ref]), eps)
    if len(ref) < 3 or np.ptp(x) == 0:
        raise StatisticsError(f"Effective robustness needs at least 3 reference models with different in-domain "
                              f"accuracy to fit a line; got {len(ref)}.")
    slope, intercept = np.polyfit(x, y, 1)
    residual = y - (slope * x + intercept)
    total = float(((y - y.mean()) ** 2).sum())
    r2 = 1 - float((residual**2).sum()) / total if total > 0 else math.nan
    predicted = expit(slope * _logit(x_all, eps) + intercept)
    return EffectiveRobustness(float(slope), float(intercept), r2, len(ref),
                               dict(zip(models, predicted.tolist(), strict=True)),
                               dict(zip(models, (y_all - predicted).tolist(), strict=True)))


def effective_robustness_table(records: pd.DataFrame, infos: Mapping[tuple[str, str], TaskInfo],
                               reference: Sequence[str] | None = None, *, eps: float = 1e-4) -> pd.DataFrame:
    """Effective robustness of every model on every classification task of ``records``.

    In-domain accuracy pools the domains each model was trained on (the records'
    ``train_domains``; the suite's in-domain set for records without it), out-of-domain
    accuracy the other domains. Under ``transfer_matrix`` each fold is its own model
    (``model@train=d``); models with no in-domain records (zero-shot,
    leave-one-domain-out) are left out, as are tasks with fewer than 3 reference models.
    """
    rows = []
    for (suite, task), frame in records.groupby(["suite", "task"], sort=False):
        info = infos[(suite, task)]
        if not kind_of(info).has_label_choices:
            continue
        frame = frame.assign(model=model_keys(frame))
        is_id = _in_domain(frame, info)
        acc_id = frame[is_id].groupby("model", sort=False)["correct"].mean().to_dict()
        acc_ood = frame[~is_id].groupby("model", sort=False)["correct"].mean().to_dict()
        models = [m for m in acc_id if m in acc_ood]
        ref = [m for m in (reference or models) if m in models]
        try:
            fit = effective_robustness({m: acc_id[m] for m in models}, {m: acc_ood[m] for m in models}, ref, eps=eps)
        except StatisticsError:
            continue
        rows += [(suite, task, m, acc_id[m], acc_ood[m], fit.predicted[m], fit.residuals[m], m in ref, fit.slope,
                  fit.intercept, fit.r_squared, fit.n_reference) for m in models]
    return pd.DataFrame(rows, columns=ROBUSTNESS_COLUMNS)


def _in_domain(frame: pd.DataFrame, info: TaskInfo) -> np.ndarray:
    """Whether each record's domain is one its model was trained on."""
    if "train_domains" not in frame.columns:
        return frame["domain"].isin(info.in_domain).to_numpy()
    trained = frame["train_domains"].fillna("").astype(str)
    return np.array([d in t.split("+") for d, t in zip(frame["domain"], trained, strict=True)], dtype=bool)


@dataclass(frozen=True)
class KendallW:
    """Kendall's coefficient of concordance with its Friedman chi-square test.

    Attributes
    ----------
    w
        :math:`W \\in [0, 1]` (1: every rater ranks the items alike).
    chi2
        :math:`\\chi^2 = m (n - 1) W`, approximately :math:`\\chi^2_{n-1}` under no agreement.
    p_value
        Upper tail of :math:`\\chi^2_{n-1}`.
    m, n
        Raters (tasks) and items (domains).
    """

    w: float
    chi2: float
    p_value: float
    m: int
    n: int


def kendalls_w(scores: np.ndarray | Sequence[Sequence[float]]) -> KendallW:
    """Kendall's :math:`W` of an ``(m raters, n items)`` score matrix, with tie correction.

    Each row is ranked (average ranks for ties); with rank sums :math:`R_j`,
    :math:`S = \\sum_j (R_j - \\bar R)^2` and tie groups of sizes :math:`t` per rater,

    .. math:: W = \\frac{12 S}{m^2 (n^3 - n) - m \\sum (t^3 - t)}.

    Raises
    ------
    StatisticsError
        If there are fewer than 2 raters or 2 items, or a score is not finite.
    """
    x = np.asarray(scores, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 2:
        raise StatisticsError(f"Kendall's W needs a (raters, items) matrix with at least 2 of each. "
                              f"Got shape {x.shape}.")
    if not np.all(np.isfinite(x)):
        raise StatisticsError("Kendall's W needs finite scores; drop items with NaN values first.")
    m, n = x.shape
    ranks = rankdata(x, axis=1)
    s = float(((ranks.sum(axis=0) - m * (n + 1) / 2) ** 2).sum())
    ties = sum(float((c**3 - c).sum()) for row in x for c in [np.unique(row, return_counts=True)[1]])
    denominator = m**2 * (n**3 - n) - m * ties
    w = 12 * s / denominator if denominator > 0 else math.nan
    statistic = m * (n - 1) * w
    return KendallW(w, statistic, float(chi2.sf(statistic, n - 1)) if math.isfinite(w) else math.nan, m, n)


def domain_agreement_table(metrics: pd.DataFrame, infos: Mapping[tuple[str, str], TaskInfo]) -> pd.DataFrame:
    """Kendall's W of the domain rankings across the tasks of each (model, suite).

    Each task ranks the suite's domains by its primary metric (direction-adjusted, so
    that rank 1 is the best domain for every task). Needs at least 2 tasks and 2 domains
    scored by all of them.
    """
    rows = []
    domains_only = metrics[metrics["domain"] != POOLED]
    for (model, suite), part in domains_only.groupby(["model", "suite"], sort=False):
        tasks = [t for s, t in infos if s == suite and t in set(part["task"])]
        table, names = {}, []
        for task in tasks:
            info = infos[(suite, task)]
            metric = get_metric(info.kind, primary_of(info))
            values = part[(part["task"] == task) & (part["metric"] == metric.name)].set_index("domain")["value"]
            table[task] = values if metric.higher_is_better else -values
            names.append(metric.name)
        frame = pd.DataFrame(table).dropna()
        if frame.shape[0] < 2 or frame.shape[1] < 2:
            continue
        result = kendalls_w(frame.to_numpy().T)
        rows.append((model, suite, "+".join(names), "+".join(frame.columns), "+".join(frame.index), result.w, result.chi2,
                     result.p_value))
    return pd.DataFrame(rows, columns=AGREEMENT_COLUMNS)
