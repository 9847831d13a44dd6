"""A quiet terminal: segdemo.quiet drops TensorFlow's noise and nothing else."""
import logging

import segdemo  # noqa: F401  importing segdemo runs quiet()

SEGMENTER = "<function Segmenter.__init__.<locals>.probs at 0x7f00>"
OTHER = "<function my_step at 0x7f00>"
RETRACING = "%d out of the last %d calls to %s triggered tf.function retracing."


class Keep(logging.Handler):
    """A handler that keeps the messages it is given."""

    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_only_the_segmenter_retracing_warning_is_dropped():
    log, kept = logging.getLogger("tensorflow"), Keep()
    log.addHandler(kept)
    try:
        log.warning(RETRACING, 5, 9, SEGMENTER)
        log.warning(RETRACING, 6, 11, OTHER)
        log.warning("something else about %s", SEGMENTER)
    finally:
        log.removeHandler(kept)
    assert kept.messages == [
        f"6 out of the last 11 calls to {OTHER} triggered tf.function retracing.",
        f"something else about {SEGMENTER}",
    ]
