"""Visualisation helpers on hand-drawn tiny arrays with exact expected values."""

import numpy as np
import pytest
from PIL import Image

from segdemo.viz import (
    binary_maps,
    checkerboard,
    colorize,
    confidence,
    entropy,
    heatmap,
    hls_palette,
    legend,
    legend_html,
    overlay,
    save_png,
    sticker,
)

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
