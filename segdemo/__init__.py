"""segdemo: semantic segmentation teaching core (FCN, SegNet), importable without Gradio."""
from .infer import Segmentation, Segmenter

__all__ = ["Segmentation", "Segmenter"]
