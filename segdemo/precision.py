"""Numeric precision: mixed bfloat16 on CPUs with bfloat16 units, float32 elsewhere."""
import contextlib
import os

from .choices import PRECISIONS

BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo flags of CPUs with bfloat16 arithmetic
POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16"}  # variables stay float32 in both
ONEDNN = "TF_ENABLE_ONEDNN_OPTS"  # TensorFlow reads it once, at import


def use_onednn():
    """Ask TensorFlow for its oneDNN CPU kernels, unless TF_ENABLE_ONEDNN_OPTS is set; call it before
    anything imports tensorflow (`segdemo train` does).

    TensorFlow turns them on by itself only on CPUs with VNNI, bfloat16 or AMX units. Elsewhere, on an
    AVX2 AMD EPYC for one, they train FCN-8s 1.5x faster but segment a frame 1.2x (SegNet 1.35x) slower
    (`segdemo bench`, README Benchmark): the training command asks for them, the app and inference do not.
    """
    os.environ.setdefault(ONEDNN, "1")


def onednn_on():
    """Whether this process's TensorFlow runs its oneDNN kernels (decided at its import); None when its
    build does not say."""
    try:
        from tensorflow.python.util import _pywrap_util_port  # TensorFlow's own answer; no public one
    except ImportError:
        return None
    return bool(_pywrap_util_port.IsMklEnabled())


def cpu_has_bf16(cpuinfo="/proc/cpuinfo"):
    """True when the CPU lists avx512_bf16 or amx_bf16 (Linux; False where /proc/cpuinfo is absent)."""
    try:
        with open(cpuinfo) as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return False
    return any(flag in flags for flag in BF16_FLAGS)


def pick_precision(name="auto"):
    """Resolve a precision name: auto is bfloat16 on a CPU-only machine with bfloat16 units, else float32.

    Args:
        name: one of PRECISIONS.

    Returns:
        "float32" or "bfloat16".
    """
    if name not in PRECISIONS:
        raise ValueError(f"precision must be one of {list(PRECISIONS)}, got {name!r}")
    if name != "auto":
        return name
    import tensorflow as tf

    # A GPU's own bfloat16 story differs (and float16 is its usual choice): keep float32 there.
    return "bfloat16" if cpu_has_bf16() and not tf.config.list_physical_devices("GPU") else "float32"


@contextlib.contextmanager
def dtype_policy(precision):
    """Build models inside this block to get `precision` ("float32" or "bfloat16"); restores the old policy."""
    import keras

    old = keras.config.dtype_policy()
    keras.config.set_dtype_policy(POLICIES[precision])
    try:
        yield
    finally:
        keras.config.set_dtype_policy(old)


def precision_of(model):
    """The precision a model computes in: "bfloat16" or "float32"."""
    return "bfloat16" if model.dtype_policy.name == POLICIES["bfloat16"] else "float32"


def cast_model(model, precision):
    """A copy of `model` computing in `precision`, with the same (float32) weights.

    Mixed bfloat16 keeps its variables in float32, so the copy shares no state but the values:
    a bfloat16 copy serves fast inference, a float32 copy is what gets saved.
    """
    import keras

    if precision_of(model) == precision:
        return model
    policy = POLICIES[precision]

    def clone(layer):
        return layer.__class__.from_config({**layer.get_config(), "dtype": policy})

    with dtype_policy(precision):
        copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy
