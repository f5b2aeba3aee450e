#!/usr/bin/env python3
"""Generate synthetic, photo-like pictures of a street cabinet (electrical box) for Fieldproof's demo.

Situations (the label of each picture):
- before     : cabinet with its door open, equipment and loose cables inside and hanging out,
               often tools on the ground.
- after      : same kind of cabinet, door closed, tidy; 0 degradations.
- degraded   : "after" with 1..4 visible degradations on the cabinet (rust patch, crack, graffiti
               tag); the number of degradations is the label of the degradation counter.
- unrelated  : no cabinet: bare wall, park, building facade, parked car, pavement close-up.

Every picture is drawn from its own seed (numpy Generator seeded with [split, index]), so the output
is deterministic and the splits never share a seed. Pictures are 640x480 RGB JPEGs (quality 85-92):
textured background (brick, plaster or concrete wall; asphalt, paving or grass ground), cabinet with
shading, side face and cast shadow, mild perspective/scale/position jitter, lighting gradient, colour
cast, vignetting, sensor noise and slight blur.

Usage:
  python3 scripts/generate_demo_images.py DATA_DIR [--train-per-class 200] [--heldout-per-class 100]
  python3 scripts/generate_demo_images.py --examples demo/examples      # demo prototypes only

DATA_DIR/{train,heldout}/labels.csv lists: file,situation,degradations
(degradations is 0 for after, 1..4 for degraded, empty for before/unrelated).
"""

from __future__ import annotations

import argparse
import csv
import math
import multiprocessing
import os
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

W, H = 640, 480
SPLIT_SEEDS = {"train": 1, "heldout": 2, "examples": 3, "uploads": 4}
SITUATIONS = ["before", "after", "degraded", "unrelated"]

# ----------------------------------------------------------------------------- textures


def value_noise(rng: np.random.Generator, h: int, w: int, octaves=((64, 1.0), (24, 0.5), (8, 0.25), (3, 0.12))) -> np.ndarray:
    """Fractal value noise, roughly zero-mean, std ~0.5."""
    acc = np.zeros((h, w), dtype=np.float32)
    for cell, weight in octaves:
        gh, gw = h // cell + 3, w // cell + 3
        small = rng.standard_normal((gh, gw)).astype(np.float32)
        up = Image.fromarray(small).resize((gw * cell, gh * cell), Image.Resampling.BICUBIC)
        arr = np.asarray(up)
        oy, ox = rng.integers(0, cell), rng.integers(0, cell)
        acc += weight * arr[oy : oy + h, ox : ox + w]
    return acc / 1.5


def colorize(base, noise: np.ndarray, amp: float) -> np.ndarray:
    base = np.asarray(base, dtype=np.float32)
    return np.clip(base[None, None, :] * (1.0 + amp * noise[..., None]), 0, 255)


def brick_wall(rng, h, w) -> np.ndarray:
    palette = [(150, 70, 55), (165, 95, 70), (120, 60, 50), (185, 150, 110), (140, 135, 130)]
    base = np.array(palette[rng.integers(len(palette))], dtype=np.float32)
    bh = int(rng.integers(16, 28))
    bw = int(bh * rng.uniform(2.0, 2.6))
    mortar = int(rng.integers(2, 4))
    mortar_col = np.array([rng.uniform(170, 210)] * 3, dtype=np.float32)
    yy, xx = np.mgrid[0:h, 0:w]
    row = yy // bh
    xo = xx + (row % 2) * (bw // 2)
    col = xo // bw
    ids = (row * 131 + col * 17) % 997
    jitter = (rng.normal(0, 0.1, size=(997, 1)) + rng.normal(0, 0.025, size=(997, 3))).astype(np.float32)
    img = base[None, None, :] * (1 + jitter[ids])
    is_mortar = ((yy % bh) < mortar) | ((xo % bw) < mortar)
    img[is_mortar] = mortar_col
    img *= 1 + 0.12 * value_noise(rng, h, w)[..., None]
    return np.clip(img, 0, 255)


def plaster_wall(rng, h, w) -> np.ndarray:
    palette = [(215, 205, 185), (190, 190, 185), (225, 215, 200), (170, 160, 140), (200, 185, 160), (160, 170, 175)]
    img = colorize(palette[rng.integers(len(palette))], value_noise(rng, h, w), 0.12)
    stains = value_noise(rng, h, w, octaves=((80, 1.0), (30, 0.4)))
    img *= (1 - 0.08 * np.clip(stains, 0, None))[..., None]
    return img


def concrete_wall(rng, h, w) -> np.ndarray:
    g = rng.uniform(120, 175)
    img = colorize((g, g * rng.uniform(0.97, 1.02), g * rng.uniform(0.95, 1.02)), value_noise(rng, h, w), 0.16)
    # formwork panel joints
    step = int(rng.integers(90, 160))
    for x in range(int(rng.integers(0, step)), w, step):
        img[:, x : x + 2] *= 0.8
    return img


def asphalt(rng, h, w) -> np.ndarray:
    g = rng.uniform(60, 100)
    n = value_noise(rng, h, w, octaves=((40, 0.6), (6, 0.5), (2, 0.6), (1, 0.5)))
    return colorize((g, g, g * 1.02), n, 0.25)


def paving(rng, h, w) -> np.ndarray:
    g = rng.uniform(140, 190)
    img = colorize((g, g * 0.98, g * 0.94), value_noise(rng, h, w), 0.12)
    # pavers seen in perspective: rows get taller downwards, columns converge to a vanishing point
    vx = rng.uniform(0.3, 0.7) * w
    y, k = 2.0, 0
    while y < h:
        img[int(y) : int(y) + 1 + k // 3] *= 0.72
        y += 10 + 4 * k
        k += 1
    for x0 in np.arange(-2 * w, 3 * w, rng.uniform(50, 80)):
        xs = vx + (x0 - vx) * (np.arange(h) + 25) / (h + 25)
        for yy in range(h):
            xi = int(xs[yy])
            if 0 <= xi < w - 1:
                img[yy, xi : xi + 2] *= 0.75
    return img


def grass(rng, h, w) -> np.ndarray:
    img = colorize((70, 115, 45), value_noise(rng, h, w, octaves=((50, 0.8), (10, 0.5), (2, 0.8), (1, 0.6))), 0.3)
    img[..., 0] *= rng.uniform(0.8, 1.3)
    return img


WALLS = [brick_wall, plaster_wall, concrete_wall]
GROUNDS = [asphalt, paving, grass]


def street_background(rng, ground_y: int) -> np.ndarray:
    wall = WALLS[rng.integers(len(WALLS))](rng, H, W)
    ground = GROUNDS[rng.integers(len(GROUNDS))](rng, H - ground_y, W)
    img = wall.copy()
    img[ground_y:] = ground
    # kerb / base strip between wall and ground
    strip = int(rng.integers(3, 10))
    img[ground_y - strip : ground_y] = img[ground_y - strip : ground_y] * 0.7
    return img


# ----------------------------------------------------------------------------- the cabinet

CABINET_COLORS = [
    (200, 200, 195),  # light grey (RAL 7035)
    (75, 110, 85),  # green
    (210, 200, 170),  # beige
    (95, 100, 105),  # dark grey
    (225, 222, 210),  # cream
    (120, 135, 140),  # blue grey
]
SS = 2  # supersampling of the cabinet layer


def shade(c, f):
    return tuple(int(max(0, min(255, v * f))) for v in c)


def rand_point_in(rng, box):
    x0, y0, x1, y1 = box
    return rng.uniform(x0, x1), rng.uniform(y0, y1)


def blob_mask(rng, size: int, n: int = 7) -> Image.Image:
    """Irregular blob (union of ellipses, noisy edge) in an L image of size x size."""
    m = Image.new("L", (size, size), 0)
    d = ImageDraw.Draw(m)
    for _ in range(n):
        cx, cy = rng.uniform(0.3, 0.7) * size, rng.uniform(0.3, 0.7) * size
        rx, ry = rng.uniform(0.1, 0.28) * size, rng.uniform(0.1, 0.28) * size
        d.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=255)
    arr = np.asarray(m.filter(ImageFilter.GaussianBlur(size * 0.04)), dtype=np.float32)
    arr += 90 * value_noise(rng, size, size, octaves=((max(2, size // 8), 1.0), (max(1, size // 24), 0.6)))
    # same covered area for every blob (about 40% of the square): the shape varies, not the size
    return Image.fromarray(np.where(arr > np.percentile(arr, 60), 255, 0).astype(np.uint8))


def draw_rust(rng, layer: Image.Image, cx: float, cy: float, r: float, base) -> None:
    size = int(2 * r)
    mask = blob_mask(rng, size)
    tex = colorize(
        (rng.uniform(120, 160), rng.uniform(55, 80), rng.uniform(20, 35)),
        value_noise(rng, size, size, octaves=((max(2, size // 6), 0.8), (2, 0.6), (1, 0.5))),
        0.35,
    )
    patch = Image.fromarray(tex.astype(np.uint8)).convert("RGBA")
    soft = mask.filter(ImageFilter.GaussianBlur(1.5))
    # darker halo of rust stain
    halo = mask.filter(ImageFilter.MaxFilter(9)).filter(ImageFilter.GaussianBlur(4))
    halo_rgba = Image.new("RGBA", (size, size), (90, 50, 25, 0))
    halo_rgba.putalpha(halo.point(lambda v: int(v * 0.45)))
    layer.alpha_composite(halo_rgba, (int(cx - r), int(cy - r)))
    patch.putalpha(soft)
    layer.alpha_composite(patch, (int(cx - r), int(cy - r)))
    # rust runs downwards
    d = ImageDraw.Draw(layer)
    for _ in range(int(rng.integers(1, 4))):
        x = cx + rng.uniform(-0.5, 0.5) * r
        y0 = cy + rng.uniform(0.2, 0.5) * r
        d.line([(x, y0), (x + rng.uniform(-3, 3), y0 + rng.uniform(0.6, 1.4) * r)], fill=(110, 60, 30, 150), width=int(rng.integers(2, 5)))


def draw_crack(rng, layer: Image.Image, cx: float, cy: float, r: float, base) -> None:
    """An impact crack: chipped paint (bare metal) at the impact point, jagged cracks radiating out."""
    d = ImageDraw.Draw(layer)
    metal = (168, 166, 160, 235)
    core = (25, 22, 20, 255)
    size = int(0.7 * r)
    chip = blob_mask(rng, size, n=5)
    chip_rgba = Image.new("RGBA", (size, size), metal)
    chip_rgba.putalpha(chip)
    layer.alpha_composite(chip_rgba, (int(cx - size / 2), int(cy - size / 2)))
    d.ellipse([cx - 0.08 * r, cy - 0.08 * r, cx + 0.08 * r, cy + 0.08 * r], fill=core)

    def branch(x, y, a, length, width, depth):
        pts = [(x, y)]
        steps = int(rng.integers(5, 9))
        for _ in range(steps):
            a += rng.normal(0, 0.35)
            x += math.cos(a) * length / steps
            y += math.sin(a) * length / steps
            pts.append((x, y))
        d.line(pts, fill=metal, width=max(2, int(width * 2.8)), joint="curve")
        d.line(pts, fill=core, width=max(1, int(width)), joint="curve")
        if depth > 0:
            k = int(rng.integers(2, len(pts) - 1))
            branch(pts[k][0], pts[k][1], a + rng.choice([-1, 1]) * rng.uniform(0.5, 1.0), length * 0.4, width * 0.7, depth - 1)

    n = 5
    a0 = rng.uniform(0, 2 * math.pi)
    for i in range(n):
        a = a0 + 2 * math.pi * i / n + rng.normal(0, 0.25)
        branch(cx, cy, a, r * rng.uniform(0.7, 1.05), r * rng.uniform(0.05, 0.07), 1)


GRAFFITI_COLORS = [(230, 30, 120), (20, 20, 25), (30, 90, 220), (220, 40, 30), (250, 200, 20), (40, 180, 70), (150, 40, 200), (245, 245, 240), (255, 140, 20), (90, 200, 240)]


def luminance(c) -> float:
    return 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]


def draw_graffiti(rng, layer: Image.Image, cx: float, cy: float, r: float, base) -> None:
    size = int(2.1 * r)
    tag = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    d = ImageDraw.Draw(tag)
    # a tagger picks a paint that shows on the cabinet
    visible = [c for c in GRAFFITI_COLORS if abs(luminance(c) - luminance(base)) > 70 or np.abs(np.subtract(c, base)).max() > 150]
    col = visible[rng.integers(len(visible))]
    width = int(rng.uniform(0.08, 0.11) * size)
    # a "tag": 3 letter-like strokes side by side, plus an underline swoosh
    n = 3
    for i in range(n):
        x = size * (0.15 + 0.7 * (i + 0.5) / n)
        pts = []
        for j in range(int(rng.integers(3, 6))):
            pts.append((x + rng.uniform(-0.6, 0.6) * size / n, size * rng.uniform(0.2, 0.75)))
        d.line(pts, fill=col + (255,), width=width, joint="curve")
    d.line(
        [(size * 0.1, size * 0.8), (size * 0.5, size * rng.uniform(0.75, 0.9)), (size * 0.9, size * 0.72)],
        fill=col + (255,),
        width=max(2, width // 2),
        joint="curve",
    )
    if rng.random() < 0.5:  # outline in a second colour
        col2 = GRAFFITI_COLORS[rng.integers(len(GRAFFITI_COLORS))]
        edge = tag.getchannel("A").filter(ImageFilter.MaxFilter(5))
        outline = Image.new("RGBA", (size, size), col2 + (0,))
        outline.putalpha(edge)
        outline.alpha_composite(tag)
        tag = outline
    tag = tag.filter(ImageFilter.GaussianBlur(1.2))  # spray edge
    tag = tag.rotate(rng.uniform(-25, 25), resample=Image.Resampling.BICUBIC)
    layer.alpha_composite(tag, (int(cx - size / 2), int(cy - size / 2)))


DEGRADATIONS = [draw_rust, draw_crack, draw_graffiti]


def draw_cabinet(rng, situation: str, n_degradations: int) -> tuple[Image.Image, dict]:
    """Cabinet on a transparent RGBA layer (supersampled). Returns the layer and its geometry."""
    bw = int(rng.uniform(190, 260)) * SS  # front width
    bh = int(bw * rng.uniform(1.15, 1.55))  # front height
    depth = int(bw * rng.uniform(0.12, 0.25))
    side = rng.choice([-1, 1])  # which side face is visible
    hinge = rng.choice([-1, 1])  # door hinge side
    color = np.array(CABINET_COLORS[rng.integers(len(CABINET_COLORS))], dtype=np.float32)
    color = tuple(int(c) for c in np.clip(color * rng.uniform(0.88, 1.08) * rng.uniform(0.97, 1.03, 3), 0, 255))
    plinth_h = int(bh * rng.uniform(0.05, 0.1))
    door_open = situation == "before"
    extra = int(bw * 0.95) if door_open else 0
    lw = bw + depth + 2 * extra + 40 * SS
    lh = bh + depth + plinth_h + 40 * SS
    layer = Image.new("RGBA", (lw, lh), (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    fx0 = extra + 20 * SS + (depth if side < 0 else 0)
    fy0 = depth + 20 * SS
    fx1, fy1 = fx0 + bw, fy0 + bh
    # plinth (concrete base)
    pc = (130, 128, 122)
    d.rectangle([fx0 - 4 * SS, fy1, fx1 + 4 * SS, fy1 + plinth_h], fill=pc)
    # side face and top face (parallelograms)
    if side > 0:
        side_poly = [(fx1, fy0), (fx1 + depth, fy0 - depth * 0.6), (fx1 + depth, fy1 - depth * 0.6), (fx1, fy1)]
        top_poly = [(fx0, fy0), (fx0 + depth, fy0 - depth * 0.6), (fx1 + depth, fy0 - depth * 0.6), (fx1, fy0)]
    else:
        side_poly = [(fx0, fy0), (fx0 - depth, fy0 - depth * 0.6), (fx0 - depth, fy1 - depth * 0.6), (fx0, fy1)]
        top_poly = [(fx0, fy0), (fx0 - depth, fy0 - depth * 0.6), (fx1 - depth, fy0 - depth * 0.6), (fx1, fy0)]
    d.polygon(side_poly, fill=shade(color, 0.72))
    d.polygon(top_poly, fill=shade(color, 1.12))
    # front face with a horizontal shading gradient
    front = np.zeros((bh, bw, 3), dtype=np.float32)
    grad = np.linspace(rng.uniform(0.85, 1.0), rng.uniform(1.0, 1.12), bw)[None, :, None]
    if rng.random() < 0.5:
        grad = grad[:, ::-1]
    front[:] = np.array(color, dtype=np.float32) * grad
    front *= 1 + 0.04 * value_noise(rng, bh, bw)[..., None]
    layer.paste(Image.fromarray(np.clip(front, 0, 255).astype(np.uint8)), (fx0, fy0))
    d.rectangle([fx0, fy0, fx1, fy1], outline=shade(color, 0.55), width=2 * SS)
    # door area
    m = int(bw * 0.06)
    dx0, dy0, dx1, dy1 = fx0 + m, fy0 + m, fx1 - m, fy1 - m
    info = dict(front=(fx0, fy0, fx1, fy1), door=(dx0, dy0, dx1, dy1))
    if not door_open:
        d.rectangle([dx0, dy0, dx1, dy1], outline=shade(color, 0.5), width=2 * SS)
        d.line([(dx0 + SS, dy1 - SS), (dx1 - SS, dy1 - SS)], fill=shade(color, 1.2), width=SS)
        # vents
        for vy in (dy0 + int(0.06 * bh), dy1 - int(0.16 * bh)):
            for k in range(4):
                y = vy + k * 5 * SS
                d.line([(dx0 + 0.3 * (dx1 - dx0), y), (dx0 + 0.7 * (dx1 - dx0), y)], fill=shade(color, 0.45), width=2 * SS)
        # handle and lock on the side opposite the hinge
        hx = dx1 - int(0.09 * bw) if hinge < 0 else dx0 + int(0.05 * bw)
        hy = (dy0 + dy1) // 2
        d.rounded_rectangle([hx, hy - 0.09 * bh, hx + 0.04 * bw, hy + 0.06 * bh], radius=3 * SS, fill=(60, 60, 62), outline=(30, 30, 30))
        d.ellipse([hx, hy + 0.08 * bh, hx + 0.04 * bw, hy + 0.08 * bh + 0.04 * bw], fill=(150, 150, 140), outline=(40, 40, 40))
        # identification plate and warning sticker
        px = dx0 + int(0.3 * (dx1 - dx0))
        py = dy0 + int(0.2 * bh)
        d.rectangle([px, py, px + 0.4 * bw, py + 0.08 * bh], fill=(235, 235, 230), outline=(80, 80, 80))
        for k in range(2):
            d.line([(px + 4 * SS, py + (k + 1) * 0.026 * bh), (px + rng.uniform(0.2, 0.36) * bw, py + (k + 1) * 0.026 * bh)], fill=(40, 40, 40), width=SS)
        if rng.random() < 0.8:
            s = 0.13 * bw
            tx, ty = px + 0.2 * bw, py + 0.14 * bh
            d.polygon([(tx, ty), (tx + s / 2, ty + s * 0.87), (tx - s / 2, ty + s * 0.87)], fill=(245, 200, 20), outline=(20, 20, 20), width=2 * SS)
            d.line([(tx + 2 * SS, ty + 0.3 * s), (tx - 3 * SS, ty + 0.55 * s), (tx + 3 * SS, ty + 0.55 * s), (tx - 2 * SS, ty + 0.8 * s)], fill=(20, 20, 20), width=2 * SS)
        # degradations in distinct cells of a 2x3 grid over the front face
        cells = [(i, j) for i in range(2) for j in range(3)]
        chosen = rng.permutation(len(cells))[:n_degradations]
        types = rng.integers(0, len(DEGRADATIONS), size=n_degradations)
        cw, ch = bw / 2, bh / 3
        for c, t in zip(chosen, types):
            i, j = cells[c]
            r = min(cw, ch) * rng.uniform(0.39, 0.45)
            cx = fx0 + (i + 0.5) * cw + rng.uniform(-0.12, 0.12) * cw
            cy = fy0 + (j + 0.5) * ch + rng.uniform(-0.12, 0.12) * ch
            DEGRADATIONS[t](rng, layer, cx, cy, r, color)
    else:
        # open cabinet: dark recess, back plate, DIN rails with modules, cables
        d.rectangle([dx0, dy0, dx1, dy1], fill=(35, 35, 38))
        ix0, iy0, ix1, iy1 = dx0 + 4 * SS, dy0 + 4 * SS, dx1 - 4 * SS, dy1 - 4 * SS
        d.rectangle([ix0, iy0, ix1, iy1], fill=shade((185, 185, 175), rng.uniform(0.7, 1.0)))
        rows = int(rng.integers(3, 5))
        for k in range(rows):
            ry = iy0 + (k + 0.6) * (iy1 - iy0) / (rows + 0.5)
            d.rectangle([ix0 + 6 * SS, ry - 3 * SS, ix1 - 6 * SS, ry + 3 * SS], fill=(150, 150, 150))
            x = ix0 + 10 * SS
            while x < ix1 - 20 * SS:
                mw = rng.uniform(8, 22) * SS
                mc = [(240, 240, 235), (60, 60, 65), (40, 80, 170), (200, 200, 195), (230, 120, 30)][rng.integers(5)]
                d.rectangle([x, ry - 0.07 * bh, x + mw, ry + 0.05 * bh], fill=mc, outline=(30, 30, 30))
                x += mw + rng.uniform(1, 5) * SS
        # door swung open on the hinge side
        ow = bw * rng.uniform(0.45, 0.85)
        if hinge < 0:
            hx = fx0
            door_poly = [(hx, fy0), (hx - ow, fy0 - 0.08 * bh), (hx - ow, fy1 + 0.08 * bh), (hx, fy1)]
        else:
            hx = fx1
            door_poly = [(hx, fy0), (hx + ow, fy0 - 0.08 * bh), (hx + ow, fy1 + 0.08 * bh), (hx, fy1)]
        d.polygon(door_poly, fill=shade(color, rng.uniform(0.75, 0.95)), outline=shade(color, 0.5))
        # document pocket on the inside of the door
        pcx = hx + hinge * ow * 0.5
        d.rectangle([pcx - 0.2 * ow, fy0 + 0.3 * bh, pcx + 0.2 * ow, fy0 + 0.55 * bh], fill=shade(color, 0.6))
        # loose cables: inside, and hanging out of the cabinet
        cable_cols = [(20, 20, 20), (200, 30, 30), (30, 80, 200), (220, 200, 30), (40, 160, 60), (120, 70, 40), (240, 240, 240), (230, 120, 30)]
        n_cables = int(rng.integers(5, 11))
        for _ in range(n_cables):
            col = cable_cols[rng.integers(len(cable_cols))]
            x0, y0 = rand_point_in(rng, (ix0, iy0, ix1, iy1))
            if rng.random() < 0.6:  # hangs out of the cabinet, down to the plinth or beyond
                x3 = x0 + rng.uniform(-0.6, 0.6) * bw
                y3 = fy1 + rng.uniform(-0.05, 0.25) * bh
            else:
                x3, y3 = rand_point_in(rng, (ix0, iy0, ix1, iy1))
            x1, y1 = x0 + rng.uniform(-0.4, 0.4) * bw, y0 + rng.uniform(0.1, 0.6) * bh
            x2, y2 = x3 + rng.uniform(-0.4, 0.4) * bw, y3 - rng.uniform(0.0, 0.4) * bh
            ts = np.linspace(0, 1, 30)
            bx = (1 - ts) ** 3 * x0 + 3 * (1 - ts) ** 2 * ts * x1 + 3 * (1 - ts) * ts**2 * x2 + ts**3 * x3
            by = (1 - ts) ** 3 * y0 + 3 * (1 - ts) ** 2 * ts * y1 + 3 * (1 - ts) * ts**2 * y2 + ts**3 * y3
            wdt = int(rng.uniform(2.5, 5) * SS)
            d.line(list(zip(bx, by)), fill=(10, 10, 10), width=wdt + 2 * SS, joint="curve")
            d.line(list(zip(bx, by)), fill=col, width=wdt, joint="curve")
    info.update(layer_size=(lw, lh), base_y=fy1 + plinth_h, open=door_open)
    return layer, info


def perspective_coeffs(src, dst):
    """Coefficients for Image.transform(PERSPECTIVE) mapping output points dst -> input points src."""
    a = []
    for (x, y), (u, v) in zip(dst, src):
        a.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        a.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    b = np.array(src, dtype=np.float64).reshape(8)
    return np.linalg.solve(np.array(a, dtype=np.float64), b)


def warp_layer(rng, layer: Image.Image, amount: float) -> Image.Image:
    w, h = layer.size
    src = [(0, 0), (w, 0), (w, h), (0, h)]
    dst = [(x + rng.uniform(-amount, amount) * w, y + rng.uniform(-amount, amount) * h) for x, y in src]
    minx, miny = min(p[0] for p in dst), min(p[1] for p in dst)
    dst = [(x - minx, y - miny) for x, y in dst]
    ow, oh = int(max(p[0] for p in dst)) + 1, int(max(p[1] for p in dst)) + 1
    return layer.transform((ow, oh), Image.Transform.PERSPECTIVE, perspective_coeffs(src, dst), Image.Resampling.BILINEAR)


def draw_tools(rng, img: Image.Image, ground_y: int, cx: float, cab_w: float) -> None:
    d = ImageDraw.Draw(img, "RGBA")
    n = int(rng.integers(1, 4))
    for _ in range(n):
        kind = rng.integers(3)
        x = float(np.clip(cx + rng.uniform(-1.0, 1.0) * cab_w, 30, W - 130))
        y = float(rng.uniform(min(ground_y + 25, H - 45), H - 30))
        if kind == 0:  # toolbox
            tw, th = rng.uniform(70, 120), rng.uniform(35, 55)
            col = [(190, 30, 30), (30, 70, 170), (220, 140, 20), (40, 40, 40)][rng.integers(4)]
            d.ellipse([x - 8, y + th - 8, x + tw + 8, y + th + 8], fill=(0, 0, 0, 70))
            d.rectangle([x, y, x + tw, y + th], fill=col, outline=(20, 20, 20), width=2)
            d.rectangle([x, y, x + tw, y + th * 0.25], fill=shade(col, 1.2), outline=(20, 20, 20), width=2)
            d.arc([x + tw * 0.3, y - th * 0.35, x + tw * 0.7, y + th * 0.2], 180, 360, fill=(30, 30, 30), width=4)
        elif kind == 1:  # screwdriver
            a = rng.uniform(0, math.pi)
            L = rng.uniform(60, 100)
            hc = [(200, 30, 30), (240, 200, 20), (30, 90, 200)][rng.integers(3)]
            x2, y2 = x + math.cos(a) * L, y + math.sin(a) * L * 0.4
            xm, ym = x + math.cos(a) * L * 0.45, y + math.sin(a) * L * 0.18
            d.line([(x, y), (xm, ym)], fill=hc, width=10)
            d.line([(xm, ym), (x2, y2)], fill=(170, 170, 175), width=4)
        else:  # wrench
            a = rng.uniform(0, math.pi)
            L = rng.uniform(70, 110)
            x2, y2 = x + math.cos(a) * L, y + math.sin(a) * L * 0.4
            d.line([(x, y), (x2, y2)], fill=(150, 152, 158), width=9)
            for px, py in ((x, y), (x2, y2)):
                d.ellipse([px - 10, py - 10, px + 10, py + 10], fill=(150, 152, 158), outline=(80, 80, 85))
                d.ellipse([px - 4, py - 4, px + 4, py + 4], fill=(70, 70, 70))


# ----------------------------------------------------------------------------- unrelated scenes


def scene_wall(rng) -> np.ndarray:
    gy = int(rng.uniform(0.55, 0.85) * H)
    img = street_background(rng, gy)
    if rng.random() < 0.5:  # a poster or a window on the wall
        x0, y0 = rng.uniform(0.1, 0.6) * W, rng.uniform(0.1, 0.3) * H
        w, h = rng.uniform(80, 200), rng.uniform(80, 150)
        col = rng.uniform(40, 230, 3)
        img[int(y0) : int(y0 + h), int(x0) : int(x0 + w)] = col * (1 + 0.1 * value_noise(rng, int(y0 + h) - int(y0), int(x0 + w) - int(x0))[..., None])
    return img


def scene_park(rng) -> np.ndarray:
    hy = int(rng.uniform(0.35, 0.6) * H)
    sky = np.linspace(rng.uniform(0.6, 0.9), 1.0, hy)[:, None, None] * np.array([rng.uniform(110, 170), rng.uniform(160, 200), 235.0])
    img = np.zeros((H, W, 3), dtype=np.float32)
    img[:hy] = sky
    img[hy:] = grass(rng, H - hy, W)
    pil = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(pil)
    for _ in range(int(rng.integers(2, 6))):  # trees
        tx, ty = rng.uniform(0, W), hy + rng.uniform(-10, 40)
        th = rng.uniform(80, 250)
        d.rectangle([tx - 6, ty - th * 0.4, tx + 6, ty], fill=(90, 65, 40))
        for _ in range(6):
            cx, cy = tx + rng.uniform(-0.25, 0.25) * th, ty - th * rng.uniform(0.5, 0.9)
            r = th * rng.uniform(0.15, 0.3)
            g = rng.uniform(0.6, 1.1)
            d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(int(40 * g), int(100 * g), int(40 * g)))
    arr = np.asarray(pil, dtype=np.float32)
    return arr * (1 + 0.06 * value_noise(rng, H, W)[..., None])


def scene_facade(rng) -> np.ndarray:
    img = WALLS[rng.integers(len(WALLS))](rng, H, W)
    pil = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(pil)
    ww, wh = rng.uniform(50, 90), rng.uniform(70, 120)
    gx, gy = ww * rng.uniform(1.6, 2.2), wh * rng.uniform(1.4, 1.8)
    frame = (int(rng.uniform(200, 250)),) * 3
    glass = (int(rng.uniform(40, 90)), int(rng.uniform(60, 100)), int(rng.uniform(80, 120)))
    for y in np.arange(rng.uniform(10, 40), H, gy):
        for x in np.arange(rng.uniform(-20, 40), W, gx):
            d.rectangle([x, y, x + ww, y + wh], fill=glass, outline=frame, width=5)
            d.line([(x + ww / 2, y), (x + ww / 2, y + wh)], fill=frame, width=3)
    return np.asarray(pil, dtype=np.float32)


def scene_car(rng) -> np.ndarray:
    gy = int(rng.uniform(0.5, 0.65) * H)
    img = street_background(rng, gy)
    pil = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(pil, "RGBA")
    cw = rng.uniform(0.6, 1.1) * W
    x0 = rng.uniform(-0.2, 0.4) * W
    yb = gy + rng.uniform(60, 140)
    ch = cw * rng.uniform(0.22, 0.3)
    col = tuple(int(c) for c in rng.uniform(20, 230, 3))
    d.ellipse([x0, yb - 15, x0 + cw, yb + 15], fill=(0, 0, 0, 90))
    d.rounded_rectangle([x0, yb - ch, x0 + cw, yb - 0.15 * ch], radius=int(0.2 * ch), fill=col)
    d.polygon([(x0 + 0.22 * cw, yb - ch), (x0 + 0.32 * cw, yb - 1.7 * ch), (x0 + 0.7 * cw, yb - 1.7 * ch), (x0 + 0.82 * cw, yb - ch)], fill=col)
    d.polygon([(x0 + 0.26 * cw, yb - ch * 1.02), (x0 + 0.34 * cw, yb - 1.6 * ch), (x0 + 0.68 * cw, yb - 1.6 * ch), (x0 + 0.78 * cw, yb - ch * 1.02)], fill=(60, 75, 90))
    for wx in (0.2, 0.8):
        cx, r = x0 + wx * cw, 0.22 * ch * 2
        d.ellipse([cx - r, yb - r, cx + r, yb + r], fill=(25, 25, 25))
        d.ellipse([cx - r * 0.5, yb - r * 0.5, cx + r * 0.5, yb + r * 0.5], fill=(170, 170, 175))
    return np.asarray(pil, dtype=np.float32)


def scene_ground(rng) -> np.ndarray:
    return GROUNDS[rng.integers(len(GROUNDS))](rng, H, W)


UNRELATED = [scene_wall, scene_park, scene_facade, scene_car, scene_ground]


# ----------------------------------------------------------------------------- camera model


def camera(rng, img: np.ndarray) -> Image.Image:
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    a = rng.uniform(0, 2 * math.pi)
    ramp = ((xx - w / 2) * math.cos(a) + (yy - h / 2) * math.sin(a)) / max(w, h)
    light = rng.uniform(0.85, 1.1) * (1 + rng.uniform(0.1, 0.35) * ramp)
    r2 = ((xx - w / 2) / w) ** 2 + ((yy - h / 2) / h) ** 2
    vignette = 1 - rng.uniform(0.1, 0.35) * r2 * 2
    cast = rng.uniform(0.93, 1.07, 3)
    img = img * (light * vignette)[..., None] * cast[None, None, :]
    pil = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    pil = pil.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.9)))
    arr = np.asarray(pil, dtype=np.float32)
    arr += rng.uniform(2.0, 5.0) * rng.standard_normal(arr.shape, dtype=np.float32)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def make_image(rng, situation: str, n_degradations: int = 0, scene: str | None = None) -> Image.Image:
    if situation == "unrelated":
        k = rng.integers(len(UNRELATED))
        if scene is not None:
            k = [f.__name__ for f in UNRELATED].index(f"scene_{scene}")
        return camera(rng, UNRELATED[k](rng))
    ground_y = int(rng.uniform(0.7, 0.88) * H)
    bg = street_background(rng, ground_y)
    canvas = Image.fromarray(np.clip(bg, 0, 255).astype(np.uint8)).convert("RGBA")
    layer, info = draw_cabinet(rng, "before" if situation == "before" else "after", n_degradations)
    # scale: the cabinet front is 55-75% of the picture height (less if its top would leave the picture); then a mild perspective warp
    fx0, fy0, fx1, fy1 = info["front"]
    base = ground_y + rng.uniform(5, 40)
    target_h = min(rng.uniform(0.55, 0.75) * H, (base - 12) / 1.3)  # keep the top in the picture
    s = target_h / (fy1 - fy0)
    lw, lh = layer.size
    layer = layer.resize((max(1, int(lw * s)), max(1, int(lh * s))), Image.Resampling.LANCZOS)
    layer = warp_layer(rng, layer, 0.03)
    cx_layer = (fx0 + fx1) / 2 * s
    base_layer = info["base_y"] * s
    cx = rng.uniform(0.35, 0.65) * W
    ox, oy = int(cx - cx_layer), int(base - base_layer)
    # cast shadow on the ground
    shadow = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
    sd = ImageDraw.Draw(shadow)
    fw = (fx1 - fx0) * s
    sd.ellipse([cx - fw * 0.7, base - 10, cx + fw * 0.7 + rng.uniform(0, 40), base + 22], fill=(0, 0, 0, 110))
    canvas.alpha_composite(shadow.filter(ImageFilter.GaussianBlur(8)))
    canvas.alpha_composite(layer, (ox, oy)) if ox >= 0 and oy >= 0 else canvas.paste(layer, (ox, oy), layer)
    if situation == "before" and rng.random() < 0.85:
        draw_tools(rng, canvas, int(base), cx, fw)
    return camera(rng, np.asarray(canvas.convert("RGB"), dtype=np.float32))


def situation_plan(n_per_class: int) -> list[tuple[str, int]]:
    """before, after (0), degraded 1..4 and unrelated: n_per_class each (degraded: n per count)."""
    plan = [("before", 0)] * n_per_class + [("after", 0)] * n_per_class
    for k in range(1, 5):
        plan += [("degraded", k)] * n_per_class
    plan += [("unrelated", 0)] * n_per_class
    return plan


def _write_one(job) -> tuple[str, str, str]:
    d, split, i, situation, k = job
    rng = np.random.default_rng([SPLIT_SEEDS[split], i])
    img = make_image(rng, situation, k)
    name = f"{situation}-{i:05d}.jpg"
    img.save(Path(d) / name, quality=int(rng.integers(85, 93)))
    deg = str(k) if situation in ("after", "degraded") else ""
    return name, situation, deg


def write_split(out: Path, split: str, n_per_class: int, jobs: int) -> None:
    d = out / split
    d.mkdir(parents=True, exist_ok=True)
    work = [(str(d), split, i, situation, k) for i, (situation, k) in enumerate(situation_plan(n_per_class))]
    if jobs > 1:
        with multiprocessing.Pool(jobs) as pool:
            rows = pool.map(_write_one, work, chunksize=8)
    else:
        rows = [_write_one(w) for w in work]
    with open(d / "labels.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "situation", "degradations"])
        w.writerows(rows)
    print(f"{split}: {len(rows)} pictures in {d}")


# The demo's labelled example photos (prototypes) and a few pictures to upload in the demo.
# Unrelated examples cover four of the five kinds of unrelated scenes (the pavement close-up is left
# out on purpose, so the held-out figures include a kind of photo that no example shows).
EXAMPLES = [
    ("before-1.jpg", "before", 0, None),
    ("before-2.jpg", "before", 0, None),
    ("before-3.jpg", "before", 0, None),
    ("after-1.jpg", "after", 0, None),
    ("after-2.jpg", "after", 0, None),
    ("after-3.jpg", "after", 0, None),
    ("unrelated-1.jpg", "unrelated", 0, "wall"),
    ("unrelated-2.jpg", "unrelated", 0, "park"),
    ("unrelated-3.jpg", "unrelated", 0, "facade"),
    ("unrelated-4.jpg", "unrelated", 0, "car"),
]
UPLOADS = [
    ("before.jpg", "before", 0, None),
    ("after-clean.jpg", "after", 0, None),
    ("after-2-degradations.jpg", "degraded", 2, None),
    ("unrelated.jpg", "unrelated", 0, "park"),
]


def write_examples(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for split, items, sub in (("examples", EXAMPLES, out), ("uploads", UPLOADS, out / "uploads")):
        sub.mkdir(parents=True, exist_ok=True)
        for i, (name, situation, k, scene) in enumerate(items):
            rng = np.random.default_rng([SPLIT_SEEDS[split], i])
            img = make_image(rng, situation, k, scene)
            img.save(sub / name, quality=85, optimize=True)
            deg = str(k) if situation in ("after", "degraded") else ""
            rows.append((str((sub / name).relative_to(out)), situation, deg))
    with open(out / "labels.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "situation", "degradations"])
        w.writerows(rows)
    print(f"examples: {len(rows)} pictures in {out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data_dir", type=Path, nargs="?", help="where train/ and heldout/ are written")
    ap.add_argument("--train-per-class", type=int, default=200)
    ap.add_argument("--heldout-per-class", type=int, default=100)
    ap.add_argument("--examples", type=Path, help="also write the demo example photos into this directory")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes (output does not depend on it)")
    args = ap.parse_args()
    if not args.data_dir and not args.examples:
        ap.error("give DATA_DIR and/or --examples DIR")
    t0 = time.time()
    if args.examples:
        write_examples(args.examples)
    if args.data_dir:
        write_split(args.data_dir, "train", args.train_per_class, args.jobs)
        write_split(args.data_dir, "heldout", args.heldout_per_class, args.jobs)
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
