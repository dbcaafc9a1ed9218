"""Reading and writing images, CTC folders and ilastik projects."""

from .atomic import atomic_output, check_writable

__all__ = ["atomic_output", "check_writable"]
