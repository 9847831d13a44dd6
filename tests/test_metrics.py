"""Metrics on a hand-drawn 4x4 example whose values were worked out by hand."""

import numpy as np
import pytest

from segdemo.metrics import (
    confidence_reference,
    confusion_matrix,
    format_scores,
    low_confidence,
    mistaken_for,
    scores,
)

NAMES = ["bg", "cat", "dog", "bird"]  # "bird" appears in neither truth nor prediction

# 255 = void. Class 0 top-left, 1 right half, 2 bottom-left.
TRUTH = np.array([
    [0, 0, 1, 1],
    [0, 0, 1, 1],
    [2, 2, 1, 1],
    [2, 2, 255, 255],
])
PRED = np.array([
    [0, 0, 1, 1],
    [0, 1, 1, 1],
    [2, 1, 1, 2],
    [2, 2, 0, 1],  # last two pixels are void in the truth: not counted
])
# rows = truth, cols = pred
CM = np.array([
    [3, 1, 0, 0],  # bg:  3 right, 1 called cat
    [0, 5, 1, 0],  # cat: 5 right, 1 called dog
    [0, 1, 3, 0],  # dog: 3 right, 1 called cat
    [0, 0, 0, 0],  # bird: none
])


def test_confusion_matrix_by_hand():
    cm = confusion_matrix(TRUTH, PRED, 4, ignore_index=255)
    assert cm.dtype == np.int64
    np.testing.assert_array_equal(cm, CM)


def test_ignored_pixels_do_not_count_whatever_is_predicted():
    pred = PRED.copy()
    pred[3, 2:] = [3, 3]
    np.testing.assert_array_equal(confusion_matrix(TRUTH, pred, 4, ignore_index=255), CM)


def test_truth_outside_class_range_is_excluded_without_ignore_index():
    truth = np.array([[0, 7], [-1, 1]])
    pred = np.array([[0, 1], [1, 0]])
    np.testing.assert_array_equal(confusion_matrix(truth, pred, 2), [[1, 0], [1, 0]])


def test_ignore_index_inside_class_range_is_skipped():
    truth = np.array([[0, 1, 1]])
    pred = np.array([[1, 1, 0]])
    cm = confusion_matrix(truth, pred, 2, ignore_index=0)
    np.testing.assert_array_equal(cm, [[0, 0], [1, 1]])


def test_confusion_matrices_accumulate():
    top = confusion_matrix(TRUTH[:2], PRED[:2], 4, ignore_index=255)
    bottom = confusion_matrix(TRUTH[2:], PRED[2:], 4, ignore_index=255)
    np.testing.assert_array_equal(top, [[3, 1, 0, 0], [0, 4, 0, 0], [0] * 4, [0] * 4])
    np.testing.assert_array_equal(top + bottom, CM)


@pytest.mark.parametrize("bad", [4, -1])
def test_prediction_out_of_range_raises(bad):
    pred = PRED.copy()
    pred[0, 0] = bad
    with pytest.raises(ValueError, match=r"0\.\.3"):
        confusion_matrix(TRUTH, pred, 4, ignore_index=255)


def test_shape_mismatch_and_float_labels_raise():
    with pytest.raises(ValueError, match="shape"):
        confusion_matrix(TRUTH, PRED[:3], 4)
    with pytest.raises(ValueError, match="integer"):
        confusion_matrix(TRUTH.astype(float), PRED, 4)


def test_scores_by_hand():
    s = scores(CM, NAMES)
    assert s["n_pixels"] == 14
    assert s["pixel_accuracy"] == pytest.approx(11 / 14)
    # accuracies 3/4, 5/6, 3/4
    assert s["mean_class_accuracy"] == pytest.approx(7 / 9)
    # IoU: bg 3/(4+3-3) = 3/4, cat 5/(6+7-5) = 5/8, dog 3/(4+4-3) = 3/5
    assert s["miou"] == pytest.approx(79 / 120)
    # (4*3/4 + 6*5/8 + 4*3/5) / 14
    assert s["fwiou"] == pytest.approx(183 / 280)
    # Dice: bg 6/7, cat 10/13, dog 6/8
    assert s["dice"] == pytest.approx(865 / 1092)
    assert s["per_class"]["bg"] == pytest.approx(
        {"iou": 3 / 4, "accuracy": 3 / 4, "dice": 6 / 7, "support": 4})
    assert s["per_class"]["cat"] == pytest.approx(
        {"iou": 5 / 8, "accuracy": 5 / 6, "dice": 10 / 13, "support": 6})
    assert s["per_class"]["dog"] == pytest.approx(
        {"iou": 3 / 5, "accuracy": 3 / 4, "dice": 3 / 4, "support": 4})


def test_class_absent_from_truth_and_prediction_is_undefined():
    s = scores(CM, NAMES)
    assert s["undefined"] == ["bird"]
    assert s["per_class"]["bird"] == {"iou": None, "accuracy": None, "dice": None, "support": 0}
    # same means as the 3-class matrix without bird
    three = scores(CM[:3, :3], NAMES[:3])
    assert three["undefined"] == []
    for key in ("pixel_accuracy", "mean_class_accuracy", "miou", "fwiou", "dice"):
        assert s[key] == pytest.approx(three[key])


def test_class_only_predicted_counts_zero_in_iou_but_not_in_accuracy():
    cm = np.array([
        [2, 2],  # class 0: 2 right, 2 predicted as class 1
        [0, 0],  # class 1 never true
    ])
    s = scores(cm)
    assert s["per_class"]["1"] == {"iou": 0.0, "accuracy": None, "dice": 0.0, "support": 0}
    assert s["undefined"] == []
    assert s["mean_class_accuracy"] == pytest.approx(1 / 2)
    assert s["miou"] == pytest.approx((1 / 2 + 0) / 2)
    assert s["dice"] == pytest.approx((2 / 3 + 0) / 2)
    assert s["fwiou"] == pytest.approx(1 / 2)  # weight 4/4 on class 0, 0/4 on class 1


def test_empty_matrix_has_no_scores():
    s = scores(np.zeros((2, 2), np.int64), ["a", "b"])
    assert s["n_pixels"] == 0
    assert s["undefined"] == ["a", "b"]
    for key in ("pixel_accuracy", "mean_class_accuracy", "miou", "fwiou", "dice"):
        assert s[key] is None


def test_scores_rejects_bad_input():
    with pytest.raises(ValueError, match="square"):
        scores(np.zeros((2, 3), np.int64))
    with pytest.raises(ValueError, match="2 distinct names"):
        scores(np.zeros((2, 2), np.int64), ["a"])
    with pytest.raises(ValueError, match="non-negative"):
        scores(np.array([[1, -1], [0, 1]]))


def test_format_scores_table():
    text = format_scores(scores(CM, NAMES))
    lines = text.splitlines()
    assert lines[0] == "pixel accuracy          0.7857"
    assert "mean IoU                0.6583" in lines
    cat = next(line for line in lines if line.startswith("cat "))
    assert cat.split() == ["cat", "0.6250", "0.8333", "0.7692", "6"]
    bird = next(line for line in lines if line.startswith("bird "))
    assert bird.split() == ["bird", "-", "-", "-", "0"]
    assert lines[-1].endswith(": bird")


def test_mistaken_for_by_hand():
    cm = np.array([
        [5, 3, 2],  # a: 10 pixels, 3 taken for b, 2 for c
        [0, 4, 0],  # b: never mistaken
        [1, 1, 0],  # c: 2 pixels, one each for a and b: the tie goes to a
    ])
    assert mistaken_for(cm, ["a", "b", "c"]) == {
        "a": {"as": "b", "share": 0.3},
        "b": None,
        "c": {"as": "a", "share": 0.5},
    }
    assert mistaken_for(np.zeros((2, 2), int)) == {"0": None, "1": None}  # absent from the truth
    with pytest.raises(ValueError):
        mistaken_for(np.zeros((2, 3), int))


def test_confidence_reference_and_low_confidence_by_hand():
    ref = confidence_reference([0.9, 0.8, 0.7, 0.6, 1.0])
    # 5th percentile, linear: sorted 0.6 .. 1.0, position 0.05 * 4 = 0.2 -> 0.6 + 0.2 * 0.1
    assert ref == {"frames": 5, "mean": pytest.approx(0.8), "p05": pytest.approx(0.62), "min": 0.6}
    assert low_confidence(0.61, ref) and not low_confidence(0.63, ref)
    assert not low_confidence(0.1, None)
    assert confidence_reference([]) is None
