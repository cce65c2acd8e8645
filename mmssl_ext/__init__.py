"""mmssl_ext: region-level and masked self-supervised pretraining for OpenMMLab."""
from . import compat  # noqa: F401  (small shims for the pinned OpenMMLab releases)
from .setup_env import register_all_modules
from .utils import checkpoint_io  # noqa: F401  (weights_only loading, atomic checkpoint writes)
from .version import __version__, version_info

__all__ = ['__version__', 'version_info', 'register_all_modules']
