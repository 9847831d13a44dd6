"""The default class palette: evenly spaced HLS hues (low module: infer, train and viz use it)."""
import numpy as np
import seaborn as sns


def hls_palette(n):
    """Evenly spaced HLS hues, one colour per class.

    Args:
        n: number of colours, >= 1.

    Returns:
        (n, 3) uint8 array: ``seaborn.color_palette("hls", n)`` scaled to 0..255 and rounded.
    """
    if int(n) != n or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    return np.round(np.asarray(sns.color_palette("hls", int(n))) * 255).astype(np.uint8)
