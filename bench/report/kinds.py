"""The names of the figure kinds and what each shows (light: no matplotlib import).

:mod:`bench.report.figures` attaches a builder to each name; ``bench plot`` offers them.
"""

from __future__ import annotations

__all__ = ["FIGURE_DESCRIPTIONS"]

FIGURE_DESCRIPTIONS: dict[str, str] = {
    "heatmap": "models × domains of the primary metric, values and intervals in the cells",
    "gaps": "forest plot of the cross-domain gaps with intervals, Holm significance",
    "genres": "per-genre cross-entropy bars (language-modelling tasks)",
    "profile": "capability profile of any metric and models: domains in group bands, sorted by the first model, "
               "intervals, chance line where the metric has one",
    "difference": "paired difference profile of two models (B − A per domain, paired interval, Holm significance)",
    "reliability": "reliability diagrams per domain (classification, from the records' prob_ columns)",
    "robustness": "in-domain vs out-of-domain accuracy on logit axes with the effective-robustness fit",
    "transfer": "transfer matrix heatmap: trained on × tested on (transfer_matrix.csv)",
}
"""Every figure kind, in the order a report shows them."""
