"""The book's models, one module per family, each with the interface of :mod:`recsys_lab.base`.

Importing this package imports nothing heavy. :mod:`~recsys_lab.models.mf` needs only NumPy
until its Keras model is fitted; the other modules import Keras (through
:mod:`recsys_lab.models._keras`, which keeps TensorFlow's C++ start-up log quiet).
"""
