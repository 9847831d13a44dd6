"""Robustness and safety end to end, through the core API and the CLI.

Unsafe model files (a Lambda layer, an external SavedModel, foreign formats), manifests that lie,
bad and unusual images through `predict`, bad folders through `check` and `train`. Training
interrupted by Ctrl-C or kill -9 and a disk that fills up during a save are in test_interrupts.py. The file-level checks
themselves (every image mode, every zip attack) are in test_files.py, test_folders.py and test_zips.py.
"""
import io
import json
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import SYNTHETIC_CLASSES as CLASSES, noise_photo as photo, png_declaring, raw_png, run_cli
from segdemo import files, store
from segdemo.infer import Segmenter
from synthetic import write_folder

UNSAFE = "unsupported or unsafe model file"


def register(folder, name):
    """Write NAME.json beside NAME.keras with its real sha256 (what anyone who can write there can do)."""
    model = folder / f"{name}.keras"
    digest = store.sha256(model) if model.is_file() else None
    (folder / f"{name}.json").write_text(json.dumps({"classes": CLASSES, "sha256": digest}))


@pytest.fixture(scope="module")
def seg(tiny_weights):
    return Segmenter.load("tiny", tiny_weights)


# ----------------------------------------------------------------------------- unsafe model files


@pytest.fixture(scope="module")
def unsafe(tmp_path_factory):
    """A weights folder of hostile models, each with a manifest carrying its correct sha256.

    lambda.keras: a Lambda layer that creates lambda.ran when it runs (at load, under safe_mode=False).
    tfsm.keras: a TFSMLayer wrapping an external SavedModel whose graph writes tfsm.ran when called.
    zip.keras: a zip that is not a model. h5.keras: a legacy Keras .h5 file renamed.
    folder.keras: a folder (a SavedModel written into NAME.keras).
    Besides: legacy.h5 and the SavedModel folder itself, to be passed as paths.
    """
    import keras
    import tensorflow as tf

    root = tmp_path_factory.mktemp("unsafe")
    weights = root / "weights"
    weights.mkdir()
    sentinels = {"lambda": root / "lambda.ran", "tfsm": root / "tfsm.ran"}

    # eval: the path must be a constant inside the lambda's code, which Keras serialises as bytecode
    payload = eval(f"lambda x: (__import__('pathlib').Path({str(sentinels['lambda'])!r}).touch(), x)[1]")
    inputs = keras.Input((None, None, 3))
    evil = keras.Model(inputs, keras.layers.Conv2D(3, 1)(keras.layers.Lambda(payload)(inputs)))
    evil.save(weights / "lambda.keras")

    class Graph(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec((None, None, None, 3), tf.float32)])
        def serve(self, x):
            tf.io.write_file(str(sentinels["tfsm"]), "ran")
            return tf.concat([x[..., :1], x[..., :1], x[..., :1]], axis=-1)

    module = Graph()
    saved_model = root / "saved_model"
    tf.saved_model.save(module, str(saved_model), signatures={"serving_default": module.serve})
    outputs = keras.layers.TFSMLayer(str(saved_model), call_endpoint="serving_default")(inputs)
    keras.Model(inputs, outputs).save(weights / "tfsm.keras")

    with zipfile.ZipFile(weights / "zip.keras", "w") as zf:
        zf.writestr("config.json", "{}")
        zf.writestr("notes.txt", os.urandom(256))
    plain = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(3, 1)])
    plain.save(root / "legacy.h5")
    shutil.copy(root / "legacy.h5", weights / "h5.keras")
    shutil.copytree(saved_model, weights / "folder.keras")
    for name in ("lambda", "tfsm", "zip", "h5", "folder"):
        register(weights, name)
    for sentinel in sentinels.values():
        sentinel.unlink(missing_ok=True)  # building the models ran them once
    return {"weights": weights, "sentinels": sentinels, "legacy_h5": root / "legacy.h5",
            "saved_model": saved_model}


UNSAFE_NAMES = ["lambda", "tfsm", "zip", "h5", "folder"]


def assert_nothing_ran(unsafe):
    ran = [p.name for p in unsafe["sentinels"].values() if p.exists()]
    assert not ran, f"foreign code ran: {ran}"


@pytest.mark.parametrize("name", UNSAFE_NAMES)
def test_store_load_refuses_unsafe_models(unsafe, name):
    with pytest.raises(store.ModelFileError, match=rf"^{name}\.keras: {UNSAFE}"):
        model, _ = store.load(name, unsafe["weights"])
        model(np.zeros((1, 32, 32, 3), np.float32))  # only reached when the protection is gone
    assert_nothing_ran(unsafe)


@pytest.mark.parametrize("name", UNSAFE_NAMES)
def test_segmenter_refuses_unsafe_models_by_name_and_by_path(unsafe, name):
    for spec in (name, unsafe["weights"] / f"{name}.keras"):
        with pytest.raises(store.ModelFileError, match=UNSAFE):
            Segmenter.load(spec, unsafe["weights"]).segment(np.zeros((32, 32, 3), np.uint8))
    assert_nothing_ran(unsafe)


@pytest.mark.parametrize("which", ["legacy_h5", "saved_model"])
def test_foreign_model_paths_are_refused(unsafe, which):
    with pytest.raises(store.ModelFileError, match=UNSAFE):
        Segmenter.load(unsafe[which])
    assert_nothing_ran(unsafe)


@pytest.mark.parametrize("name", UNSAFE_NAMES)
def test_cli_predict_refuses_unsafe_models(unsafe, name, main, tmp_path):
    code, out, err = main("predict", "--model", name, photo(tmp_path), "--out", tmp_path / "o",
                          "--weights-dir", unsafe["weights"])
    assert code == 2 and err.startswith(f"error: {name}.keras: {UNSAFE}") and err.count("\n") == 1
    assert not (tmp_path / "o").exists() or not os.listdir(tmp_path / "o")
    assert_nothing_ran(unsafe)


def test_cli_predict_refuses_a_lambda_model_in_a_fresh_process(unsafe, tmp_path):
    for spec in ("lambda", unsafe["legacy_h5"], unsafe["saved_model"]):
        out = run_cli("predict", "--model", spec, photo(tmp_path), "--out", tmp_path / "o", weights=unsafe["weights"])
        assert out.returncode == 2 and UNSAFE in out.stderr and "Traceback" not in out.stderr, out.stderr
    assert_nothing_ran(unsafe)


def test_listing_reads_manifests_only_and_skips_folders(unsafe):
    # hostile model files are listed (their manifests are fine) and refused when loaded
    assert sorted(m["name"] for m in store.list_models(unsafe["weights"])) == sorted(set(UNSAFE_NAMES) - {"folder"})
    assert_nothing_ran(unsafe)


# ----------------------------------------------------------------------------- manifests that lie


def lie(folder, name, **changes):
    """Copy tiny.keras to NAME.keras with tiny's manifest changed by `changes` (None deletes a key)."""
    shutil.copy(folder / "tiny.keras", folder / f"{name}.keras")
    manifest = json.loads((folder / "tiny.json").read_text())
    manifest.update(changes)
    manifest = {k: v for k, v in manifest.items() if v is not None}
    (folder / f"{name}.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize("classes", [["background", "box"], CLASSES + ["extra"]])
def test_class_count_disagreeing_with_the_manifest_is_refused(copy_of_tiny, classes, main, tmp_path):
    folder, _ = copy_of_tiny
    lie(folder, "liar", classes=classes, palette=None)
    message = f"liar.keras: model outputs 3 classes but its manifest names {len(classes)}"
    with pytest.raises(store.ModelFileError, match=message):
        Segmenter.load("liar", folder)
    code, _, err = main("predict", "--model", "liar", photo(tmp_path), "--out", tmp_path / "o",
                        "--weights-dir", folder)
    assert code == 2 and err == f"error: {message}\n"


@pytest.mark.parametrize("content, problem", [
    ("{not json", "not a valid manifest"),
    ("[1, 2, 3]", "not a valid manifest"),
    ('{"sha256": "x"}', "no list of class names"),
    ('{"classes": [], "sha256": "x"}', "no list of class names"),
    ('{"classes": ["a", 2, "c"], "sha256": "x"}', "no list of class names"),
    ('{"classes": ["a", "b", "c"], "palette": [[0, 0, 0]], "sha256": "x"}', "palette"),
    ('{"classes": ["a", "b", "c"], "palette": [[0, 0, 0], [1, 1, 1], [999, 0, 0]], "sha256": "x"}',
     "palette"),
])
def test_broken_manifests_name_the_file(copy_of_tiny, content, problem, main, tmp_path):
    folder, _ = copy_of_tiny
    shutil.copy(folder / "tiny.keras", folder / "bad.keras")
    (folder / "bad.json").write_text(content)
    with pytest.raises(store.ModelFileError, match=rf"^bad\.json: .*{problem}"):
        store.load("bad", folder)
    assert [m["name"] for m in store.list_models(folder)] == ["tiny"]  # listing skips it, no crash
    code, _, err = main("predict", "--model", "bad", photo(tmp_path), "--out", tmp_path / "o",
                        "--weights-dir", folder)
    assert code == 2 and err.startswith("error: bad.json: ")


def test_a_manifest_without_a_checksum_is_refused(copy_of_tiny):
    folder, _ = copy_of_tiny
    lie(folder, "unchecked", sha256=None)
    with pytest.raises(store.ModelFileError, match=r"^unchecked\.json: .*no sha256"):
        store.load("unchecked", folder)


def test_a_symlink_given_as_a_path_is_refused(copy_of_tiny, tmp_path):
    folder, _ = copy_of_tiny
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "tiny.keras").symlink_to(folder / "tiny.keras")
    (elsewhere / "tiny.json").symlink_to(folder / "tiny.json")
    with pytest.raises(store.ModelFileError, match="outside the weights folder"):
        store.load(elsewhere / "tiny.keras")
    store.load(folder / "tiny.keras")  # the real file by its path is fine


# ----------------------------------------------------------------------------- images: cases 1-4


def exif_rotated_jpeg(path):
    """A JPEG stored 60 wide x 40 high with EXIF orientation 6: a viewer shows it 40 wide x 60 high."""
    stored = np.random.default_rng(1).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[files.ORIENTATION_TAG] = 6
    Image.fromarray(stored).save(path, exif=exif.tobytes(), quality=95)
    return path


def write_inputs(folder):
    """Bad files {name: expected problem} and converted inputs {name: (H, W) as a person sees it}."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
    (folder / "notes.png").write_text("these are my notes, not a picture")
    (folder / "empty.png").write_bytes(b"")
    for name, fmt in (("cut_png.png", "PNG"), ("cut_jpg.jpg", "JPEG")):
        buf = io.BytesIO()
        Image.fromarray(noise).save(buf, fmt)
        (folder / name).write_bytes(buf.getvalue()[:len(buf.getvalue()) // 2])
    (folder / "bomb.png").write_bytes(png_declaring(30000, 30000))
    (folder / "big.png").write_bytes(png_declaring(8000, 7000))  # 56 M pixels: under Pillow's limit, over ours
    bad = {"notes.png": "not an image file", "empty.png": "file is empty",
           "cut_png.png": "truncated or corrupt image", "cut_jpg.jpg": "truncated or corrupt image",
           "bomb.png": "image is too large", "big.png": "image is too large: 8000x7000"}

    Image.fromarray(noise).convert("L").save(folder / "gray.png")
    Image.fromarray(np.dstack([noise, rng.integers(0, 256, (40, 48), dtype=np.uint8)]), "RGBA").save(
        folder / "rgba.png")
    Image.fromarray(noise).convert("CMYK").save(folder / "cmyk.jpg", quality=95)
    Image.fromarray((noise[..., 0].astype(np.uint16) * 257)).save(folder / "gray16.png")
    (folder / "rgb16.png").write_bytes(raw_png(48, 40, 16, 2, b"".join(
        b"\x00" + (noise[y].astype(">u2") * 257).tobytes() for y in range(40))))
    Image.fromarray(noise).quantize(16).save(folder / "palette.png")
    exif_rotated_jpeg(folder / "exif6.jpg")
    good = {"gray.png": (40, 48), "rgba.png": (40, 48), "cmyk.jpg": (40, 48), "gray16.png": (40, 48),
            "rgb16.png": (40, 48), "palette.png": (40, 48), "exif6.jpg": (60, 40)}
    modes = {"gray.png": "L", "rgba.png": "RGBA", "cmyk.jpg": "CMYK", "gray16.png": "I;16",
             "rgb16.png": "RGB", "palette.png": "P", "exif6.jpg": "RGB"}
    for name, mode in modes.items():  # the files really are what their names say
        with Image.open(folder / name) as img:
            assert img.mode.startswith(mode), (name, img.mode)
    return bad, good


def test_cli_predict_names_each_bad_file_and_segments_the_rest(tiny_weights, tmp_path):
    bad, good = write_inputs(tmp_path / "in")
    names = sorted(bad) + sorted(good)
    out = run_cli("predict", "--model", "tiny", *[tmp_path / "in" / n for n in names], "--out", tmp_path / "o",
              weights=tiny_weights)
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    for name, problem in bad.items():
        lines = [line for line in out.stderr.splitlines() if name in line]
        assert len(lines) == 1 and lines[0].startswith(f"error: {name}: {problem}"), (name, out.stderr)
        assert not list((tmp_path / "o").glob(f"{Path(name).stem}_*"))
    for name, shape in good.items():
        stem = Path(name).stem
        assert f"{name}: " in out.stdout
        mask = np.array(Image.open(tmp_path / "o" / f"{stem}_mask.png"))
        overlay = np.array(Image.open(tmp_path / "o" / f"{stem}_overlay.png"))
        assert mask.shape == shape and overlay.shape == (*shape, 3), name


def test_converted_inputs_segment_at_the_size_a_person_sees(seg, tmp_path):
    bad, good = write_inputs(tmp_path / "in")
    for name, shape in good.items():
        image = files.read_image(tmp_path / "in" / name)
        assert image.dtype == np.uint8 and image.shape == (*shape, 3), name
        result = seg.segment(image)
        assert result.labels.shape == shape and result.probs.shape == (*shape, 3), name
        np.testing.assert_allclose(result.probs.sum(-1), 1.0, rtol=1e-4)
    for name, problem in bad.items():
        with pytest.raises(files.InputError, match=rf"^{name.replace('.', '[.]')}: {problem}"):
            files.read_image(tmp_path / "in" / name)


def test_exif_rotated_jpeg_is_segmented_upright(seg, tmp_path):
    path = exif_rotated_jpeg(tmp_path / "r.jpg")
    with Image.open(path) as img:
        stored = np.asarray(img.convert("RGB"))  # (40, 60, 3): the pixels as stored, not as seen
    upright = np.rot90(stored, k=-1)  # orientation 6: rotate 90 degrees clockwise to display
    result = seg.segment(files.read_image(path))
    assert result.labels.shape == (60, 40)
    np.testing.assert_allclose(result.probs, seg.segment(upright).probs, atol=1e-4)


@pytest.mark.parametrize("array", [
    np.zeros((0, 5, 3), np.uint8), np.zeros((5, 0), np.uint8), np.zeros((4, 4, 5), np.uint8),
    np.zeros(7, np.uint8), np.zeros((2, 3, 4, 3), np.uint8)])
def test_segment_refuses_shapes_that_are_not_images(seg, array):
    with pytest.raises(ValueError, match="image"):
        seg.segment(array)


@pytest.mark.parametrize("array", [
    np.full((33, 20), 40000, np.uint16), np.full((33, 20, 4), 200, np.uint8),
    np.full((33, 20, 1), 7, np.uint8), np.full((33, 20, 3), 0.5, np.float32)])
def test_segment_converts_arrays(seg, array):
    assert seg.segment(array).labels.shape == (33, 20)


# ----------------------------------------------------------------------------- folders: cases 5-7


@pytest.fixture
def messy(tmp_path):
    """Image/mask folders with every pairing and mask problem: (images, masks)."""
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    labels = np.zeros((8, 10), np.uint8)
    labels[2:5, 3:7] = 1

    def pair(stem, mask=labels, image_size=(10, 8), image_suffix=".png", mask_suffix=".png"):
        Image.new("RGB", image_size, (90, 90, 90)).save(images / f"{stem}{image_suffix}")
        if mask is not None:
            Image.fromarray(mask).save(masks / f"{stem}{mask_suffix}", quality=95)

    pair("good")
    pair("lonely", mask=None)  # an image without a mask
    Image.fromarray(labels).save(masks / "orphan.png")  # a mask without an image
    pair("dup")
    Image.new("RGB", (10, 8)).save(images / "dup.jpg")  # same stem twice
    pair("clash")
    Image.new("RGB", (10, 8)).save(images / "Clash.png")  # differs only by case
    pair("sizes", image_size=(12, 8))  # mask and image sizes differ
    pair("jpegmask", mask_suffix=".jpg")
    pair("beyond", mask=np.where(labels == 1, 7, 0).astype(np.uint8))  # label 7 with 3 classes
    pair("void", mask=np.full((8, 10), 255, np.uint8))  # all void
    return images, masks


MESSY_ERRORS = ["images/dup.jpg", "images/dup.png", "images/Clash.png", "images/clash.png",
                "masks/sizes.png: mask is 10x8 but image sizes.png is 12x8",
                "masks/jpegmask.jpg: JPEG masks are not accepted",
                "masks/beyond.png: labels out of range for 3 classes"]
MESSY_WARNINGS = ["lonely.png", "orphan.png", "masks/void.png: mask is all void (label 255)"]


def test_cli_check_lists_every_problem_by_name(messy, main):
    code, out, err = main("check", "--images", messy[0], "--masks", messy[1], "--classes", "a,b,c",
                          "--ignore-index", "255")
    assert code == 2 and out.rstrip().endswith("NOT OK: fix the errors above"), out
    errors = out[out.index("errors:"):]
    for item in MESSY_ERRORS:
        assert item in errors, item
    for item in MESSY_WARNINGS:
        assert item in out[out.index("warnings:"):out.index("errors:")], item


def test_cli_train_refuses_a_messy_folder_and_writes_nothing(messy, main, tmp_path):
    weights = tmp_path / "w"
    code, out, err = main("train", "--images", messy[0], "--masks", messy[1], "--classes", "a,b,c",
                          "--ignore-index", "255", "--epochs", "1", "--crop", "64x64", "--name", "m",
                          "--weights-dir", weights)
    assert code == 2 and err.startswith("error: ")
    for item in MESSY_ERRORS:
        assert item in err, item
    assert not weights.exists()


def test_cli_train_in_a_fresh_process_gives_no_traceback(messy, tmp_path):
    out = run_cli("train", "--images", messy[0], "--masks", messy[1], "--classes", "a,b,c", "--name", "m",
              "--weights-dir", tmp_path / "w")
    assert out.returncode == 2 and "Traceback" not in out.stderr and "masks/beyond.png" in out.stderr
    assert not (tmp_path / "w").exists()


def test_empty_folder_is_named(tmp_path, main):
    (tmp_path / "images").mkdir()
    _, masks = write_folder(tmp_path / "d", n=1)
    for command in ("check", "train"):
        code, out, err = main(command, "--images", tmp_path / "images", "--masks", masks,
                              "--weights-dir", tmp_path / "w")
        assert code == 2 and err == f"error: {tmp_path / 'images'}: image folder is empty\n"
    assert not (tmp_path / "w").exists()


def test_check_of_5000_files_keeps_its_report_bounded(tmp_path, main):
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    image, mask = io.BytesIO(), io.BytesIO()
    Image.new("RGB", (3, 2)).save(image, "PNG")
    Image.fromarray(np.array([[0, 1, 2], [2, 1, 9]], np.uint8)).save(mask, "PNG")  # 9: out of range
    for i in range(5000):
        (images / f"f{i:05d}.png").write_bytes(image.getvalue())
        (masks / f"f{i:05d}.png").write_bytes(mask.getvalue())
    code, out, err = main("check", "--images", images, "--masks", masks, "--classes", "a,b,c")
    assert code == 2 and "pairs: 5000 (checked 5000)" in out and "... and 4950 more" in out
    assert len(out.splitlines()) < 80, len(out.splitlines())
