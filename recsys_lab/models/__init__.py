"""The book's models, one module per family. These modules import Keras/TensorFlow.

Importing this package quiets TensorFlow's C++ start-up messages (they vary from run to
run and would clutter every notebook) unless the reader has chosen a log level.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
