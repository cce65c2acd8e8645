"""Shared pieces of the benchmark tools (``tools/analysis_tools/benchmark_*.py``).

The tools time the *real* training step of a config: its model built by the
registry and initialised as the Runner does, its optimizer wrapper, its data
pipeline. Everything here only builds and measures; nothing changes the maths.
"""
import contextlib
import copy
import glob
import os.path as osp
import resource
import statistics
import threading
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import torch
from mmengine.config import Config
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
    from .tool_errors import load_config as load_config_file
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


def build_for_training(cfg: Config, device: str,
                       patch: Optional[Callable[[nn.Module], None]] = None):
    """The config's model (with the top-level ``data_preprocessor`` merged in,
    seeded, ``init_weights`` as the Runner calls it, ``patch`` applied, train
    mode, on ``device``) and its optimizer wrapper."""
    from mmengine.optim import build_optim_wrapper

    from mmssl_ext.registry import MODELS
    model_cfg = copy.deepcopy(cfg.model)
    if cfg.get('data_preprocessor'):  # a top-level one, as the Runner merges it
        model_cfg.setdefault('data_preprocessor', copy.deepcopy(cfg.data_preprocessor))
    torch.manual_seed(0)
    model = MODELS.build(model_cfg).to(device)
    model.init_weights()
    if patch is not None:
        patch(model)
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
                       seed: int = 0) -> Dict[str, Optional[float]]:
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
        both; ``loss``: the value (equal across ``block_images``).
    """
    import time

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
    return dict(images=images, gathered=gathered, masks=masks, block_images=block_images,
                saved_mib=sum(storages.values()) / 2**20,
                logits_mib=images * masks * 2 * gathered * masks * 4 / 2**20,
                peak_mib=peak, ms=ms, loss=float(loss.detach()))
