"""segdemo: semantic segmentation teaching core (FCN, SegNet), importable without Gradio."""
from .quiet import quiet

quiet()  # before anything imports tensorflow: see segdemo/quiet.py

from .infer import Segmentation, Segmenter  # noqa: E402

__all__ = ["Segmentation", "Segmenter"]
