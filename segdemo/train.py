"""Training: fit loop, validation mIoU, checkpoints, progress reporting, atomic save."""
import datetime
import fnmatch
import math
import os
import platform
import sys
from dataclasses import asdict, replace
from pathlib import Path

import keras
import numpy as np

from . import advice, data, distributed, precision, store
from .choices import LOSSES
from .monitor import BudgetSchedule, Monitor, Progress
from .recipe import TrainConfig, folders
from .resume import ResumeState

__all__ = ["Progress", "TrainConfig", "TrainingRun", "make_loss", "pick_strategy", "train"]
BUDGET_EPOCH_STEPS = 20  # with a time budget, an epoch (one validation) is at least this many steps
MAX_BUDGET_EPOCHS = 10**6  # with a time budget, the clock ends the run long before this


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
        dice = 0.0
        if kind in ("dice", "ce-dice"):  # soft Dice over the batch, per class, smoothed by 1
            probs = tf.nn.softmax(logits) * valid[..., None]
            onehot = tf.one_hot(y, num_classes) * valid[..., None]
            inter = tf.reduce_sum(probs * onehot, axis=(0, 1, 2))
            union = tf.reduce_sum(probs + onehot, axis=(0, 1, 2))
            dice = 1.0 - tf.reduce_mean((2 * inter + 1.0) / (union + 1.0))
            if kind == "dice":
                return dice
        ce = tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits)  # (B, H, W)
        if kind == "focal":  # Lin et al. 2017, gamma = 2
            ce = (1 - tf.exp(-ce)) ** 2 * ce
        return tf.reduce_sum(ce * valid * tf.gather(weights, y)) / count + dice  # ce-dice: nnU-Net's sum

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


def train(config, name, weights_dir=None, on_progress=None, stop_event=None, command=None, resume=False,
          origin="python"):
    """Train a model on image/mask folders and save it to the weights folder.

    The saved epoch is the best by val mIoU (config.keep "best") or the last one ("last").

    Args:
        config: a TrainConfig (folders, architecture, recipe).
        name: the model's name in the weights folder; an existing model of that name is
            replaced only when this run finishes with a model to save.
        weights_dir: the weights folder (default: store.weights_dir()).
        on_progress: callable(Progress) called after every step and epoch.
        stop_event: a threading.Event; when set, training stops at the next step and the
            kept epoch so far is saved. Ctrl-C does the same.
        command: the command line to record in the manifest.
        origin: who trained it, recorded as the manifest's "origin": "cli", "app" or "python".
            The app replaces only models whose origin is "app".
        resume: continue an interrupted run of the same name and recipe from its last
            finished epoch (weights, optimizer state, schedule and history).

    Returns:
        (path of the saved model or None when no epoch finished, manifest dict)
    """
    import tensorflow as tf

    config.check()
    store.check_name(name)
    keras.utils.set_random_seed(config.seed)
    classes, train_set, val_set, notes = _load_data(config)
    sizes = [im.shape[1::-1] for im in train_set[0]]  # (width, height) of each training image
    if not config.crop:  # the recipe records the crop the run used
        config = replace(config, crop=advice.auto_crop(sizes))
    if config.class_weights == "auto":  # ... and the weighting
        config = replace(config, class_weights=advice.class_weighting(sizes, config.crop))
    if config.start_from == "auto":  # ... and the model it started from
        config = replace(config, start_from=head_start(config.width, weights_dir))
    cross_sequence = twin_figure(config.cross_sequence_from, weights_dir) if config.cross_sequence_from else None
    n_classes = len(classes)
    for warning in _setup_warnings(config, train_set, val_set, classes):
        print(f"warning: {warning}", flush=True)
        notes.append(warning)
    strategy = pick_strategy(config.strategy)
    compute = precision.pick_precision(config.precision)
    steps = config.steps_per_epoch or max(1, math.ceil(len(train_set[0]) / config.batch_size))
    if config.minutes and not config.steps_per_epoch:
        steps = max(steps, BUDGET_EPOCH_STEPS)  # tiny data sets: validate every few seconds, not every step
    class_weights = None
    if config.class_weights != "none" or config.loss == "weighted-ce":
        kind = "median-frequency" if config.class_weights == "none" else config.class_weights
        class_weights = data.class_weights(train_set[1], n_classes, kind, config.ignore_index)

    with strategy.scope(), precision.dtype_policy(compute):
        model, schedule, copied = _compiled_model(config, n_classes, steps, class_weights, weights_dir)

    folder = store.weights_dir(weights_dir) / ".checkpoints"
    checkpoint = folder / f"{name}.keras"
    state = ResumeState(folder, name, asdict(config), asdict(TrainConfig()))
    multiworker = config.strategy == "multiworker"
    worker, workers = distributed.task() if multiworker else (0, 1)
    chief = worker == 0  # only the chief writes checkpoints and the model
    monitor = Monitor(config, val_set, classes, steps, on_progress, stop_event, checkpoint if chief else None,
                      state if chief else None, schedule)
    own = train_set[:2]  # the pairs this process augments
    if multiworker:  # each worker its own share of them; a global batch mixes every share
        own = [distributed.shard(part, worker, workers) for part in own]
    if resume:
        monitor.restore(state.load(model))
        if monitor.kept_epoch and checkpoint.exists():
            monitor.kept_weights = keras.saving.load_model(checkpoint, compile=False).get_weights()
        print(f"resuming after epoch {monitor.first_epoch - 1} of {monitor.epochs}", flush=True)
    machine = (f"{platform.machine()}, {os.cpu_count()} cores, "
               f"{'GPU' if tf.config.list_logical_devices('GPU') else 'CPU'}")
    monitor.sittings.append({"from_epoch": monitor.first_epoch, "precision": compute, "machine": machine,
                             "onednn": precision.onednn_on(),
                             "date": datetime.datetime.now().isoformat(timespec="seconds")})
    augment = data.Augment(crop=tuple(config.crop), scale=tuple(config.scale), jitter=config.jitter,
                           hue=config.hue, gamma=config.gamma)
    # Crop padding is labelled void; without a void label any value past the classes serves.
    void = config.ignore_index if config.ignore_index is not None else data.PAD_LABEL
    # A resumed run draws new batches: the stream's seed moves on with the epochs done.
    dataset = data.train_dataset(*own, config.batch_size, augment, void,
                                 config.seed + monitor.first_epoch - 1)
    try:
        epochs = MAX_BUDGET_EPOCHS if config.minutes else config.epochs  # a budget ends the run on time
        if multiworker:
            distributed.fit(model, distributed.unsharded(dataset), strategy, epochs, steps, [monitor],
                            initial_epoch=monitor.first_epoch - 1)
        else:
            model.fit(dataset, epochs=epochs, initial_epoch=monitor.first_epoch - 1, steps_per_epoch=steps,
                      callbacks=[monitor], verbose=0, shuffle=False)  # the stream is shuffled already
    except KeyboardInterrupt:
        monitor.stop_reason = "interrupted"
        print(f"interrupted: saving the {config.keep} epoch so far; continue with --resume", flush=True)
    if monitor.kept_weights is None:
        monitor.report("stopped", "stopped before the first epoch ended: nothing saved")
        return None, None
    model.set_weights(monitor.kept_weights)
    kept = next(h for h in monitor.history if h["epoch"] == monitor.kept_epoch)
    finished = monitor.finished
    manifest = {
        "arch": config.arch, "width": config.width, "classes": list(classes),
        "palette": _palette(classes), "ignore_index": config.ignore_index,
        "input": "RGB uint8 0..255, any size; the model normalises to -1..1 and pads to multiples of 32",
        "data": {"images": list(folders(config.images)), "masks": list(folders(config.masks)),
                 "n_train": len(train_set[0]), "n_val": len(val_set[0]), "val": _val_description(config),
                 "train_frames": train_set[2], "val_frames": val_set[2], "notes": notes},
        "recipe": asdict(config),
        "metrics": {"val": kept["val"], "cross_sequence": cross_sequence, "epoch": monitor.kept_epoch,
                    "kept": config.keep,
                    "best_val_epoch": monitor.best_epoch() if monitor.best else None,
                    "resolution": "full frames"},
        "training": {"epochs_run": len(monitor.history), "seconds": round(monitor.seconds, 1),
                     "stopped_early": not finished, "stop_reason": monitor.stop_reason or "finished",
                     "precision": compute, "replicas": strategy.num_replicas_in_sync,
                     "worker": worker, "workers": workers,
                     "init_layers_copied": len(copied),
                     "history": [{k: v for k, v in h.items() if k != "val"} for h in monitor.history],
                     "date": datetime.datetime.now().isoformat(timespec="seconds"),
                     "machine": machine, "sittings": monitor.sittings,
                     "command": command or " ".join(sys.argv)},
        "params": model.count_params(),
        "origin": origin,
    }
    if not chief:
        monitor.report("done" if finished else "stopped", "saved by the chief (worker 0)")
        return None, manifest
    path = store.save(precision.cast_model(store.without_optimizer(model), "float32"), manifest, name, weights_dir)
    checkpoint.unlink(missing_ok=True)
    if finished:
        state.remove()
    monitor.report("done" if finished else "stopped", f"saved {path.name}")
    return path, store.read_manifest(name, weights_dir)


def twin_figure(name, weights_dir=None):
    """The cross-sequence scores of model `name` (store.cross_sequence); ValueError when it has none."""
    try:
        figure = store.cross_sequence(store.read_manifest(name, weights_dir))
    except store.ModelFileError as err:
        raise ValueError(f"cross_sequence_from {name!r}: {err}") from None
    if not figure:
        raise ValueError(f"cross_sequence_from {name!r}: that model has no cross-sequence figure "
                         "(it was not trained with --holdout)")
    return figure


def head_start(width, weights_dir=None):
    """What start_from "auto" means: the default shipped model (store.DEFAULT_MODEL) when its VGG16
    encoder has this width, else "" (from scratch)."""
    try:
        manifest = store.read_manifest(store.DEFAULT_MODEL, weights_dir)
    except store.ModelFileError:
        return ""
    return store.DEFAULT_MODEL if manifest.get("width") == width else ""


def _compiled_model(config, n_classes, steps, class_weights, weights_dir):
    """(model compiled with AdamW and the loss, its learning-rate schedule, names of layers copied from init)."""
    from .models import ENCODER_PREFIX, build_model, transfer_weights

    kwargs = {} if config.arch == "segnet" else dict(
        fc_channels=config.fc_channels, dropout=config.dropout, batchnorm=config.batchnorm)
    model = build_model(config.arch, n_classes, width=config.width, **kwargs)
    copied = []
    if config.init:
        source, _ = store.load(config.init, weights_dir)
        copied = transfer_weights(source, model)
        print(f"init: copied {len(copied)} layers from {config.init}", flush=True)
    if config.start_from:
        source, manifest = store.load(config.start_from, weights_dir)
        if manifest.get("width") != config.width:
            raise ValueError(f"start_from {config.start_from!r} has an encoder of width {manifest.get('width')}: "
                             f"train at that width, or from scratch (start_from '')")
        copied += transfer_weights(source, model, prefix=ENCODER_PREFIX)
        print(f"head start: copied {len(copied)} encoder layers from {config.start_from}", flush=True)
    if config.minutes:
        schedule = BudgetSchedule.for_budget(config.lr, config.minutes)
    else:
        total, warmup = config.epochs * steps, int(config.warmup_epochs * steps)
        schedule = keras.optimizers.schedules.CosineDecay(
            0.0 if warmup else config.lr, max(1, total - warmup), warmup_target=config.lr if warmup else None,
            warmup_steps=warmup, alpha=0.01)
    model.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=config.weight_decay),
                  loss=make_loss(config.loss, n_classes, config.ignore_index, class_weights))
    return model, schedule, copied


def _palette(classes):
    """The classes' palette (viz.class_palette) as lists, for the manifest."""
    from .palette import class_palette

    return class_palette(classes).tolist()


def _setup_warnings(config, train_set, val_set, classes):
    """advice.training_warnings for the loaded pairs and this config's crop."""
    images, masks = train_set[0] + val_set[0], train_set[1] + val_set[1]
    pixels = sum(np.bincount(m.ravel(), minlength=len(classes)) for m in masks)
    return advice.training_warnings([im.shape[1::-1] for im in images],
                                    {k: int(v) for k, v in enumerate(pixels) if v}, crop=tuple(config.crop),
                                    n_val=len(val_set[0]) if config.validates else None, class_names=classes,
                                    ignore_index=config.ignore_index)


def _val_description(config):
    """What the validation frames are, in words, for the manifest."""
    if config.val_images:
        return "val folders: " + ", ".join(folders(config.val_images))
    if config.holdout:
        return f"held out: the frames matching {config.holdout!r} (not trained on)"
    if config.val_split:
        return f"{config.val_split:.0%} held out at random (seed {config.seed})"
    return "none: trained on every pair"


def _load_data(config):
    """(classes, (train images, masks, stems), (val images, masks, stems), notes) for a config."""
    n = len(config.classes) or None
    images, masks, stems, notes = _load_folders(folders(config.images), folders(config.masks), n,
                                                config.ignore_index)
    if config.val_images:
        val = _load_folders(folders(config.val_images), folders(config.val_masks), n, config.ignore_index)[:3]
        train_idx, val_idx = list(range(len(images))), []
    elif config.holdout:
        patterns = [p.strip() for p in config.holdout.split(",") if p.strip()]
        val_idx = [i for i, s in enumerate(stems) if any(fnmatch.fnmatchcase(s, p) for p in patterns)]
        train_idx = [i for i in range(len(images)) if i not in set(val_idx)]
        if not val_idx or not train_idx:
            raise ValueError(f"holdout {config.holdout!r} matches {len(val_idx)} of {len(images)} frames: "
                             "it must leave some to train on and some to validate on")
    elif config.val_split:
        train_idx, val_idx = data.split(len(images), config.val_split, config.seed)
    else:
        train_idx, val_idx = list(range(len(images))), []
    pick = lambda idx: ([images[i] for i in idx], [masks[i] for i in idx], [stems[i] for i in idx])
    train_set = pick(train_idx)
    val_set = val if config.val_images else pick(val_idx)
    classes = tuple(config.classes)
    if not classes:
        top = max(int(m[m != config.ignore_index].max(initial=0)) for m in masks)
        classes = tuple(f"class {i}" for i in range(top + 1))
    return classes, train_set, val_set, notes


def _load_folders(image_dirs, mask_dirs, num_classes, ignore_index):
    """(images, masks, stems, notes) of one or several image/mask folder pairs, read as one set."""
    if len(image_dirs) != len(mask_dirs):
        raise ValueError(f"{len(image_dirs)} image folders but {len(mask_dirs)} mask folders: give them in pairs")
    images, masks, stems, notes = [], [], [], []
    for image_dir, mask_dir in zip(image_dirs, mask_dirs):
        i, m, report = data.load_folder(image_dir, mask_dir, num_classes=num_classes, ignore_index=ignore_index)
        images += i
        masks += m
        stems += [Path(image).stem for image, _ in report.pairs]
        notes += list(report.notes) + list(report.warnings)
    return images, masks, stems, notes


class TrainingRun:
    """train() in a worker thread, read as an iterator of Progress; stop() keeps the kept epoch so far.

    Iterating yields every Progress the run reports, in order (batches() groups them), and ends
    when the run ends; an error in the run is raised from the iterator. Afterwards `path` and
    `manifest` are train()'s result (path None when no epoch finished).
    """

    def __init__(self, config, name, weights_dir=None, command=None, origin="python"):
        """Start training at once. Arguments as for train()."""
        import queue
        import threading

        self.name, self.path, self.manifest, self.error = name, None, None, None
        self._events, self._stop = queue.Queue(), threading.Event()
        self._thread = threading.Thread(target=self._work, args=(config, name, weights_dir, command, origin),
                                        name=f"train-{name}", daemon=True)
        self._thread.start()

    def _work(self, config, name, weights_dir, command, origin):
        """The worker thread: train, keep the result or the error, then mark the end of the stream."""
        try:
            self.path, self.manifest = train(config, name, weights_dir=weights_dir, on_progress=self._events.put,
                                             stop_event=self._stop, command=command, origin=origin)
        except Exception as err:  # raised again by the iterator, in the reader's thread
            self.error = err
        finally:
            self._events.put(None)

    @property
    def stopping(self):
        """True once stop() was called."""
        return self._stop.is_set()

    def stop(self):
        """Ask the run to stop after its current step; the kept epoch so far is saved."""
        self._stop.set()

    def close(self):
        """Stop the run if it is still going and wait for it to save (for readers that give up early)."""
        if self._thread.is_alive():
            self.stop()
            self._thread.join()

    def batches(self, interval=0.5):
        """Lists of the Progress reported since the last list, one list per `interval` seconds at most.

        Args:
            interval: seconds to wait for the next report before waiting again.

        Returns:
            a generator of non-empty lists; it raises the run's error, if any, when the run ends.
        """
        import queue

        while True:
            try:
                batch = [self._events.get(timeout=interval)]
            except queue.Empty:
                continue
            while not self._events.empty():
                batch.append(self._events.get_nowait())
            items = [p for p in batch if p is not None]
            if items:
                yield items
            if len(items) < len(batch):
                self._thread.join()
                if self.error is not None:
                    raise self.error
                return

    def __iter__(self):
        for batch in self.batches():
            yield from batch


def validation_pairs(pairs, config, count):
    """The first `count` of the (image, mask) pairs that train() validates on for a split config, or []."""
    try:
        return [pairs[i] for i in data.split(len(pairs), config.val_split, config.seed)[1][:count]]
    except ValueError:  # too few pairs to split
        return []


def checkpoint_segmenter(progress, classes):
    """A Segmenter over the kept epoch so far (progress.checkpoint), or None while there is none.

    Args:
        progress: a Progress of a running TrainingRun.
        classes: the class names for the Segmenter's manifest.

    Returns:
        an infer.Segmenter, or None when there is no checkpoint yet or it was being replaced while read.
    """
    from .infer import Segmenter

    if not progress.checkpoint:
        return None
    try:
        return Segmenter(store.load_keras(progress.checkpoint), {"classes": list(classes)})
    except (ValueError, OSError):  # replaced while read: the next epoch will do
        return None
