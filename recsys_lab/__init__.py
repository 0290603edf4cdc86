"""recsys_lab: the helper package behind *Deep Learning for Recommender Systems*.

Importing the package is cheap: TensorFlow is imported only by the model modules
that need it, when a chapter first builds a Keras model.
"""

from recsys_lab.training import seed_everything

__all__ = ["seed_everything"]
__version__ = "0.1.0"
