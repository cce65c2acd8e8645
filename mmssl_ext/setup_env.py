"""Registration of every mmssl_ext module and the default scope.

The top layer of the package: it imports every subpackage (datasets, models,
engine, evaluation, visualization) so that their modules land in the
registries, so no lower layer may import it (``tests/test_layers.py``).
"""
import datetime
import warnings

from mmengine import DefaultScope


def register_all_modules(init_default_scope: bool = True) -> None:
    """Import every mmssl_ext module so that it lands in the registries.

    A config with ``default_scope='mmssl_ext'`` needs no call: our
    registries list their ``locations``, which mmengine imports on the first
    lookup. Call it where every module must be registered at once (tools
    that list or patch modules, tests), or to make the scope the default.

    Args:
        init_default_scope (bool): Also make ``mmssl_ext`` the global default
            scope (so a bare ``MODELS.build(dict(type='MaskCo'))`` works).
            Defaults to True.
    """
    import mmpretrain.utils
    mmpretrain.utils.register_all_modules(init_default_scope=False)

    import mmssl_ext.compat  # (applies the torch>=2.6 load shim)
    mmssl_ext.compat.patch_mmpretrain_hog_generator()  # needs mmpretrain's models imported
    import mmssl_ext.datasets  # noqa: F401
    import mmssl_ext.engine  # noqa: F401
    import mmssl_ext.evaluation  # noqa: F401
    import mmssl_ext.models  # noqa: F401
    import mmssl_ext.visualization  # noqa: F401

    if not init_default_scope:
        return
    current_scope = DefaultScope.get_current_instance()
    if current_scope is None:
        DefaultScope.get_instance('mmssl_ext', scope_name='mmssl_ext')
    elif current_scope.scope_name != 'mmssl_ext':
        warnings.warn(f'The current default scope "{current_scope.scope_name}" is not '
                      '"mmssl_ext"; register_all_modules switches it to "mmssl_ext". '
                      'Pass init_default_scope=False to keep it.')
        # DefaultScope instances are global by name: a fresh name avoids clashes.
        DefaultScope.get_instance(
            f'mmssl_ext-{datetime.datetime.now()}', scope_name='mmssl_ext')
