"""The choice lists of every option, keras-free: the CLI, the app and the core check against these."""

ARCHITECTURES = ("fcn32s", "fcn16s", "fcn8s", "segnet")  # models.build_model builds each
ARCH_LABELS = {"fcn32s": "FCN-32s", "fcn16s": "FCN-16s", "fcn8s": "FCN-8s", "segnet": "SegNet"}
FCN_ARCHS = ("fcn32s", "fcn16s", "fcn8s")
LOSSES = ("ce", "weighted-ce", "dice", "ce-dice", "focal")
LOSS_LABELS = {"ce": "cross-entropy", "weighted-ce": "weighted cross-entropy", "dice": "Dice",
               "ce-dice": "cross-entropy + Dice (nnU-Net)", "focal": "focal"}
CLASS_WEIGHTS = ("auto", "none", "median-frequency", "enet")  # auto: see advice.class_weighting
CLASS_WEIGHT_LABELS = {"auto": "automatic (by the crop)",
                       "none": "none", "median-frequency": "median frequency (SegNet)",
                       "enet": "ENet (1 / ln(1.02 + share))"}
STRATEGIES = ("auto", "mirrored", "multiworker", "none")
KEEP = ("best", "last")  # which epoch is saved: the best by val mIoU, or the last one (a fixed schedule)
PRECISIONS = ("auto", "float32", "bfloat16")
TTA = ("none", "flip", "multiscale")  # test-time augmentation, see infer.TTA


def check_choice(key, value, valid):
    """ValueError naming the valid choices unless value is one of them."""
    if value not in valid:
        raise ValueError(f"{key} must be one of {list(valid)}, got {value!r}")
