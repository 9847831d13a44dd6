"""Fully convolutional networks, FCN-32s/16s/8s (Long, Shelhamer & Darrell, CVPR 2015)."""
import keras
import numpy as np
from keras import layers

from .vgg import CropLike, channels, normalise, vgg16_encoder

# Skips fused, coarse to fine: feature name -> its stride.
SKIPS = {
    "pool4": 16,  # FCN-16s fuses score_pool4 at stride 16
    "pool3": 8,  # FCN-8s also fuses score_pool3 at stride 8
}
VARIANTS = {"fcn32s": (), "fcn16s": ("pool4",), "fcn8s": ("pool4", "pool3")}


def bilinear_kernel(size, num_classes):
    """A (size, size, C, C) transposed-convolution kernel that upsamples each class bilinearly."""
    factor = (size + 1) // 2
    center = factor - 1 if size % 2 == 1 else factor - 0.5
    og = np.ogrid[:size, :size]
    filt = (1 - abs(og[0] - center) / factor) * (1 - abs(og[1] - center) / factor)
    kernel = np.zeros((size, size, num_classes, num_classes), np.float32)
    for c in range(num_classes):
        kernel[:, :, c, c] = filt
    return kernel


def upsample(x, factor, num_classes, name, trainable=True):
    """Transposed convolution by `factor`, initialised to bilinear interpolation (the paper's Caffe deconv)."""
    layer = layers.Conv2DTranspose(num_classes, 2 * factor, strides=factor, padding="same",
                                   use_bias=False, trainable=trainable, name=name)
    y = layer(x)
    layer.kernel.assign(bilinear_kernel(2 * factor, num_classes))
    return y


def build_fcn(variant="fcn8s", num_classes=12, width=1.0, fc_channels=4096, dropout=0.5,
              batchnorm=False):
    """Build FCN-32s, FCN-16s or FCN-8s on a VGG16 encoder.

    Args:
        variant: "fcn32s", "fcn16s" or "fcn8s": which skips (see SKIPS) are fused.
        num_classes: number of output classes.
        width: channel multiplier of the VGG16 encoder (1.0 = the paper).
        fc_channels: channels of fc6/fc7 at width 1.0 (the paper's 4096), scaled by width.
        dropout: dropout rate after fc6 and fc7 (the paper's 0.5).
        batchnorm: batch normalisation in the encoder (not in the paper; helps training from scratch).

    Returns:
        keras.Model mapping (B, H, W, 3) RGB in 0..255, any H and W (the model pads to
        multiples of 32 by reflection and crops back), to (B, H, W, num_classes) class scores (logits).
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {sorted(VARIANTS)}, got {variant!r}")
    skips = VARIANTS[variant]
    inputs = keras.Input((None, None, 3), name="image")
    feats = vgg16_encoder(normalise(inputs), width=width, batchnorm=batchnorm)

    fc = channels(fc_channels, width)
    x = layers.Conv2D(fc, 7, padding="same", activation="relu", name="fc6")(feats["pool5"])
    x = layers.Dropout(dropout, name="drop6")(x)
    x = layers.Conv2D(fc, 1, activation="relu", name="fc7")(x)
    x = layers.Dropout(dropout, name="drop7")(x)
    x = layers.Conv2D(num_classes, 1, kernel_initializer="zeros", name="score_fr")(x)  # (B, H/32, W/32, C)

    stride = 32
    for i, skip in enumerate(skips):
        # Caffe FCN: upscore2 / upscore_pool4 are learned deconvolutions initialised bilinear,
        # score_pool4 / score_pool3 are zero-initialised so training starts from the coarser net.
        x = upsample(x, 2, num_classes, "upscore2" if i == 0 else f"upscore_{skips[i - 1]}")
        score = layers.Conv2D(num_classes, 1, kernel_initializer="zeros", name=f"score_{skip}")(feats[skip])
        x = layers.Add(name=f"fuse_{skip}")([x, score])  # (B, H/stride, W/stride, C)
        stride = SKIPS[skip]

    # The final upsampling is fixed bilinear interpolation, as in the paper.
    x = upsample(x, stride, num_classes, f"upscore{stride}", trainable=False)  # (B, H', W', C)
    outputs = CropLike(name="crop")(x, inputs)  # (B, H, W, C)
    return keras.Model(inputs, outputs, name=variant)


def transfer_weights(source, target, prefix=""):
    """Copy weights from `source` into `target` layer by layer name where shapes match.

    This is how FCN-16s starts from FCN-32s and FCN-8s from FCN-16s, and, with prefix
    ENCODER_PREFIX, how any model starts from another one's encoder (a head start).

    Returns:
        list of the layer names copied.
    """
    by_name = {layer.name: layer for layer in source.layers}
    copied = []
    for layer in target.layers:
        src = by_name.get(layer.name)
        if src is None or not layer.weights or not layer.name.startswith(prefix):
            continue
        weights = src.get_weights()
        if [w.shape for w in weights] == [w.shape for w in layer.get_weights()]:
            layer.set_weights(weights)
            copied.append(layer.name)
    return copied
