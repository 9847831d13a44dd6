"""`python -m segdemo bench`: inference latency (float32 and bfloat16), training throughput, memory, video.

Run it on a quiet machine: a benchmark taken while a training runs measures nothing.
"""
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from . import data, store
from .infer import Segmenter
from .precision import ONEDNN

REPO = Path(__file__).resolve().parent.parent  # app.py and the examples
FRAME = (360, 480)  # a CamVid frame, H x W
BIG = (4000, 6000)  # a 24-megapixel photo
CLIP_SECONDS = (10, 60)  # peak memory of the short clip against the long one
CLIP_FPS = 15  # CamVid's val frames of drive 0016E5 are every other frame of a 30 fps drive
CLIP_SMOOTH = 0.5  # the smoothing whose flicker is compared with none


def median_ms(fn, repeats):
    """Median wall time of fn() in milliseconds, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def frame():
    """A CamVid val frame when the data set is beside the project, else a fixed random image."""
    from . import files

    path = data.CAMVID_DIR / "val" / "0016E5_07959.png"
    if path.exists():
        return files.read_image(path)
    return np.random.default_rng(0).integers(0, 256, (*FRAME, 3), dtype=np.uint8)


def inference(name, image, repeats, weights_dir=None):
    """Median latencies (ms) of one model on one frame, float32 beside bfloat16, and what TTA costs.

    bare: the compiled model alone (softmax included); segment: Segmenter.segment, colour mask
    included; agreement: share of pixels whose bfloat16 label equals the float32 label.
    """
    from . import viz

    seg = Segmenter.load(name, weights_dir)
    fast = Segmenter(seg.model, seg.manifest, precision="bfloat16")
    flip = Segmenter(seg.model, seg.manifest, tta="flip")
    multiscale = Segmenter(seg.model, seg.manifest, tta="multiscale")
    bare = median_ms(lambda: seg.probabilities(image), repeats)
    bare_bf16 = median_ms(lambda: fast.probabilities(image), repeats)
    agreement = float(np.mean(seg.segment(image).labels == fast.segment(image).labels))
    full = median_ms(lambda: viz.colorize(seg.segment(image).labels, seg.palette), repeats)
    with_flip = median_ms(lambda: viz.colorize(flip.segment(image).labels, seg.palette), repeats)
    with_scales = median_ms(lambda: viz.colorize(multiscale.segment(image).labels, seg.palette), repeats)
    return {"model": name, "bare_ms": bare, "bare_bf16_ms": bare_bf16, "bf16_speedup": bare / bare_bf16,
            "bf16_agreement": agreement, "segment_ms": full, "segment_flip_ms": with_flip,
            "segment_multiscale_ms": with_scales}


def training_model():
    """The model the training figures fit, compiled: FCN-8s at width 0.25 (fc 2048, batch norm) for 11
    classes, AdamW, cross-entropy with void 11; in the dtype policy in force."""
    import keras

    from .models import build_fcn
    from .train import make_loss

    model = build_fcn("fcn8s", num_classes=11, width=0.25, fc_channels=2048, batchnorm=True)
    model.compile(optimizer=keras.optimizers.AdamW(1e-3), loss=make_loss("ce", 11, 11))
    return model


def training_throughput(precision="float32", steps=20, batch_size=8, crop=(256, 320), scale=(0.5, 2.0), rounds=5):
    """Images per second of fitting one FCN-8s (width 0.25), tf.data pipeline vs the same batches in memory.

    The pipeline augments with a wide scale range; both feeds go to the same compiled model,
    alternately, `rounds` times each, and their medians are compared.
    """
    import tensorflow as tf

    from . import precision as numerics

    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (*FRAME, 3), dtype=np.uint8) for _ in range(32)]
    masks = [rng.integers(0, 11, FRAME, dtype=np.uint8) for _ in range(32)]
    augment = data.Augment(crop=crop, scale=scale, jitter=0.3, hue=0.05, gamma=0.3)
    pipeline = data.train_dataset(images, masks, batch_size, augment, ignore_index=11)
    batches = [(x.numpy(), y.numpy()) for x, y in pipeline.take(steps)]
    memory = tf.data.Dataset.from_tensor_slices((np.concatenate([b[0] for b in batches]),
                                                 np.concatenate([b[1] for b in batches])))
    memory = memory.batch(batch_size, drop_remainder=True).repeat().prefetch(2)  # static shapes, as the pipeline

    with numerics.dtype_policy(precision):
        model = training_model()

    def rate(source):
        start = time.perf_counter()
        model.fit(source, epochs=1, steps_per_epoch=steps, verbose=0)
        return steps * batch_size / (time.perf_counter() - start)

    rate(pipeline), rate(memory)  # trace and warm up both
    rates = {"pipeline": [], "memory": []}
    for _ in range(rounds):
        rates["pipeline"].append(rate(pipeline))
        rates["memory"].append(rate(memory))
    p, m = float(np.median(rates["pipeline"])), float(np.median(rates["memory"]))
    return {"precision": precision, "onednn": os.environ.get(ONEDNN), "pipeline_images_per_s": p,
            "memory_images_per_s": m, "ratio": p / m,
            "batch": f"{batch_size}x{crop[0]}x{crop[1]}, scale {scale[0]}-{scale[1]}", "rounds": rates}


def kernel_figures(steps=10, repeats=10):
    """FCN-8s (width 0.25, float32, untrained) with the CPU kernels this process's TensorFlow uses:
    training images/s on one batch of 8x256x320 held in memory, and its inference on one frame in ms."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (8, 256, 320, 3)).astype(np.float32)
    y = rng.integers(0, 11, (8, 256, 320)).astype(np.int32)
    model = training_model()
    step_ms = median_ms(lambda: model.train_on_batch(x, y), steps)
    image = tf.constant(frame()[None], tf.float32)
    predict = tf.function(lambda batch: model(batch, training=False))
    return {"train_images_per_s": 1000 * len(x) / step_ms,
            "bare_ms": median_ms(lambda: predict(image).numpy(), repeats)}


def as_training_runs(call, onednn=None):
    """Evaluate `call`, an expression over `bench`, in a fresh interpreter with the CPU kernels `segdemo
    train` asks for (precision.use_onednn), or with oneDNN's "0" (off) or "1" (on); its value, via JSON."""
    code = ("import json; from segdemo import precision; precision.use_onednn(); from segdemo import bench; "
            f"print(json.dumps({call}))")
    return json.loads(fresh_process(code, **({ONEDNN: onednn} if onednn else {})))


@contextlib.contextmanager
def served_app(weights_dir=None):
    """`python app.py` started fresh in its own process on a free port (its models warm); yields its URL."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "SEGDEMO_WEIGHTS": str(store.weights_dir(weights_dir))}
    app = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=REPO, env=env, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        for line in app.stdout:
            if line.startswith("segdemo is at"):
                break
        else:
            raise RuntimeError("app.py ended before serving")
        yield f"http://127.0.0.1:{port}/"
    finally:
        app.terminate()
        app.wait()


def click_round_trip(name, repeats, weights_dir=None):
    """A Segment click as a program makes it: /segment through gradio_client on an example, against a fresh
    `python app.py`. Returns the median ms of the call (its image outputs as URLs); of the same with a client
    that loads no TLS certificates for this plain-http address (gradio_client otherwise sets up a fresh TLS
    context, about 50 ms here, for each of its requests); and of fetching those images over one connection,
    as a browser does. Also how many images a click sends."""
    import httpx
    from gradio_client import Client, handle_file

    photo = str(sorted((REPO / "examples").glob("*.png"))[0])
    with served_app(weights_dir) as url:
        figures = {}
        for key, verify in (("round_trip_ms", True), ("no_tls_setup_ms", False)):
            client = Client(url, verbose=False, download_files=False, ssl_verify=verify)
            call = lambda: client.predict(image=handle_file(photo), model=name, api_name="/segment")  # noqa: E731
            figures[key] = median_ms(call, repeats)
        urls = [found["url"] for found in _file_data(call())]
        with httpx.Client() as fetch:
            figures["images_ms"] = median_ms(lambda: [fetch.get(u).raise_for_status() for u in urls], repeats)
        return {**figures, "images": len(urls)}


def _file_data(value):
    """The file outputs (gradio FileData dicts with a url) anywhere in a prediction."""
    if isinstance(value, dict):
        return [value] if value.get("url") else [f for v in value.values() for f in _file_data(v)]
    if isinstance(value, (list, tuple)):
        return [f for v in value for f in _file_data(v)]
    return []


def pairing_seconds(n=5000):
    """Median seconds pair_folders takes over two folders of n one-byte files."""
    from .files import pair_folders

    with tempfile.TemporaryDirectory() as tmp:
        for side in ("images", "masks"):
            folder = Path(tmp, side)
            folder.mkdir()
            for i in range(n):
                (folder / f"frame_{i:05d}.png").write_bytes(b"x")
        return median_ms(lambda: pair_folders(Path(tmp, "images"), Path(tmp, "masks")), 5) / 1000


def fresh_process(code, **env):
    """Run Python code in a new interpreter (from the project folder), with these environment variables
    set; its stdout's last line."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "OPENCV_FFMPEG_LOGLEVEL": "-8", **env}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))), check=True)
    return out.stdout.strip().splitlines()[-1]


def peak_rss_mb():
    """This process's peak resident memory in MB since it started.

    /proc's VmHWM belongs to the process image: getrusage's ru_maxrss would also count the parent's
    memory at the fork before exec, which is how a benchmark process starts its measured children.
    """
    try:
        status = Path("/proc/self/status").read_text()
        return int(status.split("VmHWM:")[1].split()[0]) / 1024
    except (OSError, IndexError):  # no /proc (macOS): the best there is
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)


def big_image_peak_rss(name, weights_dir=None):
    """Peak RSS (MB) of a fresh process that segments a 6000x4000 image in tiles."""
    code = (
        "import numpy as np\n"
        "from segdemo.bench import peak_rss_mb\n"
        "from segdemo.infer import Segmenter\n"
        f"seg = Segmenter.load({name!r}, {str(weights_dir) if weights_dir else None!r})\n"
        f"image = np.random.default_rng(0).integers(0, 256, ({BIG[0]}, {BIG[1]}, 3), dtype=np.uint8)\n"
        "out = seg.segment(image)\n"
        "print(out.labels.shape, peak_rss_mb())\n"
    )
    start = time.perf_counter()
    peak = float(fresh_process(code).split()[-1])
    return {"model": name, "size": f"{BIG[1]}x{BIG[0]}", "peak_rss_mb": peak,
            "seconds": time.perf_counter() - start}


def camvid_clip(path, seconds, fps=CLIP_FPS):
    """Write a 480x360 H.264 clip: CamVid's consecutive val frames of drive 0016E5, looped back and forth.

    Without CamVid beside the project, a random frame sliding one pixel a frame. Returns path.
    """
    from . import files, video

    paths = sorted((data.CAMVID_DIR / "val").glob("0016E5_*.png"))
    order = list(range(len(paths))) + list(range(len(paths) - 2, 0, -1))  # forth and back: no jump at the seam
    still = None if paths else frame()
    with video.H264Writer(path, FRAME[1], FRAME[0], fps) as writer:
        for i in range(int(seconds * fps)):
            writer.write(files.read_image(paths[order[i % len(order)]]) if paths else np.roll(still, i, axis=1))
    return path


def video_run(name, clip, out_dir, weights_dir=None):
    """Frames per second and peak RSS (MB) of a fresh process that segments a clip as the CLI does.

    The model is warmed up first, so fps is the steady rate: read, segment, colour, overlay, encode
    both H.264 videos.
    """
    code = (
        "import json\n"
        "from segdemo import video\n"
        "from segdemo.bench import peak_rss_mb\n"
        "from segdemo.infer import Segmenter\n"
        f"seg = Segmenter.load({name!r}, {str(weights_dir) if weights_dir else None!r}).warmup()\n"
        f"for step in video.segment_video({str(clip)!r}, seg, {str(out_dir)!r}):\n"
        "    pass\n"
        "print(json.dumps({'frames': step.done, 'seconds': step.seconds, 'fps': step.fps,\n"
        "                  'peak_rss_mb': peak_rss_mb()}))\n"
    )
    return json.loads(fresh_process(code))


def clip_flicker(seg, clip, smooth):
    """Mean share of pixels changing class between consecutive frames of a clip, at a smoothing."""
    from . import video

    frames = video.read_frames(video.probe(clip))
    return video.flicker(labels for _, labels in video.segment_frames(frames, seg, smooth))


def video_figures(name, weights_dir=None):
    """The video benchmark: fps and peak RSS for a short and a long 480x360 clip, flicker with and without smoothing."""
    with tempfile.TemporaryDirectory() as tmp:
        runs = []
        for seconds in CLIP_SECONDS:
            clip = camvid_clip(Path(tmp) / f"clip_{seconds}s.mp4", seconds)
            runs.append({"clip_seconds": seconds, **video_run(name, clip, Path(tmp) / "out", weights_dir)})
        short = Path(tmp) / f"clip_{CLIP_SECONDS[0]}s.mp4"
        seg = Segmenter.load(name, weights_dir)
        flicker = {str(s): clip_flicker(seg, short, s) for s in (0.0, CLIP_SMOOTH)}
    return {"model": name, "size": f"{FRAME[1]}x{FRAME[0]}", "fps_in": CLIP_FPS, "runs": runs, "flicker": flicker}


def run(models=None, repeats=20, big=True, train=True, weights_dir=None, video=True, click=True):
    """Print every figure, in one run, and return them as a dict (video: see video_figures)."""
    from .infer import device

    models = models or [m["name"] for m in store.list_models(weights_dir)]
    image = frame()
    print(f"segdemo bench, {time.strftime('%Y-%m-%d %H:%M')}, {platform.machine()}, {os.cpu_count()} cores, "
          f"{device()}, {ONEDNN}={os.environ.get(ONEDNN, '(unset)')}; frame {image.shape[1]}x{image.shape[0]}, "
          f"{repeats} repeats, medians")
    results = {"inference": [], "device": device()}
    print(f"{'model':<18} {'float32':>9} {'bfloat16':>9} {'speedup':>8} {'same label':>10} "
          f"{'segment()':>10} {'+ flip TTA':>10} {'multiscale':>10}")
    for name in models:
        r = inference(name, image, repeats, weights_dir)
        results["inference"].append(r)
        print(f"{name:<18} {r['bare_ms']:>6.1f} ms {r['bare_bf16_ms']:>6.1f} ms {r['bf16_speedup']:>7.2f}x "
              f"{r['bf16_agreement']:>10.1%} {r['segment_ms']:>7.1f} ms {r['segment_flip_ms']:>7.1f} ms "
              f"{r['segment_multiscale_ms']:>7.1f} ms")
    if train:
        results["training"] = [as_training_runs(f"bench.training_throughput({p!r})") for p in ("float32", "bfloat16")]
        for t in results["training"]:
            print(f"training FCN-8s w0.25 in {t['precision']}, batch {t['batch']}, as `train` runs "
                  f"({ONEDNN}={t['onednn']}): tf.data pipeline "
                  f"{t['pipeline_images_per_s']:.1f} images/s, in memory {t['memory_images_per_s']:.1f} images/s, "
                  f"ratio {t['ratio']:.2f}")
        f32, bf16 = results["training"]
        speedup = bf16["memory_images_per_s"] / f32["memory_images_per_s"]
        print(f"training bfloat16 / float32 (in memory): {speedup:.2f}x")
        results["onednn"] = {state: as_training_runs("bench.kernel_figures()", value)
                             for state, value in (("off", "0"), ("on", "1"))}
        off, on = results["onednn"]["off"], results["onednn"]["on"]
        print(f"oneDNN kernels off / on ({ONEDNN}=0 / 1), FCN-8s float32, fresh processes: training "
              f"{off['train_images_per_s']:.1f} / {on['train_images_per_s']:.1f} images/s "
              f"({on['train_images_per_s'] / off['train_images_per_s']:.2f}x the rate), inference "
              f"{off['bare_ms']:.0f} / {on['bare_ms']:.0f} ms ({on['bare_ms'] / off['bare_ms']:.2f}x the time)")
    if click and models:
        name = store.DEFAULT_MODEL if store.DEFAULT_MODEL in models else models[0]
        model_ms = next(r["bare_ms"] for r in results["inference"] if r["model"] == name)
        c = results["click"] = {"model": name, "bare_ms": model_ms, **click_round_trip(name, repeats, weights_dir)}
        print(f"Segment click with {name}, gradio_client /segment on an example: {c['round_trip_ms']:.0f} ms "
              f"({c['round_trip_ms'] / model_ms:.1f}x the bare model's {model_ms:.0f} ms); "
              f"{c['no_tls_setup_ms']:.0f} ms without the client's TLS set-up per request; "
              f"its {c['images']} images fetched over one connection: {c['images_ms']:.0f} ms")
    results["pairing_5000_s"] = pairing_seconds()
    print(f"pairing two folders of 5000 files: {results['pairing_5000_s']:.2f} s")
    if big and models:
        b = big_image_peak_rss(store.DEFAULT_MODEL if store.DEFAULT_MODEL in models else models[0], weights_dir)
        results["big"] = b
        print(f"tiled inference {b['size']} with {b['model']}: peak RSS {b['peak_rss_mb']:.0f} MB, "
              f"{b['seconds']:.1f} s including start-up")
    if video and models:
        v = video_figures(store.DEFAULT_MODEL if store.DEFAULT_MODEL in models else models[0], weights_dir)
        results["video"] = v
        for r in v["runs"]:
            print(f"video {v['size']} at {v['fps_in']} fps, {r['clip_seconds']} s ({r['frames']} frames) with "
                  f"{v['model']}: {r['fps']:.1f} frames/s segmented and written, peak RSS {r['peak_rss_mb']:.0f} MB")
        print(f"video flicker (share of pixels changing class between frames, {CLIP_SECONDS[0]} s clip): "
              f"{v['flicker']['0.0']:.2%} unsmoothed, {v['flicker'][str(CLIP_SMOOTH)]:.2%} with --smooth {CLIP_SMOOTH}")
    print(json.dumps(results))
    return results
