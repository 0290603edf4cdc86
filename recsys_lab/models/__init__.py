"""The book's models, one module per family. These modules import Keras/TensorFlow.

Importing this package imports TensorFlow with its C++ log silenced: on a machine without a
GPU it reports, on every start, that it found no CUDA driver, and later, at the first fit of
some models, an "ERROR"-level note that oneDNN falls back to Eigen for boolean tensors;
lines that vary from run to run and would land in the book's pages as stderr. Python
errors still surface as exceptions. Set ``TF_CPP_MIN_LOG_LEVEL`` before the import to see
the log.
"""

import contextlib
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # 3: errors too, see above
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


@contextlib.contextmanager
def _c_stderr_silenced():
    """Send file descriptor 2 (where C++ libraries log) to /dev/null for the block."""
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


with _c_stderr_silenced():
    import tensorflow as _tf

    _tf.config.list_physical_devices()  # probes for CUDA now, while the messages are silenced
