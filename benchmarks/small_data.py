"""Small data sets no one here tuned to, and a sweep of training defaults on them within a time budget.

    python benchmarks/small_data.py make OUT            # write the data sets to OUT/NAME/{train,test}/{images,masks}
    python benchmarks/small_data.py sweep OUT --minutes 3 [--sets cells shapes] [--configs scratch head]
    python benchmarks/small_data.py table OUT --minutes 3   # the sweep's test mIoU as a Markdown table

Each set has its own held-out test folder, drawn with another seed, that training never sees; the
sweep trains on train/ with `python -m segdemo train` and scores test/ with `python -m segdemo evaluate`,
and prints one JSON line a run (appended to OUT/sweep.jsonl).

Sets:
    cells   25 (+5 test) grayscale 512x512 microscopy-like images, binary 0/255 masks
    shapes  12 (+6 test) colour 128x128 images of boxes and discs, 3 classes
    large   10 (+3 test) colour 2048x1536 photos-like scenes, 4 classes
    many    200 (+20 test) colour 192x256 scenes, 4 classes
"""
import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
SETS = {  # name: (train pairs, test pairs, maker)
    "cells": (25, 5, "cells"),
    "shapes": (12, 6, "shapes"),
    "large": (10, 3, "scene_large"),
    "many": (200, 20, "scene_small"),
}
CONFIGS = {  # name: train options beyond the defaults
    "default": [],
    "scratch": ["--start-from", "none"],
    "scratch-w0.125": ["--start-from", "none", "--width", "0.125"],
    "head": ["--start-from", "camvid-fcn8s"],
    "head-lr3e-3": ["--start-from", "camvid-fcn8s", "--lr", "0.003"],
    "head-enet": ["--start-from", "camvid-fcn8s", "--loss", "weighted-ce", "--class-weights", "enet"],
    "head-b4": ["--start-from", "camvid-fcn8s", "--batch-size", "4"],
    "head-enet-b4": ["--start-from", "camvid-fcn8s", "--loss", "weighted-ce", "--class-weights", "enet",
                     "--batch-size", "4"],
    # beside today's defaults (the head start, weighted-ce with ENet's weights, batch 8)
    "ce": ["--loss", "ce", "--class-weights", "none"],
    "b4": ["--batch-size", "4"],
    "ce-b4": ["--loss", "ce", "--class-weights", "none", "--batch-size", "4"],
    "ce-dice": ["--loss", "ce-dice", "--class-weights", "none"],
    "auto": ["--loss", "ce", "--class-weights", "auto"],  # ENet's weights where crops show part of an image
}


def cells(rng, size=512):
    """A grayscale micrograph of bright, textured, blurred cells on an unevenly lit background, and its 0/255 mask."""
    import cv2

    yy, xx = np.mgrid[:size, :size] / size
    background = 70 + 50 * (np.sin(3 * yy + rng.uniform(0, 6)) + np.cos(2 * xx + rng.uniform(0, 6)))
    mask = np.zeros((size, size), np.uint8)
    cellular = np.zeros((size, size), np.float32)
    for _ in range(rng.integers(15, 40)):
        centre = tuple(int(c) for c in rng.integers(0, size, 2))
        axes = tuple(int(a) for a in rng.integers(8, 30, 2))
        one = np.zeros_like(mask)
        cv2.ellipse(one, centre, axes, float(rng.uniform(0, 180)), 0, 360, 255, -1)
        mask = np.maximum(mask, one)
        cellular = np.maximum(cellular, one / 255 * rng.uniform(30, 90))
    texture = cv2.GaussianBlur(rng.normal(0, 1, (size, size)).astype(np.float32), (0, 0), 2) * 25
    image = background + cv2.GaussianBlur(cellular + (mask > 0) * texture, (0, 0), 1.5)
    image += rng.normal(0, 18, (size, size))
    return np.clip(image, 0, 255).astype(np.uint8), mask


def shapes(rng, size=128):
    """A colour image of a bright box (class 1) and a dark disc (class 2) on noisy grey: the tests' scene."""
    sys.path.insert(0, str(REPO / "tests"))
    from synthetic import scene as test_scene

    return test_scene(rng, (size, size))


def scene(rng, h, w):
    """A colour scene: sky (0) over ground (1), with textured buildings (2) and round bushes (3)."""
    import cv2

    horizon = int(h * rng.uniform(0.3, 0.5))
    mask = np.zeros((h, w), np.uint8)
    mask[horizon:] = 1
    for _ in range(rng.integers(2, 6)):
        x0, bw, top = int(rng.integers(0, w)), int(w * rng.uniform(0.08, 0.25)), int(h * rng.uniform(0.1, 0.4))
        mask[top:horizon + h // 20, x0:x0 + bw] = 2
    for _ in range(rng.integers(2, 8)):
        centre = (int(rng.integers(0, w)), int(horizon + rng.integers(-h // 20, h // 6)))
        cv2.circle(mask, centre, int(h * rng.uniform(0.03, 0.1)), 3, -1)
    colours = np.array([(135, 185, 235), (110, 105, 95), (170, 120, 90), (50, 120, 40)], np.float32)
    colours *= rng.uniform(0.8, 1.2, (4, 1))
    image = colours[mask]
    noise = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), max(1.0, h / 300)) * 30
    image += noise[..., None] * (mask > 0)[..., None]
    image += rng.normal(0, 6, (h, w, 1))
    return np.clip(image, 0, 255).astype(np.uint8), mask


def scene_large(rng):
    """A 2048x1536 scene."""
    return scene(rng, 1536, 2048)


def scene_small(rng):
    """A 256x192 scene."""
    return scene(rng, 192, 256)


def make(out):
    """Write every set to out/NAME/{train,test}/{images,masks}."""
    makers = {"cells": cells, "shapes": shapes, "scene_large": scene_large, "scene_small": scene_small}
    for name, (n_train, n_test, maker) in SETS.items():
        for split, n, seed in (("train", n_train, 0), ("test", n_test, 1)):
            rng = np.random.default_rng(seed)
            images, masks = out / name / split / "images", out / name / split / "masks"
            images.mkdir(parents=True, exist_ok=True)
            masks.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                image, mask = makers[maker](rng)
                Image.fromarray(image).save(images / f"{name}_{i:03d}.png")
                Image.fromarray(mask).save(masks / f"{name}_{i:03d}.png")
        print(f"{name}: {n_train} train, {n_test} test pairs in {out / name}")


def sweep(out, minutes, sets, configs):
    """Train every config on every set within `minutes`, score the held-out test folder, print JSON lines."""
    weights = out / "weights"
    weights.mkdir(exist_ok=True)
    for shipped in (REPO / "weights").glob("camvid-fcn8s.*"):  # the head start's source (a copy: the
        if not (weights / shipped.name).exists():                 # store refuses links out of its folder)
            shutil.copy(shipped, weights / shipped.name)
    log = out / "sweep.jsonl"
    done = {(r["set"], r["config"], r["minutes"]) for r in map(json.loads, log.read_text().splitlines())
            } if log.exists() else set()
    for set_name in sets:
        root = out / set_name
        for config in configs:
            if (set_name, config, minutes) in done:  # a rerun goes on where the last one stopped
                continue
            name = f"sweep-{set_name}-{config}"
            started = time.time()
            train = subprocess.run(
                [sys.executable, "-m", "segdemo", "train", "--images", str(root / "train" / "images"),
                 "--masks", str(root / "train" / "masks"), "--minutes", str(minutes), "--name", name,
                 "--weights-dir", str(weights), *CONFIGS[config]], capture_output=True, text=True, cwd=REPO)
            seconds = time.time() - started
            if train.returncode:
                print(json.dumps({"set": set_name, "config": config, "error": train.stderr[-500:]}), flush=True)
                continue
            scores = evaluate(name, root / "test", weights)
            manifest = json.loads((weights / f"{name}.json").read_text())
            row = {"set": set_name, "config": config, "minutes": minutes, "seconds": round(seconds),
                   "test_miou": scores["miou"], "test_pixel_accuracy": scores["pixel_accuracy"],
                   "val_miou": (manifest["metrics"]["val"] or {}).get("miou"),
                   "crop": manifest["recipe"]["crop"], "epochs": manifest["training"]["epochs_run"],
                   "stop_reason": manifest["training"]["stop_reason"]}
            print(json.dumps(row), flush=True)
            with open(log, "a") as f:
                f.write(json.dumps(row) + "\n")


def evaluate(name, folder, weights):
    """metrics.scores of model `name` on folder/{images,masks}."""
    from segdemo import data, infer

    segmenter = infer.Segmenter.load(name, weights)
    images, masks, _ = data.load_folder(folder / "images", folder / "masks", num_classes=len(segmenter.classes),
                                        ignore_index=segmenter.manifest.get("ignore_index"))
    return segmenter.evaluate(images, masks)[0]


def table(out, minutes):
    """OUT/sweep.jsonl's runs of `minutes` as a Markdown table: a row per set, test mIoU (pixel accuracy)
    per config, the best of each row in bold."""
    rows = [r for r in map(json.loads, (out / "sweep.jsonl").read_text().splitlines())
            if r["minutes"] == minutes and "test_miou" in r]
    configs = list(dict.fromkeys(r["config"] for r in rows))
    lines = ["| set | " + " | ".join(configs) + " |", "|---|" + "---:|" * len(configs)]
    for set_name in dict.fromkeys(r["set"] for r in rows):
        runs = {r["config"]: r for r in rows if r["set"] == set_name}
        best = max(r["test_miou"] for r in runs.values())
        cells = []
        for config in configs:
            r = runs.get(config)
            cell = f"{r['test_miou']:.3f} ({r['test_pixel_accuracy']:.3f})" if r else "-"
            cells.append(f"**{cell}**" if r and r["test_miou"] == best else cell)
        lines.append(f"| {set_name} | " + " | ".join(cells) + " |")
    print("\n".join(lines))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("make", "sweep", "table"))
    parser.add_argument("out", type=Path, help="folder for the data sets, the models and sweep.jsonl")
    parser.add_argument("--minutes", type=float, default=3.0, help="time budget of each run (default: 3)")
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    parser.add_argument("--configs", nargs="+", default=["scratch", "head"], choices=list(CONFIGS))
    args = parser.parse_args(argv)
    if args.command == "make":
        make(args.out)
    elif args.command == "table":
        table(args.out, args.minutes)
    else:
        sweep(args.out, args.minutes, args.sets, args.configs)


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
