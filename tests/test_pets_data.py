"""The Oxford-IIIT Pet data layer: paper preprocessing, robust loading, synthetic stand-in."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from losstopo.errors import LosstopoError
from losstopo.problems.segmentation.pets import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    PETS_URL,
    SPLITS,
    load_pets,
    read_split_file,
    resize_size,
    transform_image,
    transform_mask,
)
from losstopo.problems.segmentation.synthetic_pets import BREEDS, breed_info, make_synthetic_pets


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pets") / "synthetic"
    make_synthetic_pets(out, n_trainval=6, n_test=4, size=32, seed=3)
    return out


# --------------------------------------------------------------------------- geometry


def test_resize_size_matches_the_paper_and_scales():
    assert resize_size(224) == 256
    assert resize_size(64) == 73
    assert resize_size(32) == 37
    assert resize_size(128) == 146


def test_transform_image_is_torchvision_resize_then_center_crop():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (60, 100, 3), dtype=np.uint8)  # h=60, w=100
    img = Image.fromarray(pixels)
    out = transform_image(img, 32)
    # Shorter side 60 -> 37; longer int(37 * 100 / 60) = 61; crop left round(14.5) = 14,
    # top round(2.5) = 2 (torchvision's int(round(...)), i.e. round half to even).
    expected = np.asarray(img.resize((61, 37), Image.Resampling.BILINEAR).crop((14, 2, 46, 34)))
    assert out.dtype == np.uint8
    assert out.shape == (3, 32, 32)
    np.testing.assert_array_equal(out, expected.transpose(2, 0, 1))

    # Portrait: the width is the shorter side.
    tall = Image.fromarray(rng.integers(0, 256, (90, 50, 3), dtype=np.uint8))
    expected = tall.resize((37, int(37 * 90 / 50)), Image.Resampling.BILINEAR)
    top = round((int(37 * 90 / 50) - 32) / 2)
    expected = np.asarray(expected.crop((2, top, 34, top + 32)))  # left round(2.5) = 2
    np.testing.assert_array_equal(transform_image(tall, 32), expected.transpose(2, 0, 1))

    # Shorter side already the resize size: a pure centre crop, no resampling.
    exact = rng.integers(0, 256, (73, 100, 3), dtype=np.uint8)
    out = transform_image(Image.fromarray(exact), 64)
    np.testing.assert_array_equal(out, exact[4:68, 18:82].transpose(2, 0, 1))


def test_transform_image_converts_greyscale_and_cmyk_to_rgb():
    grey = Image.fromarray(np.full((40, 50), 77, dtype=np.uint8))
    out = transform_image(grey, 16)
    assert out.shape == (3, 16, 16)
    assert np.all(out == 77)
    cmyk = Image.new("CMYK", (50, 40), (0, 0, 0, 0))  # no ink: white
    assert np.all(transform_image(cmyk, 16) == 255)


def test_transform_mask_uses_nearest_and_maps_values():
    # 100x60 trimap: a single-pixel column of 3 and a single-pixel row of 2 in a field of 1.
    raw = np.ones((60, 100), dtype=np.uint8)
    raw[:, 50] = 3
    raw[30, :] = 2
    out = transform_mask(Image.fromarray(raw), 32)
    assert out.dtype == np.int64
    assert out.shape == (32, 32)
    assert set(np.unique(out).tolist()) <= {0, 1, 2}
    # Same geometry as the image (see above), NEAREST: pixel values are copied, never mixed.
    direct = Image.fromarray(raw).resize((61, 37), Image.Resampling.NEAREST)
    expected = np.asarray(direct.crop((14, 2, 46, 34))).astype(np.int64) - 1
    np.testing.assert_array_equal(out, expected)
    # Each output pixel is one input pixel: a 1-pixel stripe stays at most 1 pixel wide
    # when shrinking, and at most ceil(scale) = 2 pixels wide when enlarging by ~1.2.
    assert (out == 2).any(axis=0).sum() <= 1 and (out == 1).any(axis=1).sum() <= 1
    big = transform_mask(Image.fromarray(raw), 64)  # 100x60 -> 121x73, scale ~1.21
    assert set(np.unique(big).tolist()) == {0, 1, 2}
    assert 1 <= (big == 2).any(axis=0).sum() <= 2
    assert 1 <= (big == 1).any(axis=1).sum() <= 2


def test_transform_mask_rejects_values_outside_the_trimap_set(tmp_path):
    raw = np.ones((20, 20), dtype=np.uint8)
    raw[3, 4] = 7
    path = tmp_path / "bad_trimap.png"
    Image.fromarray(raw).save(path)
    with Image.open(path) as img, pytest.raises(LosstopoError, match=r"bad_trimap\.png.*7"):
        transform_mask(img, 8)


@settings(max_examples=40, deadline=None)
@given(
    h=st.integers(1, 24),
    w=st.integers(1, 24),
    size=st.integers(1, 20),
    values=st.sets(st.sampled_from([1, 2, 3]), min_size=1),
    seed=st.integers(0, 2**16),
)
def test_transform_mask_never_invents_classes(h, w, size, values, seed):
    choices = np.array(sorted(values), dtype=np.uint8)
    raw = np.random.default_rng(seed).choice(choices, (h, w))
    out = transform_mask(Image.fromarray(raw), size)
    assert out.shape == (size, size)
    assert set(np.unique(out).tolist()) <= {int(v) - 1 for v in np.unique(raw)}


# --------------------------------------------------------------------------- synthetic data


def test_synthetic_round_trip(tiny):
    marker = json.loads((tiny / "SYNTHETIC.json").read_text())
    assert marker["synthetic"] is True
    assert marker["seed"] == 3
    assert marker["parameters"] == {"n_trainval": 6, "n_test": 4, "size": 32}
    assert "synthetic" in marker["description"].lower()

    lines = (tiny / "annotations" / "trainval.txt").read_text().splitlines()
    assert lines[0].startswith("#") and lines[1].startswith("#")
    assert lines[2:4] == ["Abyssinian_1 1 1 1", "american_bulldog_1 2 2 1"]
    test_names = read_split_file(tiny / "annotations" / "test.txt")
    assert test_names == [
        "Abyssinian_2",
        "american_bulldog_2",
        "american_pit_bull_terrier_2",
        "basset_hound_2",
    ]

    for split, n in zip(SPLITS, (6, 4), strict=True):
        data = load_pets(tiny, split, image_size=24)
        assert data.synthetic is True
        assert data.skipped == []
        assert data.split == split and data.root == tiny
        assert data.names == read_split_file(tiny / "annotations" / f"{split}.txt")
        assert len(data) == n
        assert data.images.dtype == torch.uint8 and data.images.shape == (n, 3, 24, 24)
        assert data.masks.dtype == torch.uint8 and data.masks.shape == (n, 24, 24)
        assert set(data.masks.unique().tolist()) == {0, 1, 2}
        for i, name in enumerate(data.names):
            raw_path = tiny / "annotations" / "trimaps" / f"{name}.png"
            with Image.open(raw_path) as png:
                raw = np.asarray(png)
                assert png.mode == "L"
                assert set(np.unique(raw).tolist()) == {1, 2, 3}
                expected = transform_mask(png, 24)
            np.testing.assert_array_equal(data.masks[i].numpy(), expected)
            with Image.open(tiny / "images" / f"{name}.jpg") as jpg:
                assert jpg.format == "JPEG" and jpg.mode == "RGB"
                assert jpg.size == png.size  # image and trimap agree
                assert all(32 <= side <= 48 for side in jpg.size)
                np.testing.assert_array_equal(data.images[i].numpy(), transform_image(jpg, 24))

    limited = load_pets(tiny, "trainval", 24, limit=2)
    assert limited.names == ["Abyssinian_1", "american_bulldog_1"]


def test_synthetic_pet_covers_a_plausible_fraction_with_a_thin_border(tiny):
    for name in read_split_file(tiny / "annotations" / "trainval.txt"):
        raw = np.asarray(Image.open(tiny / "annotations" / "trimaps" / f"{name}.png"))
        pet = np.isin(raw, (1, 3)).mean()
        assert 0.1 < pet < 0.7
        assert 0 < (raw == 3).mean() < 0.3
        # Pet and background never touch: the border ring separates them.
        assert not np.any((raw[:, 1:] == 1) & (raw[:, :-1] == 2))
        assert not np.any((raw[1:] == 1) & (raw[:-1] == 2))


def test_breed_numbering_matches_the_real_split_files():
    assert len(BREEDS) == 37
    assert breed_info("Abyssinian") == (1, 1, 1)
    assert breed_info("american_bulldog") == (2, 2, 1)
    assert breed_info("pug") == (26, 2, 18)
    assert breed_info("Sphynx") == (34, 1, 12)
    assert breed_info("yorkshire_terrier") == (37, 2, 25)
    assert sum(breed_info(b)[1] == 1 for b in BREEDS) == 12


def test_generation_is_deterministic_and_seeded(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for out, seed in ((a, 5), (b, 5), (c, 6)):
        make_synthetic_pets(out, 3, 2, size=24, seed=seed)
    files_a, files_b, files_c = _files(a), _files(b), _files(c)
    assert "SYNTHETIC.json" in files_a
    assert len(files_a) == 1 + 2 + 2 * 5  # marker, two split files, 5 images + 5 trimaps
    assert files_a == files_b  # byte-identical, the marker included
    images = [k for k in files_a if k.startswith("images/")]
    assert all(files_a[k] != files_c[k] for k in images)

    # An image depends on (seed, split, index) only, not on how many were requested.
    d = tmp_path / "d"
    make_synthetic_pets(d, 1, 1, size=24, seed=5)
    for name, content in _files(d).items():
        if name.startswith(("images/", "annotations/trimaps/")):
            assert content == files_a[name]


def test_generator_replaces_its_own_output_but_refuses_other_directories(tmp_path):
    out = tmp_path / "pets"
    make_synthetic_pets(out, 2, 1, size=16)
    make_synthetic_pets(out, 1, 1, size=16)  # replaces the previous synthetic dataset
    assert len(list((out / "images").iterdir())) == 2
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp dirs left

    other = tmp_path / "real"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(LosstopoError, match="not empty"):
        make_synthetic_pets(other, 1, 1, size=16)
    assert (other / "keep.txt").read_text() == "mine"
    with pytest.raises(LosstopoError, match="at least one image"):
        make_synthetic_pets(tmp_path / "none", 0, 0)


# --------------------------------------------------------------------------- real layout


def _jpeg(path: Path, w: int, h: int, colour: tuple[int, int, int]) -> None:
    Image.new("RGB", (w, h), colour).save(path, "JPEG", quality=95)


def _trimap(path: Path, values: np.ndarray) -> None:
    Image.fromarray(values.astype(np.uint8)).save(path)


@pytest.fixture
def handmade(tmp_path) -> Path:
    """A small dataset in the real layout, with a corrupt, a truncated and a missing image."""
    root = tmp_path / "oxford-iiit-pet"
    (root / "images").mkdir(parents=True)
    (root / "annotations" / "trimaps").mkdir(parents=True)
    # left: 90x60, left half pet (1), right half background (2).
    _jpeg(root / "images" / "Bengal_1.jpg", 90, 60, (200, 100, 50))
    left = np.full((60, 90), 2)
    left[:, :45] = 1
    _trimap(root / "annotations" / "trimaps" / "Bengal_1.png", left)
    # tall: 50x80 greyscale JPEG, top half background, bottom half border (3).
    Image.new("L", (50, 80), 128).save(root / "images" / "beagle_7.jpg", "JPEG")
    tall = np.full((80, 50), 2)
    tall[40:] = 3
    _trimap(root / "annotations" / "trimaps" / "beagle_7.png", tall)
    # A PNG under a .jpg name, as in the real archive: read by content, not extension.
    Image.new("RGB", (70, 70), (10, 20, 30)).save(root / "images" / "pug_3.jpg", "PNG")
    _trimap(root / "annotations" / "trimaps" / "pug_3.png", np.full((70, 70), 1))
    # Corrupt: random bytes; truncated: half a real JPEG; missing: no image at all.
    rng = np.random.default_rng(0)
    (root / "images" / "Persian_9.jpg").write_bytes(rng.bytes(500))
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buffer, "JPEG")
    (root / "images" / "boxer_2.jpg").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    for name in ("Persian_9", "boxer_2", "Sphynx_4"):
        _trimap(root / "annotations" / "trimaps" / f"{name}.png", np.full((64, 64), 1))
    (root / "annotations" / "trainval.txt").write_text(
        "#Image CLASS-ID SPECIES BREED ID\n"
        "#ID: Class ids\n"
        "Bengal_1 6 1 2\n"
        "Persian_9 24 1 8\n"
        "\n"
        "beagle_7 5 2 4\n"
        "Sphynx_4 34 1 12\n"
        "boxer_2 9 2 5\n"
        "pug_3 26 2 18\n"
    )
    return root


def test_handmade_dataset_skips_unreadable_files(handmade):
    with pytest.warns(UserWarning, match=r"skipped 3 of 6") as record:
        data = load_pets(handmade, "trainval", image_size=16)
    message = str(record[0].message)
    assert "Persian_9" in message and "Sphynx_4" in message and "boxer_2" in message
    assert data.skipped == ["Persian_9", "Sphynx_4", "boxer_2"]
    assert data.names == ["Bengal_1", "beagle_7", "pug_3"]
    assert data.synthetic is False
    assert data.images.shape == (3, 3, 16, 16) and data.masks.shape == (3, 16, 16)

    # Bengal_1: 90x60 -> 27x18, crop left 6: resized columns < 13 are pet, the rest not.
    bengal = data.masks[0]
    assert torch.all(bengal[:, :7] == 0) and torch.all(bengal[:, 7:] == 1)
    np.testing.assert_allclose(data.images[0].float().mean((1, 2)), [200, 100, 50], atol=3)
    # beagle_7: 50x80 -> 18x28, crop top 6: resized rows < 14 background, the rest border.
    beagle = data.masks[1]
    assert torch.all(beagle[:8] == 1) and torch.all(beagle[8:] == 2)
    assert torch.all(data.images[1] == data.images[1, 0])  # greyscale became equal RGB
    assert torch.all(data.masks[2] == 0)
    assert torch.all(data.images[2].float().mean((1, 2)) == torch.tensor([10.0, 20.0, 30.0]))


def test_limit_reads_only_the_first_names(handmade, recwarn):
    data = load_pets(handmade, "trainval", image_size=16, limit=1)
    assert data.names == ["Bengal_1"] and data.skipped == []
    assert not recwarn.list


def test_all_unreadable_is_an_error(handmade):
    for name in ("Bengal_1", "beagle_7", "pug_3"):
        (handmade / "images" / f"{name}.jpg").unlink()
    with pytest.raises(LosstopoError, match="no readable Pet images"):
        load_pets(handmade, "trainval", image_size=16)


def test_bad_trimap_value_names_the_file(handmade):
    bad = np.full((60, 90), 2)
    bad[0, 0] = 7
    _trimap(handmade / "annotations" / "trimaps" / "Bengal_1.png", bad)
    with pytest.raises(LosstopoError, match=r"Bengal_1\.png"):
        load_pets(handmade, "trainval", image_size=16)


def test_missing_dataset_explains_where_to_get_it(tmp_path):
    missing = tmp_path / "no-such-pets"
    with pytest.raises(LosstopoError) as info:
        load_pets(missing)
    message = str(info.value)
    assert str(missing) in message and PETS_URL in message and "make-pets" in message
    assert "\n" not in message

    missing.mkdir()
    with pytest.raises(LosstopoError, match=r"test\.txt.*make-pets"):
        load_pets(missing, "test")
    with pytest.raises(LosstopoError, match="unknown Pet split"):
        load_pets(missing, "val")


def test_read_split_file_reports_malformed_lines(tmp_path):
    path = tmp_path / "trainval.txt"
    path.write_text("# header\n\nname_only\nAbyssinian_1 1 1 1\n  beagle_2 5 2 4  \n")
    assert read_split_file(path) == ["name_only", "Abyssinian_1", "beagle_2"]
    path.write_text("# header\nAbyssinian_1 1 1 1\nbeagle_2 5 2\n")
    with pytest.raises(LosstopoError, match=r"trainval\.txt, line 3"):
        read_split_file(path)
    path.write_text("Abyssinian_1 1 one 1\n")
    with pytest.raises(LosstopoError, match="line 1"):
        read_split_file(path)
    path.write_text("../etc/passwd 1 1 1\n")
    with pytest.raises(LosstopoError, match="bad image name"):
        read_split_file(path)
    path.write_text("a 1 1 1\na 1 1 1\n")
    with pytest.raises(LosstopoError, match="already listed on line 1"):
        read_split_file(path)


def test_normalized_is_imagenet_normalisation(tiny):
    data = load_pets(tiny, "test", image_size=16)
    x = data.images.double() / 255
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float64).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float64).view(1, 3, 1, 1)
    expected = (x - mean) / std
    out = data.normalized()
    assert out.dtype == torch.float32 and out.shape == data.images.shape
    torch.testing.assert_close(out.double(), expected, rtol=0, atol=1e-6)
    index = torch.tensor([2, 0])
    torch.testing.assert_close(data.normalized(index).double(), expected[[2, 0]], rtol=0, atol=1e-6)
    torch.testing.assert_close(data.normalized(1).double(), expected[1], rtol=0, atol=1e-6)


def test_network_inputs_are_the_normalised_images_channels_last_on_a_cpu(tiny):
    split = load_pets(tiny, "trainval", 32, None)
    index = torch.tensor([0, 2, 3])
    inputs = split.network_inputs(index, torch.device("cpu"), torch.float64)
    assert inputs.dtype == torch.float64
    assert inputs.is_contiguous(memory_format=torch.channels_last)
    assert not inputs.is_contiguous()
    # the ImageNet normalisation of the stored bytes, written out
    mean = torch.tensor([0.485, 0.456, 0.406], dtype=torch.float64).view(3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], dtype=torch.float64).view(3, 1, 1)
    expected = (split.images[index].double() / 255.0 - mean) / std
    torch.testing.assert_close(inputs, expected, rtol=1e-6, atol=1e-6)
