"""segdemo: semantic segmentation teaching core (FCN, SegNet), importable without Gradio."""
