"""Training: fit loop, validation mIoU, checkpoints, progress reporting, atomic save."""
import datetime
import math
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, field, fields

import keras
import numpy as np

from . import data, store
from .infer import Segmenter

LOSSES = ("ce", "weighted-ce", "dice", "focal")
CLASS_WEIGHTS = ("none", "median-frequency")
STRATEGIES = ("auto", "mirrored", "multiworker", "none")


@dataclass
class TrainConfig:
    """Everything that defines a training run; stored as the model's recipe."""

    arch: str = "fcn8s"
    width: float = 0.25
    fc_channels: int = 4096  # FCN fc6/fc7 at width 1.0 (scaled by width)
    dropout: float = 0.5  # FCN fc6/fc7
    batchnorm: bool = True  # FCN encoder; SegNet always has it
    epochs: int = 30
    batch_size: int = 8
    crop: tuple = (224, 224)
    scale: tuple = (0.75, 1.25)
    jitter: float = 0.1
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_epochs: float = 1.0
    loss: str = "ce"
    class_weights: str = "none"
    ignore_index: int = None  # the void label, excluded from loss and metrics (CamVid: 11)
    val_split: float = 0.15
    patience: int = 10  # epochs without a better val mIoU before stopping
    steps_per_epoch: int = 0  # 0: one pass over the training pairs
    seed: int = 0
    init: str = ""  # model to copy weights from by layer name (FCN-32s -> 16s -> 8s)
    strategy: str = "auto"
    classes: tuple = ()
    images: str = ""
    masks: str = ""
    val_images: str = ""
    val_masks: str = ""

    def check(self):
        """Raise ValueError on an unknown option."""
        from .models import ARCHITECTURES

        for key, value, valid in (("arch", self.arch, ARCHITECTURES), ("loss", self.loss, LOSSES),
                                  ("class_weights", self.class_weights, CLASS_WEIGHTS),
                                  ("strategy", self.strategy, STRATEGIES)):
            if value not in valid:
                raise ValueError(f"{key} must be one of {list(valid)}, got {value!r}")
        if any(int(c) % data.STRIDE or int(c) <= 0 for c in self.crop):
            raise ValueError(f"crop must be positive multiples of {data.STRIDE}, got {self.crop}")
        for key in ("epochs", "batch_size"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be >= 1, got {getattr(self, key)!r}")
        return self

    @classmethod
    def from_dict(cls, values):
        """Build from a dict (e.g. a manifest's recipe), ignoring unknown keys."""
        known = {f.name for f in fields(cls)}
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if k in known}
        return cls(**values)


@dataclass
class Progress:
    """What a progress callback receives, after every step and every epoch."""

    phase: str  # "train", "epoch", "done", "stopped"
    epoch: int
    epochs: int
    step: int
    steps: int
    loss: float
    eta_seconds: float
    val: dict = None  # the latest validation scores (metrics.scores)
    history: list = field(default_factory=list)  # one dict per finished epoch
    message: str = ""
    checkpoint: str = ""  # a .keras file holding the best epoch so far, once there is one

    @property
    def fraction(self):
        """Share of the planned steps done, 0..1."""
        total = self.epochs * self.steps
        return min(1.0, ((self.epoch - 1) * self.steps + self.step) / total) if total else 0.0


def make_loss(kind, num_classes, ignore_index, class_weights=None):
    """A Keras loss over (B, H, W) labels and (B, H, W, C) logits that skips ignore_index pixels."""
    import tensorflow as tf

    if kind not in LOSSES:
        raise ValueError(f"loss must be one of {list(LOSSES)}, got {kind!r}")
    weights = tf.constant(class_weights if class_weights is not None else np.ones(num_classes), tf.float32)

    def loss(y_true, y_pred):
        y = tf.cast(y_true, tf.int32)
        valid = (y >= 0) & (y < num_classes)
        if ignore_index is not None:
            valid &= y != ignore_index
        valid = tf.cast(valid, tf.float32)
        y = tf.clip_by_value(y, 0, num_classes - 1)
        logits = tf.cast(y_pred, tf.float32)
        count = tf.maximum(tf.reduce_sum(valid), 1.0)
        if kind == "dice":
            probs = tf.nn.softmax(logits) * valid[..., None]
            onehot = tf.one_hot(y, num_classes) * valid[..., None]
            inter = tf.reduce_sum(probs * onehot, axis=(0, 1, 2))
            union = tf.reduce_sum(probs + onehot, axis=(0, 1, 2))
            return 1.0 - tf.reduce_mean((2 * inter + 1.0) / (union + 1.0))
        ce = tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits)  # (B, H, W)
        if kind == "focal":  # Lin et al. 2017, gamma = 2
            ce = (1 - tf.exp(-ce)) ** 2 * ce
        return tf.reduce_sum(ce * valid * tf.gather(weights, y)) / count

    return loss


def pick_strategy(name):
    """The tf.distribute strategy for `name` (auto: MirroredStrategy when several GPUs are visible)."""
    import tensorflow as tf

    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "auto" and len(tf.config.list_logical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


class Monitor(keras.callbacks.Callback):
    """Validation each epoch, best weights, early stopping, progress reports and stop requests."""

    def __init__(self, config, val, classes, steps, on_progress=None, stop_event=None, checkpoint=None):
        """checkpoint: a path; the best epoch so far is saved there (atomically) when given."""
        super().__init__()
        self.config, self.val, self.classes, self.steps = config, val, classes, steps
        self.on_progress, self.stop_event, self.checkpoint = on_progress, stop_event, checkpoint
        self.history, self.best, self.best_weights, self.best_epoch = [], None, None, 0
        self.epoch, self.step, self.loss, self.started = 1, 0, float("nan"), time.time()
        self.stopped = False

    def eta(self):
        """Seconds left, extrapolated from the steps done so far."""
        done = (self.epoch - 1) * self.steps + self.step
        total = self.config.epochs * self.steps
        return (time.time() - self.started) / done * (total - done) if done else float("nan")

    def report(self, phase, message=""):
        """Send a Progress to the callback, if any."""
        if self.on_progress:
            latest = self.history[-1]["val"] if self.history else None
            self.on_progress(Progress(phase, self.epoch, self.config.epochs, self.step, self.steps, self.loss,
                                      self.eta(), latest, list(self.history), message,
                                      str(self.checkpoint) if self.checkpoint and self.best else ""))

    def on_train_begin(self, logs=None):
        self.segmenter = Segmenter(self.model, {"classes": self.classes, "ignore_index": self.config.ignore_index})

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self.step = epoch + 1, 0

    def on_train_batch_end(self, batch, logs=None):
        self.step, self.loss = batch + 1, float((logs or {}).get("loss", float("nan")))
        if self.stop_event is not None and self.stop_event.is_set():
            self.stopped = True
            self.model.stop_training = True
        self.report("train")

    def on_epoch_end(self, epoch, logs=None):
        val, _ = self.segmenter.evaluate(*self.val)
        miou = val["miou"] if val["miou"] is not None else -1.0
        self.history.append({"epoch": self.epoch, "loss": float((logs or {}).get("loss", self.loss)),
                             "val_miou": val["miou"], "val_pixel_accuracy": val["pixel_accuracy"],
                             "lr": float(np.asarray(self.model.optimizer.learning_rate)),
                             "seconds": round(time.time() - self.started, 1), "val": val})
        better = self.best is None or miou > (self.best["miou"] if self.best["miou"] is not None else -1.0)
        if better:
            self.best, self.best_epoch, self.best_weights = val, self.epoch, self.model.get_weights()
            if self.checkpoint:
                self.checkpoint.parent.mkdir(parents=True, exist_ok=True)
                store.atomic_write(self.checkpoint, store.without_optimizer(self.model).save)
        print(f"epoch {self.epoch}/{self.config.epochs} loss {self.history[-1]['loss']:.4f} "
              f"val mIoU {miou:.4f} pixel acc {val['pixel_accuracy'] or 0:.4f}"
              f"{' *' if better else ''} ({self.history[-1]['seconds']:.0f} s)", flush=True)
        if self.epoch - self.best_epoch >= self.config.patience:
            print(f"early stopping: no better val mIoU for {self.config.patience} epochs", flush=True)
            self.model.stop_training = True
        self.report("epoch")


def train(config, name, weights_dir=None, on_progress=None, stop_event=None, command=None):
    """Train a model on image/mask folders and save the best epoch (by val mIoU) to the weights folder.

    Args:
        config: a TrainConfig (folders, architecture, recipe).
        name: the model's name in the weights folder; an existing model of that name is
            replaced only when this run finishes with a model to save.
        weights_dir: the weights folder (default: store.weights_dir()).
        on_progress: callable(Progress) called after every step and epoch.
        stop_event: a threading.Event; when set, training stops at the next step and the
            best model so far is saved. Ctrl-C does the same.
        command: the command line to record in the manifest.

    Returns:
        (path of the saved model or None when no epoch finished, manifest dict)
    """
    import tensorflow as tf

    from .models import build_model, transfer_weights

    config.check()
    store.check_name(name)
    keras.utils.set_random_seed(config.seed)
    classes, train_set, val_set, report = _load_data(config)
    n_classes = len(classes)
    strategy = pick_strategy(config.strategy)
    steps = config.steps_per_epoch or max(1, math.ceil(len(train_set[0]) / config.batch_size))
    class_weights = None
    if config.class_weights == "median-frequency" or config.loss == "weighted-ce":
        class_weights = data.median_frequency_weights(train_set[1], n_classes, config.ignore_index)

    with strategy.scope():
        kwargs = {} if config.arch == "segnet" else dict(
            fc_channels=config.fc_channels, dropout=config.dropout, batchnorm=config.batchnorm)
        model = build_model(config.arch, n_classes, width=config.width, **kwargs)
        copied = []
        if config.init:
            source, _ = store.load(config.init, weights_dir)
            copied = transfer_weights(source, model)
            print(f"init: copied {len(copied)} layers from {config.init}", flush=True)
        total = config.epochs * steps
        warmup = int(config.warmup_epochs * steps)
        schedule = keras.optimizers.schedules.CosineDecay(
            0.0 if warmup else config.lr, max(1, total - warmup), warmup_target=config.lr if warmup else None,
            warmup_steps=warmup, alpha=0.01)
        model.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=config.weight_decay),
                      loss=make_loss(config.loss, n_classes, config.ignore_index, class_weights))

    augment = data.Augment(crop=tuple(config.crop), scale=tuple(config.scale), jitter=config.jitter)
    # Crop padding is labelled void; without a void label any value past the classes serves.
    void = config.ignore_index if config.ignore_index is not None else data.PAD_LABEL
    dataset = data.train_dataset(*train_set, config.batch_size, augment, void, config.seed)
    checkpoint = store.weights_dir(weights_dir) / ".checkpoints" / f"{name}.keras"
    monitor = Monitor(config, val_set, classes, steps, on_progress, stop_event, checkpoint)
    interrupted = False
    try:
        model.fit(dataset, epochs=config.epochs, steps_per_epoch=steps, callbacks=[monitor], verbose=0)
    except KeyboardInterrupt:
        interrupted = True
        print("interrupted: saving the best epoch so far", flush=True)
    if monitor.best_weights is None:
        monitor.report("stopped", "stopped before the first epoch ended: nothing saved")
        return None, None
    model.set_weights(monitor.best_weights)
    manifest = {
        "arch": config.arch, "width": config.width, "classes": list(classes),
        "palette": _palette(n_classes), "ignore_index": config.ignore_index,
        "input": "RGB uint8 0..255, any size; the model normalises to -1..1 and needs multiples of 32",
        "data": {"images": config.images, "masks": config.masks, "n_train": len(train_set[0]),
                 "n_val": len(val_set[0]), "val": "val folders" if config.val_images else
                 f"{config.val_split:.0%} held out (seed {config.seed})",
                 "notes": list(report.notes) + list(report.warnings)},
        "recipe": asdict(config),
        "metrics": {"val": monitor.best, "epoch": monitor.best_epoch,
                    "resolution": "full frames, padded to multiples of 32 and cropped back"},
        "training": {"epochs_run": len(monitor.history), "seconds": round(time.time() - monitor.started, 1),
                     "stopped_early": monitor.stopped or interrupted, "init_layers_copied": len(copied),
                     "history": [{k: v for k, v in h.items() if k != "val"} for h in monitor.history],
                     "date": datetime.datetime.now().isoformat(timespec="seconds"),
                     "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                                f"{'GPU' if tf.config.list_logical_devices('GPU') else 'CPU'}",
                     "command": command or " ".join(sys.argv)},
        "params": model.count_params(),
    }
    path = store.save(model, manifest, name, weights_dir)
    checkpoint.unlink(missing_ok=True)
    monitor.report("stopped" if monitor.stopped or interrupted else "done", f"saved {path.name}")
    return path, store.read_manifest(name, weights_dir)


def _palette(n):
    """The hls palette as lists, for the manifest."""
    from .viz import hls_palette

    return hls_palette(n).tolist()


def _load_data(config):
    """(classes, (train images, masks), (val images, masks), report) for a config."""
    n = len(config.classes) or None
    images, masks, report = data.load_folder(config.images, config.masks, num_classes=n,
                                             ignore_index=config.ignore_index)
    if config.val_images:
        val_images, val_masks, _ = data.load_folder(config.val_images, config.val_masks, num_classes=n,
                                                    ignore_index=config.ignore_index)
        train_set, val_set = (images, masks), (val_images, val_masks)
    else:
        tr, va = data.split(len(images), config.val_split, config.seed)
        train_set = ([images[i] for i in tr], [masks[i] for i in tr])
        val_set = ([images[i] for i in va], [masks[i] for i in va])
    classes = tuple(config.classes)
    if not classes:
        top = max(int(m[m != config.ignore_index].max(initial=0)) for m in masks)
        classes = tuple(f"class {i}" for i in range(top + 1))
    return classes, train_set, val_set, report
