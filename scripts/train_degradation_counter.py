#!/usr/bin/env python3
"""Train the degradation counter on MobileNetV2 embeddings and evaluate the prototype bindings.

1. Embeds every picture of DATA_DIR/train and DATA_DIR/heldout (written by
   scripts/generate_demo_images.py) with models/mobilenet_v2.onnx through onnxruntime, using the
   manifest's preprocessing (stretch to its input size, 160x160, with Pillow BILINEAR, /255,
   ImageNet mean/std). Embeddings are cached in
   DATA_DIR/embeddings-<split>-<model sha256 prefix>-<input size>.npz.
2. Fits ridge regression (numpy, closed form) from the 1280-d embedding to the number of visible
   degradations (0..4) on the train pictures of the "after" and "degraded" situations; the ridge
   strength is chosen by 5-fold cross-validation on the train set only.
3. Writes models/degradation_counter.onnx: input `embedding` float32 [1,1280] -> Gemm -> Clip(min 0)
   -> output `count` float32 [1,1] (standardisation folded into the Gemm weights).
4. Reports on the held-out split (never used for fitting or model selection):
   - counter: exact-match rate of round(count) and mean absolute error, confusion matrix;
   - nearest prototype: cosine similarity to the demo's labelled example photos (demo/examples,
     labels.csv: before / after / unrelated); the label of the most similar example answers
     "is it the equipment before intervention?" and "... after intervention?" (degraded pictures are
     "after intervention" photos).

Usage: python3 scripts/train_degradation_counter.py DATA_DIR [--examples demo/examples] [--out models/]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fieldproof_models as fm  # noqa: E402

MAX_COUNT = 4
RIDGE_ALPHAS = [0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0]


def read_labels(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def embed_split(embedder: fm.Embedder, model_sha: str, data: Path, split: str) -> tuple[list[dict], np.ndarray]:
    rows = read_labels(data / split / "labels.csv")
    cache = data / f"embeddings-{split}-{model_sha[:12]}-{fm.IMAGE_SIZE}.npz"
    if cache.exists():
        z = np.load(cache, allow_pickle=False)
        if list(z["files"]) == [r["file"] for r in rows]:
            return rows, z["emb"]
    t0 = time.time()
    emb = np.stack([embedder.embed(data / split / r["file"]) for r in rows]).astype(np.float32)
    np.savez(cache, files=np.array([r["file"] for r in rows]), emb=emb)
    print(f"embedded {len(rows)} {split} pictures in {time.time() - t0:.1f}s ({1000 * (time.time() - t0) / len(rows):.1f} ms each)")
    return rows, emb


# ----------------------------------------------------------------------------- ridge regression


def fit_ridge(x: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    mu = x.mean(0)
    sd = x.std(0) + 1e-6
    z = (x - mu) / sd
    ym = y.mean()
    w = np.linalg.solve(z.T @ z + alpha * np.eye(z.shape[1]), z.T @ (y - ym))
    return w, float(ym), mu, sd


def predict_ridge(model, x: np.ndarray) -> np.ndarray:
    w, b, mu, sd = model
    return np.maximum(((x - mu) / sd) @ w + b, 0.0)


def count_metrics(pred: np.ndarray, y: np.ndarray) -> dict:
    r = np.clip(np.rint(pred), 0, MAX_COUNT)
    return dict(exact=float((r == y).mean()), mae=float(np.abs(pred - y).mean()), within1=float((np.abs(r - y) <= 1).mean()))


def choose_alpha(x: np.ndarray, y: np.ndarray, seed: int = 0) -> tuple[float, dict]:
    rng = np.random.default_rng(seed)
    folds = np.array_split(rng.permutation(len(y)), 5)
    scores = {}
    for alpha in RIDGE_ALPHAS:
        preds = np.zeros_like(y)
        for f in folds:
            mask = np.ones(len(y), bool)
            mask[f] = False
            preds[f] = predict_ridge(fit_ridge(x[mask], y[mask], alpha), x[f])
        scores[alpha] = count_metrics(preds, y)
    best = max(RIDGE_ALPHAS, key=lambda a: (scores[a]["exact"], -scores[a]["mae"]))
    return best, scores


def export_counter(model, path: Path) -> None:
    w, b, mu, sd = model
    wf = (w / sd).astype(np.float64)
    bf = b - float(mu @ wf)
    inits = [
        numpy_helper.from_array(wf.astype(np.float32).reshape(1, -1), "counter.weight"),
        numpy_helper.from_array(np.array([bf], dtype=np.float32), "counter.bias"),
        numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero"),
    ]
    nodes = [
        helper.make_node("Gemm", ["embedding", "counter.weight", "counter.bias"], ["raw_count"], name="ridge", transB=1),
        helper.make_node("Clip", ["raw_count", "zero"], ["count"], name="non_negative"),
    ]
    graph = helper.make_graph(
        nodes,
        "degradation_counter",
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [1, 1280])],
        [helper.make_tensor_value_info("count", TensorProto.FLOAT, [1, 1])],
        inits,
    )
    m = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 13)],
        producer_name="fieldproof scripts/train_degradation_counter.py",
        doc_string="Number of visible degradations (rust, cracks, graffiti; trained on 0..4) from the MobileNetV2 "
        "embedding; ridge regression on synthetic street-cabinet pictures. Round to the nearest integer.",
    )
    m.ir_version = 7
    onnx.checker.check_model(m, full_check=True)
    path.write_bytes(m.SerializeToString())


# ----------------------------------------------------------------------------- prototypes


def normalize(x: np.ndarray) -> np.ndarray:
    return x / (np.linalg.norm(x, axis=-1, keepdims=True) + 1e-12)


def prototype_eval(proto_emb: np.ndarray, proto_lab: list[str], emb: np.ndarray, rows: list[dict]) -> dict:
    sims = normalize(emb) @ normalize(proto_emb).T
    classes = sorted(set(proto_lab))
    nearest = [proto_lab[i] for i in sims.argmax(1)]
    # centroid variant: mean similarity per class
    cent = np.stack([sims[:, [i for i, l in enumerate(proto_lab) if l == c]].mean(1) for c in classes], 1)
    by_centroid = [classes[i] for i in cent.argmax(1)]
    truth = ["after" if r["situation"] == "degraded" else r["situation"] for r in rows]
    out = {}
    for name, pred in (("nearest", nearest), ("class_mean", by_centroid)):
        res = {}
        for q in ("before", "after"):
            t = np.array([x == q for x in truth])
            p = np.array([x == q for x in pred])
            res[f"is_{q}"] = dict(
                accuracy=float((t == p).mean()),
                precision=float((t & p).sum() / max(1, p.sum())),
                recall=float((t & p).sum() / max(1, t.sum())),
            )
        confusion = {}
        for s in ("before", "after", "degraded", "unrelated"):
            idx = [i for i, r in enumerate(rows) if r["situation"] == s]
            confusion[s] = {c: sum(1 for i in idx if pred[i] == c) for c in classes}
        res["confusion"] = confusion
        out[name] = res
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data_dir", type=Path)
    ap.add_argument("--examples", type=Path, default=fm.REPO / "demo" / "examples")
    ap.add_argument("--out", type=Path, default=fm.MODELS)
    ap.add_argument("--report", type=Path, help="write the metrics as JSON here")
    args = ap.parse_args()
    t0 = time.time()
    model_path = fm.MODELS / "mobilenet_v2.onnx"
    model_sha = fm.sha256_file(model_path)
    embedder = fm.Embedder(model_path)

    tr_rows, tr_emb = embed_split(embedder, model_sha, args.data_dir, "train")
    ho_rows, ho_emb = embed_split(embedder, model_sha, args.data_dir, "heldout")

    def counted(rows, emb):
        idx = [i for i, r in enumerate(rows) if r["degradations"] != ""]
        return emb[idx].astype(np.float64), np.array([float(rows[i]["degradations"]) for i in idx])

    xtr, ytr = counted(tr_rows, tr_emb)
    xho, yho = counted(ho_rows, ho_emb)
    alpha, cv = choose_alpha(xtr, ytr)
    print("ridge 5-fold CV on train (exact / MAE): " + ", ".join(f"{a:g}: {cv[a]['exact']:.3f}/{cv[a]['mae']:.3f}" for a in RIDGE_ALPHAS))
    model = fit_ridge(xtr, ytr, alpha)
    path = args.out / "degradation_counter.onnx"
    export_counter(model, path)
    print(f"alpha={alpha:g}; wrote {path} sha256 {fm.sha256_file(path)}")

    # evaluate through the exported ONNX file itself
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    pred = np.array([sess.run(["count"], {"embedding": e[None].astype(np.float32)})[0][0, 0] for e in xho])
    ref = predict_ridge(model, xho)
    assert np.abs(pred - ref).max() < 1e-3, "exported counter disagrees with the numpy model"
    train_m = count_metrics(predict_ridge(model, xtr), ytr)
    held_m = count_metrics(pred, yho)
    conf = np.zeros((MAX_COUNT + 1, MAX_COUNT + 1), int)
    for t, p in zip(yho.astype(int), np.clip(np.rint(pred), 0, MAX_COUNT).astype(int)):
        conf[t, p] += 1
    print(f"counter train:    exact {train_m['exact']:.3f}  MAE {train_m['mae']:.3f}")
    print(f"counter held-out: exact {held_m['exact']:.3f}  MAE {held_m['mae']:.3f}  within 1: {held_m['within1']:.3f}  (n={len(yho)})")
    print("held-out confusion (rows: true count 0..4, columns: rounded prediction 0..4):")
    for k in range(MAX_COUNT + 1):
        print(f"  {k}: {conf[k].tolist()}")

    ex_rows = [r for r in read_labels(args.examples / "labels.csv") if "/" not in r["file"]]
    proto_emb = np.stack([embedder.embed(args.examples / r["file"]) for r in ex_rows])
    proto_lab = [r["situation"] for r in ex_rows]
    proto = prototype_eval(proto_emb, proto_lab, ho_emb, ho_rows)
    print(f"prototypes: {len(ex_rows)} example photos from {args.examples} ({', '.join(f'{proto_lab.count(c)} {c}' for c in sorted(set(proto_lab)))})")
    for variant, res in proto.items():
        print(
            f"  {variant:10s} is_before acc {res['is_before']['accuracy']:.3f} (P {res['is_before']['precision']:.3f} R {res['is_before']['recall']:.3f})"
            f" | is_after acc {res['is_after']['accuracy']:.3f} (P {res['is_after']['precision']:.3f} R {res['is_after']['recall']:.3f})"
        )
        for s, c in res["confusion"].items():
            print(f"      {s:10s} -> {c}")
    elapsed = time.time() - t0
    print(f"done in {elapsed:.1f}s")
    if args.report:
        report = dict(
            counter=dict(alpha=alpha, train=train_m, heldout=held_m, heldout_n=len(yho), confusion=conf.tolist()),
            prototypes=proto,
            n_train=len(tr_rows),
            n_heldout=len(ho_rows),
            seconds=elapsed,
        )
        args.report.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
