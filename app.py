"""segdemo in the browser: segment a photo, compare FCN-32s/16s/8s and SegNet, train and evaluate.

UI only: `demo` (a gr.Blocks) is built at import time from the tabs of segdemo.ui, one module
each (layout and handlers together), over the segdemo core. Run:

    python app.py [--host 127.0.0.1] [--port 7860] [--share]

Models come from the weights folder ($SEGDEMO_WEIGHTS, else weights/). Outputs are written to a
temporary folder; the weights and source folders are never served.
"""
import os

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before gradio is imported
os.environ.setdefault("MPLBACKEND", "Agg")  # figures are drawn off screen, in worker threads

import argparse  # noqa: E402
import functools  # noqa: E402
import time  # noqa: E402

import gradio as gr  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402
from starlette.responses import PlainTextResponse  # noqa: E402

from segdemo.ui import common  # noqa: E402
from segdemo.ui.common import EXAMPLES_DIR, PRIVATE  # noqa: E402, F401 (app.EXAMPLES_DIR, as before)
from segdemo.ui.compare import CompareTab  # noqa: E402
from segdemo.ui.evaluate import EvaluateTab  # noqa: E402
from segdemo.ui.live import LiveTab  # noqa: E402
from segdemo.ui.segment import SegmentTab  # noqa: E402
from segdemo.ui.train_tab import TrainTab  # noqa: E402

QUEUE_SIZE = 64
MAX_FILE_SIZE = 200 * 1024 * 1024  # bytes: the largest upload, and the largest request body of any kind
UPLOAD_ROUTE = "/gradio_api/upload"  # gradio streams these to disk and checks each file itself
THEME = gr.themes.Soft(primary_hue="indigo", secondary_hue="teal", neutral_hue="slate",  # system fonts:
                       font=["ui-sans-serif", "system-ui", "sans-serif"],  # no request leaves the page
                       font_mono=["ui-monospace", "SFMono-Regular", "Consolas", "monospace"])
CSS = """
.intro p { margin: 0 0 .25em 0; }
.badges { display: flex; flex-wrap: wrap; gap: .4em; align-items: center; }
.badge { display: inline-block; padding: .15em .6em; border-radius: 999px; font-size: .85em;
         background: var(--block-background-fill); border: 1px solid var(--border-color-primary);
         color: var(--body-text-color); white-space: nowrap; }
.segdemo-legend { padding: .25em .5em; }
#truth-score td, #truth-score th { white-space: nowrap; }  /* class names and scores stay whole on a phone */
/* A dropdown's chosen name ends in "..." before the arrow instead of running under it (phones). */
.wrap-inner > .secondary-wrap { min-width: 0; }
.wrap-inner > .secondary-wrap > input { padding-right: calc(2 * var(--size-5)); text-overflow: ellipsis; }
/* Uploaded data sets, two boxes side by side: gradio's 8rem size column left the names a sliver ("i...zip",
   ".p"); without it a name like 0016E5_07967.png fits. */
.segdemo-files .file-preview .download { display: none; }
.segdemo-gallery .grid-wrap { padding-top: 2.8em; }  /* keep the label off the first thumbnails */
.segdemo-gallery .thumbnail-item { aspect-ratio: 4 / 3; }  /* photos, not squares: captions stay in view */
@media (max-width: 640px) {  /* phones: two thumbnails a row, none cut off */
  .segdemo-gallery .grid-container { grid-template-columns: repeat(2, minmax(0, 1fr)) !important; }
}
.progress-outer { height: 14px; border-radius: 7px; background: var(--border-color-primary);
                  overflow: hidden; margin: .3em 0; }
.progress-inner { height: 100%; background: var(--color-accent); transition: width .4s; }
.progress-open { background: repeating-linear-gradient(-45deg, var(--color-accent) 0 12px,
                 var(--color-accent-soft) 12px 24px); background-size: 34px 100%;
                 animation: progress-open 1s linear infinite; }  /* until Stop: running, no planned end */
@keyframes progress-open { to { background-position: 34px 0; } }
.progress-text { font-size: .9em; color: var(--body-text-color); }
"""


def build_demo(shared=None):
    """The whole app as a gr.Blocks: one room per tab, sharing `shared` (a common.Shared: loaded models,
    output folder). The Blocks keeps them as demo.shared and demo.tabs (launch() warms the default model)."""
    shared = shared or common.Shared()
    manifests = common.list_models()
    choices, fcn_choices = common.model_choices(manifests), common.model_choices(manifests, fcn_only=True)
    default = common.default_model(manifests)
    with gr.Blocks(title="segdemo: semantic segmentation you can see, touch and train",
                   analytics_enabled=False) as demo:
        gr.Markdown("# segdemo · semantic segmentation\nA network gives **every pixel** of a photo a class: "
                    "road, car, person... Try it on a street scene, compare four classic networks, look "
                    "inside one, then train your own.", elem_classes="intro")
        with gr.Tabs(overflow_behavior="wrap"):  # on a phone every tab stays one tap away, none behind "..."
            with gr.Tab("Segment", id="segment") as segment_tab:
                segment = SegmentTab(shared, choices, default)
            with gr.Tab("Live", id="live") as live_tab:
                live = LiveTab(shared, choices, default)
            with gr.Tab("Compare & look inside", id="compare") as compare_tab:
                compare = CompareTab(shared, choices, fcn_choices, default)
            with gr.Tab("Train", id="train"):
                train = TrainTab(shared)
            with gr.Tab("Evaluate", id="evaluate") as evaluate_tab:
                evaluate = EvaluateTab(shared, choices, default)

        pickers = common.Pickers(seg_model=segment.model, cmp_models=compare.models, card_model=compare.card_model,
                                 eval_model=evaluate.model, fcn_model=compare.fcn_model, live_model=live.model)
        train.connect(pickers)
        # Models trained or shipped since the page was built show up without a restart.
        refresh = dict(fn=pickers.refresh, inputs=None, outputs=pickers.components(), queue=False,
                       show_progress="hidden", **PRIVATE)
        demo.load(**refresh)
        for tab in (segment_tab, live_tab, compare_tab, evaluate_tab):
            tab.select(**refresh)
        for picker in (pickers.seg_model, pickers.card_model, pickers.eval_model, pickers.fcn_model,
                       pickers.live_model):
            picker.focus(functools.partial(picker_update, fcn_only=picker is pickers.fcn_model), None, picker,
                         queue=False, show_progress="hidden", **PRIVATE)
        demo.load(compare.model_card, **compare.card_io, **PRIVATE)
    demo.shared, demo.tabs = shared, {"segment": segment, "live": live, "compare": compare, "train": train,
                                      "evaluate": evaluate}
    return demo


def picker_update(fcn_only=False):
    """gr.update with the weights folder's models (only the FCNs if fcn_only) as choices."""
    return gr.update(choices=common.model_choices(common.list_models(), fcn_only=fcn_only))


class BodySizeLimit:
    """ASGI middleware: 413 for a request body over `limit` bytes or of unknown length, before any is read.

    gradio limits uploads to UPLOAD_ROUTE file by file; every other body (a JSON call may carry an image
    as a base64 data URL) would be read into memory whole, whatever its size.
    """

    def __init__(self, app, limit):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"] != UPLOAD_ROUTE:
            headers = dict(scope["headers"])
            length = headers.get(b"content-length", b"" if b"transfer-encoding" in headers else b"0")
            if not length.isdigit() or int(length) > self.limit:
                refusal = PlainTextResponse(f"Request body over {self.limit} bytes (or of unknown length): "
                                            f"refused.", status_code=413)
                return await refusal(scope, receive, send)
        await self.app(scope, receive, send)


def launch(host="127.0.0.1", port=7860, share=False, **kwargs):
    """Warm the default model, then serve `demo` (queue on, no analytics or monitoring, 200 MB uploads
    and request bodies at most).

    Extra keyword arguments go to demo.launch (e.g. prevent_thread_lock=True in tests).
    """
    started = time.perf_counter()
    name = demo.shared.warm_default()
    print(f"default model {name or '(none: the weights folder is empty)'} warmed in "
          f"{time.perf_counter() - started:.1f} s on {demo.shared.device}", flush=True)
    demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=2)
    return demo.launch(server_name=host, server_port=port, share=share, max_file_size=MAX_FILE_SIZE,
                       enable_monitoring=False, theme=THEME, css=CSS, footer_links=["api"], ssr_mode=False,
                       app_kwargs={"middleware": [Middleware(BodySizeLimit, limit=MAX_FILE_SIZE)]}, **kwargs)


def main(argv=None):
    """python app.py [--host 127.0.0.1] [--port 7860] [--share]"""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--share", action="store_true", help="also create a public gradio.live link")
    args = parser.parse_args(argv)
    # Gradio's own lines would suggest `share=True` in launch(); this app's switch is --share.
    _, local_url, share_url = launch(args.host, args.port, args.share, quiet=True, prevent_thread_lock=True)
    print(f"segdemo is at {local_url}" + (f" and, for anyone with the link, {share_url}" if share_url else
                                          " (--share adds a public link)"), flush=True)
    demo.block_thread()


demo = build_demo()

if __name__ == "__main__":
    main()
