"""The harnesses ``bench import`` reads, as lazy ``"module:function"`` names (a leaf: the
package and :mod:`bench.importers.publish` both read it, and it imports nothing)."""

from __future__ import annotations

__all__ = ["IMPORTERS"]

IMPORTERS: dict[str, str] = {
    "lm-eval": "bench.importers.lm_eval:read_lm_eval",
    "inspect": "bench.importers.inspect_logs:read_inspect",
    "helm": "bench.importers.helm:read_helm",
}
"""Source name (``bench import SOURCE``) → ``"module:function"`` reading its output
(``function(path, domain_field) -> Imported``)."""
