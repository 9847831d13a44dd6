import colorsys
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import REPO as ROOT, run_cli as run
from synthetic import write_folder


def test_train_models_predict_evaluate_end_to_end(tmp_path):
    images, masks = write_folder(tmp_path / "d", n=8)
    weights = tmp_path / "w"
    out = run("train", "--arch", "fcn16s", "--images", images, "--masks", masks, "--val-split", "0.25",
              "--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "2", "--crop", "64x64", "--width", "0.125",
              "--fc-channels", "256", "--classes", "background,box,disc", "--name", "cli-model",
              "--loss", "ce", "--class-weights", "none",  # two steps of weighted CE paint only the rare classes
              "--weights-dir", weights)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "saved" in out.stdout

    listed = json.loads(run("models", "--json", weights=weights).stdout)
    assert [m["name"] for m in listed] == ["cli-model"] and listed[0]["classes"] == ["background", "box", "disc"]

    pred = tmp_path / "pred"
    # The sticker is of the background, which a model this young still paints over most of the frame.
    out = run("predict", "--model", "cli-model", images / "frame_000.png", "--out", pred, "--sticker",
              "background", weights=weights)
    assert out.returncode == 0, out.stderr
    mask = np.array(Image.open(pred / "frame_000_mask.png"))
    assert mask.dtype == np.uint8 and mask.shape == (64, 80) and mask.max() <= 2
    assert Image.open(pred / "frame_000_color.png").mode == "RGB"
    assert Image.open(pred / "frame_000_overlay.png").format == "PNG"
    assert (mask == 0).any(), "the model painted no background: the sticker check would test nothing"
    assert "no sticker" not in out.stderr, out.stderr
    sticker = np.array(Image.open(pred / "frame_000_sticker.png"))
    assert sticker.shape[2] == 4 and (sticker[..., 3] == 255).any()  # RGBA, the class opaque

    out = run("evaluate", "--model", "cli-model", "--images", images, "--masks", masks, "--json", weights=weights)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["n_images"] == 8 and set(result["per_class"]) == {"background", "box", "disc"}
    for key in ("pixel_accuracy", "mean_class_accuracy", "miou", "fwiou", "dice"):
        assert 0 <= result[key] <= 1

    # --recipe retrains from the manifest
    out = run("train", "--recipe", weights / "cli-model.json", "--name", "again", "--weights-dir", weights)
    assert out.returncode == 0, out.stderr[-2000:]
    again = json.loads((weights / "again.json").read_text())
    assert again["recipe"]["arch"] == "fcn16s" and again["classes"] == ["background", "box", "disc"]


@pytest.mark.parametrize("args,message", [
    (["predict", "--model", "../../etc/passwd", "x.png", "--out", "o"], "unsupported or unsafe|invalid model name"),
    (["predict", "--model", "nosuch", "x.png", "--out", "o"], "no such model"),
    (["train", "--arch", "fcn8s", "--images", "/nonexistent", "--masks", "/nonexistent2"], "nonexistent"),
    (["evaluate", "--model", "nosuch", "--images", "a", "--masks", "b"], "no such model"),
])
def test_user_mistakes_give_one_line_and_no_traceback(args, message, tmp_path):
    out = run(*args, weights=tmp_path)
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    assert __import__("re").search(message, out.stderr)


def test_predict_reports_a_bad_image_by_name(tiny_weights, tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    out = run("predict", "--model", "tiny", bad, "--out", tmp_path / "o", weights=tiny_weights)
    assert out.returncode == 1 and "notes.png" in out.stderr and "Traceback" not in out.stderr


def test_check_prints_the_dataset_report(tmp_path):
    images, masks = write_folder(tmp_path / "d", n=3, binary=True)
    out = run("check", "--images", images, "--masks", masks)
    assert out.returncode == 0 and "0/255" in out.stdout


def hue_gap(a, b):
    """Circular distance between the hues of two RGB triples, in degrees."""
    hues = [360.0 * colorsys.rgb_to_hls(*(np.asarray(c) / 255.0))[0] for c in (a, b)]
    d = abs(hues[0] - hues[1]) % 360
    return min(d, 360 - d)


@pytest.mark.skipif(not (ROOT / "weights" / "camvid-fcn8s.keras").is_file(), reason="no shipped camvid-fcn8s")
def test_predict_colours_keep_touching_camvid_classes_apart(tmp_path):
    frame = ROOT / "examples" / "0016E5_08049.png"  # road, pavement, pedestrians and cyclists
    out = run("predict", "--model", "camvid-fcn8s", frame, "--out", tmp_path, "--weights-dir", ROOT / "weights")
    assert out.returncode == 0, out.stderr
    labels = np.asarray(Image.open(tmp_path / "0016E5_08049_mask.png"))
    color = np.asarray(Image.open(tmp_path / "0016E5_08049_color.png"))
    classes = json.loads((ROOT / "weights" / "camvid-fcn8s.json").read_text())["classes"]
    seen = {}
    for name in ("Road", "Pavement", "Pedestrian", "Bicyclist"):
        pixels = color[labels == classes.index(name)]
        assert len(pixels), f"{name} is not predicted on this frame"
        assert (pixels == pixels[0]).all(), f"{name} has more than one colour"
        seen[name] = pixels[0]
    assert hue_gap(seen["Road"], seen["Pavement"]) >= 60
    assert hue_gap(seen["Pedestrian"], seen["Bicyclist"]) >= 60


def test_models_prints_nothing_but_its_table():
    # as on a fresh install: none of the TensorFlow settings the other tests pass
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "SEGDEMO_WEIGHTS")}
    out = subprocess.run([sys.executable, "-m", "segdemo", "models"], capture_output=True, text=True, cwd=ROOT,
                         env=env, timeout=300)
    assert out.returncode == 0
    assert out.stderr == ""
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["name", "arch", "classes", "params", "mIoU", "pixel", "acc", "split"]
    assert all(line.split()[-1] in ("val", "cross-sequence") for line in lines[1:])  # each figure's split
    assert [line.split()[0] for line in lines[1:]] == sorted(p.stem for p in (ROOT / "weights").glob("*.keras"))


def test_reading_the_command_line_leaves_tensorflow_unimported():
    # `train` chooses TensorFlow's CPU kernels (precision.use_onednn) after the arguments are read, and
    # TensorFlow reads that choice once, at import: building the parser must not import it.
    code = ("import sys\nfrom segdemo import cli\ntry:\n    cli.main(['train', '--help'])\n"
            "except SystemExit:\n    pass\nprint(sorted({'tensorflow', 'keras'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.stdout.splitlines()[-1] == "[]", out.stderr[-2000:]
