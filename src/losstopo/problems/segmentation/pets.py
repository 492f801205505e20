"""The Oxford-IIIT Pet segmentation data, read with Pillow in the paper's preprocessing.

The paper (Geniesse et al., arXiv 2411.12136, following the UNet-CRF setup) resizes the
shorter side to 256, centre-crops 224×224 and normalises with ImageNet statistics; the
trimaps (1 = pet, 2 = background, 3 = border) become the classes 0/1/2. The geometry here
copies torchvision's ``Resize(int)`` and ``CenterCrop`` exactly (torchvision itself is not
a dependency), with BILINEAR resampling for images and NEAREST for trimaps so that no
class value is ever invented by interpolation.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from losstopo.errors import LosstopoError

PETS_URL = "https://www.robots.ox.ac.uk/~vgg/data/pets/"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SPLITS = ("trainval", "test")
SYNTHETIC_MARKER = "SYNTHETIC.json"
TRIMAP_VALUES = (1, 2, 3)

# What a failed read of one file can raise; anything else is a bug and should surface.
_READ_ERRORS = (OSError, UnidentifiedImageError, ValueError)
_SKIP_NAMES_SHOWN = 5


def resize_size(image_size: int) -> int:
    """The shorter-side length before cropping: 256 for the paper's 224, scaled for others."""
    return round(image_size * 256 / 224)


def _check_image_size(image_size: int) -> None:
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
        raise LosstopoError(f"image_size must be a positive integer, got {image_size!r}")


def _resize_and_crop(img: Image.Image, image_size: int, resample: Image.Resampling) -> Image.Image:
    """torchvision ``Resize(resize_size(S))`` then ``CenterCrop(S)``, on a PIL image."""
    _check_image_size(image_size)
    size = resize_size(image_size)
    w, h = img.size
    if w <= 0 or h <= 0:
        raise ValueError(f"image has an empty size {w}x{h}")
    # torchvision: the shorter side becomes ``size``; the longer is truncated, not rounded.
    if w <= h:
        new_w, new_h = size, int(size * h / w)
    else:
        new_w, new_h = int(size * w / h), size
    if (new_w, new_h) != (w, h):
        img = img.resize((new_w, new_h), resample)
    top = round((new_h - image_size) / 2.0)  # torchvision: int(round(...)), same value
    left = round((new_w - image_size) / 2.0)
    return img.crop((left, top, left + image_size, top + image_size))


def transform_image(img: Image.Image, image_size: int = 224) -> np.ndarray:
    """An RGB image as a ``uint8`` array ``(3, S, S)``: shorter side resized, centre-cropped.

    ``convert("RGB")`` first, because a few real Pet files are CMYK, greyscale or palette.
    """
    img = _resize_and_crop(img.convert("RGB"), image_size, Image.Resampling.BILINEAR)
    return np.ascontiguousarray(np.asarray(img, dtype=np.uint8).transpose(2, 0, 1))


def _trimap_array(img: Image.Image, source: str) -> np.ndarray:
    """The raw trimap values as a 2-D array (greyscale, palette indices, or equal RGB)."""
    arr = np.asarray(img)
    if arr.ndim == 3:
        colour = arr[..., :3]
        if not (np.all(colour == colour[..., :1])):
            raise LosstopoError(f"trimap {source} is a colour image; expected 8-bit values 1/2/3")
        arr = colour[..., 0]
    if arr.ndim != 2:
        raise LosstopoError(f"trimap {source} has an unexpected shape {arr.shape}")
    return arr


def transform_mask(
    img: Image.Image, image_size: int = 224, source: str | Path | None = None
) -> np.ndarray:
    """A trimap as ``int64`` classes ``(S, S)``: 0 = pet, 1 = background, 2 = border.

    Same geometry as :func:`transform_image` but NEAREST resampling, so classes are never
    blended. A value outside {1, 2, 3} means the file is not a Pet trimap: that is an
    error naming ``source`` (default: the file the image was opened from).
    """
    source = str(source if source is not None else getattr(img, "filename", "") or "<image>")
    arr = _trimap_array(img, source)
    bad = ~np.isin(arr, TRIMAP_VALUES)
    if bad.any():
        values = sorted({int(v) for v in np.unique(arr[bad])[:5]})
        raise LosstopoError(
            f"trimap {source} has values {values} outside 1 (pet), 2 (background), 3 (border)"
        )
    small = Image.fromarray(arr.astype(np.uint8))
    small = _resize_and_crop(small, image_size, Image.Resampling.NEAREST)
    return np.asarray(small, dtype=np.int64) - 1


def read_split_file(path: str | Path) -> list[str]:
    """The image names (first column) of a Pet split file, in file order.

    Real lines are ``name class-id species breed-id``; a name-only line is accepted too.
    ``#`` comments and blank lines are skipped. Anything else is reported with its line
    number, since a silently misread split would change which images are trained on.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LosstopoError(f"cannot read split file {path}: {exc}") from exc
    names: list[str] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        columns = stripped.split()
        where = f"{path}, line {number}"
        if len(columns) not in (1, 4):
            raise LosstopoError(
                f"malformed split file {where}: expected 'name class-id species breed-id', "
                f"got {len(columns)} columns"
            )
        name = columns[0]
        if name in (".", "..") or "/" in name or "\\" in name:
            raise LosstopoError(f"malformed split file {where}: bad image name {name!r}")
        if not all(column.isdigit() for column in columns[1:]):
            raise LosstopoError(f"malformed split file {where}: ids must be integers: {line!r}")
        if name in seen:
            raise LosstopoError(
                f"malformed split file {where}: {name!r} already listed on line {seen[name]}"
            )
        seen[name] = number
        names.append(name)
    return names


@dataclass
class PetsSplit:
    """One split, preprocessed: ``uint8`` images keep paper-scale data (3,680×3×224²) small."""

    images: torch.Tensor  # uint8 (N, 3, S, S)
    masks: torch.Tensor  # uint8 (N, S, S), 0 = pet, 1 = background, 2 = border (as long: .long())
    names: list[str]
    skipped: list[str]
    synthetic: bool
    root: Path
    split: str

    def __len__(self) -> int:
        return len(self.names)

    def normalized(
        self, index: int | slice | torch.Tensor | np.ndarray = slice(None)
    ) -> torch.Tensor:
        """The selected images as ``float32``, ImageNet-normalised: ``(x/255 - mean)/std``.

        Done on demand so that only the batch in use is held as floats.
        """
        x = self.images[index].to(torch.float32) / 255.0
        mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32).view(3, 1, 1)
        std = torch.tensor(IMAGENET_STD, dtype=torch.float32).view(3, 1, 1)
        return (x - mean) / std

    def network_inputs(
        self,
        index: int | slice | torch.Tensor | np.ndarray,
        device: torch.device,
        dtype: torch.dtype,
    ) -> torch.Tensor:
        """The selected images as the UNet takes them: normalised, on ``device`` in
        ``dtype``, and channels-last on a CPU. The UNet's convolutions have few channels,
        where oneDNN runs channels-last (NHWC) maps much faster than NCHW (measured on the
        default-study UNet: a training step 1.5x, a landscape point 1.7x); the values are the same
        convolutions summed in another order. On a GPU the layout stays NCHW, the layout its
        timings were measured in."""
        images = self.normalized(index).to(device=device, dtype=dtype)
        if images.device.type != "cpu":
            return images
        return images.contiguous(memory_format=torch.channels_last)


def _missing_data_error(what: str, root: Path) -> LosstopoError:
    return LosstopoError(
        f"Oxford-IIIT Pet data not found: {what}; download images.tar.gz and "
        f"annotations.tar.gz from {PETS_URL} and extract both into {root}, or run "
        f"`losstopo make-pets --out {root}` for a synthetic stand-in"
    )


def _read_pair(root: Path, name: str, image_size: int) -> tuple[np.ndarray, np.ndarray] | str:
    """The transformed image and mask of ``name``, or the reason it cannot be read."""
    image_path = root / "images" / f"{name}.jpg"
    trimap_path = root / "annotations" / "trimaps" / f"{name}.png"
    try:
        with Image.open(image_path) as img:
            img.load()
            image_shape = img.size
            image = transform_image(img, image_size)
    except FileNotFoundError:
        return "image missing"
    except _READ_ERRORS as exc:
        return f"image unreadable: {exc}"
    try:
        with Image.open(trimap_path) as tri:
            tri.load()
            trimap_shape = tri.size
            mask = transform_mask(tri, image_size, source=trimap_path)
    except FileNotFoundError:
        return "trimap missing"
    except _READ_ERRORS as exc:
        return f"trimap unreadable: {exc}"
    if image_shape != trimap_shape:
        image_wh = "x".join(map(str, image_shape))
        return f"image is {image_wh} but trimap is {'x'.join(map(str, trimap_shape))}"
    return image, mask


def load_pets(
    root: str | Path,
    split: str = "trainval",
    image_size: int = 224,
    limit: int | None = None,
) -> PetsSplit:
    """Read and preprocess one split of an Oxford-IIIT Pet directory, in split-file order.

    ``limit`` keeps the first ``limit`` names of the split file (before reading, so small
    runs stay fast). Unreadable or missing files are skipped with one warning and listed
    in ``skipped``: the real archive has a few odd files, and one should not stop a run.
    """
    root = Path(root)
    if split not in SPLITS:
        raise LosstopoError(f"unknown Pet split {split!r} (choose {', '.join(SPLITS)})")
    _check_image_size(image_size)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise LosstopoError(f"limit must be a positive integer or None, got {limit!r}")
    if not root.is_dir():
        what = "is not a directory" if root.exists() else "does not exist"
        raise _missing_data_error(f"{root} {what}", root)
    split_file = root / "annotations" / f"{split}.txt"
    if not split_file.is_file():
        raise _missing_data_error(f"split file {split_file} does not exist", root)

    names = read_split_file(split_file)
    if limit is not None:
        names = names[:limit]
    if not names:
        raise LosstopoError(f"split file {split_file} lists no images")

    n = len(names)
    images = np.empty((n, 3, image_size, image_size), dtype=np.uint8)
    masks = np.empty((n, image_size, image_size), dtype=np.uint8)  # a quarter of int64's memory
    kept: list[int] = []
    skipped: list[tuple[str, str]] = []
    for i, name in enumerate(names):
        result = _read_pair(root, name, image_size)
        if isinstance(result, str):
            skipped.append((name, result))
            continue
        images[i], masks[i] = result
        kept.append(i)

    if skipped:
        shown = "; ".join(f"{name} ({why})" for name, why in skipped[:_SKIP_NAMES_SHOWN])
        extra = len(skipped) - _SKIP_NAMES_SHOWN
        more = f"; and {extra} more" if extra > 0 else ""
        message = f"skipped {len(skipped)} of {n} Pet images in {root}: {shown}{more}"
        if not kept:
            raise LosstopoError(f"no readable Pet images in split {split!r}: {message}")
        warnings.warn(message, stacklevel=2)
    if len(kept) < n:
        images, masks = images[kept], masks[kept]

    return PetsSplit(
        images=torch.from_numpy(images),
        masks=torch.from_numpy(masks),
        names=[names[i] for i in kept],
        skipped=[name for name, _ in skipped],
        synthetic=(root / SYNTHETIC_MARKER).is_file(),
        root=root,
        split=split,
    )
