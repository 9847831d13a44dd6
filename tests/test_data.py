"""segdemo.data on hand-made arrays: the split, class weights, class names, the training pipeline."""
import colorsys

import numpy as np
import pytest

from segdemo import data


def test_split_is_a_seeded_partition_of_every_index():
    train, val = data.split(10, 0.2, seed=0)
    order = np.random.default_rng(0).permutation(10)  # the shuffle split() draws: its first 2 validate
    assert val == sorted(order[:2]) and train == sorted(order[2:])
    assert sorted(train + val) == list(range(10)) and not set(train) & set(val)
    assert data.split(10, 0.2, seed=0) == (train, val)  # the same seed, the same split
    assert data.split(10, 0.2, seed=1) != (train, val)


def test_split_keeps_at_least_one_pair_on_each_side():
    assert [len(part) for part in data.split(3, 0.01)] == [2, 1]  # rounds up to one validation pair
    with pytest.raises(ValueError, match="too few"):
        data.split(1, 0.5)
    for fraction in (0, 1, -0.1, 1.5):
        with pytest.raises(ValueError, match=r"in \(0, 1\)"):
            data.split(10, fraction)


def test_median_frequency_weights_on_a_hand_drawn_example():
    masks = [np.array([[0, 0, 0, 1]]), np.array([[0, 0, 2, 2]])]
    # freq(c) = pixels of c / pixels of images containing c: 0 -> 5/8, 1 -> 1/4, 2 -> 2/4; median 1/2
    np.testing.assert_allclose(data.median_frequency_weights(masks, 3), [0.8, 2.0, 1.0])
    np.testing.assert_allclose(data.class_weights(masks, 3, "median-frequency"), [0.8, 2.0, 1.0])


def test_median_frequency_weights_skip_void_and_absent_classes():
    masks = [np.array([[0, 0, 11, 11]]), np.array([[0, 1, 1, 11]])]  # 11 is void; class 2 never appears
    # Void pixels count nowhere: freq 0 -> 3/5 (3 of the 2 + 3 labelled pixels of the images with a 0),
    # 1 -> 2/3; the median of the present classes 19/30; class 2 weighs 0
    np.testing.assert_allclose(data.median_frequency_weights(masks, 3, ignore_index=11),
                               [19 / 18, 19 / 20, 0.0], rtol=1e-6)


def test_enet_weights_on_a_hand_drawn_example():
    masks = [np.array([[0, 0, 0, 1]]), np.array([[0, 0, 2, 11]])]  # 11 is void
    p = np.array([5, 1, 1]) / 7
    w = 1 / np.log(1.02 + p)
    np.testing.assert_allclose(data.class_weights(masks, 3, "enet", 11), w / (p * w).sum(), rtol=1e-6)


def test_unknown_class_weights_name_the_choices():
    with pytest.raises(ValueError, match="'median-frequency' or 'enet', got 'inverse'"):
        data.class_weights([np.zeros((2, 2), np.uint8)], 2, "inverse")


@pytest.mark.parametrize("text,expected", [
    ("", ()), (None, ()), ("  ", ()), ("CamVid", data.CAMVID_CLASSES),
    ("background, box", ("background", "box")), ("a\nb,\n c ,", ("a", "b", "c")),
])
def test_class_names_are_parsed_one_way_for_the_cli_and_the_app(text, expected):
    assert data.parse_class_names(text) == expected


def test_a_class_name_given_twice_is_refused():
    with pytest.raises(ValueError, match="different from each other: box given more than once"):
        data.parse_class_names("background, box, box")


def test_pipeline_is_deterministic_and_crops_any_size():
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in [(50, 70), (100, 40), (64, 64)]]
    masks = [rng.integers(0, 3, im.shape[:2], dtype=np.uint8) for im in images]
    first = [(x.numpy(), y.numpy()) for x, y in data.train_dataset(images, masks, 2, data.Augment(crop=(64, 64)),
                                                                   ignore_index=255, seed=3).take(3)]
    again = [(x.numpy(), y.numpy()) for x, y in data.train_dataset(images, masks, 2, data.Augment(crop=(64, 64)),
                                                                   ignore_index=255, seed=3).take(3)]
    for (x1, y1), (x2, y2) in zip(first, again):
        assert x1.shape == (2, 64, 64, 3) and x1.dtype == np.float32 and y1.shape == (2, 64, 64)
        assert 0 <= x1.min() and x1.max() <= 255
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)
    labels = np.unique(np.concatenate([y.ravel() for _, y in first]))
    assert set(labels) <= {0, 1, 2, 255}  # padding of the small images is void


def test_a_region_past_the_image_is_void_in_the_mask():
    # A 32x32 image zoomed out 2x to a 64x64 crop: the crop shows a 128x128 region holding the whole
    # image (about 16x16 crop pixels); the rest lies outside the image: labelled void (7 here), never a class.
    image, mask = np.full((32, 32, 3), 200, np.uint8), np.ones((32, 32), np.uint8)
    aug = data.Augment(crop=(64, 64), scale=(0.5, 0.5), flip=False, jitter=0.0)
    (x, y), = [(x.numpy(), y.numpy()) for x, y in data.train_dataset([image], [mask], 1, aug, ignore_index=7,
                                                                     seed=0).take(1)]
    assert set(np.unique(y)) == {1, 7}
    assert 15 * 15 <= (y == 1).sum() <= 17 * 17 and (y == 7).sum() == y.size - (y == 1).sum()


def test_crops_that_are_not_multiples_of_32_are_refused():
    with pytest.raises(ValueError, match="multiples of 32"):
        data.train_dataset([np.zeros((64, 64, 3), np.uint8)], [np.zeros((64, 64), np.uint8)], 1,
                           data.Augment(crop=(64, 50)))


def hsv_hue(rgb):
    return 360.0 * colorsys.rgb_to_hsv(*np.clip(rgb, 0, 1))[0]


def test_the_colour_matrix_scales_saturation_and_turns_the_hue_keeping_gray_and_brightness():
    np.testing.assert_allclose(data.color_matrix(1.0, 0.0).numpy(), np.eye(3), atol=1e-6)
    gray = data.color_matrix(0.0, 0.0).numpy()  # no saturation: every pixel its own gray
    np.testing.assert_allclose(gray, np.array([data.LUMA] * 3), atol=1e-6)
    turn = data.color_matrix(0.7, 0.1).numpy()
    np.testing.assert_allclose(turn @ [0.4, 0.4, 0.4], [0.4, 0.4, 0.4], atol=1e-5)  # gray stays gray
    np.testing.assert_allclose(np.array(data.LUMA) @ turn, data.LUMA, atol=1e-5)  # brightness kept
    red = np.array([0.8, 0.2, 0.2])
    for hue in (0.05, -0.05):  # about as far on HSV's circle, in the same direction
        moved = (hsv_hue(data.color_matrix(1.0, hue).numpy() @ red) - hsv_hue(red) + 180) % 360 - 180
        assert 12 <= abs(moved) <= 30 and np.sign(moved) == np.sign(hue), moved


def test_photometric_jitter_stays_in_range_and_changes_the_picture():
    rng = np.random.default_rng(0)
    image, mask = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8), np.zeros((64, 64), np.uint8)

    def augmented(**amounts):
        aug = data.Augment(crop=(64, 64), scale=(1.0, 1.0), flip=False, **amounts)
        x, _ = next(iter(data.train_dataset([image], [mask], 1, aug)))
        return x.numpy()[0]

    np.testing.assert_allclose(augmented(jitter=0.0), image, atol=1e-3)  # scale 1 copies the pixels
    jittered = augmented(jitter=0.3, hue=0.05, gamma=0.3)
    assert jittered.min() >= 0 and jittered.max() <= 255 and np.abs(jittered - image).mean() > 2
