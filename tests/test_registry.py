"""Our registries sit under mmpretrain's and are reachable from other scopes."""
import pytest
from mmengine.registry import MODELS as ROOT_MODELS
from mmengine.registry import DefaultScope, init_default_scope

import mmssl_ext.registry as registry
from mmssl_ext import register_all_modules
from mmssl_ext.datasets import COCOImageDataset


def test_every_registry_is_a_child_of_mmpretrain():
    for name in registry.__all__:
        reg = getattr(registry, name)
        assert reg.scope == 'mmssl_ext', name
        assert reg.parent is not None and reg.parent.scope == 'mmpretrain', name


def test_mmssl_scope_finds_own_and_mmpretrain_modules():
    init_default_scope('mmssl_ext')
    assert registry.DATASETS.get('COCOImageDataset') is COCOImageDataset
    # Inherited from mmpretrain and from mmengine through the parents.
    assert registry.MODELS.get('MoCo').__module__.startswith('mmpretrain')
    assert registry.OPTIMIZERS.get('SGD') is not None


def test_root_registry_switches_to_mmssl_scope():
    # What the Runner does: build from mmengine's root with default_scope set.
    with registry.DATASETS.switch_scope_and_registry('mmssl_ext') as reg:
        assert reg is registry.DATASETS


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg', 'mmpretrain'])
def test_prefixed_types_resolve_from_other_scopes(scope):
    # An mmdet/mmseg/mmpretrain config names our modules with the scope prefix.
    import importlib
    registry_module = importlib.import_module(f'{scope}.registry')
    init_default_scope(scope)
    wrappers = registry_module.MODEL_WRAPPERS
    assert wrappers.get('mmssl_ext.CPUDistributedDataParallel').__name__ == \
        'CPUDistributedDataParallel'
    assert registry_module.DATASETS.get('mmssl_ext.COCOImageDataset') is COCOImageDataset
    # ...and through our registry, mmpretrain's modules under our scope.
    assert registry_module.MODELS.get('mmssl_ext.MoCo') is ROOT_MODELS.get('mmpretrain.MoCo')


def test_prefixed_type_builds_inside_an_mmdet_config(synthetic_root):
    import mmdet.registry
    init_default_scope('mmdet')
    dataset = mmdet.registry.DATASETS.build(dict(
        type='mmssl_ext.COCOImageDataset', data_root=synthetic_root,
        ann_file='annotations/instances_val.json', data_prefix=dict(img_path='images/val/')))
    assert len(dataset) == 12


def test_register_all_modules_sets_scope():
    DefaultScope._instance_dict.clear()
    register_all_modules(init_default_scope=True)
    assert DefaultScope.get_current_instance().scope_name == 'mmssl_ext'
    with pytest.warns(UserWarning, match='switches it to "mmssl_ext"'):
        init_default_scope('mmpretrain')
        register_all_modules(init_default_scope=True)
    assert DefaultScope.get_current_instance().scope_name == 'mmssl_ext'


def test_register_all_modules_is_at_the_top_and_its_old_place_names_the_new_one():
    import mmssl_ext
    assert mmssl_ext.register_all_modules is register_all_modules
    with pytest.raises(ImportError, match='moved to mmssl_ext.register_all_modules'):
        from mmssl_ext.utils import register_all_modules as old  # noqa: F401
    with pytest.raises(AttributeError, match='no attribute'):
        mmssl_ext.utils.no_such_helper
