"""Tests for segdemo.files.folders (pair_folders, check_dataset, load_pairs): tiny files, exact expectations."""

import numpy as np
import pytest
from PIL import Image

from conftest import save_image as save
from segdemo import files
from segdemo.files import InputError
from segdemo.ui.common import report_markdown


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


def test_pairing_5000_files_reads_no_file(tmp_path, monkeypatch):
    """Pairing lists folders and never opens a file: that is what keeps it fast (bench times it)."""
    names = [f"frame_{i:05d}.png" for i in range(5000)]
    images = make_files(tmp_path / "images", names)
    masks = make_files(tmp_path / "masks", names)

    def no_open(*args, **kwargs):
        raise AssertionError(f"pair_folders opened {args[0]}")

    monkeypatch.setattr("builtins.open", no_open)
    monkeypatch.setattr(Image, "open", no_open)
    p = files.pair_folders(images, masks)
    assert len(p.pairs) == 5000 and p.pairs[0][0].name == "frame_00000.png"
    assert p.pairs[-1][1] == masks / "frame_04999.png"


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
