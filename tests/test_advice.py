from segdemo.advice import auto_crop, class_weighting, training_warnings


def report(size=(128, 128), class_pixels=None, n_pairs=12):
    """training_warnings' data arguments: n_pairs images of one size, and the pixels per class."""
    return {"sizes": [size] * n_pairs, "class_pixels": class_pixels or {0: 900, 1: 100}}


def test_the_automatic_crop_is_the_short_side_in_multiples_of_32_at_most_256():
    assert auto_crop([(128, 128)]) == (128, 128)
    assert auto_crop([(300, 200), (640, 480)]) == (192, 192)
    assert auto_crop([(2000, 1500)]) == (256, 256)
    assert auto_crop([(20, 20)]) == (32, 32)


def test_the_automatic_weighting_is_enet_only_where_a_crop_shows_part_of_an_image():
    assert class_weighting([(512, 512)] * 3, (256, 256)) == "enet"  # a quarter of each micrograph
    assert class_weighting([(2048, 1536)], (256, 256)) == "enet"
    assert class_weighting([(128, 128)] * 12, (128, 128)) == "none"  # the whole image
    assert class_weighting([(256, 192)] * 5, (192, 192)) == "none"  # three quarters of it
    assert class_weighting([(64, 64), (1024, 1024), (1024, 1024)], (64, 64)) == "enet"  # the median image's area
    assert class_weighting([], (64, 64)) == "none"


def test_a_sound_setup_gets_no_warning():
    assert training_warnings(**report(), crop=(128, 128), val_split=0.2) == []


def test_a_crop_larger_than_the_images_is_named():
    (warning,) = training_warnings(**report(), crop=(224, 224))
    assert "crop (224x224) is larger than some images" in warning and "128x128" in warning


def test_a_validation_split_of_one_image_is_named():
    (warning,) = training_warnings(**report(n_pairs=4), val_split=0.15)
    assert warning.startswith("Only 1 image would be kept aside")
    assert training_warnings(**report(n_pairs=4), n_val=2) == []


def test_a_single_class_is_named():
    (warning,) = training_warnings(**report(class_pixels={0: 1000, 11: 50}), ignore_index=11,
                                   class_names=["background"])
    assert "Every labelled pixel is class 0 (background)" in warning


def test_a_class_under_a_tenth_of_a_percent_is_named():
    (warning,) = training_warnings(**report(class_pixels={0: 100_000, 1: 5_000, 2: 50}),
                                   class_names=["bg", "cell", "nucleus"])
    assert "Class 2 (nucleus) covers less than 0.1% of the pixels" in warning


def test_masks_with_many_values_look_like_pictures():
    warnings = training_warnings(**report(class_pixels={v: 100 for v in range(200)}))
    assert len(warnings) == 1 and "look like pictures" in warnings[0] and "200 different values" in warnings[0]
