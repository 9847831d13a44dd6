"""What the model picker and the model card say a model scores, and on which split (issue 8)."""
from segdemo.ui.common import default_model, model_label
from segdemo.ui.compare import model_card_markdown

VAL = {"miou": 0.61, "pixel_accuracy": 0.9, "mean_class_accuracy": 0.7, "fwiou": 0.8, "dice": 0.7}
CROSS = {"miou": 0.42, "pixel_accuracy": 0.8, "mean_class_accuracy": 0.6, "fwiou": 0.7, "dice": 0.5,
         "frames": "held out: the frames matching '0006R0_*' (not trained on)", "model": "camvid-xseq-fcn8s"}


def manifest(name, val=None, cross=None, holdout=""):
    return {"name": name, "arch": "fcn8s", "width": 0.25, "classes": ["a", "b"],
            "recipe": {"holdout": holdout, "epochs": 3}, "data": {"n_train": 5, "n_val": 0},
            "metrics": {"val": val, "cross_sequence": cross, "epoch": 3}, "training": {}}


def test_the_picker_shows_the_cross_sequence_figure_where_there_is_one():
    assert model_label(manifest("full", cross=CROSS)) == "full · FCN-8s · cross-sequence mIoU 0.42"
    assert model_label(manifest("twin", val=VAL, holdout="0006R0_*")) == "twin · FCN-8s · cross-sequence mIoU 0.61"
    assert model_label(manifest("plain", val=VAL)) == "plain · FCN-8s · val mIoU 0.61"
    assert model_label(manifest("none")) == "none · FCN-8s · mIoU n/a"
    assert default_model([manifest("plain", val={"miou": 0.3}), manifest("full", cross=CROSS)]) == "full"


def test_the_card_of_a_model_trained_on_every_frame_calls_nothing_validation():
    text = model_card_markdown(manifest("full", cross=CROSS), 1000)
    assert "**Cross-sequence scores** (full frames: held out: the frames matching" in text and "0006R0_*" in text
    assert "measured on *camvid-xseq-fcn8s*, the same recipe trained without those frames" in text
    assert "0.420" in text and "**Validation scores:** none" in text and "0.610" not in text


def test_the_card_of_a_holdout_run_shows_its_figure_once_under_each_name():
    text = model_card_markdown(manifest("twin", val=VAL, holdout="0006R0_*"), 1000)
    assert "**Cross-sequence scores**" in text and "measured on" not in text  # its own run
    assert "**Validation scores** (full frames)" in text
