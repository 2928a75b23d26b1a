"""Type stubs for the compiled extension ``treelens._core`` (hand-written)."""

from typing import Callable, Optional

import numpy as np
import numpy.typing as npt

available_threads: int

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
    def predict(
        self,
        x: npt.NDArray[np.float64],
        *,
        n_jobs: Optional[int] = None,
        progress: ProgressCallback = None,
    ) -> npt.NDArray[np.float64]:
        """Raw margin, shape (n_rows, n_outputs)."""

# --- path-dependent TreeSHAP (rust/python/src/shap.rs) ---
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
