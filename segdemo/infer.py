"""Inference: load a model once, predict any size (the model pads and crops back), tile large images."""
import time
from dataclasses import dataclass

import numpy as np

from . import choices, store
from .data import STRIDE
from .files.images import to_rgb  # noqa: F401 (infer.to_rgb, as before: the one RGB conversion)

TTA = {  # test-time augmentation: the scales seen, and whether each is also seen mirrored
    "none": ((1.0,), False),
    "flip": ((1.0,), True),
    "multiscale": ((0.75, 1.0, 1.25), True),
}
BF16_AGREEMENT = 0.99  # share of pixels whose bfloat16 label must be float32's for Segmenter.fastest to keep it
MAX_SIDE = 2048  # images with a longer side are segmented in overlapping tiles
TILE = 1024  # tile side, a multiple of STRIDE
OVERLAP = 128  # context each tile sees beyond the part of it that is kept
assert tuple(TTA) == choices.TTA, "choices.TTA lists every TTA mode"


@dataclass
class Segmentation:
    """The result of Segmenter.segment.

    labels: (H, W) uint8 class indices.
    probs: (H, W, C) softmax probabilities: float32, or float16 for tiled (large) images.
    classes, palette: class names and (C, 3) uint8 colours from the model's manifest.
    seconds: wall time of the call.
    confidence: (H, W) float32 max softmax probability per pixel.
    """

    labels: np.ndarray
    probs: np.ndarray
    classes: tuple
    palette: np.ndarray
    seconds: float
    confidence: np.ndarray

    def probe(self, y, x):
        """The class probabilities at pixel (y, x), from the stored probs: see viz.pixel_probs."""
        from .viz import pixel_probs

        return pixel_probs(self.probs, y, x, self.classes, self.palette)


def device():
    """Where tensorflow runs the models: 'GPU (name)' or 'CPU (N cores)'."""
    import os

    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        return f"GPU ({details.get('device_name', gpus[0].name)})"
    return f"CPU ({os.cpu_count()} cores)"


class Segmenter:
    """A loaded model, compiled once, that segments RGB images of any size."""

    def __init__(self, model, manifest, tta="none", precision="float32"):
        """Wrap a model and its manifest.

        Args:
            model: a keras.Model from RGB 0..255 to class scores.
            manifest: a dict with at least "classes"; "palette" and "ignore_index" are used.
            tta: one of TTA: average the probabilities over mirrored and rescaled copies.
            precision: "float32", "bfloat16" (mixed; faster on CPUs with bfloat16 units) or
                "auto" (see segdemo.precision.pick_precision).
        """
        import tensorflow as tf

        from . import precision as numerics
        from .palette import class_palette

        if tta not in TTA:
            raise ValueError(f"tta must be one of {list(TTA)}, got {tta!r}")
        self.tta, self.precision = tta, numerics.pick_precision(precision)
        model = numerics.cast_model(model, self.precision)
        self.model, self.manifest = model, manifest
        self.name = manifest.get("name", model.name)
        self.classes = tuple(manifest["classes"])
        palette = manifest.get("palette")
        self.palette = np.asarray(palette, np.uint8) if palette else class_palette(self.classes)

        scales, flip = TTA[tta]

        # One trace for every input size: the signature leaves height and width free.
        @tf.function(input_signature=[tf.TensorSpec((1, None, None, 3), tf.float32)])
        def probs(x):
            size = tf.shape(x)[1:3]
            total = 0.0
            for s in scales:
                xs = x if s == 1 else tf.image.resize(x, tf.cast(tf.round(tf.cast(size, tf.float32) * s), tf.int32))
                batch = tf.concat([xs, xs[:, :, ::-1]], 0) if flip else xs  # (1 or 2, h, w, 3)
                p = tf.nn.softmax(tf.cast(self.model(batch, training=False), tf.float32), axis=-1)
                p = (p[:1] + p[1:, :, ::-1]) / 2 if flip else p
                total += p if s == 1 else tf.image.resize(p, size)
            return total / len(scales)  # (1, H, W, C)

        @tf.function(input_signature=probs.input_signature)
        def predict(x):
            p = probs(x)[0]  # (H, W, C); labels and confidence in the same call, on every core
            return p, tf.cast(tf.argmax(p, axis=-1), tf.uint8), tf.reduce_max(p, axis=-1)

        self._probs, self._predict = probs, predict

    def probabilities(self, rgb):
        """Softmax probabilities of one image, in one model call (no tiling).

        Args:
            rgb: (H, W, 3) uint8 RGB, any size (the model pads to multiples of 32 and crops back).

        Returns:
            (H, W, C) float32 probabilities, averaged over the Segmenter's TTA copies.
        """
        return self._probs(np.asarray(rgb, np.float32)[None])[0].numpy()

    @classmethod
    def load(cls, name_or_path, weights_dir=None, tta="none", precision="float32"):
        """Load a model by name from the weights folder (or a path to NAME.keras), see store.load."""
        return cls(*store.load(name_or_path, weights_dir), tta=tta, precision=precision)

    @classmethod
    def fastest(cls, name_or_path, weights_dir=None, probe=None, agreement=BF16_AGREEMENT):
        """Load a model in the fastest precision that gives its float32 labels: mixed bfloat16 where the CPU
        has bfloat16 units (precision "auto") and, on `probe`, at least `agreement` of the pixels keep their
        float32 label; float32 otherwise.

        Args:
            name_or_path, weights_dir: as for load.
            probe: (H, W, 3) uint8 image to compare the labels on (default: a blank frame).
            agreement: the share of pixels that must agree, in [0, 1].
        """
        from .precision import pick_precision

        segmenter = cls.load(name_or_path, weights_dir)
        if pick_precision("auto") != "bfloat16":
            return segmenter
        fast = cls(segmenter.model, segmenter.manifest, precision="bfloat16")
        image = np.zeros((360, 480, 3), np.uint8) if probe is None else probe
        same = float(np.mean(fast.segment(image).labels == segmenter.segment(image).labels))
        return fast if same >= agreement else segmenter

    @property
    def confidence_reference(self):
        """The model's mean confidence on its validation frames (metrics.confidence_reference), or None.

        Read from the manifest's metrics.val.confidence; ``metrics.low_confidence(mean, this)``
        tells whether a photo's mean confidence is low compared with it.
        """
        return ((self.manifest.get("metrics") or {}).get("val") or {}).get("confidence")

    def warmup(self, shape=(360, 480)):
        """Run once on a blank frame so that the first real call is as fast as the next."""
        self.segment(np.zeros((*shape, 3), np.uint8))
        return self

    def _predict_tiled(self, rgb):
        """(H, W, C) float16 probabilities from overlapping TILE-sized tiles; only each tile's centre is kept."""
        h, w = rgb.shape[:2]
        out = np.empty((h, w, len(self.classes)), np.float16)
        step = TILE - 2 * OVERLAP
        for y0 in range(0, h, step):
            for x0 in range(0, w, step):
                ty, tx = max(0, y0 - OVERLAP), max(0, x0 - OVERLAP)
                tile = rgb[ty:min(h, y0 + step + OVERLAP), tx:min(w, x0 + step + OVERLAP)]
                probs = self.probabilities(tile)
                ky, kx = y0 - ty, x0 - tx
                ey, ex = min(h, y0 + step), min(w, x0 + step)
                out[y0:ey, x0:ex] = probs[ky:ky + ey - y0, kx:kx + ex - x0]
        return out

    def segment(self, image):
        """Segment one image.

        Args:
            image: HxW, HxWx3 or HxWx4 array (uint8 or uint16), any size; converted by to_rgb.
                Images with a side above MAX_SIDE are processed in overlapping tiles so that
                memory stays bounded.

        Returns:
            Segmentation with labels (H, W), probs (H, W, C) and the model's classes and palette.
        """
        start = time.perf_counter()
        rgb = to_rgb(image)
        if rgb.shape[0] < 1 or rgb.shape[1] < 1:
            raise ValueError(f"image is empty: shape {rgb.shape}")
        if max(rgb.shape[:2]) <= MAX_SIDE:
            probs, labels, confidence = (v.numpy() for v in self._predict(np.asarray(rgb, np.float32)[None]))
        else:
            probs = self._predict_tiled(rgb)
            labels, confidence = probs.argmax(axis=-1).astype(np.uint8), probs.max(axis=-1).astype(np.float32)
        return Segmentation(labels, probs, self.classes, self.palette, time.perf_counter() - start, confidence)

    def evaluate(self, images, masks, ignore_index=None):
        """Score the model on labelled images at their full resolution.

        Args:
            images, masks: sequences of HxWx3 images and HxW class-index masks.
            ignore_index: label excluded from every metric (default: the manifest's).

        Returns:
            (scores dict from metrics.scores over all pixels, with "confidence": the
            metrics.confidence_reference of the per-image mean confidences; list of per-image
            mIoU in input order).
        """
        from .evaluation import evaluate

        result = evaluate(self, ((str(i), image, mask) for i, (image, mask) in enumerate(zip(images, masks))),
                          ignore_index)
        return result.scores, result.per_image

    def stages(self, image):
        """FCN-8s from the inside: its prediction at strides 32, 16 and 8 (score_fr, fuse_pool4, fuse_pool3).

        Each stage's class scores are upsampled bilinearly to the input size.

        Returns:
            list of (title, (H, W) uint8 labels), coarse to fine; only the stages the
            architecture has (FCN-32s has one, FCN-16s two, FCN-8s three).
        """
        import keras
        import tensorflow as tf

        names = [n for n in ("score_fr", "fuse_pool4", "fuse_pool3")
                 if any(layer.name == n for layer in self.model.layers)]
        if not names:
            raise ValueError(f"model {self.name!r} is not an FCN: it has no score_fr layer")
        probe = keras.Model(self.model.inputs, [self.model.get_layer(n).output for n in names])
        rgb = to_rgb(image)
        h, w = rgb.shape[:2]
        padded = (h + -h % STRIDE, w + -w % STRIDE)  # the size the model pads to, inside
        outputs = probe([rgb.astype(np.float32)[None]], training=False)  # a list, as probe's inputs are
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        titles = {"score_fr": "stride 32 (score_fr)", "fuse_pool4": "stride 16 (+ pool4)",
                  "fuse_pool3": "stride 8 (+ pool3)"}
        result = []
        for n, scores in zip(names, outputs):
            up = tf.image.resize(scores, padded, method="bilinear")[0, :h, :w]
            result.append((titles[n], np.argmax(up.numpy(), axis=-1).astype(np.uint8)))
        return result
