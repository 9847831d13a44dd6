"""VGG16 encoder (Simonyan & Zisserman 2015) that hands named features to segmentation heads."""
import keras
from keras import layers

# (filters at width=1.0, convolutions) per block; block i ends in block{i}_pool at stride 2**i.
VGG16_BLOCKS = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))
FEATURES = ("pool1", "pool2", "pool3", "pool4", "pool5")
ENCODER_PREFIX = "block"  # every encoder layer's name starts with it: block{i}_conv{j}, _bn, _pool


def channels(filters, width):
    """Scale a channel count by the width multiplier, at least 8."""
    return max(8, int(round(filters * width)))


def conv_bn_relu(x, filters, name, batchnorm):
    """3x3 convolution, optional batch normalisation, ReLU."""
    x = layers.Conv2D(filters, 3, padding="same", use_bias=not batchnorm, name=name)(x)
    if batchnorm:
        # momentum 0.9 rather than Keras' 0.99: the moving statistics settle within the
        # first epoch, so short runs (a class training for a few minutes) validate sensibly.
        x = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def vgg16_encoder(inputs, width=1.0, batchnorm=False, pool=None):
    """Run the 13 convolutions and 5 max-pools of VGG16 on `inputs`.

    Args:
        inputs: a (B, H, W, 3) tensor, already normalised; H and W multiples of 32.
        width: multiplier on every channel count (1.0 is the paper's VGG16).
        batchnorm: add batch normalisation after every convolution (SegNet does).
        pool: callable(x, name) -> pooled tensor, or None for MaxPooling2D.
            SegNet passes a pooling that also records its argmax indices.

    Returns:
        dict of named features: "pool1" ... "pool5" (strides 2 ... 32), and
        "block{i}_conv" (the last convolution of block i, before pooling).
    """
    if width <= 0:
        raise ValueError(f"width must be > 0, got {width!r}")
    features = {}
    x = inputs
    for i, (filters, n_convs) in enumerate(VGG16_BLOCKS, start=1):
        for j in range(1, n_convs + 1):
            x = conv_bn_relu(x, channels(filters, width), f"block{i}_conv{j}", batchnorm)
        features[f"block{i}_conv"] = x
        x = pool(x, f"block{i}_pool") if pool else layers.MaxPooling2D(2, name=f"block{i}_pool")(x)
        features[f"pool{i}"] = x  # (B, H/2**i, W/2**i, C_i)
    return features


@keras.saving.register_keras_serializable(package="segdemo")
class PadToMultiple(layers.Layer):
    """Pad (B, H, W, C) at the bottom and right so that H and W are multiples of `multiple`.

    The one padding of segdemo: the padding mirrors the image (reflection), so objects at the
    border are not cut against a flat band; an image too small to mirror (a side shorter than
    its padding) is padded with zeros (mid-grey after normalising). CropLike undoes it.
    """

    def __init__(self, multiple=32, **kwargs):
        super().__init__(**kwargs)
        self.multiple = multiple

    def call(self, x):
        import tensorflow as tf

        shape = tf.shape(x)
        pad_h, pad_w = -shape[1] % self.multiple, -shape[2] % self.multiple
        paddings = [[0, 0], [0, pad_h], [0, pad_w], [0, 0]]
        mirrorable = tf.logical_and(pad_h < shape[1], pad_w < shape[2])
        return tf.cond(mirrorable, lambda: tf.pad(x, paddings, mode="REFLECT"), lambda: tf.pad(x, paddings))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], None, None, input_shape[3])

    def get_config(self):
        return {**super().get_config(), "multiple": self.multiple}


@keras.saving.register_keras_serializable(package="segdemo")
class CropLike(layers.Layer):
    """Crop (B, H', W', C) to the height and width of `like` (undoes PadToMultiple)."""

    def call(self, x, like):
        import tensorflow as tf

        shape = tf.shape(like)
        return x[:, :shape[1], :shape[2], :]

    def compute_output_shape(self, x_shape, like_shape):
        return tuple(like_shape[:3]) + (x_shape[-1],)


def normalise(inputs):
    """Map RGB 0..255 to -1..1 inside the model and pad to a multiple of 32 (callers pass raw pixels)."""
    x = layers.Rescaling(1 / 127.5, offset=-1.0, name="normalise")(inputs)
    return PadToMultiple(32, name="pad")(x)  # (B, H', W', 3), H' and W' multiples of 32
