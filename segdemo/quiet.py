"""A quiet terminal: TensorFlow's start-up log stays out of it on machines without a GPU.

``segdemo/__init__`` calls ``quiet()`` before anything imports TensorFlow, so every entry point
(``python -m segdemo``, app.py, scripts that import segdemo) goes through it. What it hides, as
measured with tensorflow 2.21 on a CPU-only machine:

- at ``import tensorflow``: "All log messages before absl::InitializeLog() is called are written
  to STDERR", "cudart_stub.cc: Could not find cuda drivers on your machine" (twice) and
  "cpu_feature_guard.cc: This TensorFlow binary is optimized ...". The cudart lines are written
  by absl before TF_CPP_MIN_LOG_LEVEL applies, so the import runs with file descriptor 2 muted;
  a failing import still raises, and its traceback is printed once stderr is back.
- at the first operation: "cuda_platform.cc: failed call to cuInit", a C++ ERROR line, hidden by
  TF_CPP_MIN_LOG_LEVEL=3 (errors that matter reach Python as exceptions).
- "N out of the last M calls to <function Segmenter.__init__.<locals>.probs> triggered tf.function
  retracing" when several models are loaded (the app, Compare, evaluation): each Segmenter
  traces its own function once, by design, and TensorFlow counts those traces together. Only
  this message, about this function, is dropped; any other retracing warning still shows.

Set TF_CPP_MIN_LOG_LEVEL yourself to choose; 0 shows everything, the import included.
"""
import contextlib
import importlib.abc
import importlib.util
import logging
import os
import sys

# OpenCV and its FFmpeg would print their own lines about a bad clip; segdemo says it in one.
OPENCV_LOG_LEVELS = {"OPENCV_FFMPEG_LOGLEVEL": "-8", "OPENCV_LOG_LEVEL": "ERROR"}  # read when cv2 loads
TF_LOG_LEVEL = "3"  # TF_CPP_MIN_LOG_LEVEL unless set: only FATAL C++ messages
SEGMENTER_TRACE = "Segmenter.__init__.<locals>.probs"  # Segmenter's tf.function, traced once per model


def quiet():
    """Set TensorFlow's and OpenCV's log levels (unless set) and mute TensorFlow's import (once)."""
    for key, level in OPENCV_LOG_LEVELS.items():
        os.environ.setdefault(key, level)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", TF_LOG_LEVEL)
    logging.getLogger("tensorflow").addFilter(_not_segmenter_retracing)  # added once: same function
    if os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0" or "tensorflow" in sys.modules:
        return
    if not any(isinstance(finder, _QuietImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _QuietImport())


def _not_segmenter_retracing(record):
    """False for TensorFlow's retracing warning about Segmenter's own tf.function."""
    message = record.getMessage()
    return not ("triggered tf.function retracing" in message and SEGMENTER_TRACE in message)


class _QuietImport(importlib.abc.MetaPathFinder):
    """Finds the top-level tensorflow package once and hands it a loader that mutes stderr."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)  # once: tensorflow's own submodules import as usual
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _MutedLoader(spec.loader)
        return spec


class _MutedLoader(importlib.abc.Loader):
    """Runs another loader's exec_module with file descriptor 2 pointed at /dev/null."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        module.__spec__.loader = module.__loader__ = self.loader  # the package keeps its own loader
        with _muted_stderr():
            self.loader.exec_module(module)


@contextlib.contextmanager
def _muted_stderr():
    """Point file descriptor 2 (C++ and Python stderr alike) at /dev/null, then back."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all: nothing to mute
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
