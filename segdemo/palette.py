"""Class palettes: seaborn's evenly spaced HLS hues, given to classes so that neighbours differ.

A low module: infer, train and viz use it. `adjacency` and `separated_order` measure and choose
the hue order; CAMVID_HUE_SLOTS is their result on CamVid's training masks.
"""
import numpy as np
import seaborn as sns

from .data import CAMVID_CLASSES

# Hue slot (of the 11 in hls_palette(11)) of each CamVid class, in data.CAMVID_CLASSES order
# (Sky, Building, Pole, Road, Pavement, Tree, SignSymbol, Fence, Car, Pedestrian, Bicyclist).
# Measured with separated_order(adjacency(masks, 11)) over the 367 masks of
# ../shared/camvid/trainannot (void 11 ignored); an exhaustive search over all 10! orders with
# Sky at slot 0 finds the same order. Road/Pavement are 5 slots (164 deg) apart, Pedestrian/
# Bicyclist 4 (131 deg), Sky/Tree 5 (164 deg). tests/test_viz.py recomputes it when the data is there.
CAMVID_HUE_SLOTS = (0, 3, 7, 4, 10, 5, 9, 1, 8, 6, 2)


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


def class_palette(classes):
    """The palette of a model: hls hues given to classes so that neighbours differ.

    Every palette in segdemo comes from here (training writes it into the manifest). CamVid's
    classes get CAMVID_HUE_SLOTS, measured on its training masks; any other class list steps
    through the hues with a fixed stride near n / golden ratio, coprime with n, so that
    consecutive classes (often related, e.g. "road" and "pavement") land far apart.

    Args:
        classes: the class names in index order (a count n >= 1 is also accepted).

    Returns:
        (n, 3) uint8: ``hls_palette(n)`` reordered, class i getting hue slot ``hue_slots(...)[i]``.
    """
    slots = hue_slots(classes)
    return hls_palette(len(slots))[list(slots)]


def hue_slots(classes):
    """Which of the n evenly spaced hls hues each class gets.

    Args:
        classes: the class names in index order, or a count n >= 1.

    Returns:
        tuple of n distinct slots in 0..n-1: CAMVID_HUE_SLOTS for CamVid's 11 classes in their
        usual order, else ``(i * stride) % n`` with the stride of ``golden_stride(n)``.
    """
    names = None if isinstance(classes, (int, np.integer)) else tuple(classes)
    n = int(classes) if names is None else len(names)
    if n < 1:
        raise ValueError(f"need at least one class, got {classes!r}")
    if names == CAMVID_CLASSES:
        return CAMVID_HUE_SLOTS
    stride = golden_stride(n)
    return tuple(i * stride % n for i in range(n))


def golden_stride(n):
    """The stride through n hues nearest n / golden ratio that is coprime with n (0 for n = 1).

    Args:
        n: number of hues, >= 1.

    Returns:
        int in 0..n-1; ties between two coprime candidates go to the smaller one.
    """
    if n == 1:
        return 0
    target = n / ((1 + 5 ** 0.5) / 2)
    candidates = [k for k in range(1, n) if np.gcd(k, n) == 1]
    return min(candidates, key=lambda k: (abs(k - target), k))


def adjacency(masks, num_classes):
    """How often each pair of classes touches: 4-neighbour pixel pairs with different classes.

    Args:
        masks: iterable of HxW integer label maps; labels outside 0..num_classes-1 (void) are
            ignored, and so are the pixel pairs they take part in.
        num_classes: C >= 1.

    Returns:
        (C, C) int64 symmetric matrix with a zero diagonal: ``A[i, j]`` = number of horizontally
        or vertically adjacent pixel pairs where one pixel is class i and the other class j.
    """
    c = int(num_classes)
    if c != num_classes or c < 1:
        raise ValueError(f"num_classes must be an integer >= 1, got {num_classes!r}")
    counts = np.zeros(c * c, np.int64)
    for mask in masks:
        mask = np.asarray(mask).astype(np.int64)  # (H, W) labels
        for a, b in ((mask[:, :-1], mask[:, 1:]), (mask[:-1], mask[1:])):  # left-right, up-down pairs
            keep = (a != b) & (a >= 0) & (a < c) & (b >= 0) & (b < c)
            counts += np.bincount(a[keep] * c + b[keep], minlength=c * c)
    pairs = counts.reshape(c, c)
    return pairs + pairs.T


def separated_order(adjacency, restarts=20, seed=0):
    """Hue slots that put classes which touch often far apart on the hue circle.

    Minimises ``sum_{i<j} A[i, j] / d(i, j)``, with d the circular distance between the two
    classes' slots (1..n//2): every boundary pixel between two classes costs the inverse of
    how far apart their hues are. Search: steepest pairwise swaps from ``restarts`` random
    orders (numpy generator ``seed``), the best kept. The result is made canonical (class 0 at
    slot 0, and class 1 on the first half of the circle) since turning or mirroring the circle
    does not change the cost.

    Args:
        adjacency: (n, n) non-negative symmetric matrix, e.g. from ``adjacency``.
        restarts: number of random starting orders, >= 1.
        seed: seed of the random starting orders.

    Returns:
        tuple of n distinct hue slots, class i getting slot ``result[i]``.
    """
    weights = np.asarray(adjacency, np.float64)
    if weights.ndim != 2 or weights.shape[0] != weights.shape[1] or (weights < 0).any():
        raise ValueError(f"adjacency must be a non-negative (n, n) matrix, got shape {weights.shape}")
    if int(restarts) != restarts or restarts < 1:
        raise ValueError(f"restarts must be an integer >= 1, got {restarts!r}")
    n = len(weights)
    if n < 3:
        return tuple(range(n))  # every order is as good
    weights = _pair_weights(weights)
    rng = np.random.default_rng(seed)
    best, best_cost = None, np.inf
    for _ in range(int(restarts)):
        slots, cost = _descend(weights, rng.permutation(n))
        if cost < best_cost - 1e-9:
            best, best_cost = slots, cost
    return _canonical(best)


def separation_cost(adjacency, slots):
    """``sum_{i<j} A[i, j] / d(i, j)`` of the objective of ``separated_order``.

    Args:
        adjacency: (n, n) non-negative matrix; a one-sided count is symmetrised (A + A.T) / 2.
        slots: n distinct hue slots, class i at ``slots[i]``.

    Returns:
        float, lower is better.
    """
    weights, slots = np.asarray(adjacency, np.float64), np.asarray(slots)
    if weights.shape != (len(slots), len(slots)) or sorted(slots.tolist()) != list(range(len(slots))):
        raise ValueError(f"slots must order 0..n-1 for an (n, n) adjacency, got {slots.tolist()} "
                         f"for shape {weights.shape}")
    return _cost(_pair_weights(weights), slots)


def _pair_weights(weights):
    """Upper triangle of the symmetrised matrix (A + A.T) / 2: each pair once."""
    return np.triu(weights + weights.T, 1) / 2


def _cost(upper, slots):
    """Objective of separated_order for an upper-triangular weight matrix."""
    n = len(slots)
    d = np.abs(slots[:, None] - slots[None, :])
    d = np.minimum(d, n - d)
    return float((upper / np.maximum(d, 1)).sum())


def _descend(upper, slots):
    """Steepest descent over pairwise swaps of slots: (local optimum, its cost)."""
    n = len(slots)
    cost = _cost(upper, slots)
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    while True:
        trials = []
        for i, j in pairs:
            trial = slots.copy()
            trial[[i, j]] = trial[[j, i]]
            trials.append((_cost(upper, trial), trial))
        best_cost, best = min(trials, key=lambda t: t[0])
        if best_cost >= cost - 1e-9:
            return slots, cost
        slots, cost = best, best_cost


def _canonical(slots):
    """Turn the circle so class 0 is at slot 0, and mirror it if class 1 is past the half."""
    n = len(slots)
    slots = (np.asarray(slots) - slots[0]) % n
    if slots[1] > n - slots[1]:
        slots = (n - slots) % n
    return tuple(int(s) for s in slots)
