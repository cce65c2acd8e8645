"""The training benchmark and the pieces the other benchmark tools share
(``tools/analysis_tools/benchmark_*.py``).

The tools time the *real* training step of a config: its model built by the
registry and initialised as the Runner does, its optimizer wrapper, its data
pipeline. Everything here only builds and measures; nothing changes the maths.
"""
import contextlib
import copy
import dataclasses
import glob
import inspect
import logging
import os.path as osp
import resource
import statistics
import threading
import time
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import torch
from mmengine.config import Config
from mmengine.logging import print_log
from torch import nn

SYNTHETIC_HINT = ('run python tools/misc/make_synthetic_scenes.py first (or make demo)')


def pretraining_configs(config_dir: str) -> List[str]:
    """Every pretraining config under ``config_dir`` (``configs/``), sorted: the
    top-level configs of each method, not ``_base_`` parts and not the
    downstream evaluations of ``benchmarks/`` (mmdet/mmseg/mmpretrain)."""
    found = sorted(glob.glob(osp.join(config_dir, '**', '*.py'), recursive=True))
    return [c for c in found
            if not {'_base_', 'benchmarks'} & set(osp.relpath(c, config_dir).split(osp.sep))]


def drop_remote_init(node, where: str = 'model') -> List[str]:
    """Set to None, in place, every ``init_cfg`` of a model config that loads
    weights from a URL (BEiT's DALL-E tokenizer), for machines without network:
    the part stays randomly initialised, which changes its outputs' values, not
    the step. Returns the dotted paths of the parts changed."""
    found = []
    if isinstance(node, dict):
        init = node.get('init_cfg')
        if isinstance(init, dict) and str(init.get('checkpoint', '')).startswith('http'):
            node['init_cfg'] = None
            found.append(where)
        for key, value in node.items():
            found += drop_remote_init(value, f'{where}.{key}')
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            found += drop_remote_init(value, f'{where}.{i}')
    return found


def load_config(path: str) -> Config:
    """A config file, or ``package::path`` of an installed OpenMMLab package
    (``mmpretrain::simclr/simclr_resnet50_16xb256-coslr-200e_in1k.py``)."""
    if '::' in path:
        from mmengine.hub import get_config
        return get_config(path)
    from mmssl_ext.utils.tool_errors import load_config as load_config_file
    return load_config_file(path, fix='give a config path, or package::path of an installed '
                            'OpenMMLab package (mmpretrain::mocov2/...)')


def cpu_norms(cfg, in_mlp: bool = False) -> None:
    """Replace SyncBN (GPU process groups only) in a model config, in place: BN in
    the backbone, BN1d in the MLPs (necks, predictors, heads), which see (N, C)."""
    if isinstance(cfg, dict):
        for key, value in cfg.items():
            mlp = in_mlp or key in ('neck', 'predictor', 'head', 'projector')
            if key == 'norm_cfg' and isinstance(value, dict) and value.get('type') == 'SyncBN':
                value['type'] = 'BN1d' if in_mlp else 'BN'
            else:
                cpu_norms(value, mlp)
    elif isinstance(cfg, (list, tuple)):
        for value in cfg:
            cpu_norms(value, in_mlp)


def use_synthetic_scenes(dataset_cfg: dict, data_root: str) -> None:
    """Point a train dataset config at the embedded synthetic scenes, in place.

    Any pretraining pipeline reads them: the scenes are COCO-format images, and
    DetCon's FH masks and DiLo's saliency maps are computed on the fly where
    they were not precomputed.
    """
    if not osp.isfile(osp.join(data_root, 'annotations', 'instances_train.json')):
        raise FileNotFoundError(f'no synthetic scenes in {data_root}: {SYNTHETIC_HINT}')
    for step in dataset_cfg.get('pipeline', []):
        if step.get('type') == 'LoadFHMasks':
            step.update(mask_dir=osp.join(data_root, 'fh_masks', 'train'),
                        img_dir=osp.join(data_root, 'images', 'train'), online=True,
                        online_scale=200)
        if step.get('type') == 'LoadSaliency':
            step.update(saliency_dir=osp.join(data_root, 'saliency', 'train'),
                        img_dir=osp.join(data_root, 'images', 'train'), online=True)
    dataset_cfg.update(type='COCOImageDataset', data_root=data_root,
                       ann_file='annotations/instances_train.json',
                       data_prefix=dict(img_path='images/train/'))
    for key in ('indices', 'serialize_data', 'with_label', 'split'):
        dataset_cfg.pop(key, None)


def one_batch(cfg: Config, data_root: str, batch: int) -> dict:
    """A collated batch of ``batch`` synthetic scenes made by the config's own
    train pipeline (``cfg`` is not modified)."""
    from mmengine.dataset import default_collate

    from mmssl_ext.registry import DATASETS
    dataset_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
    use_synthetic_scenes(dataset_cfg, data_root)
    dataset = DATASETS.build(dataset_cfg)
    return default_collate([dataset[i % len(dataset)] for i in range(batch)])


def view_size(data: dict) -> int:
    """Side, in pixels, of the first view of a collated batch."""
    inputs = data['inputs']
    first = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
    return int(first.shape[-1])


def build_for_training(cfg: Config, device: str):
    """The config's model (with the top-level ``data_preprocessor`` merged in,
    seeded, ``init_weights`` as the Runner calls it, train mode, on
    ``device``) and its optimizer wrapper. Variants of a model are options of
    its config, not patches of its methods."""
    from mmengine.optim import build_optim_wrapper

    from mmssl_ext.registry import MODELS
    model_cfg = copy.deepcopy(cfg.model)
    if cfg.get('data_preprocessor'):  # a top-level one, as the Runner merges it
        model_cfg.setdefault('data_preprocessor', copy.deepcopy(cfg.data_preprocessor))
    torch.manual_seed(0)
    model = MODELS.build(model_cfg).to(device)
    model.init_weights()
    model.train()
    return model, build_optim_wrapper(model, copy.deepcopy(cfg.optim_wrapper))


def checked_step(model: nn.Module, optim_wrapper, data: dict,
                 autocast_dtype: Optional[torch.dtype] = None, channels_last: bool = False,
                 seed: int = 0) -> Tuple[Dict[str, float], bool]:
    """One real training step (``model.train_step``: forward, backward, update),
    optionally under autocast and with channels-last weights.

    The global generators are seeded first, so that steps of copies of one
    model on one batch draw the same masks and regions: their losses differ
    only by precision and memory format.

    Args:
        model: a model built for training (``build_for_training``); with
            ``channels_last`` its 4-D tensors are converted in place.
        optim_wrapper: its optimizer wrapper.
        data: a collated batch (``one_batch``).
        autocast_dtype: ``torch.bfloat16``/``torch.float16`` to run the step
            under ``torch.autocast`` on the model's device type; None for fp32.
        channels_last: store the model's 4-D tensors channels-last first.
        seed: seed of python's, numpy's and torch's generators.

    Returns:
        The step's log variables as floats, and whether every gradient that
        reached the optimizer was finite (False when the optimizer never stepped).
    """
    from mmssl_ext.engine.hooks.channels_last import ChannelsLastHook
    from mmssl_ext.engine.hooks.iteration_seed import seed_everything
    if channels_last:
        ChannelsLastHook.convert(model)
    finite = []

    def check_gradients(optimizer, args, kwargs) -> None:
        finite.append(all(bool(torch.isfinite(p.grad).all()) for group in optimizer.param_groups
                          for p in group['params'] if p.grad is not None))

    handle = optim_wrapper.optimizer.register_step_pre_hook(check_gradients)
    device_type = next(model.parameters()).device.type
    seed_everything(seed)
    try:
        with torch.autocast(device_type, dtype=autocast_dtype or torch.bfloat16,
                            enabled=autocast_dtype is not None):
            log = model.train_step(data, optim_wrapper)
    finally:
        handle.remove()
    return {key: float(value) for key, value in log.items()}, bool(finite) and all(finite)


@torch.no_grad()
def forward_losses(model: nn.Module, data: dict, channels_last: bool = False,
                   seed: int = 0) -> Dict[str, float]:
    """The losses of a training step's forward pass alone (train mode, no
    graph, nothing updated but what the forward writes: queues, BN statistics).

    Seeded as :func:`checked_step` seeds, so that its loss is the one the
    step of a copy of the model on the same batch computes before updating:
    a memory-format check then costs one forward, not a second step.
    """
    from mmssl_ext.engine.hooks.channels_last import ChannelsLastHook
    from mmssl_ext.engine.hooks.iteration_seed import seed_everything
    if channels_last:
        ChannelsLastHook.convert(model)
    seed_everything(seed)
    batch = model.data_preprocessor(data, True)
    _, log = model.parse_losses(model(**batch, mode='loss'))
    return {key: float(value) for key, value in log.items()}


class _Encoder(nn.Module):
    """backbone (+ neck for an algorithm whose ``neck_in_encoder`` says it maps
    feature maps, as MaskCo's MPH) for MAC counting."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.backbone = model.backbone
        self.neck = model.neck if getattr(model, 'neck_in_encoder', False) else None

    def forward(self, x: torch.Tensor):
        out = self.backbone(x)
        return self.neck(out) if self.neck is not None else out


def encoder_macs(model: nn.Module, size: int) -> float:
    """Multiply-accumulates of the encoder on one (1, 3, size, size) view."""
    from mmengine.analysis import get_model_complexity_info
    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    was_training, level = model.training, logger.level
    logger.setLevel('ERROR')  # one warning per operator the counter skips (BN, pooling)
    try:
        # no graph: with_cp blocks then run plainly (a trace cannot enter a checkpoint)
        with torch.no_grad():
            info = get_model_complexity_info(_Encoder(model).eval(),
                                             inputs=(torch.zeros(1, 3, size, size), ),
                                             show_table=False, show_arch=False)
    finally:
        model.train(was_training)
        logger.setLevel(level)
    return float(info['flops'])  # fvcore-style counting: one MAC counts as one "flop"


@contextlib.contextmanager
def count_saved_activations() -> Iterator[Dict[int, int]]:
    """Within the block, record the storages autograd saves for the backward:
    ``{storage pointer: bytes}`` (a storage shared by several saved tensors is
    counted once). Sum the values for the activation memory, on any device."""
    storages: Dict[int, int] = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        yield storages


def current_rss_bytes() -> Optional[int]:
    """Resident set size of this process now (Linux ``/proc``; None elsewhere)."""
    try:
        with open('/proc/self/statm') as f:
            return int(f.read().split()[1]) * resource.getpagesize()
    except OSError:
        return None


class RSSSampler:
    """Peak resident set size while a block runs, sampled every ``interval`` s
    by a thread (the training step runs in native code that releases the GIL).

    ``rise`` is the peak minus the RSS when the block started: what the block
    itself needed (activations, gradients, optimizer state on a first step).
    Meaningful in a process that holds nothing else that grows meanwhile.
    """

    def __init__(self, interval: float = 0.002) -> None:
        self.interval = interval
        self.start = self.peak = 0
        self._stop = threading.Event()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, current_rss_bytes() or 0)

    def __enter__(self) -> 'RSSSampler':
        if current_rss_bytes() is None:
            raise RuntimeError('RSS sampling needs Linux /proc/self/statm')
        self.start = self.peak = current_rss_bytes()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, current_rss_bytes() or 0)

    @property
    def rise(self) -> int:
        return self.peak - self.start


def spread(values: Sequence[float]) -> Dict[str, float]:
    """median, quartiles, min and max of a sample (quartiles need 2+ values)."""
    values = sorted(values)
    if len(values) >= 2:
        q1, _, q3 = statistics.quantiles(values, n=4, method='inclusive')
    else:
        q1 = q3 = values[0]
    return dict(median=statistics.median(values), q1=q1, q3=q3, min=values[0], max=values[-1],
                n=len(values))


def detcon_loss_memory(images: int, gathered: int, masks: int = 16, dim: int = 256,
                       block_images: Optional[int] = None, device: str = 'cpu',
                       seed: int = 0, return_grads: bool = False) -> Dict[str, Optional[float]]:
    """Measure one forward and backward of ``DetConLoss`` on one process.

    The process holds ``images`` images of ``masks`` predictions each; the
    targets are those of ``gathered`` images (the batch gathered across
    processes: 16 x 256 = 4096 in the shipped DetCon recipes), stand-ins for
    the all-gather so that a single process measures a multi-GPU batch.

    Returns:
        ``saved_mib``: what autograd keeps for the backward
        (:func:`count_saved_activations`); ``logits_mib``: one fp32 logits
        tensor of one direction, ``images x masks x 2 gathered x masks``, the
        unit of the loss's memory; ``peak_mib``: the peak allocated during
        forward and backward (CUDA only, else None); ``ms``: the wall time of
        both; ``loss``: the value (equal across ``block_images``); with
        ``return_grads``, ``grads``: the predictions' gradients (2, images,
        masks, dim) on the CPU.
    """

    import torch.nn.functional as F

    from mmssl_ext.models.losses import DetConLoss
    gen = torch.Generator().manual_seed(seed)

    def unit(*shape, grad=False):
        x = F.normalize(torch.randn(*shape, generator=gen), dim=-1).to(device)
        return x.requires_grad_(grad)

    pred1, pred2 = unit(images, masks, dim, grad=True), unit(images, masks, dim, grad=True)
    target1, target2 = unit(gathered, masks, dim), unit(gathered, masks, dim)
    ids = [torch.randint(0, masks, (images, masks), generator=gen).to(device) for _ in range(2)]
    loss_fn = DetConLoss(block_images=block_images)
    if device == 'cuda':
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    start = time.perf_counter()
    with count_saved_activations() as storages:
        loss = loss_fn._both_directions(pred1, pred2, target1, target2, *ids, 0)
    loss.backward()
    if device == 'cuda':
        torch.cuda.synchronize()
    ms = (time.perf_counter() - start) * 1e3
    peak = (torch.cuda.max_memory_allocated() - base) / 2**20 if device == 'cuda' else None
    figures = dict(images=images, gathered=gathered, masks=masks, block_images=block_images,
                   saved_mib=sum(storages.values()) / 2**20,
                   logits_mib=images * masks * 2 * gathered * masks * 4 / 2**20,
                   peak_mib=peak, ms=ms, loss=float(loss.detach()))
    if return_grads:
        figures['grads'] = torch.stack([pred1.grad, pred2.grad]).cpu()
    return figures


# --------------------------------------------------------------------------
# The training-step benchmark (tools/analysis_tools/benchmark_train.py prints
# what these return).
# --------------------------------------------------------------------------
@dataclasses.dataclass
class TrainBenchmarkSettings:
    """How :func:`measure_training` runs; the fields of benchmark_train.py's
    options. ``amp`` is a dtype name ('float16', 'bfloat16') or None;
    ``compile_modules`` comma-separated module names or None."""

    device: str = 'cpu'
    batch: Optional[int] = None  # the config's when None
    warmup: int = 3
    iters: int = 20
    synthetic_data: bool = False  # one batch of the pipeline reused: the model step alone
    data_root: str = 'data/synthetic_scenes'
    own_data: bool = False  # the config's own dataset, not the synthetic scenes
    workers: Optional[int] = None
    amp: Optional[str] = None
    channels_last: bool = False
    compile: bool = False
    compile_modules: Optional[str] = None
    with_cp: bool = False
    memory: bool = True  # the peak-memory child processes

    def fast_path_names(self) -> List[str]:
        return [name for name, on in ((self.amp, self.amp),
                                      ('channels_last', self.channels_last),
                                      ('compile', self.compile),
                                      (f'compile {self.compile_modules}', self.compile_modules),
                                      ('with_cp', self.with_cp)) if on]


def prepare_training_config(path: str, options: dict, settings: TrainBenchmarkSettings,
                            fast_paths: bool) -> Config:
    """The config as it is measured: overrides merged, BN for one CPU process,
    the fast paths set as a user sets them (with ``fast_paths``), an AMP
    wrapper replaced by its fp32 step on the CPU, the batch and workers of
    ``settings``, the synthetic scenes (unless ``own_data``) and a queue of
    whole batches. Raises ``ConfigError`` for what cannot be measured."""
    from mmssl_ext.utils.config_check import ConfigError
    cfg = load_config(path)
    if options:
        cfg.merge_from_dict(copy.deepcopy(options))
    if settings.device == 'cpu':
        cpu_norms(cfg.model)
    if fast_paths:
        set_fast_paths(cfg, settings)
    if 'AmpOptimWrapper' in str(cfg.optim_wrapper.get('type')) and settings.device == 'cpu':
        if fast_paths and settings.amp:
            raise ConfigError(f'{path}: mmengine\'s AmpOptimWrapper needs a GPU (its '
                              'GradScaler is CUDA-only): drop --amp on the CPU')
        # An AMP config on the CPU: its fp32 step.
        print_log(f'{osp.basename(path)}: AMP needs a GPU; timing the fp32 step',
                  logger='current', level=logging.WARNING)
        cfg.optim_wrapper = dict(type='OptimWrapper', optimizer=cfg.optim_wrapper.optimizer,
                                 **{k: v for k, v in cfg.optim_wrapper.items()
                                    if k in ('paramwise_cfg', 'clip_grad')})
    loader = cfg.train_dataloader
    if settings.batch:
        loader.batch_size = settings.batch
    if settings.workers is not None:
        loader.num_workers = settings.workers
        if settings.workers == 0:
            loader.persistent_workers = False
    if not settings.own_data:
        use_synthetic_scenes(loader.dataset, settings.data_root)
    # A queue must hold a whole number of batches.
    if 'queue_len' in cfg.model:
        cfg.model.queue_len = max(cfg.model.queue_len // loader.batch_size, 1) * loader.batch_size
    return cfg


def set_fast_paths(cfg: Config, settings: TrainBenchmarkSettings) -> None:
    """The config options of the requested fast paths, as a user sets them."""
    from mmssl_ext.utils.config_check import ConfigError
    if settings.amp:
        cfg.optim_wrapper.update(type='AmpOptimWrapper', dtype=settings.amp)
    if settings.channels_last:
        cfg.custom_hooks = list(cfg.get('custom_hooks', None) or []) + [
            dict(type='ChannelsLastHook')]
    if settings.compile:
        cfg.compile = True
    if settings.compile_modules:
        cfg.custom_hooks = list(cfg.get('custom_hooks', None) or []) + [
            dict(type='CompileModulesHook', modules=settings.compile_modules.split(','))]
    if settings.with_cp:
        from mmssl_ext.registry import MODELS
        for part in ('backbone', 'neck'):
            part_cfg = cfg.model.get(part)
            if not part_cfg:
                continue
            cls = MODELS.get(part_cfg['type'])
            if cls is not None and 'with_cp' in inspect.signature(cls).parameters:
                part_cfg['with_cp'] = True
            elif part == 'backbone':
                raise ConfigError(f'{cfg.filename or "<config>"}: the backbone '
                                  f'{part_cfg["type"]} has no with_cp option (mmpretrain\'s '
                                  'ResNet and our ImportanceMaskingViT have; mmpretrain\'s '
                                  'ViT/MAEViT do not)')


def apply_fast_paths(model: nn.Module, cfg: Config) -> None:
    """What the Runner would do to the model: the ``ChannelsLastHook`` and
    ``CompileModulesHook`` of ``custom_hooks``, then ``compile`` (as mmengine
    compiles ``train_step``)."""
    from mmssl_ext.engine.hooks import ChannelsLastHook, CompileModulesHook
    for hook in cfg.get('custom_hooks', None) or []:
        kind = str(hook.get('type')).split('.')[-1]
        if kind == 'ChannelsLastHook':
            ChannelsLastHook.convert(model)
        elif kind == 'CompileModulesHook':
            options = {k: v for k, v in hook.items() if k not in ('type', 'modules', 'priority')}
            CompileModulesHook.compile(model, hook.get('modules', ('backbone', )), **options)
    compile_cfg = cfg.get('compile', False)
    if compile_cfg:
        compile_cfg = {} if compile_cfg is True else dict(compile_cfg)
        compile_cfg.pop('target', None)
        model.train_step = torch.compile(model.train_step, **compile_cfg)


class TrainingSubject:
    """One config under measurement: its model, optimizer wrapper and batches."""

    def __init__(self, path: str, options: dict, settings: TrainBenchmarkSettings,
                 fast_paths: bool = True) -> None:
        self.path, self.options, self.fast_paths = path, options, fast_paths
        self.name = osp.basename(path.split('::')[-1]) + (
            ''.join(f' +{name}' for name in settings.fast_path_names()) if fast_paths else '')
        self.cfg = prepare_training_config(path, options, settings, fast_paths)
        self.device = settings.device
        self.batch = self.cfg.train_dataloader.batch_size
        self.synthetic = settings.synthetic_data
        if settings.synthetic_data:
            self.fixed_batch = one_batch(self.cfg, settings.data_root, self.batch)
            self.loader = None
        else:
            from mmengine.runner import Runner
            self.loader = Runner.build_dataloader(copy.deepcopy(self.cfg.train_dataloader),
                                                  seed=0)
            self.batches = iter(self.loader)
        self.model, self.optim_wrapper = build_for_training(self.cfg, settings.device)
        apply_fast_paths(self.model, self.cfg)
        self.step_times: List[float] = []
        self.data_times: List[float] = []
        self.size: Optional[int] = None
        self.last_batch: Optional[dict] = None

    def next_batch(self) -> dict:
        if self.loader is None:
            return self.fixed_batch
        try:
            return next(self.batches)
        except StopIteration:  # an epoch-based sampler ran out: a new epoch
            self.batches = iter(self.loader)
            return next(self.batches)

    def iterate(self, timed: bool) -> None:
        start = time.perf_counter()
        data = self.next_batch()
        fetched = time.perf_counter()
        if self.device.startswith('cuda'):
            torch.cuda.synchronize()
            fetched = time.perf_counter()
        self.model.train_step(data, self.optim_wrapper)
        if self.device.startswith('cuda'):
            torch.cuda.synchronize()
        done = time.perf_counter()
        self.size = view_size(data)
        self.last_batch = data
        if timed:
            self.data_times.append(fetched - start)
            self.step_times.append(done - fetched)

    def saved_activation_bytes(self) -> int:
        with count_saved_activations() as storages:
            self.model.train_step(self.last_batch, self.optim_wrapper)
        return sum(storages.values())

    def row(self) -> Dict:
        """The figures of the timed iterations, as data."""
        totals = [s + d for s, d in zip(self.step_times, self.data_times)]
        return dict(config=self.name, path=self.path, options=self.options, batch=self.batch,
                    view=self.size, step_s=spread(self.step_times),
                    data_s=spread(self.data_times),
                    images_per_s=self.batch / spread(totals)['median'],
                    # counted on an unaltered build: a trace cannot enter compiled modules
                    gmacs_per_view=encoder_macs(build_for_training(self.cfg, 'cpu')[0],
                                                self.size) / 1e9,
                    saved_activations_mib=self.saved_activation_bytes() / 2**20,
                    workers=0 if self.synthetic else self.cfg.train_dataloader.num_workers)


def _prepare_registries() -> None:
    from mmengine.logging import MessageHub
    from mmengine.registry import init_default_scope

    from mmssl_ext.setup_env import register_all_modules
    register_all_modules(init_default_scope=False)
    # Our registries are children of mmpretrain's: both kinds of config build.
    init_default_scope('mmssl_ext')
    # CosineEMA-style schedules (BYOL, DetCon_B) read the run length from here.
    MessageHub.get_current_instance().update_info('max_iters', 1_000_000)


def peak_memory(path: str, options: dict, settings: TrainBenchmarkSettings,
                fast_paths: bool) -> Dict:
    """Peak memory of a fresh process running this config's model alone for
    three steps on one reused batch (on the CPU its peak RSS and the rise over
    the steps; on CUDA the max allocated), so that no other model's weights
    count. ``{}`` when the process fails (its error is printed)."""
    import json
    import subprocess
    import sys
    child = dataclasses.replace(settings, synthetic_data=True, warmup=1, iters=2)
    request = json.dumps(dict(path=path, options=options, fast_paths=fast_paths,
                              settings=dataclasses.asdict(child)))
    proc = subprocess.run([sys.executable, '-m', 'mmssl_ext.analysis.benchmark', request],
                          capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith('MEMORY '):
            return json.loads(line[len('MEMORY '):])
    print_log(f'memory of {path} not measured: {proc.stderr.strip()[-400:]}',
              logger='current', level=logging.WARNING)
    return {}


def _peak_memory_child(request: str) -> None:
    """The process :func:`peak_memory` starts: the steps, then one ``MEMORY``
    line. The rise of RSS is counted from the built model on: activations,
    gradients and optimizer state (glibc keeps freed memory, so later steps
    add little); the total includes Python and the libraries."""
    import json
    spec = json.loads(request)
    settings = TrainBenchmarkSettings(**spec['settings'])
    _prepare_registries()
    subject = TrainingSubject(spec['path'], spec['options'], settings, spec['fast_paths'])
    cuda = settings.device.startswith('cuda')
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    with RSSSampler() as rss:
        for _ in range(settings.warmup + settings.iters):
            subject.iterate(timed=False)
    memory = dict(peak_rss=rss.peak, rss_rise=rss.rise)
    if cuda:
        memory['cuda_peak'] = torch.cuda.max_memory_allocated()
    print('MEMORY ' + json.dumps(memory), flush=True)


def measure_training(path: str, settings: TrainBenchmarkSettings, options: Optional[dict] = None,
                     baseline: Optional[str] = None, baseline_options: Optional[dict] = None,
                     on_both: bool = False,
                     progress: Callable[[str], None] = lambda line: None) -> List[Dict]:
    """Time the training step of ``path`` (and of ``baseline``, alternated
    iteration by iteration in ABBA order, so that both see the same machine
    state): ``settings.warmup`` untimed iterations, then ``settings.iters``
    timed ones. The fast paths of ``settings`` apply to ``path``, and to the
    baseline with ``on_both``. Returns a row per config (its step and data
    times as spreads, images/s, GMACs per view, activation MiB, and with
    ``settings.memory`` the peak MiB of a process running it alone)."""
    _prepare_registries()
    subjects = [TrainingSubject(path, options or {}, settings)]
    if baseline:
        subjects.append(TrainingSubject(baseline, baseline_options or {}, settings,
                                        fast_paths=on_both))
    total = settings.warmup + settings.iters
    for i in range(total):
        # ABBA: neither config always runs right after the other one's step.
        for subject in (subjects if i % 2 == 0 else subjects[::-1]):
            subject.iterate(timed=i >= settings.warmup)
        if i == settings.warmup - 1 or (i + 1 - settings.warmup) % 10 == 0:
            progress(f'  iteration {i + 1}/{total}')
    rows = []
    for subject in subjects:
        row = subject.row()
        if settings.memory:
            memory = peak_memory(subject.path, subject.options, settings, subject.fast_paths)
            if settings.device.startswith('cuda'):
                row['peak_mib'] = memory['cuda_peak'] / 2**20 if memory else None
                row['peak_kind'] = 'CUDA max allocated by a process running the model alone'
            else:
                row['peak_mib'] = memory['peak_rss'] / 2**20 if memory else None
                row['train_mib'] = memory['rss_rise'] / 2**20 if memory else None
                row['peak_kind'] = 'peak RSS of a process running the model alone'
        rows.append(row)
    return rows


def machine(device: str) -> Dict:
    """What the figures were measured on: device, torch, threads, CPU, Python."""
    import os
    import platform
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            cpu = next(line.split(':', 1)[1].strip() for line in f if 'model name' in line)
    except (OSError, StopIteration):
        pass
    env = dict(device=device, torch=torch.__version__, threads=torch.get_num_threads(),
               cpu=cpu, cpu_count=os.cpu_count(), python=platform.python_version())
    if device.startswith('cuda'):
        env['gpu'] = torch.cuda.get_device_name()
    return env


if __name__ == '__main__':  # the child process of peak_memory
    import sys
    _peak_memory_child(sys.argv[1])
