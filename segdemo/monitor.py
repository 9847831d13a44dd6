"""Watching a training run: progress reports, validation, the kept epoch, stop requests, time budgets."""
import math
import time
from dataclasses import dataclass, field

import keras
import numpy as np

from . import precision, store
from .infer import Segmenter

BUDGET_WARMUP = 0.05  # with a time budget, the share of it spent warming the learning rate up...
BUDGET_WARMUP_SECONDS = 60.0  # ... but never longer than this (a run "until Stop" has a day's budget)

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
    seconds: float = 0.0  # training time so far
    budget: float = 0.0  # the time budget in seconds; 0: the run is planned in epochs

    @property
    def fraction(self):
        """Share of the planned steps (or of the time budget) done, 0..1."""
        if self.budget:
            return min(1.0, self.seconds / self.budget)
        total = self.epochs * self.steps
        return min(1.0, ((self.epoch - 1) * self.steps + self.step) / total) if total else 0.0


class BudgetSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Warm-up, then cosine decay, over the share of a time budget spent (not over steps).

    The Monitor moves `spent` (0..1) before every step, so the schedule spans the budget
    whatever a step costs on this machine.
    """

    @classmethod
    def for_budget(cls, lr, minutes):
        """The schedule of a `minutes` budget: warm-up over BUDGET_WARMUP of it, at most BUDGET_WARMUP_SECONDS."""
        return cls(lr, warmup=min(BUDGET_WARMUP, BUDGET_WARMUP_SECONDS / (60 * minutes)))

    def __init__(self, lr, warmup=BUDGET_WARMUP, alpha=0.01):
        self.lr, self.warmup, self.alpha = lr, warmup, alpha
        self.spent = keras.Variable(0.0, trainable=False, dtype="float32", name="budget_spent")

    def __call__(self, step):
        import tensorflow as tf

        f = tf.convert_to_tensor(self.spent)
        t = tf.clip_by_value((f - self.warmup) / (1 - self.warmup), 0.0, 1.0)
        decay = self.alpha + (1 - self.alpha) * 0.5 * (1 + tf.cos(math.pi * t))
        return self.lr * tf.where(f < self.warmup, f / self.warmup, decay)

    def get_config(self):
        return {"lr": self.lr, "warmup": self.warmup, "alpha": self.alpha}


class Monitor(keras.callbacks.Callback):
    """Validation each epoch, the kept weights, early stopping, progress reports, stop requests, resume state."""

    def __init__(self, config, val, classes, steps, on_progress=None, stop_event=None, checkpoint=None,
                 resume=None, schedule=None):
        """checkpoint: where the kept epoch so far is saved (atomically); resume: a ResumeState;
        schedule: the learning-rate schedule (a BudgetSchedule is moved along the clock)."""
        super().__init__()
        self.config, self.val, self.classes, self.steps = config, val, classes, steps
        self.on_progress, self.stop_event, self.checkpoint = on_progress, stop_event, checkpoint
        self.resume, self.schedule = resume, schedule
        self.history, self.best, self.kept_weights, self.kept_epoch = [], None, None, 0
        self.epoch, self.step, self.loss, self.started = 1, 0, float("nan"), time.time()
        self.first_epoch, self.stopped, self.stop_reason = 1, False, ""
        self.sittings = []  # where and how each stretch of a resumed run trained: {"from_epoch", ...}

    def restore(self, state):
        """Continue from a ResumeState's json: history, best scores, kept epoch, time spent, sittings."""
        self.history, self.best, self.kept_epoch = state["history"], state["best"], state["kept_epoch"]
        self.sittings = state.get("sittings", [{"from_epoch": 1, "precision": "not recorded",
                                                "machine": "not recorded"}])
        self.first_epoch = self.epoch = state["epoch"] + 1
        self.started = time.time() - state["seconds"]

    @property
    def seconds(self):
        """Training time so far, across resumed sittings."""
        return time.time() - self.started

    @property
    def budget(self):
        """The time budget in seconds; 0 when the run is planned in epochs."""
        return 60.0 * self.config.minutes

    def eta(self):
        """Seconds left: of the budget, or extrapolated from the steps done in this sitting."""
        if self.budget:
            return max(0.0, self.budget - self.seconds)
        done = (self.epoch - self.first_epoch) * self.steps + self.step
        left = self.config.epochs * self.steps - (self.epoch - 1) * self.steps - self.step
        spent = self.seconds - (self.history[self.first_epoch - 2]["seconds"] if self.first_epoch > 1 else 0)
        return spent / done * left if done else float("nan")

    def report(self, phase, message=""):
        """Send a Progress to the callback, if any."""
        if self.on_progress:
            latest = self.history[-1]["val"] if self.history else None
            self.on_progress(Progress(phase, self.epoch, self.epochs, self.step, self.steps, self.loss,
                                      self.eta(), latest, list(self.history), message,
                                      str(self.checkpoint) if self.checkpoint and self.kept_epoch else "",
                                      self.seconds, self.budget))

    def on_train_begin(self, logs=None):
        self.segmenter = Segmenter(self.model, {"classes": self.classes, "ignore_index": self.config.ignore_index},
                                   precision=precision.precision_of(self.model))  # the model in training itself

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self.step = epoch + 1, 0

    def on_train_batch_begin(self, batch, logs=None):
        if isinstance(self.schedule, BudgetSchedule):
            self.schedule.spent.assign(min(1.0, self.seconds / self.budget))

    def on_train_batch_end(self, batch, logs=None):
        self.step, self.loss = batch + 1, float((logs or {}).get("loss", float("nan")))
        if self.stop_event is not None and self.stop_event.is_set():
            self.stopped, self.stop_reason = True, "stopped by the user"
            self.model.stop_training = True
        elif self.budget and self.seconds >= self.budget:
            self.stop_reason = f"the time budget of {self.config.minutes:g} min is spent"
            self.model.stop_training = True
        self.report("train")

    def on_epoch_end(self, epoch, logs=None):
        val = self.segmenter.evaluate(*self.val[:2])[0] if self.val[0] else None
        miou = val["miou"] if val and val["miou"] is not None else -1.0
        self.history.append({"epoch": self.epoch, "loss": float((logs or {}).get("loss", self.loss)),
                             "val_miou": val and val["miou"], "val_pixel_accuracy": val and val["pixel_accuracy"],
                             "lr": float(np.asarray(self.model.optimizer.learning_rate)),
                             "seconds": round(self.seconds, 1), "val": val})
        best_miou = -1.0 if not self.best or self.best["miou"] is None else self.best["miou"]
        better = val is not None and (self.best is None or miou > best_miou)
        if better:
            self.best = val
        if self.config.keep == "last" or better:
            self.kept_epoch, self.kept_weights = self.epoch, self.model.get_weights()
            if self.checkpoint:
                self.checkpoint.parent.mkdir(parents=True, exist_ok=True)
                store.atomic_write(self.checkpoint, precision.cast_model(
                    store.without_optimizer(self.model), "float32").save)
        if self.resume:
            self.resume.save(self.model, {"epoch": self.epoch, "history": self.history, "best": self.best,
                                          "kept_epoch": self.kept_epoch, "seconds": self.seconds,
                                          "sittings": self.sittings})
        shown = f"val mIoU {miou:.4f} pixel acc {val['pixel_accuracy'] or 0:.4f}" if val else "no validation"
        print(f"epoch {self.epoch}/{self.config.epochs} loss {self.history[-1]['loss']:.4f} {shown}"
              f"{' *' if better else ''} ({self.history[-1]['seconds']:.0f} s)", flush=True)
        patience = self.config.patience_steps if self.config.keep == "best" else 0
        if patience and (self.epoch - self.best_epoch()) * self.steps >= patience:
            self.stop_reason = f"early stopping: no better val mIoU for {patience} steps"
            print(self.stop_reason, flush=True)
            self.model.stop_training = True
        self.report("epoch")

    @property
    def epochs(self):
        """Epochs planned: config.epochs, or with a time budget the epochs run so far (the last one open)."""
        return self.epoch if self.budget else self.config.epochs

    @property
    def finished(self):
        """True when the run went all the way: every epoch, or the whole time budget."""
        if self.budget:
            return self.stop_reason.startswith("the time budget")
        return len(self.history) == self.config.epochs

    def best_epoch(self):
        """The epoch with the best val mIoU so far."""
        scored = [h for h in self.history if h["val_miou"] is not None]
        return max(scored, key=lambda h: h["val_miou"])["epoch"] if scored else self.history[0]["epoch"]
