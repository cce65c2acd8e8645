"""Config errors caught before anything is built, each naming its key and the fix.

``tools/train.py`` (and so ``mim train`` and ``dist_train.sh``) calls
:func:`check_config` before it builds the Runner. It finds

* unknown keys in the configs of mmssl_ext's own modules (models, datasets,
  transforms, hooks), with the closest valid name: a misspelt
  ``queue_lenght`` would otherwise fail deep inside mmengine's builder, or,
  for a module that takes ``**kwargs``, be dropped silently;
* transforms of the train pipeline that refuse their arguments (MaskCo's
  boxes larger than the view, a mask ratio outside (0, 1) ...), reported with
  their place in the pipeline;
* a queue (MoCo, MaskCo, NNCLR, LooC) whose length is not a multiple of the
  global batch, or that an epoch-based loader would feed a smaller last batch:
  both would otherwise fail at the first enqueue, or at the end of the first
  epoch, hours into the run;
* with more than one process, an epoch-based loader without ``drop_last``
  for a model that gathers or reduces across processes (DetCon's targets,
  ccMIM's and SimCLR's cross-batch negatives, NNCLR, DINO's center): the
  ranks' last batches of an epoch differ in size, and the all-gather of
  unequal tensors fails or hangs (NCCL) at the end of the first epoch. Our
  algorithms say so with a class attribute ``equal_batches_reason``;
  mmpretrain's are listed here.

Modules of other packages (mmpretrain, mmengine, torch) are not key-checked:
their ``norm_cfg``/``act_cfg`` conventions carry keys that are not
constructor arguments.
"""
import difflib
import inspect
import os
from typing import List, Optional

from mmengine.config import Config
from mmengine.registry import DefaultScope, Registry

__all__ = ['ConfigError', 'check_config', 'accepted_arguments']


class ConfigError(ValueError):
    """One or more config errors; the message lists each key and its fix."""


def accepted_arguments(cls: type) -> Optional[List[str]]:
    """The keyword arguments ``cls(...)`` accepts, or None if it accepts any.

    Follows ``**kwargs`` up the MRO (a dataset's ``**kwargs`` go to
    mmengine's ``BaseDataset``) until a constructor without them.
    """
    names: List[str] = []
    for klass in cls.__mro__:
        if '__init__' not in vars(klass):
            continue
        if klass is object:
            return names
        try:
            parameters = inspect.signature(vars(klass)['__init__']).parameters.values()
        except (TypeError, ValueError):
            return None
        open_ended = False
        for parameter in list(parameters)[1:]:  # without self
            if parameter.kind is inspect.Parameter.VAR_KEYWORD:
                open_ended = True
            elif parameter.kind is not inspect.Parameter.VAR_POSITIONAL:
                names.append(parameter.name)
        if not open_ended:
            return names
    return names


def _resolve(registry: Registry, type_name) -> Optional[type]:
    if not isinstance(type_name, str):
        return type_name if inspect.isclass(type_name) else None
    try:
        return registry.get(type_name)
    except Exception:  # noqa: B902  an unknown type is mmengine's error to report
        return None


def _unknown_keys(node, path: str, registry: Registry, errors: List[str]) -> None:
    """Check ``node`` (a config dict with ``type``) and the module configs inside it."""
    if isinstance(node, (list, tuple)):
        for index, item in enumerate(node):
            _unknown_keys(item, f'{path}.{index}', registry, errors)
        return
    if not isinstance(node, dict):
        return
    cls = _resolve(registry, node.get('type')) if 'type' in node else None
    ours = cls is not None and cls.__module__.startswith('mmssl_ext.')
    arguments = accepted_arguments(cls) if ours else None
    for key, value in node.items():
        if key in ('type', '_scope_', '_delete_'):
            continue
        if arguments is not None and key not in arguments:
            renamed = getattr(cls, 'renamed_arguments', {}).get(key)
            close = difflib.get_close_matches(key, arguments, n=1, cutoff=0.6)
            hint = (f'; it became {renamed}.' if renamed else
                    f"; did you mean '{close[0]}'?" if close else '.')
            errors.append(f'{path}.{key}: {cls.__name__} has no argument {key!r}{hint} '
                          f'Its arguments: {", ".join(arguments)}')
        elif isinstance(value, (dict, list, tuple)) and key not in ('pipeline', ):
            _unknown_keys(value, f'{path}.{key}', registry, errors)


def _world_size() -> int:
    for variable in ('WORLD_SIZE', 'SLURM_NTASKS', 'OMPI_COMM_WORLD_SIZE'):
        if os.environ.get(variable, '').isdigit():
            return int(os.environ[variable])
    return 1


def _queue_len(model: dict) -> Optional[int]:
    """The model's ``queue_len``: the config's, else its class's default
    (a config may rely on it), None for a model without a queue."""
    queue_len = model.get('queue_len')
    if isinstance(queue_len, int) or not model.get('type'):
        return queue_len if isinstance(queue_len, int) else None
    from mmssl_ext.registry import MODELS
    cls = _resolve(MODELS, model['type'])
    try:
        default = inspect.signature(cls).parameters['queue_len'].default
    except (KeyError, TypeError, ValueError):
        return None
    return default if isinstance(default, int) else None


def _queue_errors(cfg: Config, world_size: int) -> List[str]:
    model, loader = cfg.get('model') or {}, cfg.get('train_dataloader') or {}
    queue_len, batch = _queue_len(model), loader.get('batch_size')
    if not isinstance(queue_len, int) or not isinstance(batch, int):
        return []
    errors = []
    global_batch = batch * world_size
    if queue_len % global_batch:
        fit = max(global_batch, round(queue_len / global_batch) * global_batch)
        errors.append(
            f'model.queue_len={queue_len} is not a multiple of the global batch '
            f'{global_batch} (train_dataloader.batch_size={batch} x {world_size} processes): '
            f'each step writes a whole batch of keys. Set model.queue_len={fit}, or a batch '
            'size that divides it.')
    sampler = (loader.get('sampler') or {}).get('type', '')
    if 'Infinite' not in str(sampler) and not loader.get('drop_last', False):
        errors.append(
            f'train_dataloader.drop_last is not set with an epoch-based sampler '
            f'({sampler or "DefaultSampler"}): the last batch of an epoch would be smaller and '
            f'could not fill the model.queue_len={queue_len} queue in whole batches. Set '
            'train_dataloader.drop_last=True.')
    return errors


# mmpretrain's algorithms that gather the batch across processes (their own
# code cannot carry our class attribute). MoCo and DenseCL are caught by
# their queue instead.
_MMPRETRAIN_EQUAL_BATCHES = {
    'SimCLR': "gathers the batch's embeddings across processes for its negatives",
    'MoCoV3': "gathers the batch's keys across processes for its negatives",
}


def _equal_batches_reason(model: dict) -> Optional[str]:
    from mmssl_ext.registry import MODELS
    type_name = model.get('type')
    cls = _resolve(MODELS, type_name)
    reason = getattr(cls, 'equal_batches_reason', None)
    if reason is None and isinstance(type_name, str):
        reason = _MMPRETRAIN_EQUAL_BATCHES.get(type_name.split('.')[-1])
    return reason


def _equal_batch_errors(cfg: Config, world_size: int) -> List[str]:
    model, loader = cfg.get('model') or {}, cfg.get('train_dataloader') or {}
    if world_size <= 1 or not model or _queue_len(model) is not None:
        return []  # one process: a short last batch is harmless; queues: _queue_errors
    sampler = (loader.get('sampler') or {}).get('type', '')
    if 'Infinite' in str(sampler) or loader.get('drop_last', False):
        return []
    reason = _equal_batches_reason(model)
    if reason is None:
        return []
    return [f'train_dataloader.drop_last is not set with an epoch-based sampler '
            f'({sampler or "DefaultSampler"}) and {world_size} processes: '
            f'{model.get("type")} {reason}, which needs a batch of the same size on every '
            'process, and the last batch of an epoch differs between them. Set '
            'train_dataloader.drop_last=True.']


def _pipeline_errors(pipeline, path: str, transforms: Registry, errors: List[str]) -> None:
    for index, step in enumerate(pipeline or []):
        if not isinstance(step, dict):
            continue
        here = f'{path}.{index}'
        before = len(errors)
        _unknown_keys(step, here, transforms, errors)
        if len(errors) > before:
            continue
        try:
            transforms.build(step)
        except Exception as err:  # noqa: B902  a transform's own argument check
            errors.append(f'{here} ({step.get("type")}): {type(err).__name__}: {err}')


def check_config(cfg: Config, world_size: Optional[int] = None) -> None:
    """Raise :class:`ConfigError` listing every problem found in ``cfg``.

    Args:
        cfg: a training config (after ``--cfg-options``).
        world_size: processes of the run; read from the launcher's
            environment (``WORLD_SIZE``, ``SLURM_NTASKS``) when None.
    """
    from mmssl_ext.registry import DATASETS, HOOKS, MODELS, TRANSFORMS
    world_size = _world_size() if world_size is None else world_size
    errors: List[str] = []
    scope = cfg.get('default_scope') or 'mmssl_ext'
    with DefaultScope.overwrite_default_scope(scope):
        if cfg.get('model'):
            _unknown_keys(cfg.model, 'model', MODELS, errors)
        for field in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            dataset = (cfg.get(field) or {}).get('dataset')
            if isinstance(dataset, dict):
                _unknown_keys(dataset, f'{field}.dataset', DATASETS, errors)
                if field == 'train_dataloader':
                    _pipeline_errors(dataset.get('pipeline'), f'{field}.dataset.pipeline',
                                     TRANSFORMS, errors)
        for index, hook in enumerate(cfg.get('custom_hooks') or []):
            _unknown_keys(hook, f'custom_hooks.{index}', HOOKS, errors)
    errors.extend(_queue_errors(cfg, world_size))
    with DefaultScope.overwrite_default_scope(scope):
        errors.extend(_equal_batch_errors(cfg, world_size))
    if errors:
        listed = '\n  '.join(errors)
        raise ConfigError(f'{len(errors)} config error(s):\n  {listed}\n(set or fix these '
                          'keys in the config, or on the command line with --cfg-options '
                          'key=value)')
