"""Tests for segdemo.files.images (read_image, read_mask): every file is made here, tiny, with exact expectations."""

import io
import struct

import numpy as np
import pytest
from PIL import Image, ImageFile

from conftest import png_declaring, raw_png, save_image as save
from segdemo import files
from segdemo.files import InputError


# ----------------------------------------------------------------------------- helpers


def noise(h, w, seed=0):
    """Incompressible RGB noise as a PIL image."""
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))


def palette_image(indices, palette):
    """A one-row P-mode image with exactly these indices and palette colours."""
    img = Image.frombytes("P", (len(indices), 1), bytes(indices))
    img.putpalette([c for colour in palette for c in colour])
    return img


@pytest.fixture
def no_decode(monkeypatch):
    """Make any pixel decoding fail loudly, to prove a refusal happens before decoding."""
    def load(self):
        raise AssertionError("pixels were decoded")
    monkeypatch.setattr(ImageFile.ImageFile, "load", load)


# ----------------------------------------------------------------------------- read_image


def test_truncation_flag_stays_off():
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_truncation_flag_on_is_refused(tmp_path, monkeypatch):
    path = save(Image.new("RGB", (2, 2)), tmp_path / "a.png")
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(RuntimeError, match="LOAD_TRUNCATED_IMAGES"):
        files.read_image(path)


def test_read_rgb_png_exact(tmp_path):
    arr = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    path = save(Image.fromarray(arr), tmp_path / "a.png")
    out = files.read_image(path)
    assert out.dtype == np.uint8 and out.shape == (2, 3, 3)
    np.testing.assert_array_equal(out, arr)


def test_read_image_from_bytes():
    buf = io.BytesIO()
    Image.new("RGB", (3, 2), (1, 2, 3)).save(buf, "PNG")
    out = files.read_image(buf.getvalue())
    assert out.shape == (2, 3, 3) and out[0, 0].tolist() == [1, 2, 3]


def test_text_file_named_png_is_not_an_image(tmp_path):
    path = tmp_path / "photo.png"
    path.write_text("hello, this is not a picture")
    with pytest.raises(InputError, match=r"^photo\.png: not an image file"):
        files.read_image(path)


def test_empty_file(tmp_path):
    path = tmp_path / "x.png"
    path.write_bytes(b"")
    with pytest.raises(InputError, match=r"^x\.png: file is empty$"):
        files.read_image(path)


def test_empty_bytes_named():
    with pytest.raises(InputError, match=r"^upload\.png: file is empty$"):
        files.read_image(b"", name="upload.png")


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match=r"^nope\.png: file not found$"):
        files.read_image(tmp_path / "nope.png")


@pytest.mark.parametrize("fmt, name", [("PNG", "y.png"), ("JPEG", "y.jpg")])
def test_truncated_image_raises(tmp_path, fmt, name):
    buf = io.BytesIO()
    noise(64, 64).save(buf, fmt)
    data = buf.getvalue()
    path = tmp_path / name
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=rf"^{name.replace('.', '[.]')}: truncated or corrupt image \("):
        files.read_image(path)


def test_huge_declared_png_refused_before_decoding(tmp_path, no_decode):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_declaring(30000, 30000))
    assert path.stat().st_size < 100
    with pytest.raises(InputError, match=r"^bomb\.png: image is too large"):
        files.read_image(path)


def test_own_pixel_limit_applies_below_pillows(tmp_path, no_decode):
    # 8000x6000 = 48 M is under Pillow's limit, so only our check can refuse it
    path = tmp_path / "big.png"
    path.write_bytes(png_declaring(8000, 6000))
    with pytest.raises(InputError, match=r"big\.png: image is too large: 8000x6000 = 48,000,000 "
                                         r"pixels \(limit 1,000,000\)"):
        files.read_image(path, max_pixels=1_000_000)


def test_default_limit_accepts_a_24_megapixel_photo(tmp_path):
    # the header passes the size check; decoding then fails because the data is 1x1
    path = tmp_path / "photo.png"
    path.write_bytes(png_declaring(6000, 4000))
    with pytest.raises(InputError, match="truncated or corrupt"):
        files.read_image(path)
    assert files.MAX_PIXELS >= 6000 * 4000


def test_grayscale_becomes_rgb(tmp_path):
    gray = np.array([[0, 100], [200, 255]], dtype=np.uint8)
    path = save(Image.fromarray(gray), tmp_path / "g.png")
    out = files.read_image(path)
    assert out.shape == (2, 2, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, np.repeat(gray[..., None], 3, axis=2))


def test_one_bit_becomes_rgb(tmp_path):
    img = Image.new("1", (2, 1))
    img.putpixel((1, 0), 1)
    out = files.read_image(save(img, tmp_path / "b.png"))
    assert out[0].tolist() == [[0, 0, 0], [255, 255, 255]]


def test_16bit_grayscale_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 65535, 32768, 1000, 256]], dtype=np.uint16)
    path = save(Image.fromarray(values), tmp_path / "g16.png")
    assert Image.open(path).mode.startswith("I;16")
    out = files.read_image(path)
    # round(v * 255 / 65535): clipping would give 255 for everything but 0
    np.testing.assert_array_equal(out[..., 0], [[0, 255, 128, 4, 1]])
    np.testing.assert_array_equal(out[..., 0], out[..., 2])


def test_16bit_rgb_png(tmp_path):
    rows = b"\x00" + struct.pack(">6H", 65535, 32768, 256, 0, 512, 65280)
    path = tmp_path / "rgb16.png"
    path.write_bytes(raw_png(2, 1, 16, 2, rows))
    out = files.read_image(path)
    assert out.dtype == np.uint8
    assert out[0].tolist() == [[255, 128, 1], [0, 2, 255]]


def test_rgba_is_composited_on_white(tmp_path):
    rgba = np.array([[[255, 0, 0, 255], [255, 0, 0, 0], [0, 0, 0, 128]]], dtype=np.uint8)
    path = save(Image.fromarray(rgba, "RGBA"), tmp_path / "t.png")
    out = files.read_image(path)
    assert out[0].tolist() == [[255, 0, 0], [255, 255, 255], [127, 127, 127]]


def test_la_is_composited_on_white(tmp_path):
    la = Image.new("LA", (2, 1))
    la.putpixel((0, 0), (10, 255))
    la.putpixel((1, 0), (10, 0))
    out = files.read_image(save(la, tmp_path / "la.png"))
    assert out[0].tolist() == [[10, 10, 10], [255, 255, 255]]


def test_palette_image_gets_its_colours(tmp_path):
    img = palette_image([0, 1, 2], [(0, 0, 0), (255, 0, 0), (0, 255, 0)])
    out = files.read_image(save(img, tmp_path / "p.png"))
    assert out[0].tolist() == [[0, 0, 0], [255, 0, 0], [0, 255, 0]]


def test_palette_transparency_on_white(tmp_path):
    img = palette_image([0, 1], [(255, 0, 0), (0, 0, 255)])
    out = files.read_image(save(img, tmp_path / "pt.png", transparency=1))
    assert out[0].tolist() == [[255, 0, 0], [255, 255, 255]]


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    img = Image.new("CMYK", (16, 8), (0, 0, 0, 0))
    img.paste((255, 0, 0, 0), (8, 0, 16, 8))  # right half pure cyan
    path = save(img, tmp_path / "c.jpg", quality=95)
    assert Image.open(path).mode == "CMYK"
    out = files.read_image(path)
    assert out.shape == (8, 16, 3) and out.dtype == np.uint8
    out = out.astype(int)
    assert np.abs(out[4, 2] - [255, 255, 255]).max() <= 6
    assert np.abs(out[4, 13] - [0, 255, 255]).max() <= 6


def test_exif_orientation_is_applied(tmp_path):
    img = Image.new("RGB", (32, 16), (255, 0, 0))
    img.paste((0, 0, 255), (16, 0, 32, 16))  # left red, right blue
    exif = Image.Exif()
    exif[files.ORIENTATION_TAG] = 6  # "rotate 90 degrees clockwise to display"
    path = save(img, tmp_path / "r.jpg", exif=exif.tobytes(), quality=95)
    out = files.read_image(path).astype(int)
    assert out.shape == (32, 16, 3)
    assert out[4, 8, 0] > 200 and out[4, 8, 2] < 50  # top is the old left: red
    assert out[28, 8, 2] > 200 and out[28, 8, 0] < 50  # bottom is the old right: blue


# ----------------------------------------------------------------------------- read_mask


def test_mask_8bit(tmp_path):
    labels = np.array([[0, 1], [10, 11]], dtype=np.uint8)
    path = save(Image.fromarray(labels), tmp_path / "m.png")
    out, notes = files.read_mask(path, num_classes=11, ignore_index=11)
    np.testing.assert_array_equal(out, labels)
    assert out.dtype == np.uint8 and notes == []


def test_mask_16bit_keeps_values(tmp_path):
    labels = np.array([[0, 1], [2, 300]], dtype=np.uint16)
    path = save(Image.fromarray(labels), tmp_path / "m16.png")
    out, _ = files.read_mask(path)
    np.testing.assert_array_equal(out, labels)
    small = save(Image.fromarray(np.array([[0, 7]], dtype=np.uint16)), tmp_path / "s16.png")
    out, _ = files.read_mask(small)
    assert out.dtype == np.uint8 and out.tolist() == [[0, 7]]


def test_palette_mask_keeps_indices(tmp_path):
    img = palette_image([0, 1, 2], [(0, 0, 0), (255, 0, 0), (0, 255, 0)])
    path = save(img, tmp_path / "pm.png")
    assert Image.open(path).mode == "P"
    out, notes = files.read_mask(path, num_classes=3)
    assert out.tolist() == [[0, 1, 2]] and notes == []


def test_equal_channel_rgb_mask(tmp_path):
    rgb = np.repeat(np.array([[0, 3], [5, 1]], dtype=np.uint8)[..., None], 3, axis=2)
    path = save(Image.fromarray(rgb), tmp_path / "e.png")
    out, _ = files.read_mask(path)
    assert out.shape == (2, 2) and out.tolist() == [[0, 3], [5, 1]]


def test_colour_mask_without_table_refused(tmp_path):
    rgb = np.array([[[128, 64, 128], [0, 0, 0]]], dtype=np.uint8)
    path = save(Image.fromarray(rgb), tmp_path / "c.png")
    with pytest.raises(InputError, match=r"^c\.png: mask is a colour image.*colour table"):
        files.read_mask(path)


def test_colour_table(tmp_path):
    rgb = np.array([[[128, 64, 128], [0, 0, 0], [70, 70, 70]]], dtype=np.uint8)
    path = save(Image.fromarray(rgb), tmp_path / "c.png")
    table = {(0, 0, 0): 11, (128, 64, 128): 3, (70, 70, 70): 1}
    out, _ = files.read_mask(path, num_classes=11, ignore_index=11, color_table=table)
    assert out.tolist() == [[3, 11, 1]]


def test_colour_table_unknown_colours_listed(tmp_path):
    rgb = np.array([[[128, 64, 128], [1, 2, 3], [9, 9, 9]]], dtype=np.uint8)
    path = save(Image.fromarray(rgb), tmp_path / "c.png")
    with pytest.raises(InputError, match=r"^c\.png: colours not in the colour table: "
                                         r"\(1, 2, 3\), \(9, 9, 9\)$"):
        files.read_mask(path, color_table={(128, 64, 128): 0})


def test_bad_colour_table_argument(tmp_path):
    path = save(Image.new("RGB", (1, 1)), tmp_path / "c.png")
    with pytest.raises(ValueError, match="color_table keys"):
        files.read_mask(path, color_table={(0, 0): 1})


def test_binary_0_255_mask_mapped_with_note(tmp_path):
    path = save(Image.fromarray(np.array([[0, 255], [255, 0]], dtype=np.uint8)), tmp_path / "b.png")
    out, notes = files.read_mask(path, num_classes=2)
    assert out.tolist() == [[0, 1], [1, 0]]
    assert notes == ["masks are 0/255: mapped to 0/1"]


def test_0_255_not_mapped_when_255_is_void(tmp_path):
    path = save(Image.fromarray(np.array([[0, 255]], dtype=np.uint8)), tmp_path / "v.png")
    out, notes = files.read_mask(path, num_classes=21, ignore_index=255)
    assert out.tolist() == [[0, 255]] and notes == []


@pytest.mark.parametrize("name, fmt", [("m.jpg", "JPEG"), ("m.png", "JPEG")])
def test_jpeg_mask_refused(tmp_path, name, fmt):
    path = save(Image.new("L", (8, 8), 1), tmp_path / name, format=fmt)
    with pytest.raises(InputError, match=rf"^{name.replace('.', '[.]')}: JPEG masks are not "
                                         "accepted: lossy compression invents labels at class "
                                         "borders; save masks as PNG$"):
        files.read_mask(path)


def test_out_of_range_labels_listed(tmp_path):
    labels = np.array([[0, 1, 200, 12], [11, 12, 10, 13]], dtype=np.uint8)
    path = save(Image.fromarray(labels), tmp_path / "o.png")
    with pytest.raises(InputError) as info:
        files.read_mask(path, num_classes=11, ignore_index=11)
    message = str(info.value)
    assert message.startswith("o.png: labels out of range for 11 classes")
    assert message.endswith(": 12, 13, 200")


def test_mask_size_bomb_refused_before_decoding(tmp_path, no_decode):
    path = tmp_path / "m.png"
    path.write_bytes(png_declaring(8000, 6000))
    with pytest.raises(InputError, match=r"^m\.png: image is too large: 8000x6000"):
        files.read_mask(path, max_pixels=1_000_000)


def test_mask_not_an_image(tmp_path):
    path = tmp_path / "m.png"
    path.write_bytes(b"GIF? no.")
    with pytest.raises(InputError, match=r"^m\.png: not an image file"):
        files.read_mask(path)
