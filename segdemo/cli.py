"""Command line: python -m segdemo {models,check,predict,evaluate,train,bench}."""
import argparse
import json
import os
import shlex
import signal
import sys
from pathlib import Path

CAMVID_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "camvid"


def parse_crop(text):
    """'224x320' -> (224, 320); 'N' -> (N, N)."""
    parts = text.lower().split("x")
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"crop must look like 224x320, got {text!r}") from None
    return values * 2 if len(values) == 1 else values


def read_classes(spec):
    """Class names from 'camvid', a file with one name a line, or 'a,b,c'."""
    from .data import CAMVID_CLASSES

    if not spec:
        return ()
    if spec == "camvid":
        return CAMVID_CLASSES
    path = Path(spec)
    if path.is_file():
        return tuple(line.strip() for line in path.read_text().splitlines() if line.strip())
    return tuple(name.strip() for name in spec.split(",") if name.strip())


def cmd_train(args):
    from .train import TrainConfig, train

    values = {}
    if args.recipe:
        values = json.loads(Path(args.recipe).read_text()).get("recipe", {})
    config = TrainConfig.from_dict(values)
    for key, value in vars(args).items():
        if key in TrainConfig.__dataclass_fields__ and value is not None:
            setattr(config, key, value)
    if args.classes_spec:
        config.classes = read_classes(args.classes_spec)
    if args.val_split is not None and not args.val_images:
        config.val_images = config.val_masks = ""
    if not config.images or not config.masks:
        raise ValueError("train needs --images DIR and --masks DIR (or a --recipe that names them)")
    name = args.name or (Path(args.recipe).stem if args.recipe else f"{config.arch}-custom")
    command = "python -m segdemo " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    path, manifest = train(config, name, weights_dir=args.weights_dir, command=command)
    if path is None:
        print("no epoch finished: nothing saved", file=sys.stderr)
        return 1
    val = manifest["metrics"]["val"]
    print(f"saved {path} (val mIoU {val['miou']:.4f}, epoch {manifest['metrics']['epoch']})")
    return 0


def add_train(sub):
    p = sub.add_parser("train", help="train a model on image/mask folders")
    p.add_argument("--arch", choices=("fcn32s", "fcn16s", "fcn8s", "segnet"))
    p.add_argument("--images")
    p.add_argument("--masks")
    p.add_argument("--val-images")
    p.add_argument("--val-masks")
    p.add_argument("--val-split", type=float)
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--steps-per-epoch", type=int)
    p.add_argument("--crop", type=parse_crop, help="HxW, multiples of 32")
    p.add_argument("--width", type=float)
    p.add_argument("--fc-channels", type=int)
    p.add_argument("--dropout", type=float)
    p.add_argument("--lr", type=float)
    p.add_argument("--loss", choices=("ce", "weighted-ce", "dice", "focal"))
    p.add_argument("--class-weights", choices=("none", "median-frequency"))
    p.add_argument("--ignore-index", type=int)
    p.add_argument("--classes", dest="classes_spec", help="'camvid', a file with one name a line, or a,b,c")
    p.add_argument("--patience", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--init", help="model whose weights to copy by layer name")
    p.add_argument("--strategy", choices=("auto", "mirrored", "multiworker", "none"))
    p.add_argument("--recipe", help="a manifest (weights/NAME.json) whose recipe to reproduce")
    p.add_argument("--name")
    p.set_defaults(func=cmd_train)


def main(argv=None):
    """Entry point; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m segdemo", description=__doc__)
    parser.add_argument("--weights-dir", help="weights folder (default: $SEGDEMO_WEIGHTS or weights/)")
    sub = parser.add_subparsers(dest="command", required=True)
    add_train(sub)
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # Ctrl-C and SIGTERM stop a training cleanly (the best epoch is saved), also when a
    # shell started this process in the background with SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        return args.func(args)
    except ValueError as err:  # InputError, ModelFileError and bad options are user mistakes
        print(f"error: {err}", file=sys.stderr)
        return 2
