"""Fitting a program to one object's observations.

* :mod:`.config`: :class:`FitConfig`, the one config tree of a fit;
* :mod:`.pipeline`: :func:`fit` (program + observations -> :class:`FitResult`);
* :mod:`.result`: :class:`FitResult`, ``result.json`` and :func:`load_result`;
* :mod:`.outputs`: :func:`write_outputs` (result.json, meshes, fitted.blend, report.png);
* :mod:`.blend`, :mod:`.report`: the fitted ``.blend`` and ``report.png``.
"""

from ..search import METHODS as _METHODS
from .config import FitConfig
from .outputs import write_outputs
from .pipeline import MIN_BUDGET_S, check_inputs, fit, scan_hash
from .result import FitError, FitInterrupted, FitResult, load_result, software_versions

METHODS = tuple(_METHODS)
"""The search methods' names."""

__all__ = ["METHODS", "MIN_BUDGET_S", "FitConfig", "FitError", "FitInterrupted", "FitResult", "check_inputs", "fit", "load_result", "scan_hash",
           "software_versions", "write_outputs"]
