"""Turning user data (numpy arrays; pandas or polars DataFrames, pyarrow Tables) into the matrix
the core reads, and the order results come back in.

Names are the truth: a table's columns are matched to the model's feature names by name, in
whatever order they come, and every result and label comes back in the input's column order (as
scikit-learn does). A numpy array is read by position: its order is the model's.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections import Counter
from dataclasses import dataclass

import numpy as np

from .exceptions import FeatureNameError, InvalidInputError
from .memory import block_rows, conversion_rows, ensure_fits, input_bytes, rows_of
from .sparse_inputs import SparseRows, densify_rows, is_sparse, sparse_rows
from .tables import Column, Table, named_table

#: LightGBM's kZeroThreshold: the float constant 1e-35f widened to double.
LIGHTGBM_ZERO = float(np.float32(1e-35))


@dataclass(frozen=True)
class Prepared:
    """The rows of an input, ready for the core, and how to put results back in its order.

    Attributes
    ----------
    matrix : ndarray of shape (n_samples, n_features)
        float64, C order, in the model's column order and encoding.
    order : ndarray of int or None
        ``order[i]`` is the model column of the input's column ``i``; None when the input's
        order is the model's (numpy arrays, tables in the model's order).
    names : list of str or None
        Feature names in the input's column order: a table's own, else the model's.
    source : array-like or None
        The rows that were read, when they are not the caller's (a Pipeline's transformed rows).
    """

    matrix: np.ndarray
    order: np.ndarray | None
    names: list[str] | None
    source: object = None

    def model_columns(self, indices) -> list[int]:
        """The model columns of the input's columns ``indices``."""
        if self.order is None:
            return [int(i) for i in indices]
        return [int(self.order[i]) for i in indices]

    def labels(self) -> list[str]:
        """Feature names in the input's order; unnamed columns are called x0, x1, ...."""
        if self.names is not None:
            return list(self.names)
        return [f"x{j}" for j in range(self.matrix.shape[1])]

    def columns(self, axes, values):
        """``values`` (whose ``axes`` are features in the model's order) in the input's order.

        When the features' axes come after a row axis, a writeable ``values`` is permuted in
        place, a block of rows at a time: a large result never needs a second copy of itself
        (its size was checked against the memory budget alone)."""
        if self.order is None:
            return values
        axes = (axes,) if isinstance(axes, int) else tuple(axes)
        if 0 in axes or not values.flags.writeable:
            for axis in axes:
                values = np.take(values, self.order, axis=axis)
            return values
        step = block_rows(values[:1].nbytes)
        for r0 in range(0, values.shape[0], step):
            block = values[r0 : r0 + step]
            for axis in axes:
                block = np.take(block, self.order, axis=axis)
            values[r0 : r0 + step] = block
        return values


def is_table(X) -> bool:
    """Whether ``X`` is a named table (pandas/polars DataFrame, pyarrow Table/RecordBatch)."""
    return named_table(X) is not None


def input_data(X):
    """The input's own values as a 2-D array, in its column order (an Explanation's data).

    A sparse input stays sparse, as shap keeps it, as a CSR matrix (rows can be taken from
    it; a DMatrix's data, which shap puts in its Explanation, is one): no dense copy of a
    sparse input is made."""
    table = named_table(X)
    if table is not None:
        return table.data()
    if is_sparse(X):
        if hasattr(X, "get_data"):
            return X.get_data()
        csr = X.tocsr()
        if type(csr).__name__ == "csr_array":
            # shap's Explanation slices csr_matrix rows but not csr_array's: a matrix sharing
            # the same buffers.
            import scipy.sparse as sparse

            csr = sparse.csr_matrix(csr, copy=False)
        return csr
    return np.asarray(X)


def sliceable(X):
    """``X`` ready for :func:`row_block` to slice many times: a scipy sparse matrix of another
    format as CSR (converted once, not once per block); anything else as it is."""
    if is_sparse(X) and not hasattr(X, "slice") and X.format != "csr":
        return sparse_rows(X).csr  # sized against the budget before it is converted
    return X


def row_block(X, r0: int, r1: int):
    """Rows ``r0:r1`` of an input, without converting the rest: pandas DataFrames by position,
    polars DataFrames and Arrow tables by slice, arrays, memmaps and CSR matrices by view,
    other sparse formats through CSR, a DMatrix by ``DMatrix.slice``."""
    table = named_table(X)
    if table is not None:
        return table.rows(r0, r1).obj
    if is_sparse(X):
        if hasattr(X, "slice"):  # xgboost.DMatrix
            return X.slice(np.arange(r0, r1, dtype=np.int64))
        return (X if X.format == "csr" else X.tocsr())[r0:r1]
    return X[r0:r1]


def _encode(values: np.ndarray, categories: np.ndarray) -> np.ndarray:
    """Codes of ``values`` in ``categories`` (position in the list, the first of equal ones);
    unknown or missing -> NaN."""
    coded = _encode_numbers(values, categories)
    if coded is not None:
        return coded
    lookup = {}
    for i, c in enumerate(categories):
        lookup.setdefault(c, float(i))
        if isinstance(c, (float, np.floating, int, np.integer)) and not isinstance(c, bool):
            lookup.setdefault(float(c), float(i))
    out = np.empty(len(values), dtype=np.float64)
    for i, v in enumerate(values):
        try:
            out[i] = lookup.get(v, np.nan)
        except TypeError:  # unhashable
            out[i] = np.nan
    return out


def _encode_numbers(values, categories) -> np.ndarray | None:
    """:func:`_encode` for numbers in numeric categories, vectorised (a sorted search), or None
    for anything else (text, objects, booleans, integers float64 cannot hold exactly)."""
    cats = np.asarray(categories)
    vals = np.asarray(values)
    if cats.size == 0 or cats.dtype.kind not in "fiu" or vals.dtype.kind not in "fiu":
        return None
    if cats.dtype.kind in "iu" and np.abs(cats.astype(np.float64)).max() >= 2.0**53:
        return None
    keys = cats.astype(np.float64)
    order = np.argsort(keys, kind="stable")  # equal keys keep list order: the first is found
    ordered = keys[order]
    v = vals.astype(np.float64, copy=False)
    pos = np.minimum(np.searchsorted(ordered, v, side="left"), keys.size - 1)
    return np.where(ordered[pos] == v, order[pos].astype(np.float64), np.nan)  # NaN never ==


def _category_codes(model, j: int, values, name: str) -> np.ndarray:
    """Codes of a categorical column's values in ``model.categories[j]``; a model whose
    categories are keys of the values (CatBoost's hashes) maps the values to keys first."""
    if model.category_key is not None:
        values = model.category_key(values, name)
    return _encode(values, model.categories[j])


def _holds_text(arr: np.ndarray) -> bool:
    """Whether an array holds strings (text is data, never silently parsed as numbers)."""
    if arr.dtype.kind in "USV":
        return True
    return arr.dtype.kind == "O" and any(isinstance(v, (str, bytes)) for v in arr.ravel())


def _numeric(values, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype.kind in "fiub":
        return arr.astype(np.float64, copy=False)
    try:
        if arr.dtype.kind not in "O" or _holds_text(arr):
            raise TypeError
        return arr.astype(np.float64)
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"column {name} is not numeric (dtype {arr.dtype}); treelens accepts numbers, "
            "booleans and categorical columns the model was trained with as categorical"
        ) from None


def _text_categories(categories: np.ndarray) -> bool:
    """Whether a model's categories are text (not numbers)."""
    cats = np.asarray(categories)
    return cats.dtype.kind in "USO" and any(isinstance(c, (str, bytes)) for c in cats)


def _refuse_numbers_for_text(name: str, categories) -> None:
    """scikit-learn refuses numbers (category codes among them) for a feature whose training
    categories are strings; reading them as unknown categories would be a silent guess."""
    shown = [str(c) for c in list(categories)[:10]]
    raise InvalidInputError(
        f"feature {name} is categorical with string categories {shown}, but the input gives "
        "it numbers (category codes?), which scikit-learn refuses too: pass the category "
        "values (strings, a pandas Categorical, or a numpy object array)"
    )


def _xgboost_categorical(model, j: int) -> bool:
    types = model.feature_types
    return bool(types) and j < len(types) and types[j] == "c"


def _categorical_for_numeric(model, name: str, col: Column) -> np.ndarray:
    """A categorical column for a feature the model does not treat as categorical."""
    if model.library == "sklearn":
        # scikit-learn reads a categorical column by its values (numbers), not its codes.
        return _numeric(col.category_values(), name)
    if model.library == "xgboost":
        raise InvalidInputError(
            f"column {name} is categorical ({col.dtype}), but the model treats that feature "
            "as numeric: XGBoost refuses such a column (a DMatrix without "
            "enable_categorical=True), and with it would read the category codes, whose "
            "meaning depends on the column's category list; pass numbers, e.g. "
            f"X[{name}].cat.codes for the codes"
        )
    # LightGBM (a model trained without pandas categories) reads such a column by its codes.
    return _codes(col)


def _codes(col: Column) -> np.ndarray:
    """A categorical column's codes as numbers (missing as NaN)."""
    codes = col.codes.astype(np.float64)
    codes[col.codes < 0] = np.nan
    return codes


def _encode_column(model, j: int, name: str, col: Column, lightgbm_categories) -> np.ndarray:
    """Column ``j`` of the model's matrix from one column of a table.

    ``lightgbm_categories`` is an iterator over LightGBM's ``pandas_categorical`` lists (the
    k-th categorical column of the table uses the k-th list), or None.
    """
    if j in model.categories:
        # HistGradientBoosting: categories are read by value, as its OrdinalEncoder does.
        cats = model.categories[j]
        if col.is_categorical:
            if _text_categories(cats) and not _text_categories(col.categories):
                _refuse_numbers_for_text(name, cats)
            return _category_codes(model, j, col.category_values(), name)
        values = col.numbers if col.numbers is not None else col.values
        if _text_categories(cats) and np.asarray(values).dtype.kind in "fiub":
            _refuse_numbers_for_text(name, cats)
        return _category_codes(model, j, np.asarray(values, dtype=object), name)
    if col.is_categorical:
        if lightgbm_categories is not None:
            return _encode(col.category_values(), next(lightgbm_categories))
        if j in model.frame_categories:
            values = col.category_values()
            out = _encode(values, model.frame_categories[j])
            # XGBoost refuses categories it did not see in training: so do we.
            unseen = np.isnan(out) & (col.codes >= 0)
            if unseen.any():
                raise InvalidInputError(
                    f"column {name} holds the category {values[unseen][0]!r}, which the "
                    "model did not see in training (XGBoost refuses it too); known: "
                    f"{list(model.frame_categories[j])[:20]}"
                )
            return out
        if model.library == "xgboost" and _xgboost_categorical(model, j):
            # A categorical feature without stored categories: the column's codes (xgboost
            # < 3.1 and models trained on codes read a DataFrame this way).
            return _codes(col)
        return _categorical_for_numeric(model, name, col)
    if j in model.frame_categories:
        known = [str(c) for c in list(model.frame_categories[j])[:10]]
        raise InvalidInputError(
            f"column {name} holds {col.dtype} values, but the model treats that feature as "
            f"categorical with categories {known}: XGBoost refuses it in a table too (the data "
            "type does not match); pass a categorical column (pandas Categorical, polars "
            "Categorical/Enum, arrow dictionary) holding these categories, or a numpy array of "
            "category codes"
        )
    if col.numbers is not None:
        return col.numbers
    return _numeric(col.values, name)


def _lightgbm_category_lists(model, table: Table, source: list[int]):
    """For LightGBM, an iterator over the category lists of the table's categorical columns
    (taken in the model's order, the k-th using the model's k-th ``pandas_categorical`` list),
    or None when categorical columns are read by their codes (or there are none)."""
    if model.library != "lightgbm":
        return None
    n_cat = sum(table.is_categorical(i) for i in source)
    trained = model.pandas_categorical
    if table.kind == "pandas":
        if trained is None:
            return None  # a model trained without a DataFrame: LightGBM reads the codes
        if n_cat != len(trained):
            raise InvalidInputError(
                f"X has {n_cat} categorical columns, but the LightGBM model was trained on a "
                f"DataFrame with {len(trained)} (LightGBM refuses this too: 'categorical_feature "
                "do not match'); give exactly the training's categorical columns as categorical"
            )
        return iter(trained)
    # polars and pyarrow: LightGBM reads arrow columns of numbers (category codes as they
    # are) and refuses dictionary columns. Where the model knows the categories, treelens reads
    # categorical columns by value as for pandas; elsewhere their codes would be a guess.
    if n_cat == 0:
        return None
    if not trained or n_cat != len(trained):
        raise InvalidInputError(
            f"X has {n_cat} categorical (dictionary) columns, but the LightGBM model knows the "
            f"categories of {len(trained or [])} (it was trained on "
            f"{'a pandas DataFrame' if trained is not None else 'no DataFrame'}); LightGBM "
            "refuses dictionary arrow columns too: pass the category codes as integers"
        )
    return iter(trained)


#: Characters LightGBM refuses in feature names ("special JSON characters"): a model holding
#: ``_`` where the user's names hold them was trained on names sanitised this way.
_LIGHTGBM_REFUSED = str.maketrans({c: "_" for c in '",:[]{}'})


def lightgbm_feature_name(name: str) -> str:
    """The name LightGBM stores for a column called ``name``.

    LightGBM replaces each space by ``_`` (``Dataset::set_feature_names``) and refuses names
    holding any of ``",:[]{}``; those are replaced by ``_`` here too, as users rename such
    columns to train, so that their original frame still matches the model by name."""
    return str(name).replace(" ", "_").translate(_LIGHTGBM_REFUSED)


def _user_stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the first caller outside treelens."""
    package = os.path.dirname(os.path.abspath(__file__))
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame, level = frame.f_back, level + 1
    return level


def _shown(names, limit: int = 5) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (", ..." if len(names) > limit else "")


def _by_position(model, names: list[str], expected: list[str]) -> list[int]:
    """Columns whose names differ from the model's but whose count is equal are read by
    position, as shap reads them, with a warning naming the differences (never reordered by
    the names that happen to match: that would be a guess)."""
    pairs = [(n, e) for n, e in zip(names, expected) if n != e]
    read_as = ", ".join(f"{n!r} as {e!r}" for n, e in pairs[:5])
    warnings.warn(
        f"X's column names differ from the model's feature names in {len(pairs)} of "
        f"{len(expected)} places, so X is read by position (as shap.TreeExplainer reads it), "
        f"its columns read as: {read_as}{', ...' if len(pairs) > 5 else ''}. Name X's columns "
        f"as the model's features ({_shown(expected)}) to have them matched by name.",
        UserWarning,
        stacklevel=_user_stacklevel(),
    )
    return list(range(model.n_features))


def column_sources(model, names: list[str]) -> list[int]:
    """For each of the model's columns, the input column (by position) it is read from.

    The model's names all present (in any order, each once): matched by name. For LightGBM,
    names matched after LightGBM's own renaming (:func:`lightgbm_feature_name`). Otherwise, as
    many columns as features: read by position with a ``UserWarning``. A different count:
    :class:`FeatureNameError` naming what is missing and unexpected. A model without names
    reads the columns by position.
    """
    p = model.n_features
    if len(set(names)) != len(names):
        repeated = sorted(n for n, count in Counter(names).items() if count > 1)
        raise FeatureNameError(f"X has duplicate column names: {repeated[:10]}")
    if model.feature_names is None:
        if len(names) != p:
            raise InvalidInputError(
                f"X has {len(names)} columns, but the model was trained on {p} features"
            )
        return list(range(p))
    expected = [str(n) for n in model.feature_names]
    if names == expected:
        return list(range(p))
    position = {n: i for i, n in enumerate(names)}
    if len(names) == p and all(n in position for n in expected):
        return [position[n] for n in expected]
    if model.library == "lightgbm":
        renamed = [lightgbm_feature_name(n) for n in names]
        stored = [lightgbm_feature_name(n) for n in expected]
        at = {n: i for i, n in enumerate(renamed)}
        if len(names) == p and len(at) == p and all(n in at for n in stored):
            return [at[n] for n in stored]
    if len(names) == p:
        return _by_position(model, names, expected)
    # Compared as the library compares them: LightGBM's after its renaming.
    key = lightgbm_feature_name if model.library == "lightgbm" else str
    have = {key(n) for n in names}
    wanted = {key(n) for n in expected}
    missing = [n for n in expected if key(n) not in have]
    extra = [n for n in names if key(n) not in wanted]
    raise FeatureNameError(
        f"X has {len(names)} columns, but the model was trained on {p} features: "
        f"missing {missing[:10]}, unexpected {extra[:10]}"
        + (" (and more)" if len(missing) > 10 or len(extra) > 10 else "")
        + (" (names compared after LightGBM's renaming of spaces to '_')" if key is not str else "")
    )


def _table_matrix(model, table: Table) -> tuple[np.ndarray, np.ndarray | None]:
    """The model-ordered matrix of a table, and the model column of each table column.

    Read a block of rows at a time (a slice of the table: no column is converted whole), each
    block's columns written side by side while the block is in cache; a float64 column without
    nulls is read through a view of its buffer, not copied."""
    names = table.names
    p = model.n_features
    source = column_sources(model, names)
    # Plain numeric columns are read through views of their buffers; the others (categorical,
    # nullable, text) are converted from a slice of the table, a block of rows at a time.
    views = {}
    for j, i in enumerate(source):
        if j not in model.categories and j not in model.frame_categories:
            view = table.numeric_view(i)
            if view is not None:
                views[j] = view
    converted = [(j, i) for j, i in enumerate(source) if j not in views]
    _lightgbm_category_lists(model, table, source)  # its checks, whatever is converted
    out = np.empty((table.n_rows, p), dtype=np.float64)
    step = table_block_rows(p)
    for r0 in range(0, table.n_rows, step) if table.n_rows > 0 else (0,):
        r1 = min(table.n_rows, r0 + step)
        block = out[r0:r1]
        for j, view in views.items():
            block[:, j] = view.rows(r0, r1)
        if converted:
            part = table.rows(r0, r1) if (r0, r1) != (0, table.n_rows) else table
            lightgbm = _lightgbm_category_lists(model, part, source)
            for j, i in converted:
                column = part.column(i)
                block[:, j] = _encode_column(model, j, repr(names[i]), column, lightgbm)
        _finish_block(model, block, r0)
    order = np.argsort(np.asarray(source, dtype=np.intp))
    identity = np.array_equal(order, np.arange(p))
    return out, None if identity else order


#: Bytes of the model's matrix filled at a time from a table or a sparse input: small enough
#: for the block to stay in cache while its columns are written side by side.
TABLE_BLOCK_BYTES = 1 << 20


def table_block_rows(n_features: int) -> int:
    """Rows per block when reading a table or a sparse input (at least 1)."""
    return max(1, TABLE_BLOCK_BYTES // (8 * max(1, int(n_features))))


def _sparse_matrix(model, rows: SparseRows) -> tuple[np.ndarray, np.ndarray | None]:
    """The model-ordered matrix of a sparse input, densified a block of rows at a time, absent
    entries as the model's library reads them (a DMatrix's as missing)."""
    n, width = rows.shape
    p = model.n_features
    if rows.names is not None:
        source = column_sources(model, rows.names)
    elif width != p:
        raise InvalidInputError(
            f"X ({rows.what}) has {width} columns, but the model was trained on {p} features"
        )
    else:
        source = list(range(p))
    absent_is_missing = rows.absent_is_missing
    if absent_is_missing is None:
        absent_is_missing = model.sparse_absent_is_missing
    fill = np.nan if absent_is_missing else 0.0
    for j, cats in model.categories.items():
        if _text_categories(cats):
            _refuse_numbers_for_text(f"{j}", cats)
    identity = source == list(range(p))
    out = np.empty((n, p), dtype=np.float64)
    step = table_block_rows(p)
    scratch = None if identity else np.empty((min(step, n), width), dtype=np.float64)
    for r0 in range(0, n, step):
        r1 = min(n, r0 + step)
        block = out[r0:r1]
        if identity:
            densify_rows(rows, r0, r1, fill, block)
        else:
            densify_rows(rows, r0, r1, fill, scratch[: r1 - r0])
            block[...] = scratch[: r1 - r0, source]
        for j, cats in model.categories.items():
            block[:, j] = _encode(block[:, j], cats)
        # A DMatrix dropped its own missing values when it was built; the model's ``missing``
        # is not applied again (Booster.predict(DMatrix) does not either).
        _finish_block(model, block, r0, model_missing=rows.absent_is_missing is None)
    order = np.argsort(np.asarray(source, dtype=np.intp))
    return out, None if np.array_equal(order, np.arange(p)) else order


def _array_matrix(model, X, *, checked: bool) -> np.ndarray:
    """The matrix of an array-like, read by position (its order is the model's).

    ``checked``: whether its float64 size was checked already (from its shape); an input
    without a shape (nested lists) is checked once numpy has read it, before it is converted.
    """
    try:
        arr = np.asarray(X)
    except ValueError as e:  # ragged nested lists
        raise InvalidInputError(
            f"X is not a rectangular (n_samples, n_features) table: {e}"
        ) from None
    if arr.ndim == 0 and arr.dtype == object and not isinstance(X, (int, float, complex)):
        raise InvalidInputError(
            f"X is a {type(X).__module__}.{type(X).__name__}, which treelens cannot read: "
            "pass a numpy array (float32, float64, integer or boolean), a pandas or polars "
            "DataFrame or a pyarrow Table"
        )
    if arr.ndim != 2:
        raise InvalidInputError(
            f"X must be 2-D (n_samples, n_features), got {arr.ndim}-D with shape "
            f"{arr.shape}; use X.reshape(1, -1) for one row"
        )
    if arr.shape[1] != model.n_features:
        raise InvalidInputError(
            f"X has {arr.shape[1]} columns, but the model was trained on "
            f"{model.n_features} features"
        )
    if not checked:
        _ensure_converted_fits(model, arr.shape[0])
    if model.categories and arr.dtype.kind not in "fiub":
        out = np.empty(arr.shape, dtype=np.float64)
        for j in range(arr.shape[1]):
            if j in model.categories:
                out[:, j] = _category_codes(model, j, arr[:, j], f"{j}")
            else:
                out[:, j] = _numeric(arr[:, j], f"{j}")
        return out
    if arr.dtype.kind not in "fiub":
        try:
            if arr.dtype.kind != "O" or _holds_text(arr):
                raise TypeError
            arr = arr.astype(np.float64)
        except (TypeError, ValueError):
            raise InvalidInputError(
                f"X is not numeric (dtype {arr.dtype}); treelens accepts float32, "
                "float64, integer and boolean arrays, or DataFrames"
            ) from None
    return _converted(arr, model)


def _converted(arr: np.ndarray, model) -> np.ndarray:
    """A numeric array as a new float64 C-ordered matrix (categorical columns encoded),
    converted a block of rows at a time, so that a float32 memmap costs its float64 copy and no
    whole-size temporary (its size was checked against the memory budget by the caller)."""
    n, p = arr.shape
    for j, cats in model.categories.items():
        if _text_categories(cats):
            _refuse_numbers_for_text(f"{j}", cats)
    out = np.empty((n, p), dtype=np.float64)
    step = conversion_rows(p)
    for r0 in range(0, n, step):
        block = out[r0 : r0 + step]
        block[...] = arr[r0 : r0 + step]
        for j in model.categories:
            block[:, j] = _category_codes(model, j, block[:, j], f"{j}")
    return out


def _finish(model, out: np.ndarray) -> np.ndarray:
    """The model's own reading of the values (see :func:`_finish_block`), in place, a block of
    rows at a time (the temporaries stay small)."""
    step = conversion_rows(out.shape[1] if out.ndim == 2 else 1)
    for r0 in range(0, out.shape[0], step):
        _finish_block(model, out[r0 : r0 + step], r0)
    return np.ascontiguousarray(out, dtype=np.float64)


def _finish_block(model, block: np.ndarray, r0: int, *, model_missing: bool = True) -> None:
    """The model's own reading of a block of rows (whose first is row ``r0``), in place:
    XGBoost's ``missing`` value (unless ``model_missing`` is False), refused NaN, LightGBM's
    zero threshold."""
    if model_missing and model.missing_value is not None and not np.isnan(model.missing_value):
        # XGBoost reads values as float32 and compares them with float32(missing).
        with np.errstate(over="ignore"):
            block[block.astype(np.float32) == np.float32(model.missing_value)] = np.nan
    if not model.accepts_missing and np.isnan(block).any():
        row, col = np.argwhere(np.isnan(block))[0]
        name = model.feature_names[col] if model.feature_names else f"{col}"
        estimator = model.estimator
        raise InvalidInputError(
            f"X has missing values (NaN, e.g. row {r0 + row}, column {name}), which "
            f"{type(estimator).__name__ if estimator is not None else 'this model'} "
            "does not accept (scikit-learn refuses them too): impute them first, or use a "
            "model that handles them (e.g. HistGradientBoosting)"
        )
    if model.library == "lightgbm":
        # LightGBM's predictor keeps only values with |x| > kZeroThreshold (1e-35f) and
        # reads the others as 0.0 before any tree sees them.
        with np.errstate(invalid="ignore"):
            block[np.abs(block) <= LIGHTGBM_ZERO] = 0.0


def _ensure_converted_fits(model, n_rows: int) -> None:
    """Refuses (OutputTooLargeError) an input whose float64 matrix would not fit in the memory
    budget, before any of it is converted."""
    p = model.n_features
    ensure_fits(
        f"X converted to float64 ({n_rows} x {p})",
        input_bytes(n_rows, p),
        "pass fewer rows at a time (the input is converted to a float64 copy)",
    )


def read_input(model, X) -> Prepared:
    """``X`` read for ``model``: the matrix in the model's order, and the input's order.

    A named table (pandas or polars DataFrame, pyarrow Table or RecordBatch) is matched to the
    model's feature names by :func:`column_sources`: by name in any order, after LightGBM's own
    renaming for LightGBM models, else by position with a warning when the counts agree
    (:class:`FeatureNameError` when they do not). A scipy sparse matrix is read by position, an
    ``xgboost.DMatrix`` by its feature names as a table is; both a block of rows at a time,
    absent entries as the model's library reads them (see :mod:`treelens.sparse_inputs`).
    Anything else is read as an array, by position. This is the one place where the input's
    column order is mapped to the model's: results go back with :meth:`Prepared.columns`.

    The float64 matrix is sized against the memory budget first, from the input's row count,
    before anything is converted (:class:`OutputTooLargeError` when it would not fit); every
    input is then converted a block of rows at a time.
    """
    table = named_table(X)
    n_rows = table.n_rows if table is not None else rows_of(X)
    if n_rows is not None:
        _ensure_converted_fits(model, n_rows)
    sparse = None if table is not None else sparse_rows(X)
    if sparse is not None:
        out, order = _sparse_matrix(model, sparse)
        names = sparse.names
        if names is None and model.feature_names is not None:
            names = [str(n) for n in model.feature_names]
        return Prepared(out, order, names)
    if table is None:
        out = _finish(model, _array_matrix(model, X, checked=n_rows is not None))
        names = None if model.feature_names is None else [str(n) for n in model.feature_names]
        return Prepared(out, None, names)
    out, order = _table_matrix(model, table)
    return Prepared(out, order, list(table.names))


def as_matrix(model, X) -> np.ndarray:
    """``X`` as a float64, C-ordered (n_samples, n_features) matrix in the model's column order
    and encoding (see :func:`read_input`)."""
    return read_input(model, X).matrix
