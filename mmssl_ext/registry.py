"""Registries of mmssl_ext.

Every registry is a child of mmpretrain's registry of the same kind, which is a
child of mmengine's root. With ``default_scope='mmssl_ext'`` a config finds our
modules first, then mmpretrain's (``MoCo``, ``ResNet``, ``PackInputs``...),
then mmengine's. Other OpenMMLab scopes are reached with a prefix
(``type='mmdet.FasterRCNN'``); from an mmdet/mmseg/mmpretrain-scoped config our
modules are reached as ``type='mmssl_ext.MaskCo'`` after
``custom_imports=dict(imports=['mmssl_ext.models'])`` (see docs/en/registry.md).
"""
from mmengine.registry import Registry
from mmpretrain.registry import BATCH_AUGMENTS as MMPRETRAIN_BATCH_AUGMENTS
from mmpretrain.registry import DATA_SAMPLERS as MMPRETRAIN_DATA_SAMPLERS
from mmpretrain.registry import DATASETS as MMPRETRAIN_DATASETS
from mmpretrain.registry import EVALUATORS as MMPRETRAIN_EVALUATORS
from mmpretrain.registry import HOOKS as MMPRETRAIN_HOOKS
from mmpretrain.registry import LOG_PROCESSORS as MMPRETRAIN_LOG_PROCESSORS
from mmpretrain.registry import LOOPS as MMPRETRAIN_LOOPS
from mmpretrain.registry import METRICS as MMPRETRAIN_METRICS
from mmpretrain.registry import MODEL_WRAPPERS as MMPRETRAIN_MODEL_WRAPPERS
from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS
from mmpretrain.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMPRETRAIN_OPTIM_WRAPPER_CONSTRUCTORS
from mmpretrain.registry import OPTIM_WRAPPERS as MMPRETRAIN_OPTIM_WRAPPERS
from mmpretrain.registry import OPTIMIZERS as MMPRETRAIN_OPTIMIZERS
from mmpretrain.registry import PARAM_SCHEDULERS as MMPRETRAIN_PARAM_SCHEDULERS
from mmpretrain.registry import RUNNER_CONSTRUCTORS as MMPRETRAIN_RUNNER_CONSTRUCTORS
from mmpretrain.registry import RUNNERS as MMPRETRAIN_RUNNERS
from mmpretrain.registry import TASK_UTILS as MMPRETRAIN_TASK_UTILS
from mmpretrain.registry import TRANSFORMS as MMPRETRAIN_TRANSFORMS
from mmpretrain.registry import VISBACKENDS as MMPRETRAIN_VISBACKENDS
from mmpretrain.registry import VISUALIZERS as MMPRETRAIN_VISUALIZERS
from mmpretrain.registry import WEIGHT_INITIALIZERS as MMPRETRAIN_WEIGHT_INITIALIZERS

__all__ = [
    'RUNNERS', 'RUNNER_CONSTRUCTORS', 'LOOPS', 'HOOKS', 'LOG_PROCESSORS',
    'OPTIMIZERS', 'OPTIM_WRAPPERS', 'OPTIM_WRAPPER_CONSTRUCTORS',
    'PARAM_SCHEDULERS', 'DATASETS', 'DATA_SAMPLERS', 'TRANSFORMS', 'MODELS',
    'MODEL_WRAPPERS', 'WEIGHT_INITIALIZERS', 'BATCH_AUGMENTS', 'TASK_UTILS',
    'METRICS', 'EVALUATORS', 'VISUALIZERS', 'VISBACKENDS'
]

# mmengine imports a registry's ``locations`` lazily, but only the registry's
# own: a lookup that falls through to mmpretrain's parent registry finds it
# empty unless mmpretrain's modules were imported. So ours list both.
_ENGINE = ['mmssl_ext.engine', 'mmpretrain.engine']
_DATA = ['mmssl_ext.datasets', 'mmpretrain.datasets']
_MODELS = ['mmssl_ext.models', 'mmpretrain.models']
_EVALUATION = ['mmssl_ext.evaluation', 'mmpretrain.evaluation']
_VISUALIZATION = ['mmssl_ext.visualization', 'mmpretrain.visualization']

RUNNERS = Registry('runner', parent=MMPRETRAIN_RUNNERS, locations=_ENGINE)
RUNNER_CONSTRUCTORS = Registry(
    'runner constructor', parent=MMPRETRAIN_RUNNER_CONSTRUCTORS, locations=_ENGINE)
LOOPS = Registry('loop', parent=MMPRETRAIN_LOOPS, locations=_ENGINE)
HOOKS = Registry('hook', parent=MMPRETRAIN_HOOKS, locations=_ENGINE)
LOG_PROCESSORS = Registry(
    'log processor', parent=MMPRETRAIN_LOG_PROCESSORS, locations=_ENGINE)
OPTIMIZERS = Registry('optimizer', parent=MMPRETRAIN_OPTIMIZERS, locations=_ENGINE)
OPTIM_WRAPPERS = Registry(
    'optim_wrapper', parent=MMPRETRAIN_OPTIM_WRAPPERS, locations=_ENGINE)
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor',
    parent=MMPRETRAIN_OPTIM_WRAPPER_CONSTRUCTORS,
    locations=_ENGINE)
PARAM_SCHEDULERS = Registry(
    'parameter scheduler', parent=MMPRETRAIN_PARAM_SCHEDULERS, locations=_ENGINE)

DATASETS = Registry('dataset', parent=MMPRETRAIN_DATASETS, locations=_DATA)
DATA_SAMPLERS = Registry('data sampler', parent=MMPRETRAIN_DATA_SAMPLERS, locations=_DATA)
TRANSFORMS = Registry('transform', parent=MMPRETRAIN_TRANSFORMS, locations=_DATA)

MODELS = Registry('model', parent=MMPRETRAIN_MODELS, locations=_MODELS)
MODEL_WRAPPERS = Registry('model_wrapper', parent=MMPRETRAIN_MODEL_WRAPPERS, locations=_MODELS)
WEIGHT_INITIALIZERS = Registry(
    'weight initializer', parent=MMPRETRAIN_WEIGHT_INITIALIZERS, locations=_MODELS)
BATCH_AUGMENTS = Registry(
    'batch augment', parent=MMPRETRAIN_BATCH_AUGMENTS, locations=_MODELS)
TASK_UTILS = Registry('task util', parent=MMPRETRAIN_TASK_UTILS, locations=_MODELS)

METRICS = Registry('metric', parent=MMPRETRAIN_METRICS, locations=_EVALUATION)
EVALUATORS = Registry(
    'evaluator', parent=MMPRETRAIN_EVALUATORS, locations=_EVALUATION)
VISUALIZERS = Registry(
    'visualizer', parent=MMPRETRAIN_VISUALIZERS, locations=_VISUALIZATION)
VISBACKENDS = Registry(
    'vis_backend', parent=MMPRETRAIN_VISBACKENDS, locations=_VISUALIZATION)


def _reachable_from_every_scope(registry: Registry) -> None:
    """List ``registry`` among the children of mmengine's root registry too.

    mmengine resolves a prefixed type (``'mmssl_ext.X'``) from another scope
    (an mmdet or mmseg config) by looking at the root's *direct* children
    only. Ours hang under mmpretrain's registries (so that our configs use
    mmpretrain's modules by bare name), which would hide them from mmdet and
    mmseg. Linking them at the root as well keeps both lookups working; the
    parent chain (mmssl_ext -> mmpretrain -> mmengine) is unchanged.
    """
    root = registry._get_root_registry()
    # A private attribute of mmengine's Registry (0.10.x, the tested range):
    # its absence in another release is said plainly, not as an AttributeError
    # from deep inside an import.
    children = getattr(root, '_children', None)
    if not isinstance(children, dict):
        import mmengine
        raise RuntimeError(
            f"mmssl_ext links its registries at the root of mmengine's registry tree through "
            f'Registry._children, which mmengine {mmengine.__version__} does not have; '
            f"install the tested mmengine (>=0.10.4,<0.11, see setup.cfg)")
    children.setdefault(registry.scope, registry)


for _registry in (RUNNERS, RUNNER_CONSTRUCTORS, LOOPS, HOOKS, LOG_PROCESSORS, OPTIMIZERS,
                  OPTIM_WRAPPERS, OPTIM_WRAPPER_CONSTRUCTORS, PARAM_SCHEDULERS, DATASETS,
                  DATA_SAMPLERS, TRANSFORMS, MODELS, MODEL_WRAPPERS, WEIGHT_INITIALIZERS,
                  TASK_UTILS, METRICS, EVALUATORS, VISUALIZERS, VISBACKENDS):
    _reachable_from_every_scope(_registry)
