"""Collects trees, one at a time, into the flat arrays of the core's forest representation."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from .. import _core
from ..exceptions import ModelFormatError, TreelensError

#: Missing-value kinds understood by the core (see rust/core/src/forest.rs).
MISSING_NAN = 0
MISSING_NAN_AS_ZERO = 1
MISSING_ZERO_OR_NAN = 2


def malformed_is_format_error(what: str):
    """Decorator: a model document of the wrong shape (a missing key, a list where a number
    belongs, a short array...) raises ModelFormatError naming ``what``, never a bare
    KeyError/TypeError/IndexError from deep inside a loader."""

    def wrap(load):
        @functools.wraps(load)
        def checked(*args, **kwargs):
            try:
                return load(*args, **kwargs)
            except TreelensError:
                raise
            except (
                KeyError,
                TypeError,
                ValueError,
                IndexError,
                AttributeError,
                OverflowError,
            ) as e:
                raise ModelFormatError(f"{what} is malformed ({type(e).__name__}: {e})") from None
            except RecursionError:
                # Tree depth is handled iteratively everywhere; this is a field nested absurdly.
                raise ModelFormatError(
                    f"{what} is malformed (a field is nested too deeply)"
                ) from None

        return checked

    return wrap


#: Largest total size of the categorical bitsets of one model (32-bit words: 256 MiB). A set's
#: size follows its largest category, so a corrupt category id must not allocate unchecked.
MAX_BITSET_WORDS = 2**26


def brief(value) -> str:
    """A value for an error message: containers by type and size (a hostile one may be nested
    too deeply to print), scalars in full."""
    if isinstance(value, (list, tuple, dict, np.ndarray)):
        return f"a {type(value).__name__} of {len(value)}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


#: How far a node's cover may differ from the sum of its children's (relative): libraries store
#: covers rounded (XGBoost float32, dumps in decimal); a larger gap is a corrupt cover.
COVER_TOLERANCE = 1e-3


def bitset_words(categories, *, max_category: int = 2**31 - 1, budget: int | None = None):
    """Packs non-negative integer categories into 32-bit words (bit c % 32 of word c // 32).

    Categories above ``max_category`` (the largest id the model's library can write) and sets
    larger than ``budget`` words are refused before anything is allocated.
    """
    cats = np.asarray(categories, dtype=np.int64).ravel()
    if cats.size == 0:
        return np.zeros(0, dtype=np.uint32)
    if cats.min() < 0:
        raise ModelFormatError(f"negative category {cats.min()} in a categorical split")
    if cats.max() > max_category:
        raise ModelFormatError(
            f"category {cats.max()} in a categorical split exceeds the largest id the model's "
            f"library writes ({max_category})"
        )
    n_words = int(cats.max()) // 32 + 1
    if budget is not None and n_words > budget:
        raise ModelFormatError(
            f"the categorical splits need more than {MAX_BITSET_WORDS * 4 // 2**20} MiB of "
            f"bitsets (a set up to category {cats.max()}): the category ids are implausible"
        )
    words = np.zeros(n_words, dtype=np.uint32)
    np.bitwise_or.at(words, cats // 32, (np.uint32(1) << (cats % 32).astype(np.uint32)))
    return words


@dataclass(frozen=True)
class Bitset:
    """A categorical set given as its 32-bit words (bit c % 32 of word c // 32 is category c),
    as LightGBM and scikit-learn store them: used as they are, never expanded to a list."""

    words: np.ndarray


@dataclass(frozen=True)
class SharedSet:
    """A categorical set already added to a :class:`ForestBuilder`, by its index: nodes that
    split on the same set share it (CatBoost repeats one split across a whole tree level)."""

    index: int


@dataclass
class ForestBuilder:
    """Accumulates trees; :meth:`build` hands them to the core, which validates everything."""

    n_features: int
    n_outputs: int
    less_equal: bool
    f32_inputs: bool
    average: bool = False
    category_truncate_first: bool = False
    #: Largest category id the model's library writes (XGBoost: below 2**24).
    max_category: int = 2**31 - 1
    _tree_start: list = field(default_factory=lambda: [0])
    _tree_output: list = field(default_factory=list)
    _parts: dict = field(default_factory=lambda: {k: [] for k in _NODE_FIELDS})
    _set_words: list = field(default_factory=list)
    _set_members_left: list = field(default_factory=list)
    _bitset_words: int = 0

    def add_tree(
        self,
        *,
        feature,
        threshold,
        left,
        right,
        default_left,
        cover,
        values,
        output: int = 0,
        missing=None,
        categories: dict | None = None,
    ) -> None:
        """Adds one tree.

        Parameters
        ----------
        feature, threshold, left, right, default_left, cover : array-like of shape (n_nodes,)
            Children are indices local to the tree; a negative ``left`` marks a leaf (whatever
            its ``feature``); node 0 is the root. An internal node with a negative feature is
            a :class:`ModelFormatError`. ``default_left`` holds booleans (or 0/1).
        values : array-like of shape (n_nodes,) or (n_nodes, n_outputs)
            Node values, already scaled by learning rate and tree weight. A 2-D array makes a
            tree whose leaves feed every output.
        output : int
            The output a single-valued tree feeds.
        missing : array-like of shape (n_nodes,), optional
            Missing-value kinds (``MISSING_*``); NaN-is-missing by default.
        categories : dict, optional
            ``{node: (categories, members_go_left)}`` for categorical splits; ``categories`` is
            a list of category ids or a :class:`Bitset`. A :class:`SharedSet` (from
            :meth:`add_category_set`) in place of the pair reuses a set already added.
        """
        feature = np.asarray(feature, dtype=np.int64).ravel()
        n = feature.shape[0]
        left = np.asarray(left, dtype=np.int64).ravel()
        right = np.asarray(right, dtype=np.int64).ravel()
        threshold = np.asarray(threshold, dtype=np.float64).ravel()
        default_left = np.asarray(default_left)
        cover = np.asarray(cover, dtype=np.float64).ravel()
        for name, arr in (("left", left), ("right", right), ("threshold", threshold),
                          ("default_left", default_left), ("cover", cover)):  # fmt: skip
            if arr.shape != (n,):
                raise ModelFormatError(f"a tree has {arr.size} {name} entries for {n} nodes")
        if default_left.dtype != bool and not np.isin(default_left, (0, 1)).all():
            raise ModelFormatError("a tree's default_left flags are not all 0 or 1")
        default_left = default_left.astype(bool)
        # The loader's child index says what is a leaf; a split on a negative feature is corrupt,
        # not a leaf.
        leaf = left < 0
        bad = np.flatnonzero(~leaf & (feature < 0))
        if bad.size:
            raise ModelFormatError(
                f"tree {self.n_trees}: node {bad[0]} splits on the negative feature "
                f"{feature[bad[0]]}"
            )
        feature = np.where(leaf, -1, feature)
        left = np.where(leaf, -1, left)
        right = np.where(leaf, -1, right)
        self._check_covers(cover, left, right, leaf)
        values = np.asarray(values, dtype=np.float64)
        if values.ndim == 2:
            if values.shape != (n, self.n_outputs):
                raise ModelFormatError(
                    f"a tree with vector leaves has values of shape {values.shape}, "
                    f"expected ({n}, {self.n_outputs})"
                )
            tree_output = -1
        else:
            if values.shape != (n,):
                raise ModelFormatError(f"a tree has {values.size} values for {n} nodes")
            tree_output = int(output)
        category_set = np.full(n, -1, dtype=np.int64)
        for node, spec in (categories or {}).items():
            if not 0 <= int(node) < n:
                raise ModelFormatError(
                    f"tree {self.n_trees}: a categorical split names node {node} of {n}"
                )
            if isinstance(spec, SharedSet):
                if not 0 <= spec.index < len(self._set_words):
                    raise ModelFormatError(f"categorical set {spec.index} was never added")
                category_set[node] = spec.index
            else:
                category_set[node] = self.add_category_set(*spec).index
        if missing is None:
            missing = np.zeros(n, dtype=np.uint8)
        else:
            missing = np.asarray(missing, dtype=np.int64).ravel()
            if missing.shape != (n,) or not np.isin(missing, (0, 1, 2)).all():
                raise ModelFormatError(f"tree {self.n_trees}: unknown missing-value kinds")
            missing = missing.astype(np.uint8)
        p = self._parts
        p["feature"].append(feature)
        p["threshold"].append(threshold)
        p["left"].append(left)
        p["right"].append(right)
        p["default_left"].append(default_left)
        p["missing"].append(missing)
        p["cover"].append(cover)
        p["values"].append(values.ravel())
        p["category_set"].append(category_set)
        self._tree_start.append(self._tree_start[-1] + n)
        self._tree_output.append(tree_output)

    def add_category_set(self, categories, members_left: bool) -> SharedSet:
        """Adds one categorical set (a list of category ids or a :class:`Bitset`); any number
        of nodes may then use it (``categories={node: shared_set}`` in :meth:`add_tree`)."""
        budget = MAX_BITSET_WORDS - self._bitset_words
        if isinstance(categories, Bitset):
            words = np.asarray(categories.words, dtype=np.uint32).ravel()
            if words.size > budget:
                raise ModelFormatError(
                    f"the categorical splits need more than {MAX_BITSET_WORDS * 4 // 2**20} "
                    "MiB of bitsets: the category sets are implausible"
                )
        else:
            words = bitset_words(categories, max_category=self.max_category, budget=budget)
        self._bitset_words += words.size
        self._set_words.append(words)
        self._set_members_left.append(bool(members_left))
        return SharedSet(len(self._set_words) - 1)

    def _check_covers(self, cover, left, right, leaf) -> None:
        """Every library's covers add up: a node's is the sum of its children's. A cover far off
        would skew path-dependent SHAP values silently, so it is refused."""
        n = cover.shape[0]
        inner = np.flatnonzero(~leaf & (left < n) & (right < n) & (left >= 0) & (right >= 0))
        children = np.concatenate([left[inner], right[inner]])
        if (
            inner.size == 0
            or inner.size != np.count_nonzero(~leaf)
            or np.unique(children).size != children.size
            or not np.all(np.isfinite(cover))
        ):
            return  # not a tree, or non-finite covers: the core says which node is wrong
        lc, rc, pc = cover[left[inner]], cover[right[inner]], cover[inner]
        with np.errstate(over="ignore"):  # covers near float64's limit: an infinite bound
            gap = np.abs(lc + rc - pc)
            bound = COVER_TOLERANCE * (np.abs(lc) + np.abs(rc) + np.abs(pc)) + 1e-9
        bad = np.flatnonzero(gap > bound)
        if bad.size:
            k = inner[bad[0]]
            raise ModelFormatError(
                f"tree {self.n_trees}, node {k}: its cover {cover[k]} is not the sum of its "
                f"children's ({cover[left[k]]} + {cover[right[k]]})"
            )

    @property
    def n_trees(self) -> int:
        return len(self._tree_output)

    def build(self, base_score) -> _core.Forest:
        """Checks and freezes the forest; ``base_score`` is per output, in margin space."""
        if self.n_trees == 0:
            raise ModelFormatError("the model has no trees")
        base = np.broadcast_to(np.asarray(base_score, dtype=np.float64), (self.n_outputs,))
        cat = lambda name, dtype: (  # noqa: E731
            np.concatenate(self._parts[name]).astype(dtype, copy=False)
        )
        offsets = np.zeros(len(self._set_words) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([w.size for w in self._set_words])
        words = (
            np.concatenate(self._set_words).astype(np.uint32)
            if self._set_words
            else np.zeros(0, dtype=np.uint32)
        )
        return _core.Forest(
            n_features=int(self.n_features),
            n_outputs=int(self.n_outputs),
            base_score=np.ascontiguousarray(base),
            average=bool(self.average),
            less_equal=bool(self.less_equal),
            f32_inputs=bool(self.f32_inputs),
            tree_start=np.asarray(self._tree_start, dtype=np.int64),
            tree_output=np.asarray(self._tree_output, dtype=np.int64),
            feature=cat("feature", np.int64),
            threshold=cat("threshold", np.float64),
            left=cat("left", np.int64),
            right=cat("right", np.int64),
            default_left=cat("default_left", bool),
            missing=cat("missing", np.uint8),
            cover=cat("cover", np.float64),
            values=cat("values", np.float64),
            category_set=cat("category_set", np.int64),
            category_offsets=offsets,
            category_words=words,
            category_members_left=np.asarray(self._set_members_left, dtype=bool),
            category_truncate_first=bool(self.category_truncate_first),
        )


_NODE_FIELDS = (
    "feature",
    "threshold",
    "left",
    "right",
    "default_left",
    "missing",
    "cover",
    "values",
    "category_set",
)
