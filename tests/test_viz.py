"""Visualisation helpers on hand-drawn tiny arrays with exact expected values."""

import io
import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from segdemo.data import CAMVID_CLASSES

from segdemo.palette import (
    CAMVID_HUE_SLOTS,
    adjacency,
    class_palette,
    golden_stride,
    hls_palette,
    hue_slots,
    separated_order,
    separation_cost,
)
from segdemo.cutout import (
    checkerboard,
    keep_region,
    sticker,
    sticker_class,
)
from segdemo.viz import (
    ERROR_PALETTE,
    binary_maps,
    colorize,
    confidence,
    entropy,
    error_labels,
    error_map,
    heatmap,
    legend,
    legend_html,
    overlay,
    palette_image,
    pixel_probs,
    save_png,
)

REPO = Path(__file__).resolve().parent.parent
CAMVID_TRAIN_MASKS = REPO.parent / "shared" / "camvid" / "trainannot"

PALETTE = np.array([[10, 20, 30], [200, 0, 0], [0, 255, 0]], np.uint8)

# 7x7 mask: a 5x5 square with its corners cut off (rows 1..5, cols 1..5)
MASK7 = np.array([
    [0, 0, 0, 0, 0, 0, 0],
    [0, 0, 1, 1, 1, 0, 0],
    [0, 1, 1, 1, 1, 1, 0],
    [0, 1, 1, 1, 1, 1, 0],
    [0, 1, 1, 1, 1, 1, 0],
    [0, 0, 1, 1, 1, 0, 0],
    [0, 0, 0, 0, 0, 0, 0],
], bool)
# its 3x3 erosion is a plus sign; the outline is everything else in the mask (crop coordinates)
OUTLINE5 = np.array([
    [0, 1, 1, 1, 0],
    [1, 1, 0, 1, 1],
    [1, 0, 0, 0, 1],
    [1, 1, 0, 1, 1],
    [0, 1, 1, 1, 0],
], bool)
ALPHA5 = np.array([
    [0, 255, 255, 255, 0],
    [255, 255, 255, 255, 255],
    [255, 255, 255, 255, 255],
    [255, 255, 255, 255, 255],
    [0, 255, 255, 255, 0],
], np.uint8)


def photo7():
    """7x7 RGB image with a distinct value per pixel and channel."""
    base = np.arange(49, dtype=np.uint8).reshape(7, 7)
    return np.dstack([base, base + 50, base + 100])


def test_hls_palette_matches_seaborn_hls():
    np.testing.assert_array_equal(
        hls_palette(3), [[219, 95, 87], [87, 219, 95], [95, 87, 219]])
    assert hls_palette(4).dtype == np.uint8
    np.testing.assert_array_equal(hls_palette(4)[1], [145, 219, 87])
    with pytest.raises(ValueError):
        hls_palette(0)


def test_colorize_exact_colours_and_void():
    labels = np.array([[0, 1], [2, 255], [-1, 3]])
    out = colorize(labels, PALETTE, ignore_color=(1, 2, 3))
    assert out.dtype == np.uint8 and out.shape == (3, 2, 3)
    np.testing.assert_array_equal(out, [
        [[10, 20, 30], [200, 0, 0]],
        [[0, 255, 0], [1, 2, 3]],
        [[1, 2, 3], [1, 2, 3]],
    ])


def test_colorize_ignore_index_inside_palette_range():
    out = colorize(np.array([[0, 1]]), PALETTE, ignore_index=1)
    np.testing.assert_array_equal(out, [[[10, 20, 30], [0, 0, 0]]])


def test_palette_image_has_colorizes_colours():
    labels = np.array([[0, 1], [2, 255], [-1, 3]])
    image = palette_image(labels, PALETTE, ignore_index=1, ignore_color=(1, 2, 3))
    assert image.mode == "P"
    np.testing.assert_array_equal(np.asarray(image.convert("RGB")),
                                  colorize(labels, PALETTE, ignore_index=1, ignore_color=(1, 2, 3)))
    buffer = io.BytesIO()
    image.save(buffer, "png")  # what the app serves: the PNG decodes to the same colours
    np.testing.assert_array_equal(np.asarray(Image.open(buffer).convert("RGB")), colorize(
        labels, PALETTE, ignore_index=1, ignore_color=(1, 2, 3)))


def test_overlay_blends_with_alpha_and_mask():
    image = np.full((2, 2, 3), 100, np.uint8)
    color = np.full((2, 2, 3), 200, np.uint8)
    np.testing.assert_array_equal(overlay(image, color, alpha=0.25), np.full((2, 2, 3), 125))
    np.testing.assert_array_equal(overlay(image, color, alpha=0.0), image)
    np.testing.assert_array_equal(overlay(image, color, alpha=1.0), color)
    mask = np.array([[True, False], [False, True]])
    out = overlay(image, color, alpha=0.5, mask=mask)
    np.testing.assert_array_equal(out[..., 0], [[150, 100], [100, 150]])
    assert out.dtype == np.uint8


@pytest.mark.parametrize("alpha", [-0.1, 1.5])
def test_overlay_rejects_alpha_outside_unit_interval(alpha):
    image = np.zeros((1, 1, 3), np.uint8)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        overlay(image, image, alpha=alpha)


LABELS = np.array([
    [2, 2, 2, 2],
    [2, 2, 2, 2],
    [0, 0, 0, 1],
    [0, 0, 1, 255],
])  # 8 x class 2, 5 x class 0, 2 x class 1, 1 void


def test_legend_order_shares_and_colours():
    entries = legend(LABELS, ["bg", "cat", "dog"], PALETTE)
    assert entries == [
        {"index": 2, "name": "dog", "color": "#00ff00", "share": 8 / 16},
        {"index": 0, "name": "bg", "color": "#0a141e", "share": 5 / 16},
        {"index": 1, "name": "cat", "color": "#c80000", "share": 2 / 16},
    ]


def test_legend_skips_absent_classes_and_breaks_ties_by_index():
    labels = np.array([[3, 1], [3, 1]])
    entries = legend(labels, ["a", "b", "c", "d"], hls_palette(4))
    assert [(e["index"], e["share"]) for e in entries] == [(1, 0.5), (3, 0.5)]


def test_legend_html_has_swatch_escaped_name_and_percent():
    text = legend_html([{"index": 0, "name": "<b>cat</b>", "color": "#c80000", "share": 0.3125}])
    assert "background:#c80000" in text
    assert "&lt;b&gt;cat&lt;/b&gt;" in text and "<b>" not in text
    assert "31.2%" in text
    assert "no classes" in legend_html([])


def test_binary_maps_largest_first_with_exact_masks():
    maps = binary_maps(LABELS, ["bg", "cat", "dog"])
    assert [(m["index"], m["name"], m["share"]) for m in maps] == [
        (2, "dog", 0.5), (0, "bg", 0.3125), (1, "cat", 0.125)]
    assert maps[0]["mask"].dtype == np.uint8
    np.testing.assert_array_equal(maps[2]["mask"], [
        [0, 0, 0, 0],
        [0, 0, 0, 0],
        [0, 0, 0, 255],
        [0, 0, 255, 0],
    ])


def test_confidence_and_entropy():
    probs = np.array([[[1.0, 0.0], [0.5, 0.5]]])  # (1, 2, 2)
    np.testing.assert_allclose(confidence(probs), [[1.0, 0.5]])
    np.testing.assert_allclose(entropy(probs), [[0.0, 1.0]], atol=1e-6)
    four = np.array([[[0.25, 0.25, 0.25, 0.25], [0.5, 0.5, 0.0, 0.0]]])
    np.testing.assert_allclose(entropy(four), [[1.0, 0.5]], atol=1e-6)
    assert confidence(four).dtype == np.float32 and entropy(four).dtype == np.float32


def test_heatmap_uses_colormap_ends_and_clips():
    out = heatmap(np.array([[0.0, 1.0, 2.0, -1.0]]))
    assert out.dtype == np.uint8 and out.shape == (1, 4, 3)
    low, high = [68, 1, 84], [253, 231, 37]  # viridis ends
    np.testing.assert_array_equal(out[0], [low, high, high, low])
    np.testing.assert_array_equal(heatmap(np.array([[1.0]]), cmap="magma")[0, 0], [252, 253, 191])
    with pytest.raises(ValueError, match="viridis"):
        heatmap(np.zeros((1, 1)), cmap="jet")


def test_sticker_crop_alpha_and_outline():
    image = photo7()
    rgba = sticker(image, MASK7, border=3, margin=0)
    assert rgba.dtype == np.uint8 and rgba.shape == (5, 5, 4)
    np.testing.assert_array_equal(rgba[..., 3], ALPHA5)
    inside = image[1:6, 1:6]
    for c in range(3):
        expected = np.where(OUTLINE5, 248, np.where(ALPHA5 > 0, inside[..., c], 0))
        np.testing.assert_array_equal(rgba[..., c], expected)


def test_sticker_margin_is_clipped_and_outside_is_transparent():
    rgba = sticker(photo7(), MASK7, border=3, margin=8)
    assert rgba.shape == (7, 7, 4)  # 5 + 2*8 clipped to the 7x7 image
    np.testing.assert_array_equal(rgba[..., 3], np.where(MASK7, 255, 0))
    np.testing.assert_array_equal(rgba[~MASK7][:, :3], 0)
    assert sticker(photo7(), MASK7, margin=1).shape == (7, 7, 4)


def test_sticker_border_one_draws_no_outline_and_light_is_used():
    image = photo7()
    plain = sticker(image, MASK7, border=1, margin=0)
    np.testing.assert_array_equal(plain[..., :3][ALPHA5 > 0], image[1:6, 1:6][ALPHA5 > 0])
    thick = sticker(image, MASK7, border=5, light=200, margin=0)  # 5x5 erosion empties the mask
    np.testing.assert_array_equal(thick[..., :3][ALPHA5 > 0], 200)


def test_sticker_does_not_outline_along_the_image_edge():
    image = photo7()
    full = np.ones((7, 7), bool)
    rgba = sticker(image, full, border=3)
    np.testing.assert_array_equal(rgba[..., :3], image)


def test_sticker_fit_scales_longer_side_and_keeps_binary_alpha():
    rgba = sticker(photo7(), MASK7, border=3, margin=0, fit=10)
    assert rgba.shape == (10, 10, 4)
    np.testing.assert_array_equal(rgba[..., 3], np.kron(ALPHA5, np.ones((2, 2), np.uint8)))
    np.testing.assert_array_equal(rgba[..., :3][rgba[..., 3] == 0], 0)
    column = np.zeros((7, 7), bool)
    column[1:6, 3] = True  # 5 rows x 1 column
    assert sticker(photo7(), column, margin=0, fit=10).shape == (10, 2, 4)


def test_sticker_empty_mask_names_the_class():
    with pytest.raises(ValueError, match="class 'cat' is not present in this image"):
        sticker(photo7(), np.zeros((7, 7), bool), name="cat")


def test_sticker_rejects_bad_arguments():
    with pytest.raises(ValueError, match="shape"):
        sticker(photo7(), MASK7[:6])
    with pytest.raises(ValueError, match="border"):
        sticker(photo7(), MASK7, border=-1)


def test_checkerboard_composites_over_grey_cells():
    rgba = np.zeros((2, 4, 4), np.uint8)
    rgba[0, 0] = [255, 0, 0, 255]  # opaque red on a light cell
    rgba[0, 2] = [0, 0, 0, 51]  # 20% black on a dark cell
    out = checkerboard(rgba, cell=2)
    assert out.dtype == np.uint8 and out.shape == (2, 4, 3)
    np.testing.assert_array_equal(out[..., 1], [[0, 240, 163, 204], [240, 240, 204, 204]])
    np.testing.assert_array_equal(out[0, 0], [255, 0, 0])


@pytest.mark.parametrize("array", [
    np.array([[0, 1, 2], [253, 254, 255]], np.uint8),
    np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) * 7,
    np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4) * 5,
], ids=["gray", "rgb", "rgba"])
def test_save_png_round_trips_exactly(tmp_path, array):
    path = save_png(tmp_path / "out.PNG", array)
    with Image.open(path) as im:
        assert im.format == "PNG"
        channels = 1 if array.ndim == 2 else array.shape[2]
        assert im.mode == {1: "L", 3: "RGB", 4: "RGBA"}[channels]
        np.testing.assert_array_equal(np.asarray(im), array)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.PNG"]  # no temp file left


def test_save_png_overwrites(tmp_path):
    path = tmp_path / "m.png"
    save_png(path, np.zeros((2, 2), np.uint8))
    save_png(path, np.full((2, 2), 9, np.uint8))
    with Image.open(path) as im:
        np.testing.assert_array_equal(np.asarray(im), 9)


@pytest.mark.parametrize("name", ["out.jpg", "out.webp", "out"])
def test_save_png_refuses_other_formats(tmp_path, name):
    with pytest.raises(ValueError, match=r"\.png"):
        save_png(tmp_path / name, np.zeros((2, 2), np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_save_png_refuses_non_uint8(tmp_path):
    with pytest.raises(ValueError, match="uint8"):
        save_png(tmp_path / "x.png", np.zeros((2, 2), np.float32))
    assert list(tmp_path.iterdir()) == []


def test_adjacency_counts_4_neighbour_pairs_by_hand():
    mask = np.array([
        [0, 0, 1],
        [0, 2, 1],
        [9, 2, 2],
    ])  # 9 is void: its pairs do not count
    # left-right pairs: 0|1, 0|2, 2|1; up-down pairs: 0/2 (column 1), 1/2 (column 2)
    expected = np.array([[0, 1, 2], [1, 0, 2], [2, 2, 0]])
    np.testing.assert_array_equal(adjacency([mask], 3), expected)
    np.testing.assert_array_equal(adjacency([mask, mask.T], 3), 2 * expected)  # masks add up
    assert adjacency([], 2).tolist() == [[0, 0], [0, 0]]


def test_separated_order_puts_the_touching_pairs_opposite():
    # 4 hues: each class has one slot opposite. Only 0-1 and 2-3 touch, so each pair sits opposite.
    touching = np.zeros((4, 4))
    touching[0, 1] = touching[1, 0] = touching[2, 3] = touching[3, 2] = 10
    slots = separated_order(touching)
    assert slots[:2] == (0, 2) and set(slots[2:]) == {1, 3}


def test_separated_order_finds_the_exhaustive_optimum():
    rng = np.random.default_rng(7)
    weights = rng.integers(0, 100, (7, 7))
    weights = weights + weights.T
    best = min(separation_cost(weights, (0,) + p) for p in itertools.permutations(range(1, 7)))
    slots = separated_order(weights)
    assert sorted(slots) == list(range(7)) and slots[0] == 0 and slots[1] <= 7 - slots[1]
    assert separation_cost(weights, slots) == pytest.approx(best)


def test_separation_cost_by_hand():
    weights = np.zeros((5, 5))
    weights[0, 1], weights[0, 2] = 6, 3  # one-sided counts are symmetrised
    # 5 hues: classes 0, 1, 2 at slots 0, 1, 3 -> 0-1 one slot apart, 0-2 two (circular: min(3, 2))
    assert separation_cost(weights + weights.T, (0, 1, 3, 2, 4)) == pytest.approx(6 / 1 + 3 / 2)
    assert separation_cost(weights, (0, 1, 3, 2, 4)) == pytest.approx((6 / 1 + 3 / 2) / 2)
    with pytest.raises(ValueError, match="slots"):
        separation_cost(weights, (0, 1, 3))


@pytest.mark.skipif(not CAMVID_TRAIN_MASKS.is_dir(), reason="no CamVid training masks in ../shared/camvid")
def test_camvid_hue_slots_are_measured_on_the_training_masks():
    masks = (np.asarray(Image.open(p)) for p in sorted(CAMVID_TRAIN_MASKS.glob("*.png")))
    assert separated_order(adjacency(masks, len(CAMVID_CLASSES))) == CAMVID_HUE_SLOTS


def test_class_palette_is_hls_in_the_separated_order():
    camvid = class_palette(CAMVID_CLASSES)
    np.testing.assert_array_equal(camvid, hls_palette(11)[list(CAMVID_HUE_SLOTS)])
    assert len({tuple(c) for c in camvid}) == 11
    for a, b in (("Road", "Pavement"), ("Pedestrian", "Bicyclist"), ("Sky", "Tree")):
        gap = abs(CAMVID_HUE_SLOTS[CAMVID_CLASSES.index(a)] - CAMVID_HUE_SLOTS[CAMVID_CLASSES.index(b)])
        assert min(gap, 11 - gap) >= 2, (a, b)  # 2 of 11 slots: 65 degrees
    # any other class list: a fixed stride through the hues
    assert hue_slots(5) == hue_slots(["a", "b", "c", "d", "e"]) == (0, 3, 1, 4, 2)
    np.testing.assert_array_equal(class_palette(5), hls_palette(5)[[0, 3, 1, 4, 2]])
    assert hue_slots(list(CAMVID_CLASSES)[::-1]) == tuple(i * 7 % 11 for i in range(11))
    assert hue_slots(1) == (0,)
    with pytest.raises(ValueError):
        hue_slots([])


def test_golden_stride_is_coprime_and_near_n_over_phi():
    assert [golden_stride(n) for n in range(1, 12)] == [0, 1, 2, 3, 3, 5, 4, 5, 5, 7, 7]
    for n in range(2, 40):
        slots = hue_slots(n)
        assert sorted(slots) == list(range(n))  # coprime: every hue used once


def test_shipped_manifests_use_the_class_palette():
    manifests = sorted((REPO / "weights").glob("*.json"))
    assert manifests
    for path in manifests:
        manifest = json.loads(path.read_text())
        assert manifest["palette"] == class_palette(manifest["classes"]).tolist(), path.name


def test_error_labels_correct_wrong_void_by_hand():
    truth = np.array([[0, 1, 2], [11, 1, 5]])
    pred = np.array([[0, 2, 2], [0, 1, 1]])
    # 11 is ignore_index, 5 is outside 0..2: both void whatever is predicted
    expected = np.array([[0, 1, 0], [2, 0, 2]])
    np.testing.assert_array_equal(error_labels(truth, pred, 3, ignore_index=11), expected)
    assert error_labels(truth, pred, 3).dtype == np.uint8
    # an ignored label inside the class range is void even where the prediction matches it
    np.testing.assert_array_equal(error_labels(np.array([[1, 1, 2]]), np.array([[1, 0, 2]]), 3, ignore_index=1),
                                  [[2, 2, 0]])
    colours = error_map(truth, pred, 3, ignore_index=11)
    np.testing.assert_array_equal(colours, ERROR_PALETTE[expected])
    assert len({tuple(c) for c in ERROR_PALETTE}) == 3
    with pytest.raises(ValueError, match="shape"):
        error_labels(truth, pred[:, :2], 3)


def test_pixel_probs_reads_one_pixel_in_class_order():
    probs = np.zeros((2, 3, 3), np.float32)
    probs[1, 2] = [0.25, 0.5, 0.25]
    bars = pixel_probs(probs, 1, 2, ["a", "b", "c"], PALETTE)
    assert [b["name"] for b in bars] == ["a", "b", "c"]
    assert [b["probability"] for b in bars] == [0.25, 0.5, 0.25]
    assert bars[1] == {"index": 1, "name": "b", "color": "#c80000", "probability": 0.5}
    for y, x in ((2, 0), (0, 3), (-1, 0)):
        with pytest.raises(ValueError, match="outside the 2x3 image"):
            pixel_probs(probs, y, x, ["a", "b", "c"], PALETTE)


# three SignSymbol fragments of 2 pixels (6 in all) and one Car of 4 pixels
FRAGMENTS = np.array([
    [0, 0, 0, 0, 0, 0],
    [2, 2, 0, 0, 2, 2],
    [0, 0, 0, 0, 0, 0],
    [1, 1, 0, 2, 0, 0],
    [1, 1, 0, 2, 0, 0],
    [0, 0, 0, 0, 0, 0],
])


def test_sticker_class_prefers_one_object_over_fragments():
    names = ["Road", "Car", "SignSymbol"]
    assert sticker_class(FRAGMENTS, names) == 1  # Car: 4 connected pixels beat 3 x 2 of SignSymbol
    assert sticker_class(FRAGMENTS, names, prefer=("SignSymbol",)) == 2
    # nothing preferred present: the most whole class other than 0; then class 0; then None
    assert sticker_class(FRAGMENTS, ["a", "b", "c"]) == 1
    assert sticker_class(np.zeros((2, 2), int), names) == 0
    assert sticker_class(np.full((2, 2), 9), names) is None


def test_keep_region_largest_or_under_a_pixel():
    mask = np.array([
        [1, 1, 0, 0],
        [0, 0, 1, 0],
        [0, 0, 0, 0],
        [1, 0, 0, 1],
    ], bool)  # 8-connected: the top three pixels are one region; two single pixels below
    top = np.array([[1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0]], bool)
    np.testing.assert_array_equal(keep_region(mask, "largest"), top)
    np.testing.assert_array_equal(keep_region(mask, (1, 2)), top)
    corner = np.zeros((4, 4), bool)
    corner[3, 3] = True
    np.testing.assert_array_equal(keep_region(mask, (3, 3)), corner)
    with pytest.raises(ValueError, match="not on 'Car'"):
        keep_region(mask, (2, 2), name="Car")
    with pytest.raises(ValueError, match="outside"):
        keep_region(mask, (4, 0))
    with pytest.raises(ValueError, match="largest"):
        keep_region(mask, "biggest")


def test_sticker_keeps_only_the_chosen_region():
    image = photo7()
    mask = np.zeros((7, 7), bool)
    mask[1:3, 1:3] = True  # 4 pixels
    mask[5, 5] = True  # 1 pixel
    rgba = sticker(image, mask, border=0, margin=0, region="largest")
    assert rgba.shape == (2, 2, 4) and (rgba[..., 3] == 255).all()
    np.testing.assert_array_equal(rgba[..., :3], image[1:3, 1:3])
    rgba = sticker(image, mask, border=0, margin=0, region=(5, 5))
    assert rgba.shape == (1, 1, 4)
    np.testing.assert_array_equal(rgba[0, 0], [*image[5, 5], 255])
