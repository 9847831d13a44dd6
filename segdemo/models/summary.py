"""A model's layers as a table: name, type, output shape for a probe image, parameters."""
import keras
import numpy as np

PROBE_SIDE = 224  # output shapes are those of a square photo of this side


def layer_rows(model, side=PROBE_SIDE):
    """One row per Keras layer, with the output shapes of one run on a blank (side x side) photo.

    Args:
        model: a keras.Model taking (B, H, W, 3) images.
        side: the probe photo's height and width in pixels.

    Returns:
        list of (layer name, layer type, output shape 'H x W x C' (' + '-joined for several outputs),
        parameter count), in the model's layer order.
    """
    outputs, owners = [], []
    for i, layer in enumerate(model.layers):
        out = layer.output
        for tensor in out if isinstance(out, (list, tuple)) else [out]:
            outputs.append(tensor)
            owners.append(i)
    probe = keras.Model(model.inputs, outputs)
    values = probe([np.zeros((1, side, side, 3), np.float32)], training=False)
    shapes = [[] for _ in model.layers]
    for i, value in zip(owners, values):
        shapes[i].append(" x ".join(str(d) for d in value.shape[1:]))
    return [(layer.name, layer.__class__.__name__, " + ".join(shape), layer.count_params())
            for layer, shape in zip(model.layers, shapes)]
