"""The Compare & look inside tab: every model on one photo (beside an example's truth), one FCN's stages,
model cards."""
import html
from pathlib import Path

import gradio as gr
import numpy as np
import pandas as pd

from .. import data, store, viz
from ..models.summary import PROBE_SIDE, layer_rows
from .common import (CLASS_COLUMNS, EXAMPLES, PHOTO_EVENT, PRIVATE, VIEW_QUEUE, arch_label, checked,
                     checked_model, example_truth, per_class_table, photo, read_photo, run_outcome, shrink,
                     score_label, start_text, summary_markdown, uploaded, user_error, user_errors)

LAYER_COLUMNS = ("layer", "type", "output shape", "params")
SKIP_TEXT = """
**Why the three FCNs differ: skip connections.** The VGG16 encoder halves the image five
times, so its last feature map (*pool5*) sees the whole scene but only at 1/32 of the
resolution: **FCN-32s** upsamples that coarse map 32x in one step, and its classes come out as
soft blobs. **FCN-16s** adds a *skip connection*: it upsamples the coarse prediction 2x and adds
a prediction made from *pool4* (1/16 resolution), which still knows where edges are. **FCN-8s**
does it once more with *pool3* (1/8), so thin things like poles and people get sharper
outlines. **SegNet** takes another route: its decoder mirrors the encoder and unpools with the
positions remembered by every max-pooling layer, recovering detail step by step.
"""
FCN_INSIDE_TEXT = """
**Inside one FCN.** The same network's prediction at each stage of its decoder, every map
upsampled to the photo's size: first from *pool5* alone (stride 32), then after adding *pool4*
(stride 16), then after adding *pool3* (stride 8). Watch the edges sharpen.
"""


def model_card_markdown(manifest, params):
    """What a model is, how it was trained and how well it does, from its manifest."""
    recipe = manifest.get("recipe") or {}
    data_info = manifest.get("data") or {}
    run = manifest.get("training") or {}
    val = (manifest.get("metrics") or {}).get("val") or {}
    cross = store.cross_sequence(manifest)
    crop = recipe.get("crop")
    crop = "x".join(str(c) for c in crop) if crop else "-"
    classes = manifest.get("classes", [])
    epochs = recipe.get("epochs", "-")
    budget = (f"a {recipe['minutes']:g} min budget" if recipe.get("minutes")
              else f"{epochs} epoch{'s' if epochs != 1 else ''}")
    lines = [
        f"### {manifest['name']}: {arch_label(manifest.get('arch'))} on a VGG16 encoder of width "
        f"x{manifest.get('width', '-')}",
        f"**{params:,} parameters** · {len(classes)} classes: {', '.join(map(str, classes))}",
        "",
        f"- **Training data:** {data_info.get('n_train', '-')} images "
        f"(folder *{html.escape(Path(str(data_info.get('images', '-'))).name)}*); validation: "
        f"{data_info.get('n_val', '-')} images, {html.escape(str(data_info.get('val', '-')))}",
        f"- **Recipe:** {budget}, batch {recipe.get('batch_size', '-')}, crop {crop}, learning rate "
        f"{recipe.get('lr', '-')}, loss {recipe.get('loss', '-')}, class weights {recipe.get('class_weights', '-')}; "
        f"started from {html.escape(start_text(recipe))}",
        f"- **Kept epoch:** {(manifest.get('metrics') or {}).get('epoch', '-')}. {run_outcome(run)} "
        f"Trained on {html.escape(str(run.get('machine', '-')))}, {html.escape(str(run.get('date', '-')))}",
    ]
    if cross:  # the figure that says how it does on a street it has not seen
        whose = "" if cross.get("model") == manifest["name"] else (
            f"; measured on *{html.escape(str(cross.get('model')))}*, the same recipe trained without those frames")
        lines += ["", f"**Cross-sequence scores** (full frames: {html.escape(str(cross.get('frames', '-')))}{whose})",
                  "", summary_markdown(cross)]
    lines += ["", "**Validation scores** (full frames)", "", summary_markdown(val)] if val else [
        "", "**Validation scores:** none, every labelled frame was trained on."]
    return "\n".join(lines)


def masks_legend(shown):
    """One legend for many masks: per class set and palette, the classes found in any of them, with their share.

    Args:
        shown: (segmenter, (H, W) labels) of every mask shown.

    Returns:
        HTML: viz.legend_html of each set, headed by its models' names when there are several sets.
    """
    groups = {}  # (classes, palette) -> (segmenter, names, [labels])
    for segmenter, labels in shown:
        key = (segmenter.classes, segmenter.palette.tobytes())
        _, names, maps = groups.setdefault(key, (segmenter, [], []))
        names.append(segmenter.name)
        maps.append(labels.ravel())
    parts = []
    for segmenter, names, maps in groups.values():
        entries = viz.legend(np.concatenate(maps)[None], segmenter.classes, segmenter.palette)  # (1, N): all shown
        head = f"<p><strong>{html.escape(', '.join(dict.fromkeys(names)))}</strong></p>" if len(groups) > 1 else ""
        parts.append(head + viz.legend_html(entries))
    return ('<div style="max-width:28em"><p style="margin:0 0 .3em 0"><em>Colours of the masks above (share: over '
            'all of them)</em></p>' + "".join(parts) + "</div>")


class CompareTab:
    """The tab's layout (built in __init__, inside a gr.Tab) and its handlers."""

    def __init__(self, shared, choices, fcn_choices, default):
        self.shared = shared
        gr.Markdown("One photo through every model, side by side; then inside one FCN; then each model's card.",
                    elem_classes="intro")
        shipped = [n for _, n in choices if n.startswith("camvid-")] or [n for _, n in choices][:4]
        fcn_names = [n for _, n in fcn_choices]
        default_fcn = store.DEFAULT_MODEL if store.DEFAULT_MODEL in fcn_names else (
            fcn_names[-1] if fcn_names else None)
        with gr.Row(equal_height=False):
            with gr.Column(scale=1, min_width=280):
                image = photo(EXAMPLES[2] if EXAMPLES else None, label="Photo", sources=["upload", "clipboard"],
                              height=240, elem_id="compare-photo")
                examples = gr.Examples(EXAMPLES, inputs=image, label="Examples (click one)", examples_per_page=6)
            with gr.Column(scale=1, min_width=280):
                self.models = gr.CheckboxGroup(choices, value=shipped, label="Models to compare")
                self.fcn_model = gr.Dropdown(fcn_choices, value=default_fcn, allow_custom_value=True,
                                             label="FCN to look inside")
                run = gr.Button("Compare", variant="primary", elem_id="compare-button")
                table = gr.Markdown()
        gallery = gr.Gallery(label="Every model on the same photo (and its truth, for an example)", format="png",
                             columns=5, height=310, object_fit="contain", elem_id="compare-gallery",
                             elem_classes="segdemo-gallery")
        legend = gr.HTML(elem_id="compare-legend")
        gr.Markdown(SKIP_TEXT)
        gr.Markdown(FCN_INSIDE_TEXT)
        stages = gr.Gallery(label="Inside the FCN: stride 32 → 16 → 8", format="png", columns=3, height=380,
                            object_fit="contain", elem_id="stages", elem_classes="segdemo-gallery")
        gr.Markdown("### Model card")
        self.card_model = gr.Dropdown(choices, value=default, label="Model", allow_custom_value=True)
        card_text = gr.Markdown()
        with gr.Row(equal_height=False):
            card_classes = gr.Dataframe(headers=list(CLASS_COLUMNS), interactive=False, max_height=420,
                                        label="Scores per class (cross-sequence where the model has them, "
                                              "else validation)")
            card_layers = gr.Dataframe(headers=list(LAYER_COLUMNS), interactive=False, max_height=420,
                                       label=f"Layers (output shapes for a {PROBE_SIDE}x{PROBE_SIDE} photo)")

        inputs = [image, self.models, self.fcn_model]
        compare_io = dict(inputs=inputs, outputs=[gallery, table, stages, legend], concurrency_id="compare",
                          concurrency_limit=1, **PHOTO_EVENT)
        self.card_io = dict(inputs=self.card_model, outputs=[card_text, card_layers, card_classes], **VIEW_QUEUE)
        checked(run.click, self.check, inputs, **PHOTO_EVENT).success(self.compare, **compare_io, api_name="compare")
        self.card_model.change(self.model_card, **self.card_io, api_name="model_card")
        checked(examples.load_input_event.then, self.check, inputs, **PHOTO_EVENT).success(
            self.compare, **compare_io, **PRIVATE)

    @staticmethod
    def check_models(models, fcn_model):
        """At least one model, every name listed; gr.Error for anything else."""
        if not models:
            raise user_error("Tick at least one model to compare.")
        for name in [*models, fcn_model] if fcn_model else models:
            checked_model(name)

    def check(self, image, models, fcn_model):
        """Compare's check (common.checked): a readable photo and check_models."""
        read_photo(image)
        self.check_models(models, fcn_model)

    def compare(self, image, models, fcn_model):
        """The photo through every chosen model (after its truth, for an example), then one FCN's stride-32/16/8
        predictions; a legend for the masks' colours."""
        photo_rgb, filename = read_photo(image)
        self.check_models(models, fcn_model)
        rgb, _ = shrink(photo_rgb)
        gallery, rows, shown = [], [], []  # shown: (segmenter, labels) of every mask, for the legend
        for name in models:
            segmenter = self.shared.segmenters.get(name)
            with user_errors():
                result = segmenter.segment(rgb)
            gallery.append((viz.palette_image(result.labels, result.palette),
                            f"{arch_label(segmenter.manifest.get('arch'))} · {score_label(segmenter.manifest)} · "
                            f"{1000 * result.seconds:.0f} ms"))
            shown.append((segmenter, result.labels))
            rows.append(f"| {name} | {score_label(segmenter.manifest, 3)} | {1000 * result.seconds:.0f} ms | "
                        f"{segmenter.model.count_params() / 1e6:.2f} M |")
        table = ("| model | score (split) | time | parameters |\n"
                 "|:---|---:|---:|---:|\n" + "\n".join(rows)
                 + f"\n\nTime: this photo on {self.shared.device}.")
        stages = []
        if fcn_model:
            segmenter = self.shared.segmenters.get(fcn_model)
            with user_errors():
                for title, labels in segmenter.stages(rgb):
                    stages.append((viz.palette_image(labels, segmenter.palette), title))
                    shown.append((segmenter, labels))
        for segmenter, _ in shown:  # the truth of an example, in the palette of the first CamVid model
            truth = example_truth(filename, photo_rgb, segmenter.manifest, uploaded(image)[0])
            if truth is not None:
                gallery.insert(0, (viz.palette_image(truth, segmenter.palette, ignore_index=data.CAMVID_IGNORE),
                                   "Truth (CamVid labels) · black: void"))
                shown.append((segmenter, truth))
                break
        return gallery, table, stages, masks_legend(shown)

    def model_card(self, name):
        """Model card: summary Markdown, layer table, per-class validation table."""
        if not name:
            return "Pick a model.", None, None
        segmenter = self.shared.segmenters.get(name)
        manifest, model = segmenter.manifest, segmenter.model
        _, scores = store.headline(manifest)
        layers = pd.DataFrame(layer_rows(model), columns=list(LAYER_COLUMNS))
        return (model_card_markdown(manifest, model.count_params()), layers,
                per_class_table(scores) if scores else None)
