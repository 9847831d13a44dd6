"""SegNet (Badrinarayanan, Kendall & Cipolla, TPAMI 2017): upsampling by max-pooling indices."""
import keras
import tensorflow as tf
from keras import layers

from .vgg import CropLike, VGG16_BLOCKS, channels, conv_bn_relu, normalise, vgg16_encoder


@keras.saving.register_keras_serializable(package="segdemo")
class MaxPoolWithArgmax(layers.Layer):
    """2x2 max-pooling that also returns the flat index of every maximum."""

    def call(self, x):
        pooled, argmax = tf.nn.max_pool_with_argmax(
            x, ksize=2, strides=2, padding="SAME", include_batch_in_index=True)
        return pooled, tf.stop_gradient(argmax)

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        half = lambda n: None if n is None else (n + 1) // 2
        return (b, half(h), half(w), c), (b, half(h), half(w), c)


@keras.saving.register_keras_serializable(package="segdemo")
class MaxUnpool(layers.Layer):
    """Place each value at its recorded argmax in a zero map the shape of `like` (SegNet's decoder)."""

    def call(self, x, argmax, like):
        shape = tf.shape(like, out_type=tf.int64)  # (B, H, W, C) before pooling
        flat = tf.scatter_nd(tf.reshape(argmax, (-1, 1)), tf.reshape(x, (-1,)),
                             tf.reshape(tf.reduce_prod(shape), (1,)))
        return tf.reshape(flat, shape)

    def compute_output_shape(self, x_shape, argmax_shape, like_shape):
        return tuple(like_shape[:3]) + (x_shape[-1],)


def build_segnet(num_classes=12, width=1.0):
    """Build SegNet: a VGG16 encoder with batch normalisation and its mirrored decoder.

    Each decoder stage upsamples with the max-pooling indices saved by its encoder stage,
    then convolves with trainable filter banks (no learned upsampling, no skip features).

    Args:
        num_classes: number of output classes.
        width: channel multiplier (1.0 = the paper's VGG16 encoder).

    Returns:
        keras.Model mapping (B, H, W, 3) RGB in 0..255, any H and W (the model pads to
        multiples of 32 by reflection and crops back), to (B, H, W, num_classes) class scores (logits).
    """
    pools = {}

    def pool(x, name):
        pooled, argmax = MaxPoolWithArgmax(name=name)(x)
        pools[name] = (argmax, x)
        return pooled

    inputs = keras.Input((None, None, 3), name="image")
    feats = vgg16_encoder(normalise(inputs), width=width, batchnorm=True, pool=pool)
    x = feats["pool5"]  # (B, H/32, W/32, 512w)
    # Decoder block i mirrors encoder block i: same number of convolutions, the last one
    # narrowing to the channels of block i-1 (the paper's Figure 2).
    for i in range(len(VGG16_BLOCKS), 0, -1):
        filters, n_convs = VGG16_BLOCKS[i - 1]
        argmax, like = pools[f"block{i}_pool"]
        x = MaxUnpool(name=f"block{i}_unpool")(x, argmax, like)  # (B, H/2**(i-1), W/2**(i-1), C)
        # The classifier replaces the last convolution of decoder block 1.
        widths = [filters] * (n_convs - 1) + ([VGG16_BLOCKS[i - 2][0]] if i > 1 else [])
        for j, out in zip(range(n_convs, 0, -1), widths):
            x = conv_bn_relu(x, channels(out, width), f"decoder{i}_conv{j}", batchnorm=True)
    x = layers.Conv2D(num_classes, 3, padding="same", name="classifier")(x)  # (B, H', W', C)
    outputs = CropLike(name="crop")(x, inputs)  # (B, H, W, C)
    return keras.Model(inputs, outputs, name="segnet")
