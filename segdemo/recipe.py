"""The recipe of a training run: TrainConfig, free of keras and TensorFlow.

The command line builds its `train` options from it before anything imports TensorFlow, so that
`segdemo train` can still choose TensorFlow's CPU kernels (precision.use_onednn).
"""
from dataclasses import dataclass, fields
from pathlib import Path

from . import data
from .choices import CLASS_WEIGHTS, KEEP, LOSSES, PRECISIONS, STRATEGIES


@dataclass
class TrainConfig:
    """Everything that defines a training run; stored as the model's recipe."""

    arch: str = "fcn8s"
    width: float = 0.25
    fc_channels: int = 4096  # FCN fc6/fc7 at width 1.0 (scaled by width)
    dropout: float = 0.5  # FCN fc6/fc7
    batchnorm: bool = True  # FCN encoder; SegNet always has it
    minutes: float = 0.0  # a time budget: the schedule spans it and the run ends on time; 0: use epochs
    epochs: int = 30
    batch_size: int = 8
    crop: tuple = ()  # (h, w), multiples of 32; (): the images' short side, at most 256 (advice.auto_crop)
    scale: tuple = (0.75, 1.25)
    jitter: float = 0.1
    hue: float = 0.0
    gamma: float = 0.0
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_epochs: float = 1.0
    loss: str = "ce"  # weighted by class_weights
    class_weights: str = "enet"  # README, "Small data sets": "auto" measured better but fails under load
    ignore_index: int = None  # the void label, excluded from loss and metrics (CamVid: 11)
    val_split: float = 0.15  # 0: no validation, train on every pair (keep must be "last")
    holdout: str = ""  # validate on the frames whose file stem matches this pattern, e.g. "0006R0_*"
    cross_sequence_from: str = ""  # a model of this recipe trained with a drive held out (a holdout run):
    # its score on that drive is this model's cross-sequence figure (a model trained on every frame has none)
    keep: str = "best"
    patience_steps: int = 0  # keep "best": optimisation steps without a better val mIoU before stopping; 0: never
    steps_per_epoch: int = 0  # 0: one pass over the training pairs
    seed: int = 0
    init: str = ""  # model to copy weights from by layer name (FCN-32s -> 16s -> 8s)
    start_from: str = "auto"  # a head start: the model whose VGG16 encoder this one starts from; "": from
    # scratch; "auto": store.DEFAULT_MODEL when its encoder has this width (see head_start)
    strategy: str = "auto"
    precision: str = "auto"  # auto: mixed bfloat16 on CPUs with bfloat16 units, else float32
    classes: tuple = ()
    images: tuple = ()  # one folder, or several read as one set
    masks: tuple = ()
    val_images: tuple = ()
    val_masks: tuple = ()

    def check(self):
        """Raise ValueError on an unknown option."""
        from .models import ARCHITECTURES

        for key, value, valid in (("arch", self.arch, ARCHITECTURES), ("loss", self.loss, LOSSES),
                                  ("class_weights", self.class_weights, CLASS_WEIGHTS),
                                  ("strategy", self.strategy, STRATEGIES), ("keep", self.keep, KEEP),
                                  ("precision", self.precision, PRECISIONS)):
            if value not in valid:
                raise ValueError(f"{key} must be one of {list(valid)}, got {value!r}")
        if not self.validates and self.keep == "best":
            raise ValueError("without validation frames (val_split 0, no holdout, no val folders) "
                             "there is no best epoch: keep must be 'last'")
        if any(int(c) % data.STRIDE or int(c) <= 0 for c in self.crop):
            raise ValueError(f"crop must be positive multiples of {data.STRIDE}, got {self.crop}")
        if self.minutes < 0 or self.patience_steps < 0:
            raise ValueError(f"minutes and patience_steps must be >= 0, got {self.minutes!r}, {self.patience_steps!r}")
        for key in ("epochs", "batch_size"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be >= 1, got {getattr(self, key)!r}")
        return self

    @property
    def validates(self):
        """True when the run has validation frames."""
        return bool(self.val_images or self.holdout or self.val_split)

    def __post_init__(self):
        for key in ("images", "masks", "val_images", "val_masks"):
            setattr(self, key, folders(getattr(self, key)))

    @classmethod
    def from_dict(cls, values):
        """Build from a dict (e.g. a manifest's recipe), ignoring unknown keys."""
        known = {f.name for f in fields(cls)}
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if k in known}
        return cls(**values)


def folders(value):
    """One folder (a str or Path) or several -> a tuple of str; empty -> ()."""
    if isinstance(value, (str, Path)):
        return (str(value),) if str(value) else ()
    return tuple(str(v) for v in value or ())
