"""Turning user data (numpy arrays; pandas or polars DataFrames, pyarrow Tables) into the matrix
the core reads, and the order results come back in.

Names are the truth: a table's columns are matched to the model's feature names by name, in
whatever order they come, and every result and label comes back in the input's column order (as
scikit-learn does). A numpy array is read by position: its order is the model's.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from .exceptions import FeatureNameError, InvalidInputError
from .memory import block_rows, conversion_rows, ensure_fits, input_bytes, rows_of
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
    """

    matrix: np.ndarray
    order: np.ndarray | None
    names: list[str] | None

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


def input_data(X) -> np.ndarray:
    """The input's own values as a 2-D array, in its column order (an Explanation's data)."""
    table = named_table(X)
    return np.asarray(X) if table is None else table.data()


def _encode(values: np.ndarray, categories: np.ndarray) -> np.ndarray:
    """Codes of ``values`` in ``categories`` (position in the list); unknown or missing -> NaN."""
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


def _table_matrix(model, table: Table) -> tuple[np.ndarray, np.ndarray | None]:
    """The model-ordered matrix of a table, and the model column of each table column."""
    names = table.names
    p = model.n_features
    if len(set(names)) != len(names):
        repeated = sorted(n for n, count in Counter(names).items() if count > 1)
        raise FeatureNameError(f"X has duplicate column names: {repeated[:10]}")
    expected = model.feature_names
    if expected is not None:
        expected = [str(n) for n in expected]
        if names != expected:
            present = set(names)
            wanted = set(expected)
            missing = [n for n in expected if n not in present]
            extra = [n for n in names if n not in wanted]
            if missing or extra:
                raise FeatureNameError(
                    "X's columns do not match the model's feature names: "
                    f"missing {missing[:10]}, unexpected {extra[:10]}"
                    + (" (and more)" if len(missing) > 10 or len(extra) > 10 else "")
                )
        position = {n: i for i, n in enumerate(names)}
        source = [position[n] for n in expected]
    else:
        if len(names) != p:
            raise InvalidInputError(
                f"X has {len(names)} columns, but the model was trained on {p} features"
            )
        source = list(range(p))
    lightgbm = _lightgbm_category_lists(model, table, source)
    out = np.empty((table.n_rows, p), dtype=np.float64)
    for j, i in enumerate(source):  # one column at a time: memory for one column at most
        out[:, j] = _encode_column(model, j, repr(names[i]), table.column(i), lightgbm)
    order = np.argsort(np.asarray(source, dtype=np.intp))
    identity = np.array_equal(order, np.arange(p))
    return out, None if identity else order


def _array_matrix(model, X, *, checked: bool) -> np.ndarray:
    """The matrix of an array-like, read by position (its order is the model's).

    ``checked``: whether its float64 size was checked already (from its shape); an input
    without a shape (nested lists) is checked once numpy has read it, before it is converted.
    """
    if hasattr(X, "toarray") and hasattr(X, "nnz"):
        raise InvalidInputError(
            "sparse matrices are not supported; pass a dense numpy array or DataFrame"
        )
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
    """The model's own reading of the values, in place, a block of rows at a time (the
    temporaries stay small): XGBoost's ``missing`` value, refused NaN, LightGBM's zero
    threshold."""
    step = conversion_rows(out.shape[1] if out.ndim == 2 else 1)
    for r0 in range(0, out.shape[0], step):
        block = out[r0 : r0 + step]
        if model.missing_value is not None and not np.isnan(model.missing_value):
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
    return np.ascontiguousarray(out, dtype=np.float64)


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
    model's feature names by name: missing, unexpected or duplicate names raise
    :class:`FeatureNameError`; a model without names reads it by position. Anything else is
    read as an array, by position. This is the one place where the input's column order is
    mapped to the model's: results go back with :meth:`Prepared.columns`.

    The float64 matrix is sized against the memory budget first, from the input's row count,
    before anything is converted (:class:`OutputTooLargeError` when it would not fit); arrays
    are then converted a block of rows at a time.
    """
    table = named_table(X)
    n_rows = table.n_rows if table is not None else rows_of(X)
    if n_rows is not None:
        _ensure_converted_fits(model, n_rows)
    if table is None:
        out = _array_matrix(model, X, checked=n_rows is not None)
        order = None
        names = None if model.feature_names is None else [str(n) for n in model.feature_names]
    else:
        out, order = _table_matrix(model, table)
        names = list(table.names)
    return Prepared(_finish(model, out), order, names)


def as_matrix(model, X) -> np.ndarray:
    """``X`` as a float64, C-ordered (n_samples, n_features) matrix in the model's column order
    and encoding (see :func:`read_input`)."""
    return read_input(model, X).matrix
