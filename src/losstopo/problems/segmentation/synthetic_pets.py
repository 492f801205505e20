"""A synthetic stand-in for Oxford-IIIT Pet, written in exactly the real on-disk layout.

It lets the segmentation pipeline (loader, UNet-CRF training, landscapes) run end to end
where the real archive cannot be downloaded. Each image is an "animal" (body ellipse,
head disc, two ears, sometimes a tail) with a striped, spotted, patched or furry texture
in cat-like or dog-like colours, on a textured background with clutter, sometimes
partly occluded; the trimap marks pet (1), background (2) and a border ring (3) that
straddles the outline, like the real ones. Every image is drawn from its own generator
seeded by ``(seed, split, index)``, so files are byte-identical for the same arguments
and an image does not depend on how many others were requested.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from scipy import ndimage

from losstopo._version import __version__
from losstopo.errors import LosstopoError
from losstopo.problems.segmentation.pets import SPLITS, SYNTHETIC_MARKER

CAT_BREEDS = (
    "Abyssinian",
    "Bengal",
    "Birman",
    "Bombay",
    "British_Shorthair",
    "Egyptian_Mau",
    "Maine_Coon",
    "Persian",
    "Ragdoll",
    "Russian_Blue",
    "Siamese",
    "Sphynx",
)
DOG_BREEDS = (
    "american_bulldog",
    "american_pit_bull_terrier",
    "basset_hound",
    "beagle",
    "boxer",
    "chihuahua",
    "english_cocker_spaniel",
    "english_setter",
    "german_shorthaired",
    "great_pyrenees",
    "havanese",
    "japanese_chin",
    "keeshond",
    "leonberger",
    "miniature_pinscher",
    "newfoundland",
    "pomeranian",
    "pug",
    "saint_bernard",
    "samoyed",
    "scottish_terrier",
    "shiba_inu",
    "staffordshire_bull_terrier",
    "wheaten_terrier",
    "yorkshire_terrier",
)
# The real class ids: all 37 breeds sorted case-insensitively, numbered from 1.
BREEDS = tuple(sorted(CAT_BREEDS + DOG_BREEDS, key=str.lower))
CAT, DOG = 1, 2

JPEG_QUALITY = 90

_CAT_COLOURS = np.array(
    [
        (214, 124, 52),  # ginger
        (236, 214, 178),  # cream
        (122, 126, 138),  # blue-grey
        (32, 29, 31),  # black
        (126, 94, 62),  # brown tabby
        (242, 239, 232),  # white
        (74, 52, 40),  # seal brown
        (192, 190, 196),  # silver
        (170, 140, 110),  # fawn
    ],
    dtype=np.float64,
)
_DOG_COLOURS = np.array(
    [
        (202, 160, 108),  # tan
        (132, 82, 46),  # brown
        (26, 25, 25),  # black
        (238, 234, 226),  # white
        (216, 170, 92),  # golden
        (212, 182, 142),  # fawn
        (172, 82, 42),  # red
        (142, 140, 138),  # grey
        (92, 56, 36),  # chocolate
    ],
    dtype=np.float64,
)
_PATTERNS = {
    CAT: ("stripes", "spots", "fur", "points", "patches"),
    DOG: ("fur", "patches", "spots", "stripes", "points"),
}
_PATTERN_P = {CAT: (0.3, 0.15, 0.3, 0.1, 0.15), DOG: (0.4, 0.3, 0.1, 0.1, 0.1)}


def breed_info(breed: str) -> tuple[int, int, int]:
    """``(class_id, species, breed_id)`` of a breed, numbered as in the real split files."""
    species = CAT if breed in CAT_BREEDS else DOG
    same = [b for b in BREEDS if (b in CAT_BREEDS) == (species == CAT)]
    return BREEDS.index(breed) + 1, species, same.index(breed) + 1


def image_name(split_index: int, i: int) -> str:
    """The name of image ``i`` of a split: breeds cycle, numbers are odd/even per split.

    Cycling keeps any prefix of the split (``load_pets(limit=...)``) balanced over breeds;
    odd numbers for trainval and even for test keep names unique without depending on the
    other split's size.
    """
    breed = BREEDS[i % len(BREEDS)]
    return f"{breed}_{2 * (i // len(BREEDS)) + 1 + split_index}"


# --------------------------------------------------------------------------- drawing


def _bump_matrix(n: int, spacing: float) -> np.ndarray:
    """Weights of Gaussian bumps every ``spacing`` pixels (with margin) at ``n`` pixels."""
    count = int(np.ceil(n / spacing)) + 3
    centres = (np.arange(count) - 1.0) * spacing
    d = (np.arange(n)[:, None] + 0.5 - centres[None, :]) / spacing
    return np.exp(-0.5 * (d / 0.7) ** 2)


def _smooth_noise(
    rng: np.random.Generator, h: int, w: int, cells: float, channels: int = 1
) -> np.ndarray:
    """Zero-mean, unit-std noise ``(h, w, channels)`` with features ~``max(h, w)/cells`` px.

    A sum of Gaussian bumps on a coarse random grid, evaluated separably as two small
    matrix products: much cheaper than a wide Gaussian filter or spline zoom.
    """
    spacing = max(h, w) / cells
    rows, cols = _bump_matrix(h, spacing), _bump_matrix(w, spacing)
    grid = rng.standard_normal((rows.shape[1], cols.shape[1], channels))
    k, m = grid.shape[:2]
    out = (rows @ grid.reshape(k, m * channels)).reshape(h, m, channels)
    out = (out.transpose(0, 2, 1) @ cols.T).transpose(0, 2, 1)
    out -= out.mean(axis=(0, 1))
    return out / (out.std(axis=(0, 1)) + 1e-12)


def _fine_noise(rng: np.random.Generator, h: int, w: int, sigma: float) -> np.ndarray:
    """Fur-like fine grain: white noise blurred by a small Gaussian, unit std."""
    out = ndimage.gaussian_filter(rng.standard_normal((h, w)), sigma)
    return out / (out.std() + 1e-12)


def _ellipse(xx, yy, cx, cy, a, b, angle) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    u = (xx - cx) * c + (yy - cy) * s
    v = -(xx - cx) * s + (yy - cy) * c
    return (u / a) ** 2 + (v / b) ** 2 <= 1.0


def _rectangle(xx, yy, cx, cy, a, b, angle) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    u = (xx - cx) * c + (yy - cy) * s
    v = -(xx - cx) * s + (yy - cy) * c
    return (np.abs(u) <= a) & (np.abs(v) <= b)


def _triangle(xx, yy, p) -> np.ndarray:
    """Points inside the triangle ``p`` (3×2, x/y), by the signs of the three edge tests."""
    signs = []
    for k in range(3):
        (x0, y0), (x1, y1) = p[k], p[(k + 1) % 3]
        signs.append((x1 - x0) * (yy - y0) - (y1 - y0) * (xx - x0) >= 0)
    return (signs[0] & signs[1] & signs[2]) | (~signs[0] & ~signs[1] & ~signs[2])


def _animal_parts(rng: np.random.Generator, species: int) -> dict[str, Any]:
    """The pose in units of the body's semi-major axis, centred on the body."""
    side = rng.choice((-1.0, 1.0))
    # Head direction from straight up (sitting) to almost horizontal (lying down).
    alpha = -np.pi / 2 + side * rng.uniform(np.deg2rad(15), np.deg2rad(80))
    ratio = rng.uniform(0.45, 0.7) if species == CAT else rng.uniform(0.4, 0.62)
    head_r = rng.uniform(0.52, 0.68) if species == CAT else rng.uniform(0.46, 0.62)
    reach = rng.uniform(0.85, 1.1)
    hx, hy = reach * np.cos(alpha), reach * np.sin(alpha) - rng.uniform(0.0, 0.25)
    ellipses = [(0.0, 0.0, 1.0, ratio, alpha), (hx, hy, head_r, head_r, 0.0)]
    if species == DOG and rng.random() < 0.6:  # a muzzle
        ma = alpha + side * rng.uniform(0.2, 0.9)
        mx, my = hx + 0.8 * head_r * np.cos(ma), hy + 0.5 * head_r * np.sin(ma)
        ellipses.append((mx, my, 0.45 * head_r, 0.3 * head_r, ma))
    tails = []
    if rng.random() < 0.6:
        back = alpha + np.pi + side * rng.uniform(-0.6, 0.4)
        length = rng.uniform(0.35, 0.6)
        tx, ty = (1.0 + 0.6 * length) * np.cos(back), (1.0 + 0.6 * length) * np.sin(back)
        tails.append((tx, ty, length, rng.uniform(0.06, 0.11), back + rng.uniform(-0.5, 0.5)))
    ears = []
    tilt = rng.uniform(-0.25, 0.25)
    for sign in (-1.0, 1.0):
        if species == CAT:  # upright, pointed
            base = -np.pi / 2 + tilt + sign * rng.uniform(0.45, 0.7)
            tip_angle, tip_r, half = (
                base + sign * rng.uniform(0.0, 0.2),
                rng.uniform(1.45, 1.8),
                0.32,
            )
        else:  # floppy: hanging beside the head, or pricked for some dogs
            floppy = rng.random() < 0.65
            base = -np.pi / 2 + tilt + sign * rng.uniform(0.7, 1.1 if floppy else 0.7)
            if floppy:
                tip_angle, tip_r, half = base + sign * rng.uniform(0.8, 1.3), 1.35, 0.4
            else:
                tip_angle, tip_r, half = base + sign * 0.1, rng.uniform(1.4, 1.7), 0.3
        points = np.array(
            [
                (np.cos(base - half), np.sin(base - half)),
                (np.cos(base + half), np.sin(base + half)),
                (tip_r * np.cos(tip_angle), tip_r * np.sin(tip_angle)),
            ]
        )
        ears.append(points * 0.95 * head_r + (hx, hy))
    return {"ellipses": ellipses, "tails": tails, "ears": ears}


def _scaled_parts(parts: dict[str, Any], scale: float, dx: float, dy: float) -> dict[str, Any]:
    def moved(e):
        cx, cy, a, b, ang = e
        return (cx * scale + dx, cy * scale + dy, a * scale, b * scale, ang)

    return {
        "ellipses": [moved(e) for e in parts["ellipses"]],
        "tails": [moved(e) for e in parts["tails"]],
        "ears": [p * scale + (dx, dy) for p in parts["ears"]],
    }


def _draw_parts(parts: dict[str, Any], xx, yy) -> tuple[np.ndarray, np.ndarray]:
    """The animal's silhouette and its extremities (ears and tail, for colour points)."""
    body = np.zeros(np.broadcast_shapes(np.shape(xx), np.shape(yy)), dtype=bool)
    for e in parts["ellipses"]:
        body |= _ellipse(xx, yy, *e)
    extremities = np.zeros_like(body)
    for e in parts["tails"]:
        extremities |= _ellipse(xx, yy, *e)
    for p in parts["ears"]:
        extremities |= _triangle(xx, yy, p)
    return body | extremities, extremities


def _bounds(parts: dict[str, Any]) -> tuple[float, float, float, float]:
    """``(x0, y0, x1, y1)`` containing every part, from ellipse extents and ear vertices."""
    xs, ys = [], []
    for cx, cy, a, b, ang in parts["ellipses"] + parts["tails"]:
        ex = np.hypot(a * np.cos(ang), b * np.sin(ang))
        ey = np.hypot(a * np.sin(ang), b * np.cos(ang))
        xs += [cx - ex, cx + ex]
        ys += [cy - ey, cy + ey]
    for p in parts["ears"]:
        xs += list(p[:, 0])
        ys += list(p[:, 1])
    return min(xs), min(ys), max(xs), max(ys)


def _place_animal(rng: np.random.Generator, parts: dict[str, Any], h: int, w: int):
    """Scale the pose to cover 20–50 % of the frame (less if it would not fit), mostly inside."""
    x0, y0, x1, y1 = _bounds(parts)
    # Area of the unit pose, measured on a coarse grid over its bounding box.
    gy, gx = np.mgrid[y0:y1:64j, x0:x1:64j]
    unit_area = _draw_parts(parts, gx, gy)[0].mean() * (x1 - x0) * (y1 - y0)
    target = rng.uniform(0.2, 0.5) * h * w
    slack = 0.08  # how far outside the frame the box may reach, as a fraction of the frame
    # Elongated poses are shrunk until they fit, so that the pet is never cut in half.
    fit = (1 + 2 * slack) * min(w / (x1 - x0), h / (y1 - y0))
    scale = min(np.sqrt(target / unit_area), fit)
    bw, bh = (x1 - x0) * scale, (y1 - y0) * scale
    lo_x, hi_x = -slack * w, w + slack * w - bw
    lo_y, hi_y = -slack * h, h + slack * h - bh
    left = rng.uniform(lo_x, hi_x) if hi_x > lo_x else (w - bw) / 2
    top = rng.uniform(lo_y, hi_y) if hi_y > lo_y else (h - bh) / 2
    return _scaled_parts(parts, scale, left - x0 * scale, top - y0 * scale)


def _jitter(rng: np.random.Generator, colour: np.ndarray, amount: float) -> np.ndarray:
    return np.clip(colour + rng.normal(0.0, amount, 3), 0, 255)


def _animal_texture(rng, species, h, w, xx, yy, extremities, size):
    """Animal colours: two palette colours mixed by a pattern, with shading and fur grain."""
    palette = _CAT_COLOURS if species == CAT else _DOG_COLOURS
    i, j = rng.choice(len(palette), 2, replace=False)
    base, second = _jitter(rng, palette[i], 14), _jitter(rng, palette[j], 14)
    pattern = rng.choice(_PATTERNS[species], p=_PATTERN_P[species])
    if pattern == "stripes":
        angle = rng.uniform(0, np.pi)
        period = size * rng.uniform(0.08, 0.18)
        t = xx * np.cos(angle) + yy * np.sin(angle)
        t = t + 0.25 * period * _smooth_noise(rng, h, w, 4)[..., 0]
        mix = 1 / (1 + np.exp(-4 * np.sin(2 * np.pi * t / period)))
    elif pattern == "spots":
        n = _smooth_noise(rng, h, w, rng.uniform(8, 16))[..., 0]
        mix = 1 / (1 + np.exp(-6 * (n - rng.uniform(0.6, 1.1))))
    elif pattern == "patches":
        n = _smooth_noise(rng, h, w, rng.uniform(2.5, 5))[..., 0]
        mix = 1 / (1 + np.exp(-8 * (n - rng.uniform(-0.3, 0.6))))
    elif pattern == "points":  # darker ears and tail, like Siamese or Birman
        mix = ndimage.gaussian_filter(extremities.astype(np.float64), max(1.0, size / 40))
        mix = np.clip(1.6 * mix, 0, 1)
    else:  # smooth fur
        mix = 0.25 * (1 + np.tanh(_smooth_noise(rng, h, w, 3)[..., 0]))
    rgb = base * (1 - mix[..., None]) + second * mix[..., None]
    shading = 1 + 0.12 * _smooth_noise(rng, h, w, 2)
    grain = rng.uniform(6, 16) * _fine_noise(rng, h, w, rng.uniform(0.6, 1.4))[..., None]
    return rgb * shading + grain, base


def _background(rng, h, w, xx, yy, animal_colour, size):
    """A textured scene: gradient plus smooth noise, sometimes in the animal's colours."""
    if rng.random() < 0.3:  # camouflage: hard cases, the background resembles the animal
        c1 = _jitter(rng, animal_colour, 30)
    else:
        c1 = rng.uniform(15, 240, 3)
    c2 = _jitter(rng, c1, 60) if rng.random() < 0.6 else rng.uniform(15, 240, 3)
    angle = rng.uniform(0, 2 * np.pi)
    t = (xx * np.cos(angle) + yy * np.sin(angle)) / max(h, w)
    t = (t - t.min()) / (np.ptp(t) + 1e-12)
    t = np.clip(t + 0.25 * _smooth_noise(rng, h, w, rng.uniform(1.5, 4))[..., 0], 0, 1)
    rgb = c1 * (1 - t[..., None]) + c2 * t[..., None]
    rgb += rng.uniform(5, 25) * _smooth_noise(rng, h, w, rng.uniform(4, 12), 3)
    rgb += rng.uniform(2, 10) * _fine_noise(rng, h, w, rng.uniform(0.5, 2.0))[..., None]
    return rgb


def _clutter(rng, h, w, xx, yy, animal_colour) -> tuple[np.ndarray, np.ndarray]:
    """One random ellipse or rectangle with its own colour (an object in the scene)."""
    cx, cy = rng.uniform(-0.1, 1.1) * w, rng.uniform(-0.1, 1.1) * h
    a, b = rng.uniform(0.05, 0.35) * w, rng.uniform(0.03, 0.25) * h
    shape = _ellipse if rng.random() < 0.5 else _rectangle
    mask = shape(xx, yy, cx, cy, a, b, rng.uniform(0, np.pi))
    if rng.random() < 0.2:
        colour = _jitter(rng, animal_colour, 25)
    else:
        colour = rng.uniform(0, 255, 3)
    shade = 1 + 0.1 * _smooth_noise(rng, h, w, 6)
    return mask, colour * shade


def render_pet(rng: np.random.Generator, species: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """One synthetic photo ``(h, w, 3) uint8`` and its trimap ``(h, w) uint8`` (1/2/3)."""
    h, w = (int(v) for v in rng.integers(size, int(1.5 * size) + 1, size=2))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    parts = _place_animal(rng, _animal_parts(rng, species), h, w)
    animal, extremities = _draw_parts(parts, xx, yy)
    fur, animal_colour = _animal_texture(rng, species, h, w, xx, yy, extremities, size)

    rgb = _background(rng, h, w, xx, yy, animal_colour, size)
    for _ in range(int(rng.integers(0, 6))):
        mask, colour = _clutter(rng, h, w, xx, yy, animal_colour)
        rgb[mask] = colour[mask]
    rgb[animal] = fur[animal]
    visible = animal
    if rng.random() < 0.15:  # an object in front of the pet: its pixels are background
        mask, colour = _clutter(rng, h, w, xx, yy, animal_colour)
        for cx, cy, a, b, ang in parts["ellipses"][:2]:  # never hide all of body or head
            mask &= ~_ellipse(xx, yy, cx, cy, 0.6 * a, 0.6 * b, ang)
        rgb[mask] = colour[mask]
        visible = animal & ~mask
    # Slight blur as a camera would give, so edges are not perfectly hard.
    rgb = ndimage.gaussian_filter(rgb, (0.6, 0.6, 0))
    rgb += rng.normal(0.0, 2.0, rgb.shape)
    image = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)

    width = max(1, round(size / 40))
    # Pixels within ``width`` of the outline on either side: the same set as a binary
    # dilation minus an erosion by a disc of that radius, but about twice as fast.
    inside = ndimage.distance_transform_edt(visible) <= width + 0.5
    outside = ndimage.distance_transform_edt(~visible) <= width + 0.5
    ring = np.where(visible, inside, outside)
    trimap = np.where(ring, 3, np.where(visible, 1, 2)).astype(np.uint8)
    return image, trimap


# --------------------------------------------------------------------------- writing


def _check_count(name: str, value: int, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise LosstopoError(f"{name} must be an integer >= {minimum}, got {value!r}")


def make_synthetic_pets(
    out: str | Path, n_trainval: int, n_test: int, size: int = 64, seed: int = 0
) -> dict[str, Any]:
    """Write a synthetic Oxford-IIIT-Pet-like dataset to ``out`` and return its marker.

    Layout as the real archive (``images/*.jpg``, ``annotations/trimaps/*.png``,
    ``annotations/{trainval,test}.txt``) plus ``SYNTHETIC.json``, which records the
    parameters and lets the loader report results as synthetic. The data is built in a
    hidden sibling directory and renamed into place, so ``out`` is never half written; a
    previous synthetic dataset there is replaced, any other non-empty directory refused.
    """
    out = Path(out)
    _check_count("n_trainval", n_trainval, 0)
    _check_count("n_test", n_test, 0)
    _check_count("size", size, 8)
    _check_count("seed", seed, 0)
    if n_trainval + n_test == 0:
        raise LosstopoError("make-pets needs at least one image (n_trainval + n_test >= 1)")
    if out.exists():
        if not out.is_dir():
            raise LosstopoError(f"cannot write synthetic Pet data to {out}: it is a file")
        if any(out.iterdir()) and not (out / SYNTHETIC_MARKER).is_file():
            raise LosstopoError(
                f"refusing to write synthetic Pet data into {out}: the directory is not empty "
                f"and is not a previous synthetic dataset (no {SYNTHETIC_MARKER})"
            )

    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if tmp.exists():
            shutil.rmtree(tmp)
        (tmp / "images").mkdir(parents=True)
        (tmp / "annotations" / "trimaps").mkdir(parents=True)
        counts = {"trainval": n_trainval, "test": n_test}
        for split_index, split in enumerate(SPLITS):
            lines = [
                "# synthetic Oxford-IIIT-Pet-like split, generated by losstopo make-pets",
                "# Image CLASS-ID SPECIES BREED ID",
            ]
            for i in range(counts[split]):
                name = image_name(split_index, i)
                class_id, species, breed_id = breed_info(BREEDS[i % len(BREEDS)])
                rng = np.random.default_rng([seed, split_index, i])
                image, trimap = render_pet(rng, species, size)
                Image.fromarray(image).save(
                    tmp / "images" / f"{name}.jpg", "JPEG", quality=JPEG_QUALITY
                )
                Image.fromarray(trimap).save(tmp / "annotations" / "trimaps" / f"{name}.png")
                lines.append(f"{name} {class_id} {species} {breed_id}")
            (tmp / "annotations" / f"{split}.txt").write_text("\n".join(lines) + "\n")
        marker = {
            "synthetic": True,
            "description": (
                "This is SYNTHETIC data in the Oxford-IIIT Pet layout (procedurally drawn "
                "animal-like shapes with trimaps), not the real dataset; results on it are "
                "not comparable with the paper's."
            ),
            "generator": "losstopo.problems.segmentation.synthetic_pets.make_synthetic_pets",
            "parameters": {"n_trainval": n_trainval, "n_test": n_test, "size": size},
            "seed": seed,
            "losstopo_version": __version__,
            "counts": counts,
            "trimap_values": {"1": "pet", "2": "background", "3": "border"},
            "border_half_width_px": max(1, round(size / 40)),
            "jpeg_quality": JPEG_QUALITY,
        }
        (tmp / SYNTHETIC_MARKER).write_text(json.dumps(marker, indent=2, sort_keys=True) + "\n")

        old = out.parent / f".{out.name}.old-{os.getpid()}"
        if old.exists():
            shutil.rmtree(old)
        if out.exists():
            os.replace(out, old)  # an empty or previous synthetic directory
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        raise LosstopoError(f"cannot write synthetic Pet data to {out}: {exc}") from exc
    finally:
        with contextlib.suppress(OSError):
            if tmp.exists():
                shutil.rmtree(tmp)
    return marker
