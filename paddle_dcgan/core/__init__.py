"""The DCGAN itself: the nets (models.py), the D and G steps (steps.py) and the training loop (loop.py).

Stock paddle layers and plain dygraph code only. Everything else (faster layers, several
processes, mixed precision, what a run writes) wraps these from outside the core.
"""
