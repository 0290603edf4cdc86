"""The book's models, one module per family. These modules import Keras/TensorFlow."""
