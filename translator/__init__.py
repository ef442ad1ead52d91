"""ShapeProg translator: Blender geometry-node programs -> IR -> batched, differentiable PyTorch.

Importing this package imports neither torch nor bpy; submodules do as needed.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
