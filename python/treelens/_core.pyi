"""Type stubs for the compiled extension ``treelens._core`` (hand-written)."""

from typing import Callable, Optional, TypedDict

import numpy as np
import numpy.typing as npt

#: The package version (the Cargo workspace's, where it is defined once).
__version__: str
available_threads: int
"""The threads ``n_jobs=None`` uses: the cores available to this process, or
``TREELENS_NUM_THREADS`` / ``RAYON_NUM_THREADS`` when set."""
#: The most threads a computation starts (4 per core): larger ``n_jobs`` are capped to it.
max_threads: int
#: The compiled kernel the hot loops run: ``"avx512"``, ``"avx2"`` or ``"portable"`` (the widest
#: this CPU supports, unless the environment variable ``TREELENS_SIMD`` names one; read once).
simd_kernel: str
#: The kernels this CPU can run, widest first (``"portable"`` always last).
simd_kernels: list[str]

class MemoryBudget(TypedDict):
    bytes: Optional[int]
    source: Optional[str]
    bounds: list[tuple[str, int]]

def memory_budget() -> MemoryBudget:
    """The bytes this process may still allocate: the smallest of the machine's available
    memory (``MemAvailable``), ``RLIMIT_AS`` less the virtual size, ``RLIMIT_DATA`` less the data
    size, and each memory cgroup's limit less its usage (v2 ``memory.max``, v1
    ``memory.limit_in_bytes``, at every level of the hierarchy). ``bytes`` is the budget (None
    when nothing is known), ``source`` says where it comes from, ``bounds`` lists every bound
    read as ``(source, bytes)``. Read anew at each call."""

def ensure_fits(
    what: str, needed_bytes: int, way_out: str, *, max_bytes: Optional[int] = None
) -> None:
    """Raises ``OutputTooLargeError`` when ``needed_bytes`` exceed the budget (or
    ``max_bytes``): the message names ``what``, both sizes, the budget's source and ``way_out``."""

ProgressCallback = Optional[Callable[[int, int], None]]

class Forest:
    """A validated tree ensemble in the core's flat representation."""

    def __init__(
        self,
        *,
        n_features: int,
        n_outputs: int,
        base_score: npt.NDArray[np.float64],
        average: bool,
        less_equal: bool,
        f32_inputs: bool,
        tree_start: npt.NDArray[np.int64],
        tree_output: npt.NDArray[np.int64],
        feature: npt.NDArray[np.int64],
        threshold: npt.NDArray[np.float64],
        left: npt.NDArray[np.int64],
        right: npt.NDArray[np.int64],
        default_left: npt.NDArray[np.bool_],
        missing: npt.NDArray[np.uint8],
        cover: npt.NDArray[np.float64],
        values: npt.NDArray[np.float64],
        category_set: npt.NDArray[np.int64],
        category_offsets: npt.NDArray[np.int64],
        category_words: npt.NDArray[np.uint32],
        category_members_left: npt.NDArray[np.bool_],
        category_truncate_first: bool,
    ) -> None: ...
    @property
    def n_features(self) -> int: ...
    @property
    def n_outputs(self) -> int: ...
    @property
    def n_trees(self) -> int: ...
    @property
    def n_nodes(self) -> int: ...
    @property
    def max_depth(self) -> int: ...
    @property
    def base_score(self) -> list[float]: ...
    @property
    def tree_output(self) -> npt.NDArray[np.int64]:
        """The output each tree feeds (-1: its leaves hold one value per output)."""
    def first_trees(self, n: int) -> Forest:
        """The forest of the first ``n`` trees (an averaged forest averages over those)."""
    def __reduce__(self) -> tuple[Callable[[dict], Forest], tuple[dict]]: ...
    @staticmethod
    def _restore(state: dict) -> Forest: ...
    def predict(
        self,
        x: npt.NDArray[np.float64],
        *,
        n_jobs: Optional[int] = None,
        progress: ProgressCallback = None,
    ) -> npt.NDArray[np.float64]:
        """Raw margin, shape (n_rows, n_outputs)."""

# --- interaction: H statistics and partial dependence (rust/python/src/hstats.rs) ---

def hstats(
    forest: Forest,
    x: npt.NDArray[np.float64],
    w: npt.NDArray[np.float64],
    features: list[int],
    *,
    pairwise_m: int,
    threeway_m: int,
    n_jobs: Optional[int] = None,
    progress: ProgressCallback = None,
) -> dict[str, object]:
    """Numerators and denominators of the H statistics (keys: f_denominator (k,),
    global_numerator (k,), overall_numerator (q, k), pairwise_features, threeway_features,
    pair_index (m, 2), pair_numerator / pair_denominator (m, k), triple_index (t, 3),
    triple_numerator / triple_denominator (t, k)); indices are positions in ``features``."""

# H statistics over partitions: a plan (bytes) advanced stage by stage by the merged partials
# (bytes) of every partition (rust/python/src/hstats_plan.rs).

def hstats_plan(forest: Forest, features: list[int], *, pairwise_m: int, threeway_m: int) -> bytes:
    """A new plan for these model columns."""

def hstats_stage(plan: bytes) -> tuple[int, Optional[str]]:
    """The plan's next stage: its index and name (None when the plan is complete)."""

def hstats_partial(
    forest: Forest,
    plan: bytes,
    x: npt.NDArray[np.float64],
    w: npt.NDArray[np.float64],
    *,
    n_jobs: Optional[int] = None,
) -> bytes:
    """One partition's part of the plan's next stage."""

def hstats_merge(a: bytes, b: bytes) -> bytes:
    """Two partials of the same stage as one (``a``'s rows first)."""

def hstats_advance(forest: Forest, plan: bytes, total: bytes) -> bytes:
    """The plan advanced by the merged partial of all partitions."""

def hstats_result(forest: Forest, plan: bytes) -> dict[str, object]:
    """The statistics of a complete plan, as :func:`hstats` returns them."""

def partial_dependence(
    forest: Forest,
    x: npt.NDArray[np.float64],
    w: npt.NDArray[np.float64],
    features: list[int],
    grid: npt.NDArray[np.float64],
    *,
    individual: bool = False,
    n_jobs: Optional[int] = None,
    progress: ProgressCallback = None,
) -> tuple[npt.NDArray[np.float64], Optional[npt.NDArray[np.float64]]]:
    """Exact partial dependence of the raw margin at the grid points, (g, k), and the
    individual curves (n, g, k) when ``individual``."""

# --- accumulated local effects ---

def ale_corner_sums(
    forest: Forest,
    x: npt.NDArray[np.float64],
    columns: list[int],
    edges: list[npt.NDArray[np.float64]],
    bins: list[npt.NDArray[np.int64]],
    *,
    reference: bool = False,
    n_jobs: Optional[int] = None,
    progress: ProgressCallback = None,
) -> npt.NDArray[np.float64]:
    """Per row and corner of its bin (cell), the weighted leaf values summed over the trees with a
    split between the bin's edges, plus (reference) the same trees at the row:
    (n, corners[+1], k)."""

# --- functional decomposition ---

def decompose(
    forest: Forest,
    x: npt.NDArray[np.float64],
    background: npt.NDArray[np.float64],
    weights: Optional[npt.NDArray[np.float64]] = None,
    *,
    max_order: Optional[int] = None,
    n_jobs: Optional[int] = None,
    progress: ProgressCallback = None,
) -> tuple[
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    Optional[npt.NDArray[np.float64]],
    list[list[int]],
    npt.NDArray[np.float64],
]:
    """The raw margin's fANOVA decomposition against the background up to max_order (None: all):
    intercept (k,), main (n, p, k), pairwise (n, p, p, k) or None below order 2, the feature sets
    of 3 or more (model columns, sorted), and their components (n, sets, k)."""

# --- interventional (background-data) TreeSHAP ---

def interventional_shap_values(
    forest: Forest,
    x: npt.NDArray[np.float64],
    background: npt.NDArray[np.float64],
    weights: Optional[npt.NDArray[np.float64]] = None,
    *,
    interactions: bool = False,
    n_jobs: Optional[int] = None,
    progress: ProgressCallback = None,
) -> npt.NDArray[np.float64]:
    """Raw-margin interventional SHAP values (n, p, k), or interactions (n, p, p, k)."""

def interventional_transformed_values(
    forest: Forest,
    x: npt.NDArray[np.float64],
    background: npt.NDArray[np.float64],
    weights: Optional[npt.NDArray[np.float64]] = None,
    *,
    transform: str,
    y: Optional[npt.NDArray[np.float64]] = None,
    scale: float = 1.0,
    interactions: bool = False,
    n_jobs: Optional[int] = None,
    progress: ProgressCallback = None,
) -> npt.NDArray[np.float64]:
    """Values of a transformed output ("logistic", "logistic_loss", "neg_log_output"); the
    logistic transforms see ``scale * margin``."""

# --- permutation importance (treelens.importance) ---

class Scoring(TypedDict):
    """How margins become scores (every key present; None where a target part is absent)."""

    kind: str
    link: str
    n_classes: int
    rule: str
    auc_on_margin: bool
    link_scale: float
    proba_f32: bool
    metrics: list[str]
    y_values: Optional[npt.NDArray[np.float64]]
    y_classes: Optional[npt.NDArray[np.int64]]
    weight: Optional[npt.NDArray[np.float64]]

def importance_baseline(
    forest: Forest,
    x: npt.NDArray[np.float64],
    *,
    scoring: Scoring,
    n_jobs: Optional[int] = None,
    progress: ProgressCallback = None,
) -> list[float]:
    """Scores of the unpermuted model on x, one per metric."""

def importance_permuted(
    forest: Forest,
    x: npt.NDArray[np.float64],
    perms: npt.NDArray[np.uint32],
    units: list[list[int]],
    *,
    scoring: Scoring,
    n_jobs: Optional[int] = None,
    progress: ProgressCallback = None,
) -> tuple[npt.NDArray[np.float64], list[float]]:
    """Scores with each unit of columns permuted, (n_units, n_repeats, n_metrics), and the
    scores of the unpermuted rows."""

# --- LightGBM model text (rust/python/src/lightgbm.rs) ---
class LightGbmMetadata(TypedDict):
    #: The header's ``key=value`` lines (a line without ``=`` maps to "").
    header: dict[str, str]
    #: The JSON after ``pandas_categorical:``, unparsed, or None.
    pandas_categorical: Optional[str]
    n_trees: int

def lightgbm_forest(
    text: str, *, supported_objectives: list[str]
) -> tuple[Forest, LightGbmMetadata]:
    """Reads LightGBM model text (``model_to_string`` / ``save_model``) into a forest, trees in
    parallel with the GIL released. Corrupt text raises ``ModelFormatError``; linear trees and
    objectives outside ``supported_objectives`` raise ``UnsupportedModelError``."""

# --- path-dependent TreeSHAP (rust/python/src/shap.rs) ---
def path_data_covers(
    forest: Forest,
    data: npt.NDArray[np.float64],
    weights: Optional[npt.NDArray[np.float64]] = None,
) -> npt.NDArray[np.float64]:
    """Weighted count of the rows of ``data`` reaching each node, shape (n_nodes,)."""

def path_expected_value(forest: Forest) -> list[float]:
    """Expected value per output under the path-dependent game."""

def path_shap_values(
    forest: Forest,
    x: npt.NDArray[np.float64],
    *,
    n_jobs: Optional[int] = None,
    progress: ProgressCallback = None,
    max_bytes: Optional[int] = None,
) -> npt.NDArray[np.float64]:
    """SHAP values, shape (n_rows, n_features, n_outputs)."""

def path_shap_interaction_values(
    forest: Forest,
    x: npt.NDArray[np.float64],
    *,
    n_jobs: Optional[int] = None,
    progress: ProgressCallback = None,
    max_bytes: Optional[int] = None,
) -> npt.NDArray[np.float64]:
    """SHAP interaction values, shape (n_rows, n_features, n_features, n_outputs)."""

def path_shap_interaction_summary(
    forest: Forest,
    x: npt.NDArray[np.float64],
    reduce: str,
    *,
    n_jobs: Optional[int] = None,
    progress: ProgressCallback = None,
) -> npt.NDArray[np.float64]:
    """Interaction values reduced over rows ("mean_abs" or "mean"), shape (p, p, n_outputs)."""

def saabas_values(
    forest: Forest,
    x: npt.NDArray[np.float64],
    *,
    n_jobs: Optional[int] = None,
    progress: ProgressCallback = None,
) -> npt.NDArray[np.float64]:
    """Saabas values (shap's ``approximate=True``), shape (n_rows, n_features, n_outputs)."""

class XGBoostModelInfo(TypedDict):
    objective: str
    num_class: int
    feature_names: Optional[list[str]]
    feature_types: Optional[list[str]]
    trees_per_round: Optional[int]
    #: ``cats.enc`` of xgboost >= 3.1 per feature: ``(values, UTF-8 offsets or None)`` or None.
    category_encodings: list[
        Optional[tuple[npt.NDArray[np.float64], Optional[npt.NDArray[np.int64]]]]
    ]

def read_xgboost_model(
    data: bytes | npt.NDArray[np.uint8],
    *,
    json: bool,
    iteration_range: Optional[tuple[int, int]],
    feature_names: Optional[list[str]],
    objectives: tuple[tuple[str, str], ...],
    base_margin: Callable[[str, npt.NDArray[np.float64]], npt.NDArray[np.float64]],
) -> tuple[Forest, XGBoostModelInfo]:
    """Reads an XGBoost model saved by ``save_model`` / ``save_raw`` (UBJSON, or JSON text when
    ``json``) into a validated forest; ``data`` may be a contiguous one-dimensional uint8 array
    (``numpy.frombuffer`` of a bytearray) that nothing modifies during the call (read in place).
    ``objectives`` lists the supported objectives with their base-score transform (``"logit"``,
    ``"log"`` or ``"identity"``, checked here); ``base_margin(objective, base)`` maps the
    output-space base score to the margin. Raises
    ``ModelFormatError`` for a corrupt document, ``UnsupportedModelError`` for an unsupported
    objective, booster or iteration range."""

def read_xgboost_dump(
    *,
    text: Optional[str],
    trees: Optional[list[Optional[str]]],
    n_outputs: int,
    n_features: Optional[int],
    feature_names: Optional[list[Optional[str]]],
    tree_weights: Optional[tuple[list[float], str]],
    base_margin: Callable[[int], npt.NDArray[np.float64]],
) -> Forest:
    """Reads an XGBoost JSON dump (a file's ``text``, or ``get_dump``'s ``trees``, None for an
    item that is no text) into a validated forest; ``tree_weights`` is (weights, their shape as
    text). ``base_margin(n_outputs)`` returns the base score in margin space. Raises
    ``ModelFormatError`` for a corrupt dump."""
