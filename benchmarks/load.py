"""Load test: N gradio_client threads segmenting for S seconds while a training runs in the same app.

    python benchmarks/load.py [--clients 8] [--seconds 60] [--model NAME] [--weights DIR]

Serves app.py's `demo` in this process on a free port (as tests/conftest.py does), over a temporary
copy of the weights folder ($SEGDEMO_WEIGHTS, else weights/) so that the training's model never
lands in the real one. Starts one training through the API on a small synthetic data set, with
more epochs than the load lasts; then every client calls /segment on the example frames in a loop.
Prints requests done, failed requests with their reasons, median and p95 latency, this process's
RSS (the app, its training and the clients) at the start, at most during and at the end, and
whether the training ran throughout. Run it on a quiet machine: other processes skew every figure.
"""
import argparse
import datetime
import html
import os
import platform
import re
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TRAIN_IMAGES = 16  # synthetic training pairs
TRAIN_SIZE = (240, 320)  # their H x W
# An epoch of 2000 steps takes minutes on a 2-core machine (about 9 steps/s under load) and early stopping
# needs 11 epochs, so the training outlasts any load; it is stopped (as Stop does) when the load ends.
TRAIN_RECIPE = {"arch": "fcn8s", "width": 0.125, "epochs": 500, "batch_size": 4, "crop": 224, "lr": 1e-3,
                "steps": 2000}
SAMPLE_SECONDS = 0.5  # RSS and training state sampling interval


def parse_args(argv=None):
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8, help="concurrent gradio_client threads (default 8)")
    parser.add_argument("--seconds", type=float, default=60, help="how long the clients segment (default 60)")
    parser.add_argument("--model", default=None, help="model to segment with (default: the app's default)")
    parser.add_argument("--weights", default=None, help="weights folder to copy (default: $SEGDEMO_WEIGHTS, "
                                                        "else weights/)")
    return parser.parse_args(argv)


def rss_mb():
    """This process's resident memory in MB (VmRSS from /proc/self/status)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def free_port():
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def machine():
    """'x86_64, 2 cores (CPU model)'."""
    model = ""
    try:
        model = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{platform.machine()}, {os.cpu_count()} cores" + (f" ({model})" if model else "")


def copy_weights(source, target):
    """Copy the NAME.keras + NAME.json pairs of `source` into `target`; returns how many."""
    pairs = 0
    for model in sorted(Path(source).glob("*.keras")):
        manifest = model.with_suffix(".json")
        if manifest.is_file() and not model.is_symlink():
            shutil.copy2(model, target)
            shutil.copy2(manifest, target)
            pairs += 1
    return pairs


class Sampler(threading.Thread):
    """Samples RSS and whether the training runs, every SAMPLE_SECONDS, until stopped."""

    def __init__(self, handlers, job):
        super().__init__(daemon=True)
        self.handlers, self.job = handlers, job
        self.samples = []  # (monotonic time, RSS MB, training running)
        self.halt = threading.Event()

    def run(self):
        while not self.halt.is_set():
            running = bool(self.handlers.runs) and not self.job.done()
            self.samples.append((time.monotonic(), rss_mb(), running))
            self.halt.wait(SAMPLE_SECONDS)

    def between(self, start, end):
        """Samples taken in [start, end]."""
        return [s for s in self.samples if start <= s[0] <= end]


def train_position(job):
    """Training steps done so far, from the last progress the /train job streamed (None before the first)."""
    outputs = job.outputs()
    found = re.search(r"Epoch (\d+)/\d+ · step (\d+)/(\d+)", str(outputs[-1][0])) if outputs else None
    return (int(found[1]) - 1) * int(found[3]) + int(found[2]) if found else None


def segment_loop(client, model, photos, heat_kind, deadline, offset, results):
    """Call /segment on the photos in turn until the deadline; append (ok, seconds, reason) to results."""
    from gradio_client import handle_file

    k = offset
    while time.monotonic() < deadline:
        photo = photos[k % len(photos)]
        k += 1
        started = time.perf_counter()
        try:
            client.predict(handle_file(photo), model, 0.5, heat_kind, api_name="/segment")
            results.append((True, time.perf_counter() - started, None))
        except Exception as err:  # every failure is counted and reported with its reason
            results.append((False, time.perf_counter() - started, f"{err.__class__.__name__}: {err}"[:200]))


def main(argv=None):
    args = parse_args(argv)
    source = Path(args.weights or os.environ.get("SEGDEMO_WEIGHTS") or REPO / "weights").resolve()
    work = Path(tempfile.mkdtemp(prefix="segdemo-load-"))
    weights = work / "weights"
    weights.mkdir()
    n_models = copy_weights(source, weights)
    if not n_models:
        sys.exit(f"no models (NAME.keras + NAME.json) in {source}")
    os.environ["SEGDEMO_WEIGHTS"] = str(weights)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path[:0] = [str(REPO), str(REPO / "tests")]
    try:
        run(args, source, weights, n_models, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(args, source, weights, n_models, work):
    """Serve the app, start a training, load it, report."""
    import gradio
    import numpy as np
    import tensorflow as tf
    from gradio_client import Client, handle_file

    import app
    from synthetic import write_folder

    started = datetime.datetime.now()
    load_before = os.getloadavg()
    model = args.model or app.default_model(app.list_models())
    photos = app.EXAMPLES
    _, url, _ = app.launch(port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        images, masks = write_folder(work / "data", n=TRAIN_IMAGES, size=TRAIN_SIZE)
        r = TRAIN_RECIPE
        trainer = Client(url, verbose=False)
        job = trainer.submit([handle_file(str(p)) for p in sorted(images.iterdir())],
                             [handle_file(str(p)) for p in sorted(masks.iterdir())], None, None,
                             "background, box, disc", "", r["arch"], r["width"], r["epochs"], r["batch_size"],
                             r["crop"], r["lr"], "ce", "none", 0.25, r["steps"], "load-bench", api_name="/train")
        waited = time.monotonic()
        while train_position(job) is None:  # the training has taken its first steps
            if job.done() or time.monotonic() - waited > 300:
                sys.exit(f"the training did not start: {job.status()}")
            time.sleep(0.2)
        sampler = Sampler(app.demo.handlers, job)
        sampler.start()
        clients = [Client(url, verbose=False, download_files=False) for _ in range(args.clients)]
        time.sleep(2 * SAMPLE_SECONDS)
        results = []
        steps_before = train_position(job)
        load_start = time.monotonic()
        deadline = load_start + args.seconds
        threads = [threading.Thread(target=segment_loop, args=(c, model, photos, app.HEAT_KINDS[0], deadline, i,
                                                               results)) for i, c in enumerate(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        load_end = time.monotonic()
        steps_after = train_position(job)
        time.sleep(2 * SAMPLE_SECONDS)
        for stop in list(app.demo.handlers.runs.values()):
            stop.set()  # as the Stop button does: the best epoch so far is saved
        outcome = job.result(timeout=600)
        sampler.halt.set()
        sampler.join()
    finally:
        app.demo.close()

    ok = np.array([s for good, s, _ in results if good])
    failures = Counter(reason for good, _, reason in results if not good)
    before = [s for s in sampler.samples if s[0] < load_start]
    during = sampler.between(load_start, load_end)
    after = [s for s in sampler.samples if s[0] > load_end]
    running = [s[2] for s in during]
    print()
    print(f"segdemo load benchmark · {started:%Y-%m-%d %H:%M} · {machine()} · Python {platform.python_version()}, "
          f"TensorFlow {tf.__version__}, gradio {gradio.__version__}")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in load_before)}; after: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} (other processes skew the figures)")
    print(f"app: in-process at {url}, a copy of {source} ({n_models} models), segmenting with {model}")
    print(f"training: {r['arch']} width {r['width']} on {TRAIN_IMAGES} synthetic {TRAIN_SIZE[1]}x{TRAIN_SIZE[0]} "
          f"pairs, crop {r['crop']}, batch {r['batch_size']}, {r['steps']} steps/epoch, stopped after the load")
    print(f"load: {args.clients} clients x {args.seconds:g} s calling /segment on {len(photos)} example frames "
          f"(took {load_end - load_start:.1f} s with the requests in flight at the end)")
    print()
    print(f"requests done      : {len(results)} ({len(ok)} ok, {len(ok) / (load_end - load_start):.2f}/s)")
    print(f"failed requests    : {sum(failures.values())}")
    for reason, count in failures.most_common():
        print(f"  {count} x {reason}")
    if len(ok):
        print(f"latency (s)        : median {np.median(ok):.2f} · p95 {np.percentile(ok, 95):.2f} · "
              f"min {ok.min():.2f} · max {ok.max():.2f}")
    print(f"app RSS (MB)       : start {before[-1][1]:.0f} · max during {max(s[1] for s in during):.0f} · "
          f"end {after[-1][1] if after else during[-1][1]:.0f}")
    step = max(1, round(10 / SAMPLE_SECONDS))  # one point every 10 s
    print("RSS timeline (MB)  : " + " · ".join(f"{s[0] - load_start:.0f} s {s[1]:.0f}" for s in during[::step]))
    throughout = bool(running) and all(running)
    print(f"training           : {'running throughout' if throughout else 'NOT running throughout'} "
          f"({sum(running)}/{len(running)} samples every {SAMPLE_SECONDS:g} s during the load)")
    if steps_before is not None and steps_after is not None:
        steps = steps_after - steps_before
        print(f"training steps     : {steps} during the load ({steps / (load_end - load_start):.1f}/s)")
    status = re.search(r'class="progress-text">([^<]*)<', str(outcome[0]))
    saved = str(outcome[4]).split("\n")[0].replace("**", "")
    print(f"training outcome   : {html.unescape(status.group(1)) if status else '?'} {saved[:110]}")
    return 0


if __name__ == "__main__":
    main()
