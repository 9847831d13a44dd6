"""Model builders: FCN-32s/16s/8s and SegNet on a VGG16 encoder."""
from .fcn import VARIANTS as FCN_VARIANTS, build_fcn, transfer_weights
from .segnet import build_segnet
from .vgg import ENCODER_PREFIX

from ..choices import ARCHITECTURES  # noqa: E402 (keras-free: the CLI and the app list them too)

assert ARCHITECTURES == (*FCN_VARIANTS, "segnet"), "choices.ARCHITECTURES lists every builder"
__all__ = ["ARCHITECTURES", "ENCODER_PREFIX", "build_fcn", "build_model", "build_segnet", "transfer_weights"]


def build_model(arch, num_classes, width=1.0, **kwargs):
    """Build any architecture by name: one of ARCHITECTURES."""
    if arch in FCN_VARIANTS:
        return build_fcn(arch, num_classes=num_classes, width=width, **kwargs)
    if arch == "segnet":
        return build_segnet(num_classes=num_classes, width=width)
    raise ValueError(f"arch must be one of {list(ARCHITECTURES)}, got {arch!r}")
