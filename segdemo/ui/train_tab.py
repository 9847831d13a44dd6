"""The Train tab: upload and check a data set, choose a recipe, start, watch, stop."""
import threading
import uuid

import gradio as gr
import numpy as np
import pandas as pd

from .. import advice, files, store, viz
from .. import train as training
from ..choices import ARCH_LABELS, CLASS_WEIGHT_LABELS, CLASS_WEIGHTS, LOSS_LABELS, LOSSES
from ..metrics import format_score
from .common import (PRIVATE, arch_label, check_report, class_names, dataset_folders, dataset_upload,
                     format_seconds, progress_html, report_markdown, run_outcome, start_text, summary_markdown,
                     user_error, user_errors, val_miou)

ORIGIN = "app"  # the manifest's "origin" of models trained here: only those may be retrained in place
COMMAND = "app.py (Train tab)"  # the manifest's command line
TRAIN_SAMPLES = 2  # validation images whose predictions refresh each epoch
MAX_PLOT_POINTS = 400  # training loss curve points shown (older steps are thinned out)
LOSS_CHOICES = [(LOSS_LABELS[k], k) for k in LOSSES]
WEIGHT_CHOICES = [(CLASS_WEIGHT_LABELS[k], k) for k in CLASS_WEIGHTS]
BUDGETS = [("1 min", "1"), ("3 min", "3"), ("5 min", "5"), ("10 min", "10"), ("30 min", "30"),
           ("Until I press Stop", "stop"), ("Epochs (set under Advanced)", "epochs")]
UNTIL_STOP_MINUTES = 24 * 60  # "until I press Stop": a day, the longest one viewer may hold the trainer
CROP_CHOICES = [("auto (the images' short side, at most 256)", "auto")] + [(f"{c} px", str(c))
                                                                           for c in range(64, 513, 32)]


def budget_minutes(budget):
    """A BUDGETS value -> TrainConfig.minutes (0: train for the epochs given)."""
    special = {"stop": UNTIL_STOP_MINUTES, "epochs": 0.0}
    return special[budget] if budget in special else float(budget)


def start_choices(manifests):
    """The head starts on offer: auto, from scratch, or the encoder of each model with a VGG16 encoder."""
    return ([(f"Automatic: {store.DEFAULT_MODEL}'s CamVid encoder when the width matches", "auto"),
             ("From scratch", "none")]
            + [(f"Encoder of {m['name']} (width {m.get('width')})", m["name"]) for m in manifests])


def void_label(text):
    """The ignored (void) mask label typed in the UI: None when empty or 'none'."""
    text = str(text if text is not None else "").strip()
    if text.lower() in ("", "none"):
        return None
    if not text.isdigit() or int(text) > 255:
        raise user_error(f"The ignored (void) label must be a whole number 0..255 or empty, got {text[:20]!r}.")
    return int(text)


def until_stop(p):
    """True for the Progress of a run that lasts until Stop (its budget is UNTIL_STOP_MINUTES)."""
    return p.budget >= UNTIL_STOP_MINUTES * 60


def progress_text(p, stopping):
    """'Epoch 2/5 · step 10/46 · loss 0.734 · best val mIoU 0.31 · 1 min 20 s left' (with a budget,
    'Epoch 2 · ...'; until Stop, '3 min 5 s so far')."""
    parts = [f"Epoch {p.epoch}" if p.budget else f"Epoch {p.epoch}/{p.epochs}", f"step {p.step}/{p.steps}"]
    if np.isfinite(p.loss):
        parts.append(f"loss {p.loss:.3f}")
    if p.history:
        parts.append(f"best val mIoU {max(h['val_miou'] or 0 for h in p.history):.3f}")
    if stopping:
        parts.append("stopping after this step...")
    elif until_stop(p):
        parts.append(f"{format_seconds(p.seconds)} so far: press Stop to keep the best epoch")
    else:
        parts.append(f"{format_seconds(p.eta_seconds)} left")
    return " · ".join(parts)


def progress_fraction(p):
    """The bar's fill: the share done, or None (striped) for a run that lasts until Stop."""
    return None if until_stop(p) else p.fraction


def crop_size(crop):
    """A CROP_CHOICES value -> TrainConfig.crop: () for auto, else (side, side)."""
    return () if crop in (None, "", "auto") else (int(crop), int(crop))


def setup_advice(report, crop, val_split):
    """advice.training_warnings for a checked data set and the chosen crop and validation share."""
    return advice.training_warnings(report.sizes.elements(), report.class_pixels, crop=crop_size(crop) or None,
                                    val_split=float(val_split), class_names=report.class_names,
                                    ignore_index=report.ignore_index)


def loss_frame(losses):
    """(step, loss) pairs as a DataFrame for the loss plot, thinned to MAX_PLOT_POINTS."""
    frame = pd.DataFrame(losses[:: max(1, len(losses) // MAX_PLOT_POINTS)], columns=["step", "loss"])
    return frame.astype({"step": "int64", "loss": "float64"})  # numbers, also when empty: numeric axes


def miou_frame(history):
    """training.Progress history as a DataFrame for the val mIoU plot."""
    frame = pd.DataFrame([(h["epoch"], h["val_miou"]) for h in history], columns=["epoch", "val mIoU"])
    return frame.astype({"epoch": "int64", "val mIoU": "float64"})


def sample_gallery(segmenter, samples, caption):
    """Photo, truth and prediction for each sample (labels outside the classes, e.g. void, black)."""
    items = []
    for image, mask, filename in samples:
        pred = segmenter.segment(image).labels
        items += [(image, filename), (viz.colorize(mask, segmenter.palette), "truth"),
                  (viz.colorize(pred, segmenter.palette), caption)]
    return items


def train_config(name, classes, ignore, arch, budget, start_from, width, epochs, batch_size, crop, lr, loss,
                 class_weights, val_split, steps_per_epoch):
    """A checked TrainConfig (folders filled in later); gr.Error for a bad name or option, for a head
    start of another width, or for a model of that name that this app did not train (its manifest's
    origin is not ORIGIN)."""
    with user_errors():
        store.check_name(name)
    existing = {m["name"]: m for m in store.list_models()}
    if name in existing and existing[name].get("origin") != ORIGIN:
        raise user_error(f"A model named {name!r} already exists and was not trained here: choose another name.")
    start_from = "" if start_from == "none" else start_from
    if start_from not in ("", "auto"):
        if start_from not in existing:
            raise user_error(f"There is no model {start_from!r} to start from: refresh the page.")
        if existing[start_from].get("width") != float(width):
            raise user_error(f"{start_from} has an encoder of width {existing[start_from].get('width')}, not "
                           f"{float(width):g}: set that width under Advanced, or start from scratch.")
    with user_errors():
        return training.TrainConfig(
            arch=arch, minutes=budget_minutes(budget), start_from=start_from, width=float(width),
            epochs=int(epochs), batch_size=int(batch_size), crop=crop_size(crop), lr=float(lr), loss=loss,
            class_weights=class_weights, val_split=float(val_split), steps_per_epoch=int(steps_per_epoch or 0),
            ignore_index=ignore, classes=classes).check()  # fc6/fc7: TrainConfig's 4096, scaled by width once


class TrainTab:
    """The tab's layout (built in __init__, inside a gr.Tab), its handlers and this app's running trainings."""

    def __init__(self, shared):
        self.shared = shared
        defaults = training.TrainConfig()  # the app's defaults are the command line's
        self.runs = {}  # run token -> training.TrainingRun, for Stop
        self._runs_lock = threading.Lock()
        gr.Markdown("Train your own model on your photos and masks (a mask is a PNG with one class number per "
                    "pixel, same file name as its photo; 0/255 masks are read as 0/1). Upload, check, then "
                    "start. The best epoch is saved as a new model.", elem_classes="intro")
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=320):
                uploads = dataset_upload("train")
                with gr.Row():
                    class_text = gr.Textbox(label="Class names (optional)", lines=2,
                                            placeholder="background, cat   (or 'camvid')",
                                            info="comma or newline separated, in label order")
                    void = gr.Textbox("", label="Ignored (void) label (optional)", placeholder="none",
                                      info="a mask value the loss skips, e.g. 11 for CamVid")
                check = gr.Button("Check data set")
                report = gr.Markdown("Upload images and masks, then check them.", elem_id="report")
            with gr.Column(scale=2, min_width=300):
                arch = gr.Radio([(label, key) for key, label in ARCH_LABELS.items()], value=defaults.arch,
                                label="Architecture")
                budget = gr.Radio(BUDGETS, value="3", label="Time budget", elem_id="budget",
                                  info="the learning rate follows it; the best epoch is kept")
                start_from = gr.Dropdown(start_choices(store.list_models()), label="Start from",
                                         value=defaults.start_from or "none", elem_id="start-from",
                                         info="a head start reuses an encoder that already sees edges and textures")
                with gr.Accordion("Advanced", open=False, elem_id="advanced"):
                    with gr.Row():
                        width = gr.Dropdown([0.0625, 0.125, 0.25, 0.5, 1.0], value=defaults.width, label="Width",
                                            info="x VGG16's channels", elem_id="width")
                        batch_size = gr.Number(defaults.batch_size, label="Batch size", precision=0, minimum=1,
                                               maximum=64, elem_id="batch-size")
                        crop = gr.Dropdown(CROP_CHOICES, value="auto", label="Crop", elem_id="crop")
                    with gr.Row():
                        lr = gr.Number(defaults.lr, label="Learning rate", minimum=1e-6, maximum=1.0)
                        loss = gr.Dropdown(LOSS_CHOICES, value=defaults.loss, label="Loss")
                        class_weights = gr.Dropdown(WEIGHT_CHOICES, value=defaults.class_weights,
                                                    label="Class weighting",
                                                    info="rare classes count more; automatic: ENet's weights when a "
                                                         "crop shows only part of an image")
                    with gr.Row():
                        val_split = gr.Slider(0.05, 0.5, value=defaults.val_split, step=0.05,
                                              label="Validation share", elem_id="val-split")
                        epochs = gr.Number(defaults.epochs, label="Epochs", precision=0, minimum=1, maximum=500,
                                           elem_id="epochs", info="with the budget 'Epochs'")
                        steps = gr.Number(0, label="Steps per epoch", precision=0, minimum=0, elem_id="steps",
                                          info="0 = one pass over the images")
                name = gr.Textbox("my-fcn8s", label="Model name", elem_id="model-name",
                                  info="letters, digits, '.', '_' and '-'")
                with gr.Row():
                    self.start = gr.Button("Start training", variant="primary", interactive=False, elem_id="start")
                    self.stop = gr.Button("Stop (keep best)", variant="stop", interactive=False, elem_id="stop")
        self.status = gr.HTML(progress_html(0, "Not started."), elem_id="train-status")
        self.result = gr.Markdown(elem_id="train-result")
        with gr.Row(equal_height=False):
            self.loss_plot = gr.LinePlot(loss_frame([]), x="step", y="loss", title="Training loss (per step)",
                                         height=240)
            self.miou_plot = gr.LinePlot(miou_frame([]), x="epoch", y="val mIoU", y_lim=[0, 1], height=240,
                                         title="Validation mIoU (per epoch)")
        self.samples = gr.Gallery(label="Validation images: photo, truth, prediction", format="png", columns=6,
                                  fit_columns=False, height=230, object_fit="contain", elem_id="train-samples",
                                  elem_classes="segdemo-gallery")
        self.run = gr.State(None)  # this session's run token, for Stop
        self.inputs = [*uploads, class_text, void, arch, budget, start_from, width, epochs, batch_size, crop, lr,
                       loss, class_weights, val_split, steps, name]
        self.pickers = None  # the page's common.Pickers, given by connect()

        check_io = dict(inputs=[*uploads, class_text, void, crop, val_split], outputs=[report, self.start],
                        concurrency_id="check", concurrency_limit=2)
        check.click(self.check_dataset, **check_io, api_name="check_dataset")
        for upload in uploads:
            upload.change(self.check_dataset_auto, **check_io, trigger_mode="always_last", **PRIVATE)
        arch.change(lambda a: f"my-{a}", arch, name, queue=False, **PRIVATE)
        start_from.change(self.start_width, [start_from, width], width, queue=False, **PRIVATE)
        self.stop.click(self.stop_training, self.run, self.stop, concurrency_limit=None, **PRIVATE)

    def connect(self, pickers):
        """Wire Start, once every tab exists: a finished training refreshes every model picker."""
        self.pickers = pickers
        outputs = [self.status, self.loss_plot, self.miou_plot, self.samples, self.result, self.start, self.stop,
                   self.run, *pickers.components()]
        self.start.click(self.train, self.inputs, outputs, api_name="train", concurrency_id="train",
                         concurrency_limit=1, show_progress="minimal")

    def check_dataset(self, image_files, mask_files, image_zip, mask_zip, class_text, void, crop, val_split):
        """Check an uploaded data set: the report with what to mind before training (crop, validation
        share, classes), and the Start button enabled only when the data set is usable."""
        try:
            classes, ignore = class_names(class_text), void_label(void)
            with dataset_folders(image_files, mask_files, image_zip, mask_zip) as (image_dir, mask_dir):
                report = check_report(image_dir, mask_dir, classes, ignore)
        except gr.Error as err:
            gr.Warning(err.message)
            return f"**Cannot use this data set:** {err.message}", gr.update(interactive=False)
        if not report.ok:
            gr.Warning("The data set has problems: see the report. Training stays disabled until they are fixed.")
            return report_markdown(report), gr.update(interactive=False)
        hints = setup_advice(report, crop, val_split)
        before = "\n\n**Before you train**\n" + "\n".join(f"- {h}" for h in hints) if hints else ""
        return report_markdown(report) + before, gr.update(interactive=True)

    def check_dataset_auto(self, image_files, mask_files, image_zip, mask_zip, class_text, void, crop, val_split):
        """check_dataset as soon as both images and masks are uploaded; a hint until then."""
        if not (image_files or image_zip) or not (mask_files or mask_zip):
            return ("Upload the images and the masks (folders or zips); they are checked as soon as "
                    "both are here."), gr.update(interactive=False)
        return self.check_dataset(image_files, mask_files, image_zip, mask_zip, class_text, void, crop, val_split)

    def start_width(self, start_from, width):
        """A head start from a chosen model fixes the width to its encoder's."""
        model = next((m for m in store.list_models() if m["name"] == start_from), None)
        return gr.update(value=model.get("width", width)) if model else gr.skip()

    def train(self, image_files, mask_files, image_zip, mask_zip, class_text, void, arch, budget, start_from, width,
              epochs, batch_size, crop, lr, loss, class_weights, val_split, steps_per_epoch, name):
        """Train on an uploaded data set (a training.TrainingRun), streaming progress, curves and samples.

        Yields dicts of component updates; the last one names the saved model and refreshes the
        model pickers. Stop (or cancelling the call) keeps the best epoch so far.
        """
        classes, ignore = class_names(class_text), void_label(void)
        config = train_config(name, classes, ignore, arch, budget, start_from, width, epochs, batch_size, crop, lr,
                              loss, class_weights, val_split, steps_per_epoch)
        token, losses, history, shown_best, error = uuid.uuid4().hex, [], [], None, None
        with dataset_folders(image_files, mask_files, image_zip, mask_zip) as (image_dir, mask_dir):
            report = check_report(image_dir, mask_dir, classes, ignore)
            if not report.ok:
                raise user_error("The data set has problems (see the report under Check): "
                               + "; ".join(report.errors[:3]))
            config.images, config.masks = str(image_dir), str(mask_dir)  # read at the run's start
            samples = []
            for image_path, mask_path in training.validation_pairs(report.pairs, config, TRAIN_SAMPLES):
                with user_errors():
                    mask, _ = files.read_mask(mask_path, len(config.classes) or None, config.ignore_index)
                    samples.append((files.read_image(image_path), mask, image_path.name))
            sample_classes = classes or tuple(f"class {i}" for i in range(max(1, report.num_classes_found)))
            run = training.TrainingRun(config, name, command=COMMAND, origin=ORIGIN)
            with self._runs_lock:
                self.runs[token] = run
            try:
                yield {self.status: progress_html(0, f"Loading {report.n_pairs} image/mask pairs..."),
                       self.start: gr.update(interactive=False), self.stop: gr.update(interactive=True),
                       self.run: token, self.result: "", self.samples: None,
                       self.loss_plot: loss_frame(losses), self.miou_plot: miou_frame(history)}
                for batch in run.batches():
                    losses += [((p.epoch - 1) * p.steps + p.step, p.loss) for p in batch
                               if p.phase == "train" and np.isfinite(p.loss)]
                    last = batch[-1]
                    update = {self.status: progress_html(progress_fraction(last), progress_text(last, run.stopping)),
                              self.loss_plot: loss_frame(losses)}
                    if last.history != history:  # an epoch ended: validation scores and a better model?
                        history = last.history
                        update[self.miou_plot] = miou_frame(history)
                        best = max(history, key=lambda h: h["val_miou"] or 0)["epoch"]
                        segmenter = samples and best != shown_best and training.checkpoint_segmenter(
                            last, sample_classes)
                        if segmenter:
                            shown_best = best
                            update[self.samples] = sample_gallery(segmenter, samples, f"prediction (epoch {best})")
                    yield update
            except Exception as err:  # the run's own error, raised by its iterator: shown below
                error = err
            finally:
                run.close()  # cancelled or disconnected: stop cleanly, keep the best epoch
                with self._runs_lock:
                    self.runs.pop(token, None)
        yield from self._finish(run, error, name, arch, losses, history, samples)

    def _finish(self, run, error, name, arch, losses, history, samples):
        """The last updates of a training: buttons back, the outcome, fresh pickers and samples."""
        done = {self.start: gr.update(interactive=True), self.stop: gr.update(interactive=False),
                self.run: None, self.loss_plot: loss_frame(losses), self.miou_plot: miou_frame(history)}
        if error is not None:
            message = str(error) if isinstance(error, ValueError) else f"{error.__class__.__name__}: {error}"
            yield {**done, self.status: progress_html(0, "Training failed.")}
            raise (user_error if isinstance(error, ValueError) else gr.Error)(f"Training failed: {message}")
        if run.path is None:
            yield {**done, self.status: progress_html(0, "Stopped before the first epoch ended."),
                   self.result: "**Nothing saved**: training stopped before the first epoch ended."}
            return
        manifest = run.manifest
        best_epoch, info = manifest["metrics"]["epoch"], manifest["training"]
        ran, notes = run_outcome(info), manifest["data"].get("notes") or []
        saved = (f"Saved **{name}** ({arch_label(arch)}, from {start_text(manifest['recipe'])}): val mIoU "
                 f"**{format_score(val_miou(manifest), 3)}** at epoch {best_epoch}. {ran} It is now in the model "
                 f"pickers of the Segment, Compare and Evaluate tabs.\n\n"
                 + summary_markdown(manifest["metrics"]["val"]))
        if notes:
            saved += "\n\n**Notes**\n" + "\n".join(f"- {n}" for n in notes)
        final = {**done, self.status: progress_html(1.0, ran), self.result: saved,
                 **dict(zip(self.pickers.components(), self.pickers.refresh()))}
        if samples:
            final[self.samples] = sample_gallery(self.shared.segmenters.get(name), samples,
                                                 f"prediction (epoch {best_epoch})")
        yield final

    def stop_training(self, token):
        """Ask this session's run to stop at its next step; the best epoch so far is saved."""
        run = self.runs.get(token) if token else None
        if run is None:
            gr.Info("No training of yours is running.")
            return gr.skip()
        run.stop()
        gr.Info("Stopping after the current step; the best epoch so far will be saved.")
        return gr.update(interactive=False)
