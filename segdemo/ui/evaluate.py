"""The Evaluate tab: a model on a labelled data set: metrics, confusion matrix, the hardest images."""
import gradio as gr
import numpy as np
import seaborn as sns
from matplotlib.figure import Figure

from .. import viz
from ..evaluation import evaluate, read_pairs
from .common import (CLASS_COLUMNS, PRIVATE, check_report, checked, checked_model, dataset_folders, dataset_upload,
                     one_source, per_class_table, summary_markdown, user_error, user_errors)

WORST_IMAGES = 3  # how many lowest-mIoU images to show
WAITING = "Results appear here."
TTA_CHOICES = {"none": "the photo as it is", "flip": "and its mirror (2x the time)",
               "multiscale": "and at 0.75x and 1.25x (about 6x)"}  # infer.TTA, for a newcomer
CELL_FONT = 11  # pt: the confusion matrix's numbers, readable at the plot's width on the page


def confusion_figure(cm, classes):
    """Row-normalised confusion matrix (each row: where that class's pixels went) as a seaborn heatmap."""
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros(cm.shape, np.float64), where=rows > 0)
    n = len(classes)
    side = min(7.0, 2.5 + 0.4 * n)  # inches: near the size shown on the page, so CELL_FONT stays readable
    fig = Figure(figsize=(side + 1.2, side + 0.4), dpi=100, layout="constrained")
    ax = fig.subplots()
    sns.heatmap(norm, ax=ax, vmin=0, vmax=1, cmap="viridis", square=True, annot=n <= 12, fmt=".2f",
                annot_kws={"fontsize": CELL_FONT}, xticklabels=classes,
                yticklabels=classes, cbar_kws={"label": "share of the true class's pixels"})
    ax.set_title("Confusion matrix\n(each row, a true class, sums to 1)", fontsize=11)  # two lines: fits 2 classes
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.tick_params(axis="x", labelrotation=60)
    ax.tick_params(axis="y", labelrotation=0)
    return fig


class EvaluateTab:
    """The tab's layout (built in __init__, inside a gr.Tab) and its handler."""

    def __init__(self, shared, choices, default):
        self.shared = shared
        gr.Markdown("Score a model on labelled images it has not seen: per-class IoU, where it confuses "
                    "classes, and the images it gets most wrong. Masks must use the model's class numbers "
                    "(CamVid models: 0 to 10, and 11 for void), same file names as the photos.",
                    elem_classes="intro")
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=300):
                self.model = gr.Dropdown(choices, value=default, label="Model", allow_custom_value=True,
                                         elem_id="eval-model")
                uploads = dataset_upload("eval")
                tta = gr.Radio(list(TTA_CHOICES), value="none", label="Test-time augmentation", elem_id="eval-tta",
                               info=" · ".join(f"{k}: {v}" for k, v in TTA_CHOICES.items()))
                run = gr.Button("Evaluate", variant="primary", elem_id="eval-button")
            with gr.Column(scale=3, min_width=320):
                summary = gr.Markdown(WAITING, elem_id="eval-summary")
                table = gr.Dataframe(headers=list(CLASS_COLUMNS), label="Per class", interactive=False,
                                     max_height=420)
        with gr.Row(equal_height=False):
            plot = gr.Plot(show_label=False, format="png", elem_id="eval-plot")  # its title is in the figure
            worst = gr.Gallery(label=f"The {WORST_IMAGES} hardest images: photo, truth, prediction",
                               format="png", columns=3, height=520, object_fit="contain", elem_id="eval-worst",
                               elem_classes="segdemo-gallery")
        outputs = [summary, table, plot, worst]
        # The last results go first (they would stay under another model after a mistake), then the check;
        # the evaluation's progress (or a late error, e.g. a data set that does not fit) shows on the summary.
        cleared = run.click(self.clear, None, outputs, queue=False, show_progress="hidden", **PRIVATE)
        checked(cleared.then, self.check, [self.model, *uploads, tta]).success(
            self.evaluate, [self.model, *uploads, tta], outputs, api_name="evaluate", concurrency_id="evaluate",
            concurrency_limit=1, show_progress_on=summary)

    @staticmethod
    def clear():
        """Empty outputs, before an evaluation."""
        return WAITING, None, None, None

    @staticmethod
    def check(model, image_files, mask_files, image_zip, mask_zip, tta="none"):
        """Evaluate's check (common.checked): a listed model, the images and the masks given once each (the
        radio button refuses an unknown test-time augmentation)."""
        checked_model(model)
        one_source(image_files, image_zip, "images")
        one_source(mask_files, mask_zip, "masks")

    def evaluate(self, model, image_files, mask_files, image_zip, mask_zip, tta="none", progress=gr.Progress()):
        """Score a model on a labelled data set (evaluation.evaluate), with test-time augmentation `tta`:
        metrics, confusion matrix, worst images."""
        segmenter = self.shared.segmenters.get(model, tta)
        classes, ignore = list(segmenter.classes), segmenter.manifest.get("ignore_index")
        with dataset_folders(image_files, mask_files, image_zip, mask_zip) as (image_dir, mask_dir):
            report = check_report(image_dir, mask_dir, classes, ignore)
            if not report.ok:
                raise user_error("This data set does not fit the model: " + "; ".join(report.errors[:3]))
            def shown(k, path):
                progress((k, report.n_pairs), desc=f"Segmenting {path.name}")

            with user_errors():
                result = evaluate(segmenter, read_pairs(report.pairs, len(classes), ignore, on_pair=shown),
                                  ignore, worst=WORST_IMAGES)
        scores = result.scores
        gallery = []
        for hard in result.worst:
            gallery += [(hard.image, f"mIoU {hard.miou:.2f} · {hard.name}"),
                        (viz.colorize(hard.truth, segmenter.palette, ignore_index=ignore), "truth (black: void)"),
                        (viz.colorize(hard.pred, segmenter.palette), "prediction")]
        augmented = "" if tta == "none" else f", {tta} TTA"
        summary = (f"**{model}** on {report.n_pairs} images ({scores['n_pixels']:,} labelled pixels{augmented})\n\n"
                   + summary_markdown(scores))
        if scores["undefined"]:
            summary += "\n\nAbsent from truth and prediction (left out of the means): " + ", ".join(scores["undefined"])
        return summary, per_class_table(scores), confusion_figure(result.confusion, classes), gallery
