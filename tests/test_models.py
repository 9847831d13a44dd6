import numpy as np
import pytest

from segdemo.models import ARCHITECTURES, build_fcn, build_model, transfer_weights
from segdemo.models.fcn import bilinear_kernel


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("size", [(64, 64), (72, 100)])
def test_output_is_class_scores_at_input_resolution(arch, size):
    model = build_model(arch, num_classes=5, width=0.125)
    out = model(np.zeros((2, *size, 3), np.float32))
    assert tuple(out.shape) == (2, *size, 5)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_any_input_size_is_padded_by_reflection_and_cropped_back(arch):
    model = build_model(arch, num_classes=3, width=0.125)
    rng = np.random.default_rng(0)
    for v in model.weights:  # random weights: zero-initialised score layers would make every output 0
        shape = tuple(v.shape)
        v.assign(rng.uniform(0.5, 1.5, shape) if "variance" in v.path else rng.normal(0, 0.3, shape))
    x = rng.uniform(0, 255, (1, 40, 50, 3)).astype(np.float32)
    padded = np.pad(x, [(0, 0), (0, 24), (0, 14), (0, 0)], mode="reflect")  # 64x64: nothing left to pad
    out = model(x).numpy()
    assert model.input_shape == (None, None, None, 3) and out.shape == (1, 40, 50, 3)
    expected = model(padded).numpy()[:, :40, :50]
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    assert out.std() > 1e-3 * np.abs(out).max()  # not a constant map


def test_fcn8s_has_the_papers_parameter_count():
    # Long et al.: FCN-8s on VGG16 with 4096-channel fc6/fc7, 21 PASCAL classes: ~134M parameters.
    model = build_fcn("fcn8s", num_classes=21, width=1.0, fc_channels=4096)
    assert abs(model.count_params() - 134e6) / 134e6 < 0.03


def test_fcn_layers_follow_the_paper():
    names = {layer.name for layer in build_fcn("fcn8s", num_classes=4, width=0.125).layers}
    assert {"block1_conv1", "block5_pool", "fc6", "fc7", "score_fr", "upscore2", "score_pool4",
            "upscore_pool4", "score_pool3", "upscore8"} <= names


def test_fcn_variants_differ_only_in_their_skips():
    layers32 = {layer.name for layer in build_fcn("fcn32s", num_classes=4, width=0.125).layers}
    layers8 = {layer.name for layer in build_fcn("fcn8s", num_classes=4, width=0.125).layers}
    assert "score_pool4" not in layers32 and "score_pool4" in layers8


def test_weights_transfer_by_name_from_fcn32s_to_fcn16s():
    src = build_fcn("fcn32s", num_classes=4, width=0.125)
    dst = build_fcn("fcn16s", num_classes=4, width=0.125)
    src.get_layer("fc6").set_weights([np.full(w.shape, 0.5, np.float32) for w in src.get_layer("fc6").get_weights()])
    copied = transfer_weights(src, dst)
    assert "fc6" in copied and "block1_conv1" in copied and "score_pool4" not in copied
    np.testing.assert_array_equal(dst.get_layer("fc6").get_weights()[0], 0.5)


def test_bilinear_kernel_upsamples_a_constant_to_a_constant():
    k = bilinear_kernel(4, 1)[:, :, 0, 0]
    # each output pixel of a stride-2 deconvolution sums 4 taps, one per phase: they add up to 1
    assert np.allclose(k[0::2, 0::2].sum() , 1.0) and np.allclose(k[1::2, 1::2].sum(), 1.0)
    np.testing.assert_allclose(k[1], [0.1875, 0.5625, 0.5625, 0.1875])


def test_segnet_unpools_with_the_encoders_indices():
    model = build_model("segnet", num_classes=2, width=0.125)
    names = [layer.__class__.__name__ for layer in model.layers]
    assert names.count("MaxPoolWithArgmax") == 5 and names.count("MaxUnpool") == 5
    assert "UpSampling2D" not in names


def test_max_unpool_puts_values_back_where_the_maxima_were():
    from segdemo.models.segnet import MaxPoolWithArgmax, MaxUnpool

    x = np.array([[1, 5, 0, 0], [2, 3, 0, 7], [0, 0, 4, 0], [9, 0, 0, 1]], np.float32)[None, :, :, None]
    pooled, argmax = MaxPoolWithArgmax()(x)
    np.testing.assert_array_equal(np.asarray(pooled)[0, :, :, 0], [[5, 7], [9, 4]])
    up = np.asarray(MaxUnpool()(pooled, argmax, x))[0, :, :, 0]
    np.testing.assert_array_equal(up, [[0, 5, 0, 0], [0, 0, 0, 7], [0, 0, 4, 0], [9, 0, 0, 0]])


def test_unknown_architecture_names_the_choices():
    with pytest.raises(ValueError, match="fcn8s.*'unet'"):
        build_model("unet", num_classes=3)
    with pytest.raises(ValueError, match="fcn32s"):
        build_fcn("fcn4s", num_classes=3)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_models_round_trip_through_keras_files_in_safe_mode(arch, tmp_path):
    import keras

    model = build_model(arch, num_classes=3, width=0.125)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras", safe_mode=True, compile=False)
    x = np.random.default_rng(0).uniform(0, 255, (1, 40, 72, 3)).astype(np.float32)
    np.testing.assert_array_equal(np.argmax(model(x), -1), np.argmax(loaded(x), -1))
