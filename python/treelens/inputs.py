"""Turning user data (numpy arrays, pandas DataFrames) into the matrix the core reads."""

from __future__ import annotations

import numpy as np

from .exceptions import FeatureNameError, InvalidInputError
from .memory import conversion_rows, ensure_fits, input_bytes

#: LightGBM's kZeroThreshold: the float constant 1e-35f widened to double.
LIGHTGBM_ZERO = float(np.float32(1e-35))


def is_dataframe(X) -> bool:
    module = type(X).__module__
    return module.startswith("pandas") and hasattr(X, "columns") and hasattr(X, "dtypes")


def column_names(X) -> list[str] | None:
    """The column names of a DataFrame, or None for arrays."""
    return [str(c) for c in X.columns] if is_dataframe(X) else None


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


def _frame_matrix(model, X) -> np.ndarray:
    import pandas as pd

    names = [str(c) for c in X.columns]
    expected = model.feature_names
    if len(set(names)) != len(names):
        raise FeatureNameError("the DataFrame has duplicate column names")
    if expected is not None:
        if names != list(expected):
            missing = [n for n in expected if n not in names]
            extra = [n for n in names if n not in expected]
            if missing or extra:
                raise FeatureNameError(
                    "the DataFrame's columns do not match the model's feature names: "
                    f"missing {missing[:10]}, unexpected {extra[:10]}"
                )
            # Same names, other order: take the model's order.
            X = X[[X.columns[names.index(n)] for n in expected]]
            names = list(expected)
    elif len(names) != model.n_features:
        raise InvalidInputError(
            f"X has {len(names)} columns, but the model was trained on {model.n_features} features"
        )
    out = np.empty((len(X), len(names)), dtype=np.float64)
    pandas_cats = list(model.pandas_categorical or [])
    cat_index = 0
    for j, name in enumerate(names):
        col = X.iloc[:, j]
        if isinstance(col.dtype, pd.CategoricalDtype):
            if model.pandas_categorical is not None:
                # LightGBM: the k-th categorical column uses the k-th stored category list.
                if cat_index >= len(pandas_cats):
                    raise InvalidInputError(
                        f"column {name!r} is categorical, but the model knows categories for "
                        f"only {len(pandas_cats)} categorical columns"
                    )
                out[:, j] = _encode(np.asarray(col.astype(object)), pandas_cats[cat_index])
                cat_index += 1
            elif j in model.categories:
                out[:, j] = _encode(np.asarray(col.astype(object)), model.categories[j])
            elif j in model.frame_categories:
                values = np.asarray(col.astype(object))
                out[:, j] = _encode(values, model.frame_categories[j])
                # XGBoost refuses categories it did not see in training: so do we.
                unseen = np.isnan(out[:, j]) & ~col.isna().to_numpy()
                if unseen.any():
                    raise InvalidInputError(
                        f"column {name!r} holds the category {values[unseen][0]!r}, which the "
                        "model did not see in training (XGBoost refuses it too); known: "
                        f"{list(model.frame_categories[j])[:20]}"
                    )
            elif model.library == "sklearn":
                # scikit-learn reads a categorical column the model treats as numeric by its
                # values (numbers), not by its category codes.
                values = np.asarray(col.astype(object).where(col.notna(), np.nan))
                out[:, j] = _numeric(values, repr(name))
            else:
                # XGBoost and LightGBM read such a column by its category codes.
                codes = col.cat.codes.to_numpy().astype(np.float64)
                codes[codes < 0] = np.nan
                out[:, j] = codes
        elif j in model.categories:
            out[:, j] = _encode(np.asarray(col.astype(object)), model.categories[j])
        else:
            out[:, j] = _numeric(col.to_numpy(dtype=None, na_value=np.nan), repr(name))
    return out


def as_matrix(model, X) -> np.ndarray:
    """``X`` as a float64, C-ordered (n_samples, n_features) matrix in the model's encoding."""
    if is_dataframe(X):
        ensure_fits(
            f"X converted to float64 ({len(X)} x {model.n_features})",
            input_bytes(len(X), model.n_features),
            "pass fewer rows at a time (the input is converted to a float64 copy)",
        )
        out = _frame_matrix(model, X)
    else:
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
                "pass a numpy array (float32, float64, integer or boolean) or a pandas DataFrame"
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
        if model.categories and arr.dtype.kind not in "fiub":
            out = np.empty(arr.shape, dtype=np.float64)
            for j in range(arr.shape[1]):
                if j in model.categories:
                    out[:, j] = _encode(arr[:, j], model.categories[j])
                else:
                    out[:, j] = _numeric(arr[:, j], f"{j}")
        else:
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
            out = _converted(arr, model)
    _finish(model, out)
    return np.ascontiguousarray(out, dtype=np.float64)


def _converted(arr: np.ndarray, model) -> np.ndarray:
    """A numeric array as a new float64 C-ordered matrix (categorical columns encoded), checked
    against the memory budget first and converted a block of rows at a time, so that a float32
    memmap costs its float64 copy and no whole-size temporary."""
    n, p = arr.shape
    ensure_fits(
        f"X converted to float64 ({n} x {p})",
        input_bytes(n, p),
        "pass fewer rows at a time (the input is converted to a float64 copy)",
    )
    out = np.empty((n, p), dtype=np.float64)
    step = conversion_rows(p)
    for r0 in range(0, n, step):
        block = out[r0 : r0 + step]
        block[...] = arr[r0 : r0 + step]
        for j, cats in model.categories.items():
            block[:, j] = _encode(block[:, j], cats)
    return out


def _finish(model, out: np.ndarray) -> None:
    """The model's reading of the values, in place, a block of rows at a time (the temporaries
    stay small): XGBoost's ``missing`` value, refused NaN, LightGBM's zero threshold."""
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
