"""Fuzzing the model readers: seeded mutations of every format treelens reads.

Formats: XGBoost JSON, XGBoost UBJSON, XGBoost ``get_dump`` JSON, LightGBM model text, and the
core's own forest parts (``treelens._core.Forest(**parts)``). Mutations: truncation, byte flips,
deleted/duplicated slices, wrong types, DAGs and cycles, huge declared sizes and counts, deep
nesting, NaN/inf fields.

Every case is loaded in a subprocess capped at 3 GiB of address space, with a time limit. Each
case must either raise a treelens exception, or load and
- agree with the library's own prediction when the library loads the mutated file too (float32
  tolerance for XGBoost, 1e-12 relative for LightGBM), and
- be self-consistent in any case: finite predictions, and SHAP values that add up to them.
A crash (a signal), a hang (the time limit), a non-treelens exception or a disagreement fails.
"""

from __future__ import annotations

import json
import os
import random
import struct
import subprocess
import sys
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

import treelens as tl

WORKER = Path(__file__).with_name("_fuzz_worker.py")
MEMORY_CAP = 3 << 30
#: Time limit for one worker run over all cases of one format.
TIME_LIMIT = 120
CASES = {"xgb_json": 220, "xgb_ubj": 200, "dump": 200, "lgb": 220, "parts": 220}

# ----- the models mutated -----------------------------------------------------------------------


def _training_data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    X[rng.random(X.shape) < 0.1] = np.nan
    X[:, 3] = rng.integers(0, 6, 300)
    y = np.nan_to_num(X[:, 0]) + (X[:, 3] % 2) + rng.normal(scale=0.1, size=300)
    return X, y


@pytest.fixture(scope="module")
def models():
    X, y = _training_data()
    reg = xgb.train({"max_depth": 3, "nthread": 1}, xgb.DMatrix(X, y), 4)
    multi = xgb.train(
        {"max_depth": 2, "nthread": 1, "objective": "multi:softprob", "num_class": 3},
        xgb.DMatrix(X, (np.nan_to_num(X[:, 0]) > 0) + (X[:, 3] > 2)),
        2,
    )
    df = pd.DataFrame(X[:, :3], columns=["a", "b", "c"])
    df["d"] = pd.Categorical(X[:, 3].astype(int))
    cat = xgb.train(
        {"max_depth": 3, "nthread": 1, "max_cat_to_onehot": 1},
        xgb.DMatrix(df, y, enable_categorical=True),
        3,
    )
    lgb_params = {
        "verbose": -1,
        "num_threads": 1,
        "num_leaves": 6,
        "min_data_per_group": 5,
        "cat_smooth": 1,
        "max_cat_to_onehot": 1,
        "deterministic": True,
    }
    lgb_reg = lgb.train(lgb_params, lgb.Dataset(X, y, categorical_feature=[3]), 4)
    lgb_multi = lgb.train(
        {**lgb_params, "objective": "multiclass", "num_class": 3},
        lgb.Dataset(X, (np.nan_to_num(X[:, 0]) > 0) + (X[:, 3] > 2)),
        2,
    )
    return {"xgb": [reg, multi, cat], "lgb": [lgb_reg, lgb_multi]}


# ----- mutations --------------------------------------------------------------------------------

HUGE_INTS = [10**12, 2**31 - 1, 2**31, 2**32, 2**63 - 1, -1, -2, -(2**31), 10**9, 2**24]
SPECIAL_FLOATS = [float("nan"), float("inf"), float("-inf"), -0.0, 1e308, 3.5e38, 1e-320]
WRONG_TYPES = ["x", "", [], {}, None, True, [1, 2], {"a": 1}, 1.5, "1e400", "[nan]"]
#: Stands for a deeply nested value; replaced in the serialised text (json.dumps recurses).
DEEP = "__deep_nesting__"


def _odd_value(rng: random.Random, old):
    kind = rng.random()
    if kind < 0.35:
        v = rng.choice(HUGE_INTS)
        return str(v) if isinstance(old, str) and rng.random() < 0.7 else v
    if kind < 0.6:
        return rng.choice(SPECIAL_FLOATS)
    if kind < 0.95:
        return rng.choice(WRONG_TYPES)
    return DEEP


def _paths(doc, prefix=()):
    """Every (container, key) in a document (small documents: recursion is fine here)."""
    out = []
    items = doc.items() if isinstance(doc, dict) else enumerate(doc)
    for k, v in items:
        out.append((doc, k))
        if isinstance(v, (dict, list)):
            out.extend(_paths(v, prefix + (k,)))
    return out


def _xgb_trees(doc):
    gb = doc["learner"]["gradient_booster"]
    return (gb["model"] if gb["name"] == "gbtree" else gb["gbtree"]["model"])["trees"]


def _mutate_xgb_doc(rng: random.Random, doc: dict) -> dict:
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        try:
            _mutate_xgb_doc_once(rng, doc)
        except (TypeError, KeyError, IndexError, AttributeError, ValueError):
            pass  # an earlier mutation broke the structure this one edits
    return doc


def _mutate_xgb_doc_once(rng: random.Random, doc: dict) -> None:
    trees = _xgb_trees(doc)
    model = doc["learner"]["gradient_booster"]["model"]
    if True:
        what = rng.random()
        tree = rng.choice(trees)
        n = len(tree["left_children"])
        internal = [i for i in range(n) if tree["left_children"][i] >= 0]
        if what < 0.25 and internal:
            # Edges: DAGs, cycles, self-loops, out of range.
            node = rng.choice(internal)
            side = rng.choice(["left_children", "right_children"])
            other = rng.choice(
                [rng.randrange(n), node, 0, -1, -2, n, rng.choice(HUGE_INTS)]
                + [tree["left_children"][rng.choice(internal)]]
            )
            tree[side][node] = other
        elif what < 0.35:
            param = rng.choice(["num_feature", "num_class", "num_target", "base_score"])
            doc["learner"]["learner_model_param"][param] = str(
                rng.choice(HUGE_INTS + SPECIAL_FLOATS + [0, 1, 2, 3, 5])
            )
        elif what < 0.45:
            key = rng.choice(["tree_info", "iteration_indptr"])
            if model.get(key):
                model[key][rng.randrange(len(model[key]))] = rng.choice(HUGE_INTS + [0, 1, 2, 3])
        elif what < 0.55:
            key = rng.choice(["size_leaf_vector", "num_nodes", "num_feature", "num_deleted"])
            tree["tree_param"][key] = str(rng.choice(HUGE_INTS + [0, 2, 3]))
        elif what < 0.65:
            key = rng.choice(
                ["categories", "categories_nodes", "categories_segments", "categories_sizes",
                 "split_type", "default_left", "split_indices"]
            )  # fmt: skip
            if tree.get(key):
                tree[key][rng.randrange(len(tree[key]))] = rng.choice(
                    HUGE_INTS + [0, 1, 2, 3, 2**31 - 2, 2**24 - 1]
                )
        elif what < 0.72:
            # Arrays of the wrong length.
            key = rng.choice([k for k, v in tree.items() if isinstance(v, list) and v] or ["x"])
            if key in tree:
                tree[key] = tree[key][:-1] if rng.random() < 0.5 else tree[key] + tree[key][:1]
        elif what < 0.8:
            # Leaf values and thresholds: NaN, inf, huge.
            key = rng.choice(["split_conditions", "base_weights", "sum_hessian"])
            if tree.get(key):
                tree[key][rng.randrange(len(tree[key]))] = rng.choice(SPECIAL_FLOATS)
        else:
            container, key = rng.choice(_paths(doc))
            container[key] = _odd_value(rng, container[key])


def _deep_text(rng: random.Random) -> str:
    depth = rng.choice([2_000, 50_000])
    return "[" * depth + "1" + "]" * depth


def _json_text(rng, doc) -> str:
    text = json.dumps(doc)
    return text.replace(json.dumps(DEEP), _deep_text(rng))


def _ubjson(value) -> bytes:
    """A small UBJSON encoder (XGBoost's layout: typed arrays for numbers)."""
    out = bytearray()
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, bytes):  # raw bytes queued by a container
            out += v
        elif v is None:
            out += b"Z"
        elif v is True or v is False:
            out += b"T" if v else b"F"
        elif isinstance(v, int):
            if -(2**63) <= v < 2**63:
                out += b"L" + struct.pack(">q", v)
            else:
                out += b"H" + b"L" + struct.pack(">q", len(str(v))) + str(v).encode()
        elif isinstance(v, float):
            out += b"D" + struct.pack(">d", v)
        elif isinstance(v, str):
            if v == DEEP:
                out += b"[" * 5000 + b"]" * 5000
                continue
            raw = v.encode()
            out += b"S" + b"L" + struct.pack(">q", len(raw)) + raw
        elif isinstance(v, list):
            if v and all(type(x) is int and -(2**31) <= x < 2**31 for x in v):
                out += b"[$l#L" + struct.pack(">q", len(v)) + struct.pack(f">{len(v)}i", *v)
            elif v and all(type(x) is float for x in v):
                # float32 like XGBoost, unless a finite value does not fit.
                t = "D" if any(3.4e38 <= abs(x) < float("inf") for x in v) else "d"
                fmt = {"d": "f", "D": "d"}[t]
                out += b"[$" + t.encode() + b"#L" + struct.pack(">q", len(v))
                out += struct.pack(f">{len(v)}{fmt}", *v)
            else:
                out += b"["
                stack.append(b"]")
                stack.extend(reversed(v))
        elif isinstance(v, dict):
            out += b"{"
            stack.append(b"}")
            for k, x in reversed(list(v.items())):
                if k == "version" and isinstance(x, list) and all(type(e) is int for e in x):
                    # XGBoost reads its version from an untyped array of integers.
                    x = (
                        b"[#L"
                        + struct.pack(">q", len(x))
                        + b"".join(b"L" + struct.pack(">q", e) for e in x if -(2**63) <= e < 2**63)
                    )
                stack.append(x)
                raw = k.encode()
                stack.append(b"L" + struct.pack(">q", len(raw)) + raw)
    return bytes(out)


def _mutate_bytes(rng: random.Random, data: bytes, *, ubjson: bool = False) -> bytes:
    data = bytearray(data)
    what = rng.random()
    if what < 0.25:
        return bytes(data[: rng.randrange(len(data))])
    if what < 0.5:
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)
    if what < 0.6:
        a = rng.randrange(len(data))
        del data[a : a + rng.randint(1, 64)]
        return bytes(data)
    if what < 0.7:
        a = rng.randrange(len(data))
        return bytes(data[:a] + data[a : a + rng.randint(1, 64)] + data[a:])
    if ubjson and what < 0.9:
        # Declared counts and types: the bytes after a '#' or '$'.
        marks = [i for i, b in enumerate(data) if b in b"#$"]
        if marks:
            i = rng.choice(marks)
            if data[i] == ord("$"):
                data[i + 1] = ord(rng.choice("ZTFNSHC[{lLid"))
            else:
                data[i + 1 : i + 10] = b"L" + struct.pack(">q", rng.choice(HUGE_INTS))
        return bytes(data)
    a = rng.randrange(len(data))
    data[a : a + 8] = rng.choice([b"\xff" * 8, b"\x00" * 8, b"\x7f\xff\xff\xff" * 2])
    return bytes(data)


def _xgb_json_cases(rng, models):
    base = [json.loads(bytes(b.save_raw("json"))) for b in models["xgb"]]
    raw = [bytes(b.save_raw("json")) for b in models["xgb"]]
    for _ in range(CASES["xgb_json"]):
        k = rng.randrange(len(base))
        if rng.random() < 0.3:
            yield _mutate_bytes(rng, raw[k])
        else:
            doc = _mutate_xgb_doc(rng, json.loads(json.dumps(base[k])))
            yield _json_text(rng, doc).encode()


def _xgb_ubj_cases(rng, models):
    base = [json.loads(bytes(b.save_raw("json"))) for b in models["xgb"]]
    raw = [bytes(b.save_raw("ubj")) for b in models["xgb"]]
    for _ in range(CASES["xgb_ubj"]):
        k = rng.randrange(len(base))
        if rng.random() < 0.5:
            yield _mutate_bytes(rng, raw[k], ubjson=True)
        else:
            yield _ubjson(_mutate_xgb_doc(rng, json.loads(json.dumps(base[k]))))


def _mutate_dump_tree(rng: random.Random, tree: dict) -> dict:
    nodes = []
    stack = [tree]
    while stack:
        node = stack.pop()
        nodes.append(node)
        stack.extend(node.get("children", []))
    splits = [n for n in nodes if "children" in n]
    node = rng.choice(nodes)
    what = rng.random()
    if what < 0.3 and splits:
        s = rng.choice(splits)
        key = rng.choice(["yes", "no", "missing", "nodeid"])
        s[key] = rng.choice([n["nodeid"] for n in nodes] + HUGE_INTS + ["3", 1.5, None])
    elif what < 0.45 and splits:
        s = rng.choice(splits)
        choice = rng.random()
        if choice < 0.33:
            s["children"] = s["children"][:1]
        elif choice < 0.66:
            s["children"] = [s["children"][0], s["children"][0]]  # a DAG
        else:
            s["children"][1] = tree  # a cycle back to the root (serialised: a repeat)
    elif what < 0.6:
        key = "leaf" if "leaf" in node else rng.choice(["split_condition", "split", "cover"])
        node[key] = rng.choice(
            SPECIAL_FLOATS + [[2**31 - 2], [1, -1], "f99999999999", "f-1", "x", None]
        )
    elif what < 0.7:
        node["children"] = DEEP
    else:
        key = rng.choice(list(node))
        node[key] = _odd_value(rng, node[key])
    return tree


def _dump_text(tree) -> str:
    """Serialises a (small) dump tree; one with a cycle is cut after one repetition."""
    return json.dumps(_copy_once(tree) if _has_cycle(tree) else tree)


def _has_cycle(tree) -> bool:
    seen, stack = set(), [tree]
    while stack:
        node = stack.pop()
        if not isinstance(node, dict):
            continue
        if id(node) in seen:
            return True
        seen.add(id(node))
        children = node.get("children")
        if isinstance(children, list):
            stack.extend(children)
    return False


def _copy_once(tree):
    """The tree with the cycle cut after one repetition."""
    root = json.loads(json.dumps({k: v for k, v in tree.items() if k != "children"}))
    out = dict(root)
    out["children"] = [
        json.loads(json.dumps({k: v for k, v in c.items() if k != "children"}))
        for c in tree.get("children", [])
        if isinstance(c, dict)
    ]
    return out


def _dump_cases(rng, models):
    sources = []
    for b in models["xgb"][:2]:
        doc = json.loads(bytes(b.save_raw("json")))
        param = doc["learner"]["learner_model_param"]
        opts = {
            "base_score": float(param["base_score"].strip("[]").split(",")[0]),
            "objective": doc["learner"]["objective"]["name"],
            "n_outputs": max(int(param["num_class"]), 1),
            "n_features": int(param["num_feature"]),
        }
        sources.append((b.get_dump(dump_format="json", with_stats=True), opts))
    for _ in range(CASES["dump"]):
        dump, opts = rng.choice(sources)
        trees = [json.loads(t) for t in dump]
        if rng.random() < 0.3:
            text = "[" + ",".join(json.dumps(t) for t in trees) + "]"
            yield _mutate_bytes(rng, text.encode()), opts
            continue
        k = rng.randrange(len(trees))
        trees[k] = _mutate_dump_tree(rng, trees[k])
        opts = dict(opts)
        if rng.random() < 0.1:
            key = rng.choice(["n_outputs", "n_features", "base_score"])
            opts[key] = rng.choice(HUGE_INTS + [0, 2, 5])
        text = "[" + ",".join(_dump_text(t) for t in trees) + "]"
        yield text.replace(json.dumps(DEEP), _deep_text(rng)).encode(), opts


LGB_ODD_TOKENS = ["nan", "inf", "-inf", "-1", "-2", "1e400", "abc", "999999999999", "2147483647",
                  "0", "1.5", "-7", "4294967296", ""]  # fmt: skip


def _mutate_lgb(rng: random.Random, text: str) -> str:
    lines = text.split("\n")
    keyed = [i for i, line in enumerate(lines) if "=" in line and not line.startswith("[")]
    for _ in range(rng.choice([1, 1, 2, 3])):
        i = rng.choice(keyed)
        key, _, value = lines[i].partition("=")
        tokens = value.split(" ")
        what = rng.random()
        if what < 0.5:
            tokens[rng.randrange(len(tokens))] = rng.choice(LGB_ODD_TOKENS)
        elif what < 0.6:
            del tokens[rng.randrange(len(tokens))]
        elif what < 0.7:
            tokens.append(rng.choice(tokens))
        elif what < 0.8 and key in ("left_child", "right_child"):
            # Edges: DAGs, cycles, leaves past the end.
            j = rng.randrange(len(tokens))
            tokens[j] = str(rng.choice([0, j, -1, -len(tokens) - 2, len(tokens), len(tokens) + 1]))
        elif what < 0.9:
            tokens = [rng.choice(LGB_ODD_TOKENS)]
        else:
            lines[i] = ""
            continue
        lines[i] = key + "=" + " ".join(tokens)
    return "\n".join(lines)


def _lgb_cases(rng, models):
    texts = [b.model_to_string() for b in models["lgb"]]
    for _ in range(CASES["lgb"]):
        text = rng.choice(texts)
        if rng.random() < 0.25:
            data = _mutate_bytes(rng, text.encode())
            # Keep it a LightGBM file for the format sniffing (else it is simply refused).
            yield data if data.startswith(b"tree") else b"tree\n" + data
        else:
            mutated = _mutate_lgb(rng, text)
            if rng.random() < 0.7:
                mutated = _fix_tree_sizes(mutated)
            yield mutated.encode()


def _fix_tree_sizes(text: str) -> str:
    """Rewrites the header's tree_sizes (the byte length of each tree block, which LightGBM
    seeks by) so that LightGBM itself can read a file whose values were mutated."""
    lines = text.split("\n")
    starts = [i for i, line in enumerate(lines) if line.startswith("Tree=")]
    ends = [i for i, line in enumerate(lines) if line == "end of trees"]
    sizes = [i for i, line in enumerate(lines) if line.startswith("tree_sizes=")]
    if not starts or not ends or not sizes:
        return text
    bounds = starts + [ends[0]]
    lengths = [
        sum(len(line.encode()) + 1 for line in lines[a:b]) for a, b in zip(bounds, bounds[1:])
    ]
    lines[sizes[0]] = "tree_sizes=" + " ".join(map(str, lengths))
    return "\n".join(lines)


def _parts_cases(rng, models):
    sources = []
    for m in models["xgb"] + models["lgb"]:
        forest = tl.load(m).forest
        sources.append(forest.__reduce__()[1][0])
    arrays = ["tree_start", "tree_output", "feature", "threshold", "left", "right", "missing",
              "cover", "values", "category_set", "category_offsets", "category_words",
              "default_left", "base_score"]  # fmt: skip
    for _ in range(CASES["parts"]):
        parts = {
            k: (v.copy() if isinstance(v, np.ndarray) else v)
            for k, v in rng.choice(sources).items()
        }
        if rng.random() < 0.2:
            _make_dag(rng, parts)
            yield parts
            continue
        for _ in range(rng.choice([1, 1, 2])):
            key = rng.choice(arrays + ["n_features", "n_outputs"])
            if key in ("n_features", "n_outputs"):
                parts[key] = rng.choice([0, 1, 2, 3, 5, 2**31, 2**40])
                continue
            arr = parts[key]
            what = rng.random()
            if arr.size == 0 or what < 0.15:
                parts[key] = np.append(arr, arr[:1]) if arr.size and what < 0.07 else arr[:-1]
                continue
            i = rng.randrange(arr.size)
            if arr.dtype.kind == "f":
                arr[i] = rng.choice(SPECIAL_FLOATS + [0.0, -1.0, 1e10])
            elif arr.dtype.kind == "b":
                arr[i] = not arr[i]
            elif key in ("left", "right"):
                # Another node (a DAG), an ancestor (a cycle), itself, or out of range.
                arr[i] = rng.choice([rng.randrange(20), 0, i % 7, -1, -2, 10**6, 2**40])
            else:
                info = np.iinfo(arr.dtype)
                arr[i] = rng.choice(
                    [v for v in HUGE_INTS + [0, 1, 2, 3] if info.min <= v <= info.max]
                )
        yield parts


def _make_dag(rng: random.Random, parts: dict) -> None:
    """Points one child of an internal node at a node that already has a parent, later in the
    same tree: every index stays in range and after its parent, yet it is no tree."""
    starts = parts["tree_start"]
    t = rng.randrange(len(starts) - 1)
    a, b = int(starts[t]), int(starts[t + 1])
    internal = [n for n in range(a, b) if parts["feature"][n] >= 0]
    if not internal:
        return
    n = rng.choice(internal)
    taken = {int(parts[side][m]) for m in internal for side in ("left", "right")}
    later = [
        c for c in sorted(taken) if c > n - a and c not in (parts["left"][n], parts["right"][n])
    ]
    if later:
        parts[rng.choice(["left", "right"])][n] = rng.choice(later)


# ----- running ------------------------------------------------------------------------------------


def _write_cases(case_dir: Path, fmt: str, cases) -> list:
    meta = []
    for case in cases:
        name = f"{len(meta)}"
        if fmt == "parts":
            np.savez(case_dir / f"{name}.npz", **{k: np.asarray(v) for k, v in case.items()})
            meta.append([f"{name}.npz", fmt])
        elif fmt == "dump":
            data, opts = case
            (case_dir / f"{name}.json").write_bytes(data)
            (case_dir / f"{name}.opts").write_text(json.dumps(opts))
            meta.append([f"{name}.json", fmt])
        else:
            ext = {"xgb_json": "json", "xgb_ubj": "ubj", "lgb": "txt"}[fmt]
            (case_dir / f"{name}.{ext}").write_bytes(case)
            meta.append([f"{name}.{ext}", fmt])
    (case_dir / "meta.json").write_text(json.dumps(meta))
    return meta


def _run(mode: str, case_dir: Path, meta: list) -> dict[int, dict]:
    """Runs the worker over every case; a case that crashes the worker (a signal) or hangs is
    recorded as such and the worker restarts after it."""
    log = case_dir / f"{mode}.jsonl"
    log.unlink(missing_ok=True)
    first = 0
    results: dict[int, dict] = {}
    env = {**os.environ, "OMP_NUM_THREADS": "1", "RAYON_NUM_THREADS": "1"}
    while first < len(meta):
        cmd = [sys.executable, str(WORKER), mode, str(case_dir), str(first), str(MEMORY_CAP)]
        try:
            proc = subprocess.run(cmd, capture_output=True, timeout=TIME_LIMIT, env=env)
            failure = None if proc.returncode == 0 else f"exit code {proc.returncode}"
            stderr = proc.stderr.decode(errors="replace")[-2000:]
        except subprocess.TimeoutExpired:
            failure, stderr = f"hang (more than {TIME_LIMIT} s)", ""
        started = None
        for line in log.read_text().splitlines() if log.exists() else []:
            r = json.loads(line)
            if "start" in r:
                started = r["start"]
            else:
                results[r["case"]] = r
                started = None
        if failure is None:
            break
        if started is None:
            raise AssertionError(f"the {mode} worker failed outside any case: {failure}\n{stderr}")
        results[started] = {"case": started, "status": "crash", "detail": f"{failure}\n{stderr}"}
        first = started + 1
    return results


def _close(fmt: str, got: np.ndarray, ref: np.ndarray) -> bool:
    ref = ref.reshape(got.shape) if ref.size == got.size else ref
    if ref.shape != got.shape:
        return False
    if fmt == "lgb":
        return np.allclose(got, ref, rtol=1e-12, atol=1e-12 * (1 + np.abs(ref).max()))
    return np.allclose(got, ref, rtol=2e-6, atol=2e-6 * (1 + np.abs(ref).max()))


GENERATORS = {
    "xgb_json": _xgb_json_cases,
    "xgb_ubj": _xgb_ubj_cases,
    "dump": _dump_cases,
    "lgb": _lgb_cases,
    "parts": _parts_cases,
}


@pytest.mark.parametrize("fmt", list(GENERATORS))
def test_fuzzed_models_load_correctly_or_raise_treelens_errors(fmt, models, tmp_path):
    rng = random.Random(f"treelens-fuzz-{fmt}")
    meta = _write_cases(tmp_path, fmt, GENERATORS[fmt](rng, models))
    mine = _run("treelens", tmp_path, meta)
    failures = [r for r in mine.values() if r["status"] in ("error", "crash")]
    missing = set(range(len(meta))) - set(mine)
    assert not missing, f"cases without a result: {sorted(missing)[:10]}"
    lib = _run("library", tmp_path, meta) if fmt in ("xgb_json", "xgb_ubj", "lgb") else {}
    only_treelens = []
    for i, r in mine.items():
        if r["status"] != "loaded":
            continue
        got = np.load(tmp_path / Path(meta[i][0]).with_suffix(".pred.npy"))
        ref_status = lib.get(i, {}).get("status")
        if ref_status == "loaded":
            ref = np.load(tmp_path / Path(meta[i][0]).with_suffix(".ref.npy"))
            if not _close(fmt, got, ref):
                worst = (
                    np.abs(got - ref.reshape(got.shape)).max() if ref.size == got.size else "shape"
                )
                failures.append({"case": i, "status": "disagrees", "detail": f"max diff {worst}"})
        else:
            only_treelens.append(i)
    statuses = [r["status"] for r in mine.values()]
    summary = {s: statuses.count(s) for s in set(statuses)}
    print(f"{fmt}: {summary}; loaded by treelens only (self-consistent): {len(only_treelens)}")
    detail = "\n\n".join(
        f"case {f['case']} ({meta[f['case']][0]}): {f['status']}: {f['detail']}"
        for f in failures[:5]
    )
    assert not failures, f"{len(failures)} of {len(meta)} {fmt} cases failed:\n{detail}"
