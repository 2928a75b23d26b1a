"""treelens on Dask collections, on a real ``distributed.LocalCluster`` of worker processes.

Every row-wise result computed on the cluster equals the in-memory result on the same rows
(bitwise: each block is explained by the in-memory code); reductions agree to 1e-9. Models:
scikit-learn, XGBoost and LightGBM (with pandas categoricals); inputs: dask arrays and
DataFrames, partitioned as one block, unevenly, in many small blocks and with an empty one.
``hstats`` runs its passes over the partitions and equals the in-memory statistics to 1e-9.
Bad input is refused when the call is made, before any task runs. One test kills a worker
process in the middle of a SHAP computation: the scheduler's retry gives the same values.
"""

from __future__ import annotations

import os
import pickle
import signal
import time

import dask
import dask.array as da
import dask.dataframe as dd
import distributed
import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.ensemble import RandomForestRegressor

import treelens as tl
from treelens.exceptions import InvalidInputError
from treelens.interventional import InterventionalExplainer

pytestmark = pytest.mark.dask

N, P = 600, 6
NAMES = [f"f{i}" for i in range(P)]
# Row partitionings: one block, uneven, many small, and one with an empty partition.
SPLITS = {
    "one": [N],
    "uneven": [17, 400, 183],
    "small": [25] * (N // 25),
    "empty": [200, 0, 400],
}


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def _data(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, P))
    X[rng.random(X.shape) < 0.05] = np.nan
    y = np.nan_to_num(X[:, 0]) + np.nan_to_num(X[:, 1] * X[:, 2]) + 0.1 * rng.normal(size=N)
    return X, y


@pytest.fixture(scope="module")
def models():
    X, y = _data()
    frame = pd.DataFrame(X, columns=NAMES)
    out = {
        "sklearn": (
            RandomForestRegressor(20, max_depth=6, random_state=0).fit(np.nan_to_num(X), y),
            np.nan_to_num(X),
        ),
        "xgboost": (
            xgb.XGBClassifier(n_estimators=30, max_depth=4, random_state=0).fit(
                frame, np.digitize(y, [-0.5, 0.5])
            ),
            X,
        ),
    }
    cat = frame.copy()
    cat["f5"] = pd.Categorical(np.random.default_rng(1).choice(list("abcd"), N))
    target = y + (cat["f5"] == "b").to_numpy()
    out["lightgbm"] = (
        lgb.LGBMRegressor(n_estimators=30, num_leaves=15, verbose=-1, random_state=0).fit(
            cat, target
        ),
        cat,
    )
    return out


def _array(X, split):
    return da.from_array(np.asarray(X), chunks=(tuple(split), P))


def _frame(X, split):
    frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X, columns=NAMES)
    bounds = np.cumsum([0, *split])
    parts = [frame.iloc[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    return dd.from_delayed([dask.delayed(p) for p in parts], meta=frame.iloc[:0])


def _collections(X):
    for name, split in SPLITS.items():
        if not isinstance(X, pd.DataFrame):
            yield f"array-{name}", _array(X, split)
        yield f"frame-{name}", _frame(X, split)


@pytest.mark.parametrize("kind", ["sklearn", "xgboost", "lightgbm"])
def test_row_wise_results_equal_in_memory(client, models, kind):
    est, X = models[kind]
    model = tl.load(est)
    path = tl.TreeExplainer(est)
    background = X.iloc[:50] if isinstance(X, pd.DataFrame) else X[:50]
    interventional = InterventionalExplainer(est, background)
    expected = {
        "predict": model.predict(X),
        "shap": path.shap_values(X),
        "interactions": path.shap_interaction_values(X),
        "interventional": interventional.shap_values(X),
        "interventional interactions": interventional.shap_interaction_values(X),
    }
    for label, dX in _collections(X):
        lazy = {
            "predict": model.predict(dX),
            "shap": path.shap_values(dX),
            "interactions": path.shap_interaction_values(dX),
            "interventional": interventional.shap_values(dX),
            "interventional interactions": interventional.shap_interaction_values(dX),
        }
        computed = dask.compute(lazy)[0]
        for what, want in expected.items():
            assert isinstance(lazy[what], da.Array), (label, what)
            # The row chunks are the input's (unknown for a DataFrame; dask's concatenate drops
            # an empty one).
            if label.startswith("array"):
                rows = tuple(c for c in dX.chunks[0] if c)
                assert lazy[what].chunks[0] == rows, (label, what)
            assert computed[what].shape == want.shape, (label, what)
            np.testing.assert_array_equal(computed[what], want, err_msg=f"{label} {what}")


@pytest.mark.parametrize("kind", ["sklearn", "xgboost", "lightgbm"])
def test_reductions_equal_in_memory(client, models, kind):
    est, X = models[kind]
    explainers = [tl.TreeExplainer(est)]
    background = X.iloc[:40] if isinstance(X, pd.DataFrame) else X[:40]
    explainers.append(tl.TreeExplainer(est, background, feature_perturbation="interventional"))
    for ex in explainers:
        for reduce in ("mean_abs", "mean"):
            values = ex.shap_values(X)
            want = np.abs(values).mean(axis=0) if reduce == "mean_abs" else values.mean(axis=0)
            np.testing.assert_allclose(ex.shap_values(X, reduce=reduce), want, rtol=1e-12)
            want_pairs = ex.shap_interaction_values(X, reduce=reduce)
            for label, dX in _collections(X):
                got = ex.shap_values(dX, reduce=reduce)
                assert isinstance(got, np.ndarray), label
                np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12, err_msg=label)
                got = ex.shap_interaction_values(dX, reduce=reduce)
                np.testing.assert_allclose(got, want_pairs, rtol=1e-9, atol=1e-12, err_msg=label)


def test_labels_follow_the_rows(client):
    X, target = _data()
    y = (target > 0).astype(int)
    est = xgb.XGBClassifier(n_estimators=20, max_depth=4, random_state=0).fit(X, y)
    ex = tl.TreeExplainer(
        est, X[:40], feature_perturbation="interventional", model_output="log_loss"
    )
    want = ex.shap_values(X, y)
    split = SPLITS["uneven"]
    got = ex.shap_values(_array(X, split), da.from_array(y, chunks=(tuple(split),)))
    np.testing.assert_array_equal(got.compute(), want)
    with pytest.raises(InvalidInputError, match="must be a dask collection of X's rows"):
        ex.shap_values(_array(X, split), y)


def test_explainer_is_one_key_of_the_graph(models):
    # The explainer (with its background tables) is stored once in the graph, not once per
    # block: one entry of the graph is at least its size, and all together not much more.
    est, X = models["sklearn"]
    ex = InterventionalExplainer(est, X[:300])
    size = len(pickle.dumps(ex))
    lazy = ex.shap_values(_array(X, SPLITS["small"]))
    graph = dict(lazy.__dask_graph__())
    assert len(graph) > 24
    sizes = [len(pickle.dumps(task)) for task in graph.values()]
    assert sum(s >= size for s in sizes) == 1
    assert sum(sizes) < size + 2_000 * len(graph)


def _ran(path):
    return os.path.exists(path)


def test_bad_input_is_refused_before_any_task_runs(client, models, tmp_path):
    est, X = models["sklearn"]
    ex = tl.TreeExplainer(est)
    marker = str(tmp_path / "ran")

    def block(shape, dtype=np.float64):
        # A block whose computation leaves a mark: it must never run.
        def make():
            open(marker, "w").close()
            return np.zeros(shape, dtype=dtype)

        return da.from_delayed(dask.delayed(make)(), shape=shape, dtype=dtype)

    cases = [
        (da.concatenate([block((10, 3)), block((10, 3))], axis=1), "chunked along its columns"),
        (da.from_array(np.full((10, P), "a")), ""),
        (block((10,)), "1-D"),
    ]
    for dX, message in cases:
        with pytest.raises(InvalidInputError, match=message):
            ex.shap_values(dX)
    frame = _frame(X, SPLITS["uneven"])
    model = tl.load(models["lightgbm"][0])
    with pytest.raises(Exception, match="f5"):
        model.predict(frame.drop(columns=["f5"]))
    strings = dd.from_pandas(pd.DataFrame({n: ["a"] * 10 for n in NAMES}), npartitions=2)
    with pytest.raises(InvalidInputError):
        ex.shap_values(strings)
    with pytest.raises(InvalidInputError, match="Explanation holds"):
        ex(_array(X, SPLITS["uneven"]))
    assert not _ran(marker)


def test_a_task_uses_one_thread_by_default_in_a_worker(client, monkeypatch):
    from treelens.options import default_n_jobs

    assert client.submit(default_n_jobs, pure=False).result() == 1
    assert default_n_jobs() is None or "TREELENS_NUM_THREADS" in os.environ
    monkeypatch.setenv("TREELENS_NUM_THREADS", "3")
    assert default_n_jobs() == 3
    monkeypatch.setenv("TREELENS_NUM_THREADS", "many")
    with pytest.raises(InvalidInputError, match="TREELENS_NUM_THREADS"):
        default_n_jobs()
    monkeypatch.delenv("TREELENS_NUM_THREADS")
    monkeypatch.setenv("RAYON_NUM_THREADS", "2")
    assert default_n_jobs() == 2


def _kill_a_busy_worker(client, future, pids):
    """Kills (SIGKILL) a worker process while it runs one of ``future``'s tasks (its nanny
    starts a new one); returns its address."""
    deadline = time.monotonic() + 60
    victim = None
    while victim is None and time.monotonic() < deadline and not future.done():
        busy = [w for w, tasks in client.processing().items() if tasks and w in pids]
        victim = busy[0] if busy else None
        time.sleep(0.01)
    assert victim is not None and not future.done(), "the computation ended before the kill"
    os.kill(pids[victim], signal.SIGKILL)
    return victim


def test_killing_a_worker_mid_computation_changes_nothing(client, models):
    est, X = models["sklearn"]
    rows = np.tile(X, (40, 1))  # 24,000 rows in 96 blocks
    ex = InterventionalExplainer(est, X[:200])
    want = ex.shap_values(rows)
    lazy = ex.shap_values(da.from_array(rows, chunks=(250, P)))
    pids = client.run(os.getpid)
    future = client.compute(lazy)
    victim = _kill_a_busy_worker(client, future, pids)
    got = future.result()
    np.testing.assert_array_equal(got, want)
    client.wait_for_workers(2, timeout=60)
    assert pids[victim] not in client.run(os.getpid).values()


@pytest.mark.parametrize("kind", ["sklearn", "xgboost", "lightgbm"])
def test_ale_equals_in_memory(client, models, kind):
    est, X = models[kind]
    one, two = (1, [0, 2]) if kind == "sklearn" else ("f1", ["f0", "f2"])
    w = np.random.default_rng(5).uniform(0.5, 2.0, N)
    cases = [
        (one, "thresholds"),
        (one, [np.linspace(-3, 3, 9)]),
        (two, [np.linspace(-2, 2, 6), np.linspace(-1.5, 1.5, 5)]),
    ]
    for feature, grid in cases:
        for weighted in (False, True):
            want = tl.ale(est, X, feature, grid=grid, sample_weight=w if weighted else None)
            # Three passes per call: two partitionings (one with an empty partition) suffice.
            collections = [(lab, c) for lab, c in _collections(X) if "small" not in lab]
            for label, dX in collections[::2] if weighted else collections[1::2]:
                dw = None
                if weighted:
                    dw = da.from_array(w, chunks=(tuple(SPLITS[label.split("-")[1]]),))
                got = tl.ale(est, dX, feature, grid=grid, sample_weight=dw)
                if label.startswith("array") or isinstance(X, pd.DataFrame):
                    assert got["features"] == want["features"], label
                for a, b in zip(got["grid_values"], want["grid_values"]):
                    np.testing.assert_array_equal(a, b, err_msg=label)
                np.testing.assert_allclose(got["counts"], want["counts"], rtol=1e-12)
                np.testing.assert_allclose(
                    got["average"], want["average"], rtol=1e-9, atol=1e-12, err_msg=label
                )
    with pytest.raises(InvalidInputError, match="needs grid="):
        tl.ale(
            est,
            _array(np.nan_to_num(np.asarray(X, dtype=float)), [N])
            if kind == "sklearn"
            else _frame(X, [N]),
            one,
        )


@pytest.mark.parametrize("kind", ["sklearn", "xgboost", "lightgbm"])
def test_partial_dependence_and_ice_equal_in_memory(client, models, kind):
    est, X = models[kind]
    features = ["f1", ("f0", "f2")] if kind != "sklearn" else [1, (0, 2)]
    grids = {1: [np.linspace(-2, 2, 7)], 2: [np.linspace(-1, 1, 4), [-0.5, np.nan, 0.5]]}
    w = np.random.default_rng(3).uniform(0.5, 2.0, N)
    for feature in features:
        grid = grids[np.ndim(feature) + 1]
        for weighted in (False, True):
            kw = dict(grid=grid, kind="both")
            sw = w if weighted else None
            want = tl.partial_dependence(est, X, feature, sample_weight=sw, **kw)
            for label, dX in _collections(X):
                split = dX.chunks[0] if label.startswith("array") else None
                if weighted:
                    bounds = SPLITS[label.split("-")[1]]
                    dw = da.from_array(w, chunks=(tuple(bounds),))
                else:
                    dw = None
                got = tl.partial_dependence(est, dX, feature, sample_weight=dw, **kw)
                if label.startswith("array") or isinstance(X, pd.DataFrame):
                    assert got["features"] == want["features"], label
                for a, b in zip(got["grid_values"], want["grid_values"]):
                    np.testing.assert_array_equal(a, b)
                np.testing.assert_allclose(
                    got["average"], want["average"], rtol=1e-9, atol=1e-12, err_msg=label
                )
                assert isinstance(got["individual"], da.Array), label
                if split is not None:
                    assert got["individual"].chunks[1] == tuple(c for c in split if c), label
                np.testing.assert_array_equal(
                    got["individual"].compute(), want["individual"], err_msg=label
                )


def test_partial_dependence_needs_a_grid_on_dask(models):
    est, X = models["sklearn"]
    with pytest.raises(InvalidInputError, match="needs grid="):
        tl.partial_dependence(est, _array(X, SPLITS["uneven"]), [0])
    with pytest.raises(InvalidInputError, match="one 1-D array per feature"):
        tl.partial_dependence(est, _array(X, SPLITS["uneven"]), [0], grid=[[1.0], [2.0]])
    with pytest.raises(InvalidInputError, match="sample_weight must be a dask collection"):
        tl.partial_dependence(
            est, _array(X, SPLITS["uneven"]), [0], grid=[[1.0]], sample_weight=np.ones(N)
        )


def _brute_force_importance(est, X, y, w, split, random_state, scorer, n_repeats):
    """The oracle: every partition's permutations drawn as scikit-learn draws them (one seed
    from RandomState(partition seed), then RandomState(seed).shuffle per column and repeat,
    applied on top of the previous repeat's),
    the permuted partitions put together, scored over all rows by scikit-learn's scorer."""
    from sklearn.metrics import check_scoring

    from treelens.partition_sums import partition_seed

    scorer_fn = check_scoring(est, scoring=scorer)
    bounds = np.cumsum([0, *split])
    parts = [(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
    kw = {} if w is None else {"sample_weight": w}
    baseline = scorer_fn(est, X, y, **kw)
    out = np.empty((X.shape[1], n_repeats))
    for col in range(X.shape[1]):
        permuted = [X.copy() for _ in range(n_repeats)]
        for index, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
            if b == a:
                continue
            rng = np.random.RandomState(partition_seed(random_state, index))
            seed = rng.randint(np.iinfo(np.int32).max + 1)
            shuffler = np.random.RandomState(seed)
            order = np.arange(b - a)
            column = X[a:b, col].copy()
            for r in range(n_repeats):
                # As scikit-learn: the index is shuffled in place and applied to the column as
                # the previous repeat left it.
                shuffler.shuffle(order)
                column = column[order]
                permuted[r][a:b, col] = column
        for r in range(n_repeats):
            out[col, r] = baseline - scorer_fn(est, permuted[r], y, **kw)
    assert parts
    return out


@pytest.mark.parametrize(
    "kind, scorers",
    [
        ("sklearn", ["r2", "neg_mean_squared_error", "neg_root_mean_squared_error",
                     "neg_mean_absolute_error"]),
        ("xgboost", ["accuracy", "balanced_accuracy", "neg_log_loss"]),
    ],
)  # fmt: skip
def test_permutation_importance_equals_partition_wise_brute_force(client, models, kind, scorers):
    est, X = models[kind]
    y = _data()[1]
    if kind == "xgboost":
        y = np.digitize(y, [-0.5, 0.5])
    w = np.random.default_rng(5).uniform(0.5, 2.0, N)
    for name in ("uneven", "empty", "one"):
        split = SPLITS[name]
        for weights in (None, w):
            dX = _array(X, split)
            dy = da.from_array(y, chunks=(tuple(split),))
            dw = None if weights is None else da.from_array(weights, chunks=(tuple(split),))
            got = tl.permutation_importance(
                est, dX, dy, scoring=scorers, n_repeats=3, random_state=7, sample_weight=dw
            )
            for scorer in scorers:
                want = _brute_force_importance(est, X, y, weights, split, 7, scorer, 3)
                # XGBoost's own probabilities are float32 (treelens' float64): its log loss
                # agrees to about 1e-7.
                tol = 1e-6 if scorer == "neg_log_loss" else 1e-9
                np.testing.assert_allclose(
                    got[scorer].importances, want, rtol=tol, atol=tol,
                    err_msg=f"{name} {scorer} weighted={weights is not None}",
                )  # fmt: skip
            if name == "one":  # one partition: the in-memory result
                mem = tl.permutation_importance(
                    est, X, y, scoring=scorers, n_repeats=3, random_state=7, sample_weight=weights
                )
                for scorer in scorers:
                    np.testing.assert_allclose(
                        got[scorer].importances, mem[scorer].importances, rtol=1e-12, atol=1e-15
                    )


def test_permutation_importance_on_dask_refuses_what_does_not_decompose(models):
    est, X = models["sklearn"]
    dX = _array(X, SPLITS["uneven"])
    dy = da.from_array(_data()[1], chunks=(tuple(SPLITS["uneven"]),))
    with pytest.raises(InvalidInputError, match="does not decompose.*r2"):
        tl.permutation_importance(est, dX, dy, scoring="explained_variance")
    with pytest.raises(InvalidInputError, match="scorer name"):
        tl.permutation_importance(est, dX, dy, scoring=lambda e, X, y: 0.0)
    with pytest.raises(InvalidInputError, match="max_samples"):
        tl.permutation_importance(est, dX, dy, max_samples=0.5)
    with pytest.raises(InvalidInputError, match="y must be a dask collection"):
        tl.permutation_importance(est, dX, _data()[1])
    one = tl.permutation_importance(est, dX, dy, n_repeats=2, random_state=1)
    assert one.importances.shape == (P, 2)


def test_parquet_output_survives_a_killed_worker(client, models, tmp_path):
    # SHAP values written to Parquet while a worker process is killed: the scheduler reruns
    # its tasks, and the files hold every row once, equal to the in-memory values.
    est, X = models["sklearn"]
    rows = np.tile(X, (40, 1))
    ex = InterventionalExplainer(est, X[:200])
    want = ex.shap_values(rows)[:, :, 0]
    values = ex.shap_values(da.from_array(rows, chunks=(250, P)))[:, :, 0]
    write = dd.from_dask_array(values, columns=NAMES).to_parquet(tmp_path / "out", compute=False)
    pids = client.run(os.getpid)
    future = client.compute(write)
    victim = _kill_a_busy_worker(client, future, pids)
    future.result()
    got = dd.read_parquet(tmp_path / "out").compute()  # in partition order
    assert got.shape == want.shape
    np.testing.assert_array_equal(got.to_numpy(), want)
    client.wait_for_workers(2, timeout=60)
    assert pids[victim] not in client.run(os.getpid).values()


def test_labels_from_the_same_parquet_frame_stay_aligned(client, models, tmp_path):
    # Dask may fuse the partitions of a narrow column selection (y alone) differently from X's
    # (it does for larger files, see examples/dask_out_of_core.py): the labels are joined to X
    # as columns, so each block still gets its own rows' labels.
    est, X = models["sklearn"]
    y = _data()[1]
    w = np.random.default_rng(2).uniform(0.5, 2, N)
    frame = pd.DataFrame(X, columns=NAMES).assign(y=y, w=w)
    dd.from_pandas(frame, npartitions=6).to_parquet(tmp_path / "data")
    data = dd.read_parquet(tmp_path / "data")
    got = tl.permutation_importance(
        est, data[NAMES], data["y"], scoring="neg_mean_squared_error", random_state=3
    )
    assert got.importances.shape == (P, 5)
    one = dd.read_parquet(tmp_path / "data").repartition(npartitions=1)
    want = tl.permutation_importance(
        est, frame[NAMES], y, scoring="neg_mean_squared_error", random_state=3
    )
    np.testing.assert_allclose(
        tl.permutation_importance(
            est, one[NAMES], one["y"], scoring="neg_mean_squared_error", random_state=3
        ).importances,
        want.importances,
        rtol=1e-12,
    )
    grid = [[-1.0, 0.0, 1.0]]
    pd_got = tl.partial_dependence(est, data[NAMES], [0], grid=grid, sample_weight=data["w"])
    want = tl.partial_dependence(est, frame[NAMES], [0], grid=grid, sample_weight=w)
    np.testing.assert_allclose(pd_got["average"], want["average"], rtol=1e-9)


def _same_hstats(got, want, label):
    if not (label.startswith("frame") and want.features[0] == "x0"):
        assert got.features == want.features, label  # (a frame names an array's columns)
    order = [got.features.index(f) for f in got.pairwise_features]
    assert order == [want.features.index(f) for f in want.pairwise_features], label
    assert len(got.threeway_features) == len(want.threeway_features), label
    for normalize in (True, False):
        for name in ("h2", "h2_overall", "h2_pairwise"):
            a = np.asarray(getattr(got, name)(normalize=normalize))
            b = np.asarray(getattr(want, name)(normalize=normalize))
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12, err_msg=f"{label} {name}")
        a, b = got.h2_threeway(normalize=normalize), want.h2_threeway(normalize=normalize)
        assert len(a) == len(b), label
        for va, vb in zip(a.values(), b.values()):
            np.testing.assert_allclose(va, vb, rtol=1e-9, atol=1e-12, err_msg=label)


@pytest.mark.parametrize("kind", ["sklearn", "xgboost", "lightgbm"])
def test_hstats_equal_in_memory(client, models, kind):
    est, X = models[kind]
    w = np.random.default_rng(4).uniform(0.5, 2.0, N)
    options = dict(pairwise_m=None, threeway_m=4)
    want = tl.hstats(est, X, **options)
    want_w = tl.hstats(est, X, sample_weight=w, **options)
    # The statistics are not trivial: pairs and triples with positive values.
    assert np.nanmax(want.h2_pairwise()) > 1e-3 and len(want.h2_threeway()) == 4
    for label, dX in _collections(X):
        _same_hstats(tl.hstats(est, dX, **options), want, label)
        split = label.split("-")[1]
        if split in ("uneven", "empty"):
            dw = da.from_array(w, chunks=(tuple(SPLITS[split]),))
            _same_hstats(tl.hstats(est, dX, sample_weight=dw, **options), want_w, label + " w")
    # A subset of the features, by name or position, and fewer pairs.
    features = [0, 2, 5] if kind == "sklearn" else ["f5", "f0", "f2"]
    want = tl.hstats(est, X, features=features, pairwise_m=2)
    got = tl.hstats(est, next(_collections(X))[1], features=features, pairwise_m=2)
    _same_hstats(got, want, "subset")


def test_hstats_on_dask_refuses_what_it_cannot_do(models):
    est, X = models["sklearn"]
    dX = _array(X, SPLITS["uneven"])
    with pytest.raises(InvalidInputError, match="uses all rows"):
        tl.hstats(est, dX, n_max=100)
    with pytest.raises(InvalidInputError, match="Dask's progress display"):
        tl.hstats(est, dX, progress=True)
    with pytest.raises(InvalidInputError, match="chunked along"):
        tl.hstats(est, da.from_array(X, chunks=(100, 3)))
    with dask.config.set(scheduler="synchronous"):
        with pytest.raises(InvalidInputError, match="at least 2 rows"):
            tl.hstats(est, da.from_array(X[:1], chunks=(1, P)))


def test_hstats_on_data_that_changes_between_passes_is_refused(models):
    # A source that gives other rows each time it is read (pure=False): the passes disagree.
    est, X = models["sklearn"]
    rng = np.random.default_rng(7)
    block = dask.delayed(lambda: rng.normal(size=(50, P)), pure=False)()
    dX = da.from_delayed(block, shape=(50, P), dtype=np.float64)
    with dask.config.set(scheduler="synchronous"):
        with pytest.raises(InvalidInputError, match="changed between passes"):
            tl.hstats(est, dX)


def test_tasks_use_one_thread_by_default_on_the_threaded_scheduler():
    # Not only in a distributed worker: treelens' own tasks on Dask's local threaded scheduler
    # (which runs a task per core at once) take one thread each unless n_jobs says otherwise.
    from treelens.dask import map_rows
    from treelens.options import default_n_jobs

    def threads(block):
        return np.full(len(block), default_n_jobs() or 0)

    X = np.zeros((100, 2))
    got = map_rows(threads, da.from_array(X, chunks=(25, 2))).compute(scheduler="threads")
    assert set(got) == {1}
    assert default_n_jobs() is None or "NUM_THREADS" in str(os.environ)


@pytest.mark.parametrize("scheduler", ["threads", "synchronous"])
def test_local_schedulers_give_the_in_memory_values(models, scheduler):
    # Without a cluster: Dask's default (threaded) and synchronous schedulers.
    est, X = models["xgboost"]
    ex = tl.TreeExplainer(est)
    want = ex.shap_values(X)
    with dask.config.set(scheduler=scheduler):
        got = ex.shap_values(_array(X, SPLITS["uneven"])).compute()
        mean = ex.shap_values(_frame(X, SPLITS["empty"]), reduce="mean_abs")
    np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(mean, np.abs(want).mean(axis=0), rtol=1e-12)


def test_values_stream_to_zarr(client, models, tmp_path):
    import zarr

    est, X = models["sklearn"]
    ex = tl.TreeExplainer(est)
    values = ex.shap_interaction_values(_array(X, SPLITS["small"]))
    values.to_zarr(str(tmp_path / "values.zarr"))
    np.testing.assert_array_equal(
        zarr.open(str(tmp_path / "values.zarr"), mode="r")[:], ex.shap_interaction_values(X)
    )
