"""The lowest layer's helpers: they import nothing of mmssl_ext but ``compat``
and ``registry`` (``tests/test_layers.py``)."""


def __getattr__(name: str):
    # mmpretrain and mmdet keep register_all_modules in utils; ours imports
    # every subpackage, so it sits at the top of the package instead. An
    # ImportError, not an AttributeError: `from mmssl_ext.utils import ...`
    # would replace the latter's message by a bare "cannot import name".
    if name == 'register_all_modules':
        raise ImportError(
            'mmssl_ext.utils.register_all_modules moved to mmssl_ext.register_all_modules '
            '(it imports every subpackage, so it belongs at the top of the package, not in '
            "its lowest layer): write 'from mmssl_ext import register_all_modules'")
    raise AttributeError(f"module 'mmssl_ext.utils' has no attribute {name!r}")
