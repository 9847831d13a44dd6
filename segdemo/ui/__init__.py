"""The Gradio app's rooms: common.py (shared pieces) and one module per tab. Only this package imports gradio."""
