"""Plots of treelens' results with matplotlib (``pip install 'treelens[plot]'``).

Every function draws one result and returns the matplotlib Axes it drew on (an array of Axes
for several panels); pass ``ax=`` to draw into an existing figure, otherwise a new figure is
made. matplotlib is imported when a plot is drawn, the backend is never changed and nothing is
shown: call ``matplotlib.pyplot.show()`` or ``ax.figure.savefig(...)``. The results' ``.plot()``
methods call these functions.
"""

from __future__ import annotations

from ._ale import ale
from ._decomposition import decomposition
from ._hstats import hstats
from ._importance import importance
from ._partial_dependence import partial_dependence
from ._shap import beeswarm, dependence, shap_bar, waterfall
from ._surrogate import surrogate

__all__ = [
    "ale",
    "beeswarm",
    "decomposition",
    "dependence",
    "hstats",
    "importance",
    "partial_dependence",
    "shap_bar",
    "surrogate",
    "waterfall",
]
