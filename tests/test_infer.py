import os
import subprocess
import sys

import numpy as np
import pytest

from segdemo import infer, store
from segdemo.infer import Segmenter, to_rgb


@pytest.fixture(scope="module")
def seg(tiny_weights):
    return Segmenter.load("tiny", tiny_weights)


@pytest.mark.parametrize("shape", [(64, 80, 3), (37, 101, 3), (1, 1, 3), (33, 32, 3)])
def test_any_size_comes_back_at_its_own_size(seg, shape):
    out = seg.segment(np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8))
    assert out.labels.shape == shape[:2] and out.probs.shape == (*shape[:2], 3)
    np.testing.assert_allclose(out.probs.sum(-1), 1.0, rtol=1e-4)
    np.testing.assert_array_equal(out.labels, out.probs.argmax(-1))
    assert out.classes == ("background", "box", "disc")


def test_padding_does_not_shift_the_prediction(seg):
    # The model pads a 50x45 image at the bottom and right, by reflection, to 64x64, and crops back:
    # its scores must equal those of the same image reflection-padded by hand, cropped to 50x45.
    # Padding at the top or left, another padding, or a crop off by a pixel would all change them.
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (50, 45, 3), dtype=np.uint8)
    padded = np.pad(image, [(0, 14), (0, 19), (0, 0)], mode="reflect")  # (64, 64, 3): no padding needed
    direct, by_hand = seg.segment(image), seg.segment(padded)
    assert direct.probs.shape == (50, 45, 3)
    np.testing.assert_allclose(direct.probs, by_hand.probs[:50, :45], atol=1e-5)
    assert (direct.probs.std(axis=(0, 1)) > 1e-4).any()  # the scores vary over the image: a real comparison


def test_large_images_are_tiled_and_match_whole_image_inference(seg, monkeypatch):
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, (300, 420, 3), dtype=np.uint8)
    whole = seg.segment(image)
    monkeypatch.setattr(infer, "MAX_SIDE", 128)
    monkeypatch.setattr(infer, "TILE", 192)
    monkeypatch.setattr(infer, "OVERLAP", 64)
    tiled = seg.segment(image)
    assert tiled.probs.dtype == np.float16 and tiled.labels.shape == (300, 420)
    # receptive fields are wider than the overlap, so a few border pixels may differ
    assert (tiled.labels == whole.labels).mean() > 0.97


@pytest.mark.parametrize("image,expected", [
    (np.full((2, 2), 7, np.uint8), [7, 7, 7]),
    (np.full((2, 2, 1), 9, np.uint8), [9, 9, 9]),
    (np.full((2, 2), 65535, np.uint16), [255, 255, 255]),
    (np.dstack([np.full((2, 2, 3), 0, np.uint8), np.zeros((2, 2), np.uint8)]), [255, 255, 255]),  # transparent
    (np.dstack([np.full((2, 2, 3), 10, np.uint8), np.full((2, 2), 255, np.uint8)]), [10, 10, 10]),
])
def test_inputs_are_converted_to_rgb(image, expected):
    rgb = to_rgb(image)
    assert rgb.dtype == np.uint8 and rgb.shape == (2, 2, 3)
    np.testing.assert_array_equal(rgb[0, 0], expected)


def test_evaluate_scores_full_images(seg):
    from synthetic import scene

    rng = np.random.default_rng(3)
    pairs = [scene(rng) for _ in range(3)]
    scores, per_image = seg.evaluate([p[0] for p in pairs], [p[1] for p in pairs])
    assert len(per_image) == 3 and 0 <= scores["miou"] <= 1 and scores["n_pixels"] == 3 * 64 * 80


def test_evaluate_records_the_mean_confidence_of_every_frame(seg):
    from synthetic import scene

    from segdemo.metrics import confidence_reference

    rng = np.random.default_rng(4)
    pairs = [scene(rng) for _ in range(3)]
    scores, _ = seg.evaluate([p[0] for p in pairs], [p[1] for p in pairs])
    means = [seg.segment(p[0]).confidence.mean() for p in pairs]
    assert scores["confidence"] == pytest.approx(confidence_reference(means))
    assert scores["confidence"]["frames"] == 3


def test_training_stores_the_confidence_reference_in_the_manifest(seg):
    reference = seg.confidence_reference  # tiny was trained with 2 of its 8 frames held out
    assert reference == seg.manifest["metrics"]["val"]["confidence"] and reference["frames"] == 2
    assert 1 / 3 <= reference["min"] <= reference["p05"] <= reference["mean"] <= 1


def test_probe_reads_the_probabilities_already_computed(seg):
    out = seg.segment(np.random.default_rng(5).integers(0, 256, (20, 30, 3), dtype=np.uint8))
    bars = out.probe(7, 11)
    assert [b["name"] for b in bars] == list(seg.classes)
    assert [b["probability"] for b in bars] == out.probs[7, 11].tolist()


@pytest.mark.skipif(not (store.SHIPPED_DIR / "camvid-fcn8s.keras").is_file(), reason="no shipped camvid-fcn8s")
def test_sticker_class_on_the_cycle_lane_frame_is_the_cyclist_not_sign_fragments():
    from PIL import Image

    from segdemo import cutout, viz

    image = np.asarray(Image.open(store.SHIPPED_DIR.parent / "examples" / "0016E5_08075.png").convert("RGB"))
    seg = Segmenter.load("camvid-fcn8s", store.SHIPPED_DIR)
    labels = seg.segment(image).labels
    things = [e["name"] for e in viz.legend(labels, seg.classes, seg.palette) if e["name"] in cutout.THING_CLASSES]
    assert things[0] == "SignSymbol"  # the most pixels: what the old rule (largest share) picked
    assert seg.classes[cutout.sticker_class(labels, seg.classes)] == "Bicyclist"


def test_fcn_stages_show_strides_32_16_8(seg):
    stages = seg.stages(np.zeros((70, 90, 3), np.uint8))
    assert [title.split(" (")[0] for title, _ in stages] == ["stride 32", "stride 16", "stride 8"]
    assert all(labels.shape == (70, 90) for _, labels in stages)


def test_device_is_reported():
    assert infer.device().startswith(("CPU", "GPU"))


def test_bench_prints_every_latency_for_a_model(tiny_weights, capsys):
    from segdemo.bench import run

    results = run(["tiny"], repeats=2, big=False, train=False, weights_dir=tiny_weights)
    (r,) = results["inference"]
    assert r["bare_ms"] > 0 and r["bare_bf16_ms"] > 0 and r["segment_ms"] > 0 and r["segment_flip_ms"] > 0
    assert r["segment_multiscale_ms"] > r["segment_ms"]  # three scales, each mirrored
    assert 0.5 < r["bf16_agreement"] <= 1.0
    assert results["pairing_5000_s"] > 0 and results["click"]["round_trip_ms"] > 0
    out = capsys.readouterr().out
    assert "tiny" in out and "pairing two folders of 5000 files:" in out and "Segment click with tiny" in out


def test_flip_tta_averages_the_image_and_its_mirror(tiny_weights):
    model, manifest = store.load("tiny", tiny_weights)
    plain, flip = Segmenter(model, manifest), Segmenter(model, manifest, tta="flip")
    image = np.random.default_rng(1).integers(0, 256, (64, 96, 3), dtype=np.uint8)
    expected = (plain.segment(image).probs + plain.segment(image[:, ::-1]).probs[:, ::-1]) / 2
    np.testing.assert_allclose(flip.segment(image).probs, expected, atol=1e-5)


def test_multiscale_tta_keeps_the_input_size(tiny_weights):
    seg = Segmenter.load("tiny", tiny_weights, tta="multiscale")
    out = seg.segment(np.zeros((70, 90, 3), np.uint8))
    assert out.probs.shape == (70, 90, 3) and np.allclose(out.probs.sum(-1), 1, atol=1e-4)
    with pytest.raises(ValueError, match="tta must be one of"):
        Segmenter.load("tiny", tiny_weights, tta="rotate")


def test_fastest_takes_bfloat16_where_the_cpu_has_it_and_the_labels_agree(tiny_weights, monkeypatch):
    from segdemo import precision

    image = np.random.default_rng(0).integers(0, 256, (64, 96, 3), dtype=np.uint8)
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: False)
    assert Segmenter.fastest("tiny", tiny_weights, probe=image).precision == "float32"
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: True)
    assert Segmenter.fastest("tiny", tiny_weights, probe=image, agreement=0.5).precision == "bfloat16"
    # labels that must agree on more than every pixel never do: float32 stays
    assert Segmenter.fastest("tiny", tiny_weights, probe=image, agreement=1.01).precision == "float32"


def test_bfloat16_labels_agree_with_float32(tiny_weights):
    image = np.random.default_rng(2).integers(0, 256, (64, 96, 3), dtype=np.uint8)
    f32 = Segmenter.load("tiny", tiny_weights).segment(image)
    bf16 = Segmenter.load("tiny", tiny_weights, precision="bfloat16").segment(image)
    assert bf16.probs.dtype == np.float32
    assert np.mean(f32.labels == bf16.labels) > 0.95


def test_segmenting_leaves_tensorflow_its_own_choice_of_cpu_kernels(tiny_weights):
    # oneDNN's kernels segment slower where TensorFlow leaves them off (precision.use_onednn): only
    # `segdemo train` asks for them. A fresh interpreter, as TensorFlow reads the choice once.
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    code = ("import os, numpy, segdemo\n"
            f"seg = segdemo.Segmenter.load('tiny', {str(tiny_weights)!r})\n"
            "seg.segment(numpy.zeros((64, 64, 3), numpy.uint8))\n"
            "print(os.environ.get('TF_ENABLE_ONEDNN_OPTS'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip().splitlines()[-1] == "None"
