"""Tests for segdemo.files: every file is made here, tiny, with exact expectations."""

import io
import stat
import struct
import tempfile
import time
import zipfile
import zlib

import numpy as np
import pytest
from PIL import Image, ImageFile

from segdemo import files
from segdemo.files import InputError
from segdemo.ui.common import report_markdown


# ----------------------------------------------------------------------------- helpers


def png_chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk with its CRC."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def raw_png(width, height, bit_depth, color_type, rows: bytes) -> bytes:
    """A PNG built by hand (for 16-bit colour, which Pillow cannot write)."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
            + png_chunk(b"IDAT", zlib.compress(rows)) + png_chunk(b"IEND", b""))


def png_declaring(width, height) -> bytes:
    """A real 1x1 PNG whose IHDR is patched to declare width x height (CRC fixed)."""
    buf = io.BytesIO()
    Image.new("RGB", (1, 1), (10, 20, 30)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def save(img: Image.Image, path, **kwargs):
    """Save a PIL image and return the path."""
    img.save(path, **kwargs)
    return path


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


# ----------------------------------------------------------------------------- pair_folders


def make_files(folder, names, data=b"x"):
    """Create folder and write the same bytes to each name."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(data)
    return folder


def test_pairing(tmp_path):
    images = make_files(tmp_path / "images", ["a.png", "b.jpg", "c.png", "d.png", "d.jpg",
                                              "E.png", "e.png", ".hidden.png", "notes.txt"])
    masks = make_files(tmp_path / "masks", ["a.png", "b.png", "x.png", "d.png", "e.png",
                                            "readme.md", "Thumbs.db"])
    if len(list(images.iterdir())) < 9:
        pytest.skip("case-insensitive file system: E.png and e.png are one file")
    p = files.pair_folders(images, masks)
    assert p.pairs == [(images / "a.png", masks / "a.png"), (images / "b.jpg", masks / "b.png")]
    assert p.images_without_mask == ["c.png"]
    assert p.masks_without_image == ["x.png"]
    assert p.duplicates == ["images/d.jpg", "images/d.png"]
    assert p.case_clashes == ["images/E.png", "images/e.png"]
    assert p.ignored == ["images/.hidden.png", "images/notes.txt",
                         "masks/Thumbs.db", "masks/readme.md"]


def test_pairing_ignores_case_across_folders(tmp_path):
    images = make_files(tmp_path / "images", ["IMG_1.JPG"])
    masks = make_files(tmp_path / "masks", ["img_1.png"])
    assert files.pair_folders(images, masks).pairs == [(images / "IMG_1.JPG", masks / "img_1.png")]


def test_pairing_descends_into_a_lone_subfolder(tmp_path):
    images = make_files(tmp_path / "up" / "images" / "inner", ["a.png"])
    (tmp_path / "up" / "images" / "__MACOSX").mkdir()
    masks = make_files(tmp_path / "up" / "masks", ["a.png"])
    p = files.pair_folders(tmp_path / "up" / "images", masks)
    assert p.image_dir == images and p.pairs == [(images / "a.png", masks / "a.png")]


def test_pairing_does_not_descend_into_two_subfolders(tmp_path):
    make_files(tmp_path / "images" / "one", ["a.png"])
    make_files(tmp_path / "images" / "two", ["b.png"])
    masks = make_files(tmp_path / "masks", ["a.png"])
    with pytest.raises(InputError, match="no image files here"):
        files.pair_folders(tmp_path / "images", masks)


def test_empty_and_missing_folders(tmp_path):
    (tmp_path / "empty").mkdir()
    masks = make_files(tmp_path / "masks", ["a.png"])
    with pytest.raises(InputError, match=r"empty: image folder is empty$"):
        files.pair_folders(tmp_path / "empty", masks)
    with pytest.raises(InputError, match=r"gone: image folder not found$"):
        files.pair_folders(tmp_path / "gone", masks)
    with pytest.raises(InputError, match=r"a\.png: is a file, not a mask folder$"):
        files.pair_folders(masks, masks / "a.png")


def test_same_folder_refused(tmp_path):
    folder = make_files(tmp_path / "both", ["a.png"])
    with pytest.raises(InputError, match="same folder"):
        files.pair_folders(folder, folder)


def test_pairing_5000_files_is_fast(tmp_path):
    names = [f"frame_{i:05d}.png" for i in range(5000)]
    images = make_files(tmp_path / "images", names)
    masks = make_files(tmp_path / "masks", names)
    start = time.perf_counter()
    p = files.pair_folders(images, masks)
    elapsed = time.perf_counter() - start
    assert len(p.pairs) == 5000 and p.pairs[0][0].name == "frame_00000.png"
    assert elapsed < 2.0, f"pair_folders took {elapsed:.2f} s for 5000 pairs"


# ----------------------------------------------------------------------------- check_dataset


def dataset(tmp_path, items):
    """Write images and masks: items maps stem -> label array (image gets the mask's size)."""
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir(exist_ok=True)
    masks.mkdir(exist_ok=True)
    for stem, labels in items.items():
        labels = np.asarray(labels, dtype=np.uint8)
        Image.new("RGB", (labels.shape[1], labels.shape[0]), (50, 60, 70)).save(images / f"{stem}.jpg")
        Image.fromarray(labels).save(masks / f"{stem}.png")
    return images, masks


def test_check_dataset_good(tmp_path):
    images, masks = dataset(tmp_path, {"a": [[0, 1], [1, 2]], "b": [[2, 2], [3, 0]]})
    report = files.check_dataset(images, masks, class_names=["sky", "road", "car", "void"],
                                 ignore_index=3)
    assert report.ok and report.errors == [] and report.n_pairs == 2 and report.n_checked == 2
    assert report.class_pixels == {0: 2, 1: 2, 2: 3, 3: 1}
    assert report.num_classes_found == 3
    assert report.sizes == {(2, 2): 2}
    text, md = report.to_text(), report_markdown(report)
    assert "road" in text and text.endswith("OK")
    assert "| 2 | car | 3 | 37.5% |" in md and "void (ignored)" in md
    assert report.to_dict()["sizes"] == {"2x2": 2}


def test_check_dataset_problems(tmp_path):
    images, masks = dataset(tmp_path, {"a": [[0, 1], [1, 1]], "c": [[11, 11], [11, 11]]})
    Image.new("RGB", (4, 4)).save(images / "b.jpg")
    Image.fromarray(np.zeros((2, 2), np.uint8)).save(masks / "b.png")  # 2x2 mask, 4x4 image
    Image.fromarray(np.array([[0, 12]], np.uint8)).save(masks / "d.png")
    Image.new("RGB", (2, 1)).save(images / "d.jpg")
    Image.new("RGB", (2, 2)).save(images / "lonely.jpg")
    (images / "junk.png").write_text("not an image")
    Image.fromarray(np.zeros((2, 2), np.uint8)).save(masks / "junk.png")
    report = files.check_dataset(images, masks, num_classes=11, ignore_index=11)
    assert not report.ok
    assert report.n_pairs == 5
    assert "masks/b.png: mask is 2x2 but image b.jpg is 4x4" in report.errors
    assert any(e.startswith("masks/d.png: labels out of range") and e.endswith(": 12")
               for e in report.errors)
    assert any(e.startswith("images/junk.png: not an image file") for e in report.errors)
    assert "masks/c.png: mask is all void (label 11)" in report.warnings
    assert any("lonely.jpg" in w for w in report.warnings)
    assert any(w.startswith("images come in 3 sizes") for w in report.warnings)
    assert report.class_pixels == {0: 1 + 4 + 4, 1: 3, 11: 4}
    assert "masks/b.png" in report_markdown(report) and "NOT OK" in report.to_text()


def test_check_dataset_binary_note_once_with_count(tmp_path):
    images, masks = dataset(tmp_path, {"a": [[0, 255]], "b": [[255, 0]], "c": [[0, 0]]})
    report = files.check_dataset(images, masks)
    assert report.notes == ["masks are 0/255: mapped to 0/1 (2 files)"]
    assert report.class_pixels == {0: 4, 1: 2} and report.num_classes_found == 2


def test_check_dataset_uses_exif_orientation(tmp_path):
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    exif = Image.Exif()
    exif[files.ORIENTATION_TAG] = 6
    Image.new("RGB", (4, 2)).save(images / "r.jpg", exif=exif.tobytes())
    Image.fromarray(np.zeros((4, 2), np.uint8)).save(masks / "r.png")  # 2 wide, 4 high
    report = files.check_dataset(images, masks)
    assert report.ok, report.errors
    assert report.sizes == {(2, 4): 1}


def test_check_dataset_caps_errors(tmp_path):
    items = {f"f{i:02d}": [[5]] for i in range(60)}
    images, masks = dataset(tmp_path, items)
    report = files.check_dataset(images, masks, num_classes=2)
    assert len(report.errors) == 51 and report.errors[-1] == "... and 10 more"


def test_check_dataset_duplicates_and_clashes_are_errors(tmp_path):
    images, masks = dataset(tmp_path, {"a": [[0]]})
    Image.new("RGB", (1, 1)).save(images / "a.png")
    report = files.check_dataset(images, masks)
    assert not report.ok
    assert report.errors[0].startswith("images/a.jpg: same name")


def test_check_dataset_max_files(tmp_path):
    images, masks = dataset(tmp_path, {"a": [[0]], "b": [[1]], "c": [[1]]})
    report = files.check_dataset(images, masks, max_files=2)
    assert report.n_pairs == 3 and report.n_checked == 2
    assert report.class_pixels == {0: 1, 1: 1}


def test_check_dataset_class_names_mismatch(tmp_path):
    images, masks = dataset(tmp_path, {"a": [[0]]})
    with pytest.raises(ValueError, match="num_classes=3 but 2 class_names"):
        files.check_dataset(images, masks, num_classes=3, class_names=["a", "b"])


def test_load_pairs(tmp_path):
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    Image.fromarray(np.array([[10, 20]], np.uint8)).save(images / "a.png")  # grayscale
    Image.fromarray(np.array([[1, 0]], np.uint8)).save(masks / "a.png")
    imgs, msks = files.load_pairs(files.pair_folders(images, masks).pairs, num_classes=2)
    assert imgs[0].shape == (1, 2, 3) and imgs[0][0, 1].tolist() == [20, 20, 20]
    assert msks[0].tolist() == [[1, 0]]


def test_load_pairs_size_mismatch(tmp_path):
    image = save(Image.new("RGB", (3, 2)), tmp_path / "a.png")
    mask = save(Image.new("L", (2, 2)), tmp_path / "m.png")
    with pytest.raises(InputError, match=r"^m\.png: mask is 2x2 but image a\.png is 3x2$"):
        files.load_pairs([(image, mask)])


# ----------------------------------------------------------------------------- zips


@pytest.fixture
def temp_root(tmp_path, monkeypatch):
    """Point tempfile at a private folder so leftovers of extracted_zip can be seen."""
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


def write_zip(path, entries, compression=zipfile.ZIP_DEFLATED):
    """entries: list of (name or ZipInfo, bytes); returns path."""
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return path


def tree(folder):
    """All paths under folder, relative, sorted."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def assert_refused(zip_path, tmp_path, temp_root, match, **limits):
    """The zip is refused from its central directory alone (no entry is opened), both ways,
    and nothing is left anywhere."""
    before = tree(tmp_path)
    dest = tmp_path / "dest"

    def no_open(*args, **kwargs):
        raise AssertionError("an entry was opened before all entries were checked")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(zipfile.ZipFile, "open", no_open)
        with pytest.raises(InputError, match=match) as info:
            files.safe_extract_zip(zip_path, dest, **limits)
        assert str(info.value).startswith(zip_path.name + ": ")
        assert not dest.exists() or tree(dest) == []
        with pytest.raises(InputError, match=match):
            with files.extracted_zip(zip_path, **limits):
                pass
    assert tree(temp_root) == []
    after = [p for p in tree(tmp_path) if p != "dest"]
    assert after == before


def test_good_zip_extracts(tmp_path, temp_root):
    buf = io.BytesIO()
    Image.new("RGB", (2, 2), (9, 8, 7)).save(buf, "PNG")
    zip_path = write_zip(tmp_path / "data.zip", [("data/images/a.png", buf.getvalue()),
                                                 ("data/masks/a.png", buf.getvalue()),
                                                 ("data/", b"")])
    dest = files.safe_extract_zip(zip_path, tmp_path / "out")
    assert tree(dest) == ["data", "data/images", "data/images/a.png", "data/masks",
                          "data/masks/a.png"]
    with files.extracted_zip(zip_path) as folder:
        assert folder.parent == temp_root
        pairs = files.pair_folders(folder / "data" / "images", folder / "data" / "masks").pairs
        assert files.read_image(pairs[0][0])[0, 0].tolist() == [9, 8, 7]
    assert tree(temp_root) == []


@pytest.mark.parametrize("name", ["../evil.txt", "data/../../evil.txt", "..\\evil.txt"])
def test_zip_parent_path_refused(tmp_path, temp_root, name):
    zip_path = write_zip(tmp_path / "up.zip", [("ok.txt", b"fine"), (name, b"x")])
    assert_refused(zip_path, tmp_path, temp_root, r"'\.\.' path component")


@pytest.mark.parametrize("name", ["/tmp/evil.txt", "C:/evil.txt"])
def test_zip_absolute_path_refused(tmp_path, temp_root, name):
    zip_path = write_zip(tmp_path / "abs.zip", [("ok.txt", b"fine"), (name, b"x")])
    assert_refused(zip_path, tmp_path, temp_root, "absolute path")


def test_zip_symlink_refused(tmp_path, temp_root):
    link = zipfile.ZipInfo("link")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    zip_path = write_zip(tmp_path / "link.zip", [("ok.txt", b"fine"), (link, b"/etc/passwd")])
    assert_refused(zip_path, tmp_path, temp_root, "symbolic link")


def test_zip_encrypted_entry_refused(tmp_path, temp_root):
    zip_path = tmp_path / "secret.zip"
    with zipfile.ZipFile(zip_path, "w") as zf:
        zf.writestr("ok.txt", b"fine")
        zf.writestr("secret.txt", b"x")
        zf.getinfo("secret.txt").flag_bits |= 0x1  # written to the central directory on close
    assert zipfile.ZipFile(zip_path).getinfo("secret.txt").flag_bits & 0x1
    assert_refused(zip_path, tmp_path, temp_root,
                   r"entry 'secret\.txt' is encrypted \(password-protected zips")


def test_nested_zip_refused(tmp_path, temp_root):
    inner = write_zip(tmp_path / "inner.zip", [("a.txt", b"a")]).read_bytes()
    (tmp_path / "inner.zip").unlink()
    zip_path = write_zip(tmp_path / "outer.zip", [("ok.txt", b"fine"), ("inner.zip", inner)])
    assert_refused(zip_path, tmp_path, temp_root, "nested archives are not accepted")


def test_zip_bomb_entry_refused(tmp_path, temp_root):
    zip_path = write_zip(tmp_path / "bomb.zip", [("ok.txt", b"fine"),
                                                 ("zeros.bin", bytes(50_000_000))])
    assert zip_path.stat().st_size < 200_000
    assert_refused(zip_path, tmp_path, temp_root, r"entry 'zeros\.bin' expands .* zip bomb")


def test_zip_bomb_whole_archive_refused(tmp_path, temp_root):
    # every entry is under the per-entry threshold; the archive as a whole is a bomb
    entries = [(f"z{i:02d}.bin", bytes(600_000)) for i in range(20)]
    zip_path = write_zip(tmp_path / "many.zip", entries)
    assert_refused(zip_path, tmp_path, temp_root, r"^many\.zip: expands .* zip bomb")


def test_zip_total_size_limit(tmp_path, temp_root):
    zip_path = write_zip(tmp_path / "big.zip", [("a.bin", b"x" * 3000)], zipfile.ZIP_STORED)
    assert_refused(zip_path, tmp_path, temp_root, "over the limit", max_total_bytes=2000)


def test_zip_too_many_entries(tmp_path, temp_root):
    zip_path = write_zip(tmp_path / "lots.zip", [(f"{i}.txt", b"x") for i in range(6)])
    assert_refused(zip_path, tmp_path, temp_root, r"too many entries \(6, limit 5\)", max_files=5)


def test_zip_entry_larger_than_declared_stops(tmp_path, temp_root):
    # central directory says 10 bytes for an entry that inflates to 5000: stop while streaming
    zip_path = tmp_path / "liar.zip"
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("first.txt", b"fine")
        zf.writestr("liar.txt", b"y" * 5000)
        zf.getinfo("liar.txt").file_size = 10
    dest = tmp_path / "dest"
    with pytest.raises(InputError, match=r"^liar\.zip: entry 'liar\.txt'"):
        files.safe_extract_zip(zip_path, dest)
    assert not dest.exists() or tree(dest) == []


def test_not_a_zip(tmp_path, temp_root):
    path = tmp_path / "fake.zip"
    path.write_text("hello")
    with pytest.raises(InputError, match=r"^fake\.zip: not a zip file"):
        files.safe_extract_zip(path, tmp_path / "dest")
