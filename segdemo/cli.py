"""Command line: python -m segdemo {models,check,predict,evaluate,train,bench}."""
import argparse
import functools
import json
import shlex
import signal
import sys
from pathlib import Path

PROGRESS_SECONDS = 2.0  # how often a video's progress is printed


def parse_crop(text):
    """'224x320' -> (224, 320); 'N' -> (N, N); 'auto' -> () (the images' short side, at most 256)."""
    if text.lower() == "auto":
        return ()
    parts = text.lower().split("x")
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"crop must look like 224x320, got {text!r}") from None
    return values * 2 if len(values) == 1 else values


def read_classes(spec):
    """Class names from 'camvid', a file with one name a line, or 'a,b,c' (data.parse_class_names)."""
    from .data import parse_class_names

    path = Path(spec) if spec and spec.lower() != "camvid" else None
    return parse_class_names(path.read_text() if path and path.is_file() else spec)


def parse_range(text):
    """'0.5,2' -> (0.5, 2.0)."""
    try:
        low, high = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LOW,HIGH such as 0.5,2.0, got {text!r}") from None
    return low, high


def cmd_train(args):
    from .precision import use_onednn

    use_onednn()  # before tensorflow is imported: the CLI trains, and training is faster with them
    from .metrics import format_score
    from .recipe import TrainConfig
    from .train import train

    values = {}
    if args.recipe:
        # A recipe from before head starts existed trained from scratch.
        values = {"start_from": "", **json.loads(Path(args.recipe).read_text()).get("recipe", {})}
    config = TrainConfig.from_dict(values)
    for key, value in vars(args).items():
        if key in TrainConfig.__dataclass_fields__ and value is not None:
            setattr(config, key, value)
    config.__post_init__()  # folders given as strings or lists become tuples
    if args.classes_spec:
        config.classes = read_classes(args.classes_spec)
    if (args.val_split is not None or args.holdout) and not args.val_images:
        config.val_images = config.val_masks = ()
    if args.val_split is not None and not args.holdout:
        config.holdout = ""
    if not config.images or not config.masks:
        raise ValueError("train needs --images DIR and --masks DIR (or a --recipe that names them)")
    # A recipe reproduces into a new name: retraining never replaces the model it came from by default.
    name = args.name or (f"{Path(args.recipe).stem}-repro" if args.recipe else f"{config.arch}-custom")
    command = "python -m segdemo " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    path, manifest = train(config, name, weights_dir=args.weights_dir, command=command, resume=args.resume,
                           origin="cli")
    if path is None and manifest is not None:
        print(f"worker {manifest['training']['worker']} finished: the chief (worker 0) saves the model")
        return 0
    if path is None:
        print("no epoch finished: nothing saved", file=sys.stderr)
        return 1
    val, epoch = manifest["metrics"]["val"], manifest["metrics"]["epoch"]
    scores = f"val mIoU {format_score(val['miou'])}, " if val and val["miou"] is not None else ""
    run = manifest["training"]
    print(f"saved {path} ({scores}epoch {epoch}); {run['stop_reason']} after {run['seconds']:.0f} s")
    return 0


def add_train(sub):
    from .choices import ARCHITECTURES, CLASS_WEIGHTS, KEEP, LOSSES, PRECISIONS, STRATEGIES
    from .recipe import TrainConfig

    defaults = TrainConfig()

    def option(flag, text, **kwargs):
        key = kwargs.get("dest", flag.lstrip("-").replace("-", "_"))
        default = getattr(defaults, key, None)
        default = kwargs.pop("default_text", default)
        shown = f" (default: {default})" if default not in (None, "", ()) else ""
        p.add_argument(flag, help=text + shown, **kwargs)

    p = sub.add_parser("train", help="train a model on image/mask folders",
                       description="Train a model on image/mask folders; every option left out keeps "
                                   "its default, or the value in --recipe.")
    option("--images", "image folder(s), paired with --masks by file stem", nargs="+", metavar="DIR")
    option("--masks", "mask folder(s): 8-bit class indices, one per image", nargs="+", metavar="DIR")
    option("--val-images", "validation image folder(s) instead of a split", nargs="+", metavar="DIR")
    option("--val-masks", "validation mask folder(s)", nargs="+", metavar="DIR")
    option("--val-split", "share of the pairs held out at random to validate on; 0: none", type=float)
    option("--holdout", "validate on the frames whose file stem matches this pattern, e.g. '0006R0_*'",
           metavar="PATTERN")
    option("--cross-sequence-from", "a model of this recipe trained with a drive held out (--holdout): "
                                    "its score there is reported as this model's cross-sequence figure",
           metavar="MODEL")
    option("--keep", "the epoch saved: best by val mIoU, or the last", choices=KEEP)
    option("--arch", "architecture", choices=ARCHITECTURES)
    option("--width", "encoder channel multiplier (1.0 is VGG16's 64..512 channels)", type=float)
    option("--fc-channels", "FCN fc6/fc7 channels at width 1.0 (scaled by --width)", type=int)
    option("--dropout", "FCN fc6/fc7 dropout rate", type=float)
    option("--minutes", "time budget in minutes: the learning-rate schedule spans it and the run ends on "
                        "time with its kept epoch; 0: train for --epochs", type=float)
    option("--epochs", "without --minutes: passes over the training pairs (or --steps-per-epoch steps each)",
           type=int)
    option("--steps-per-epoch", "optimisation steps per epoch; 0: one pass over the pairs", type=int)
    option("--batch-size", "images per step", type=int)
    option("--crop", "training crop HxW in pixels, multiples of 32, or 'auto': the images' short side, "
                     "at most 256", type=parse_crop, default_text="auto")
    option("--scale", "random zoom range LOW,HIGH (2.0 shows half the crop's region, enlarged)",
           type=parse_range)
    option("--jitter", "brightness, contrast and saturation amplitude, 0..1; 0: off", type=float)
    option("--hue", "largest random hue shift, as a fraction of the colour circle; 0: off", type=float)
    option("--gamma", "random gamma exp(U(-g, g)); 0: off", type=float)
    option("--lr", "peak learning rate (AdamW, warm-up then cosine decay)", type=float)
    option("--warmup-epochs", "epochs of linear learning-rate warm-up", type=float)
    option("--weight-decay", "AdamW weight decay", type=float)
    option("--loss", "loss function", choices=LOSSES)
    option("--class-weights", "per-class loss weights from the training masks", choices=CLASS_WEIGHTS)
    option("--ignore-index", "the void label: excluded from the loss and the metrics", type=int)
    option("--classes", "class names: 'camvid', a file with one name a line, or a,b,c", dest="classes_spec")
    option("--patience-steps", "with --keep best: optimisation steps without a better val mIoU before "
                               "stopping; 0: never", type=int)
    option("--seed", "random seed of the split, the order and the augmentation", type=int)
    option("--start-from", "a head start: the model whose VGG16 encoder this one starts from; none: from "
                           "scratch; auto: the shipped camvid-fcn8s when its encoder has this --width",
           metavar="MODEL", type=lambda v: "" if v.lower() == "none" else v)
    option("--init", "model whose weights to copy by layer name (FCN-32s -> 16s -> 8s)", metavar="MODEL")
    option("--strategy", "tf.distribute strategy (auto: mirrored over several GPUs)", choices=STRATEGIES)
    option("--precision", "auto: mixed bfloat16 on CPUs with avx512_bf16/amx_bf16, else float32",
           choices=PRECISIONS)
    option("--resume", "continue an interrupted run of this --name from its last finished epoch "
                       "(same recipe)", action="store_true")
    option("--recipe", "a manifest (weights/NAME.json) whose recipe to reproduce", metavar="JSON")
    option("--name", "the model's name in the weights folder (default: ARCH-custom)")
    p.set_defaults(func=cmd_train)


def cmd_models(args):
    from . import store
    from .metrics import format_score

    manifests = store.list_models(args.weights_dir)
    if args.json:
        keep = ("name", "arch", "width", "classes", "ignore_index", "params", "size_bytes")
        print(json.dumps([{**{k: m.get(k) for k in keep},
                           "val": _summary(m.get("metrics", {}).get("val")),
                           "cross_sequence": _summary(store.cross_sequence(m))} for m in manifests], indent=2))
        return 0
    if not manifests:
        print(f"no models in {store.weights_dir(args.weights_dir)}")
        return 0
    # Each figure is labelled with its split: a cross-sequence figure (a drive not trained on) where the
    # model has one, else validation.
    print(f"{'name':<22} {'arch':<7} {'classes':>7} {'params':>10} {'mIoU':>6} {'pixel acc':>9}  split")
    for m in manifests:
        split, scores = store.headline(m)
        scores = _summary(scores) or {}
        print(f"{m['name']:<22} {m.get('arch', '?'):<7} {len(m['classes']):>7} {m.get('params', 0):>10,} "
              f"{format_score(scores.get('miou')):>6} {format_score(scores.get('pixel_accuracy')):>9}  "
              f"{split or '-'}")
    return 0


def _summary(val):
    """The headline numbers of a scores dict."""
    keys = ("pixel_accuracy", "mean_class_accuracy", "miou", "fwiou", "dice")
    return {k: val.get(k) for k in keys} if val else None


def cmd_check(args):
    from . import files

    report = files.check_dataset(args.images, args.masks, num_classes=len(read_classes(args.classes_spec)) or None,
                                 ignore_index=args.ignore_index)
    print(report.to_text())
    return 0 if report.ok else 2


def cmd_predict(args):
    from . import cutout, files, video, viz
    from .infer import Segmenter

    seg = Segmenter.load(args.model, args.weights_dir)
    sticker_class = _class_index(args.sticker, seg.classes) if args.sticker is not None else None
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    failed = 0
    for path in args.images:
        if Path(path).suffix.lower() in video.VIDEO_SUFFIXES:
            try:
                _predict_video(seg, path, out, args)
            except files.InputError as err:
                print(f"error: {err}", file=sys.stderr)
                failed += 1
            continue
        try:
            image = files.read_image(path)
        except files.InputError as err:
            print(f"error: {err}", file=sys.stderr)
            failed += 1
            continue
        result = seg.segment(image)
        stem = Path(path).stem
        color = viz.colorize(result.labels, seg.palette)
        viz.save_png(out / f"{stem}_mask.png", result.labels)
        viz.save_png(out / f"{stem}_color.png", color)
        viz.save_png(out / f"{stem}_overlay.png", viz.overlay(image, color, args.alpha))
        written = [f"{stem}_mask.png", f"{stem}_color.png", f"{stem}_overlay.png"]
        if sticker_class is not None:
            try:
                rgba = cutout.sticker(image, result.labels == sticker_class, border=args.border,
                                   fit=args.fit, name=seg.classes[sticker_class])
                viz.save_png(out / f"{stem}_sticker.png", rgba)
                written.append(f"{stem}_sticker.png")
            except ValueError as err:
                print(f"{path}: no sticker: {err}", file=sys.stderr)
        print(f"{path}: {result.seconds * 1000:.0f} ms -> {', '.join(written)}")
    return 1 if failed else 0


def _predict_video(seg, path, out, args):
    """Segment one clip into STEM_overlay.mp4 and STEM_color.mp4 (and STEM_masks.zip), printing progress."""
    from . import video

    limits = video.LIMITS if args.max_seconds is None else video.Limits(seconds=args.max_seconds)
    shown, step = 0.0, None
    for step in video.segment_video(path, seg, out, smooth=args.smooth, alpha=args.alpha, masks=args.masks,
                                    limits=limits):
        if step.outputs is None and step.seconds - shown >= PROGRESS_SECONDS:
            shown = step.seconds
            total = f"/{step.total}" if step.total else ""
            print(f"{path}: frame {step.done}{total}, {step.fps:.1f} fps", flush=True)
    written = ", ".join(p.name for p in step.outputs.values())
    print(f"{path}: {step.done} frames in {step.seconds:.1f} s ({step.fps:.1f} fps) -> {written}")


def _class_index(spec, classes):
    """A class given by name (case-insensitive) or index."""
    names = [c.lower() for c in classes]
    if spec.lower() in names:
        return names.index(spec.lower())
    if spec.isdigit() and int(spec) < len(classes):
        return int(spec)
    raise ValueError(f"unknown class {spec!r}: choose one of {list(classes)} or an index 0..{len(classes) - 1}")


def cmd_evaluate(args):
    from . import data, metrics
    from .infer import Segmenter

    seg = Segmenter.load(args.model, args.weights_dir, tta=args.tta, precision=args.precision)
    ignore = seg.manifest.get("ignore_index") if args.ignore_index is None else args.ignore_index
    images, masks, _ = data.load_folder(args.images, args.masks, num_classes=len(seg.classes),
                                        ignore_index=ignore)
    val, per_image = seg.evaluate(images, masks, ignore)
    if args.json:
        print(json.dumps({**_summary(val), "per_class": {name: {"iou": v["iou"], "accuracy": v["accuracy"]}
                                                         for name, v in val["per_class"].items()},
                          "undefined": val["undefined"], "n_images": len(images)}, indent=2))
    else:
        print(f"{args.model} on {len(images)} images ({args.images})")
        print(metrics.format_scores(val))
    return 0


def cmd_bench(args):
    from .bench import run

    run(args.models, repeats=args.repeats, big=not args.no_big, train=not args.no_train,
        weights_dir=args.weights_dir, video=not args.no_video, click=not args.no_click)
    return 0


def add_commands(sub):
    from .choices import PRECISIONS, TTA

    p = sub.add_parser("models", help="list the available models")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("check", help="check an image/mask folder pair before training")
    p.add_argument("--images", required=True)
    p.add_argument("--masks", required=True)
    p.add_argument("--classes", dest="classes_spec")
    p.add_argument("--ignore-index", type=int)
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("predict", help="segment images or video clips: masks, colour masks, overlays, stickers",
                       description="Segment images (STEM_mask.png, STEM_color.png, STEM_overlay.png) and "
                                   "video clips (mp4, webm, avi, mov: STEM_overlay.mp4 and "
                                   "STEM_color.mp4, H.264).")
    p.add_argument("images", nargs="+", metavar="FILE", help="images, or video clips (by their suffix)")
    p.add_argument("--model", required=True)
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--sticker", metavar="CLASS", help="class name or index to cut out as an RGBA sticker")
    p.add_argument("--border", type=int, default=5, help="sticker contour: erosion footprint size")
    p.add_argument("--fit", type=int, help="fit the sticker's longer side to this many pixels (e.g. 512)")
    p.add_argument("--alpha", type=float, default=0.5, help="overlay opacity")
    p.add_argument("--smooth", type=float, default=0.0,
                   help="video: weight of the past in a moving average of the class probabilities over "
                        "frames, 0..1 (exclusive), against flicker; 0: off (default: 0)")
    p.add_argument("--masks", action="store_true",
                   help="video: also write STEM_masks.zip, one 8-bit class-index PNG per frame")
    p.add_argument("--max-seconds", type=float,
                   help="video: refuse longer clips (default: 600, segdemo.video.MAX_SECONDS)")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("evaluate", help="metrics of a model over a labelled folder")
    p.add_argument("--model", required=True)
    p.add_argument("--images", required=True)
    p.add_argument("--masks", required=True)
    p.add_argument("--ignore-index", type=int)
    p.add_argument("--tta", choices=TTA, default="none",
                   help="test-time augmentation: average over a mirrored copy (flip), and over scales "
                        "0.75, 1, 1.25 (multiscale) (default: none)")
    p.add_argument("--precision", choices=PRECISIONS, default="float32",
                   help="inference precision; auto: bfloat16 on CPUs with bfloat16 units (default: float32)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("bench", help="inference latency, click round trip, training throughput, tiled-inference "
                                     "memory, video")
    p.add_argument("--models", nargs="*", help="default: every model in the weights folder")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--no-big", action="store_true", help="skip the 6000x4000 tiled-inference memory test")
    p.add_argument("--no-train", action="store_true", help="skip the training-throughput comparison")
    p.add_argument("--no-video", action="store_true",
                   help="skip the video benchmark (fps, flicker, memory of a 10 s against a 60 s clip)")
    p.add_argument("--no-click", action="store_true",
                   help="skip the Segment click round trip through the app (gradio_client against app.py)")
    p.set_defaults(func=cmd_bench)


def main(argv=None):
    """Entry point; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m segdemo", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--weights-dir", help="weights folder (default: $SEGDEMO_WEIGHTS or weights/)")
    sub.add_parser = functools.partial(sub.add_parser, parents=[common])
    add_commands(sub)
    add_train(sub)
    args = parser.parse_args(argv)  # TensorFlow's log level is set by segdemo.quiet, on import
    # Ctrl-C and SIGTERM stop a training cleanly (the best epoch is saved), also when a
    # shell started this process in the background with SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        return args.func(args)
    except ValueError as err:  # InputError, ModelFileError and bad options are user mistakes
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a full disk, a missing permission, an output path that is a file
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # a second Ctrl-C, e.g. during the final save (which is atomic)
        print("interrupted", file=sys.stderr)
        return 130
