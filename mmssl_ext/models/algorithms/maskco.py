"""MaskCo: contrastive mask prediction (Zhao et al., ICCV 2021)."""
from typing import Dict, List, Optional, Union

import torch
import torch.nn.functional as F
from mmpretrain.models.selfsup.base import BaseSelfSupervisor
from mmpretrain.models.utils import batch_shuffle_ddp, batch_unshuffle_ddp
from mmpretrain.structures import DataSample
from torch import nn

from mmssl_ext.models.utils import EmbeddingQueue, MomentumEMA, host_to_device, region_features
from mmssl_ext.models.utils.region_pooling import roi_align_nondeterministic_on_cuda
from mmssl_ext.registry import MODELS


@MODELS.register_module()
class MaskCo(BaseSelfSupervisor):
    """MaskCo: the query view's masked box must find its own unmasked region.

    Online network: ``backbone`` -> ``neck`` (the mask prediction head) ->
    RoIAlign on the masked box -> ``projector`` -> L2 norm: the query. Key
    network: a momentum copy of backbone + neck + projector, applied to the
    key view's boxes; box 0 is the positive key, and is the one enqueued. The
    loss is InfoNCE against the queue; with ``intra_negatives`` (MaskCo(+in))
    the key view's other boxes are extra negatives of their image's query, and
    with ``queue_negatives=False`` as well they are its only negatives (the
    paper's Table 6 intra-only row).

    Args:
        backbone (dict): the encoder, e.g. ResNet-50 (features at ``feat_stride``).
        neck (dict): the MPH, e.g. ``MaskPredictionNeck``.
        projector (dict): the MoCo v2 projection on region features, built as a
            neck that takes ``(B * N, C, 1, 1)`` (``MoCoV2Neck`` with
            ``with_avg_pool=False``).
        queue_len (int): keys in the queue. Must be a multiple of the global
            batch size. Defaults to 65536.
        feat_dim (int): projection dimension. Defaults to 128.
        momentum (float): mmengine's EMA momentum, i.e. ``1 - m`` of the paper
            (0.001 is m = 0.999). Defaults to 0.001.
        loss (dict): the InfoNCE against the queue, temperature included.
            Defaults to ``QueueInfoNCELoss`` at 0.2.
        feat_stride (int): view pixels per cell of the neck's output. Defaults to 32.
        roi_output_size (int): RoIAlign bins per side, averaged. Defaults to 7.
        intra_negatives (bool): MaskCo(+in). Defaults to False.
        queue_negatives (bool): the queue's keys (other images' positives)
            are negatives. False needs ``intra_negatives``. Defaults to True.

    Inputs: ``inputs`` = [query views, key views], each (B, 3, H, W),
    normalised; each data sample carries ``key_boxes`` (N, 4) in key-view
    pixels (row 0 the positive), ``mask_box`` (4,) in query-view pixels and
    ``mask_mode`` (see :class:`~mmssl_ext.datasets.transforms.MaskCoViews`).
    """

    # The neck (the MPH) maps feature maps to feature maps before any pooling:
    # the encoder whose cost and features the benchmarks and probes measure
    # is backbone + neck.
    neck_in_encoder = True

    @staticmethod
    def nondeterministic_cuda_ops() -> List[str]:
        """For ``DeterministicCUDAHook``: what has no deterministic CUDA backward
        here (nothing where torchvision can compile its deterministic RoIAlign)."""
        reason = roi_align_nondeterministic_on_cuda()
        return [reason] if reason else []

    # Arguments of older releases, and where they went (check_config says so).
    renamed_arguments = {'temperature': "loss=dict(type='QueueInfoNCELoss', temperature=...)"}

    def __init__(self, backbone: dict, neck: dict, projector: dict, queue_len: int = 65536,
                 feat_dim: int = 128, momentum: float = 0.001,
                 loss: dict = dict(type='QueueInfoNCELoss', temperature=0.2),
                 feat_stride: int = 32, roi_output_size: int = 7, intra_negatives: bool = False,
                 queue_negatives: bool = True, pretrained: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[Union[List[dict], dict]] = None) -> None:
        super().__init__(backbone=backbone, neck=neck, pretrained=pretrained,
                         data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.projector = MODELS.build(projector)
        self.criterion = MODELS.build(loss)
        self.queue_len = queue_len
        self.feat_stride, self.roi_output_size = feat_stride, roi_output_size
        if not (intra_negatives or queue_negatives):
            raise ValueError('MaskCo needs negatives: set queue_negatives (inter-image, the '
                             'default) or intra_negatives (the same image\'s other boxes)')
        self.intra_negatives, self.queue_negatives = intra_negatives, queue_negatives
        # The key encoder: a momentum copy of everything the query goes through.
        self.target_net = MomentumEMA.of_submodules(
            self, ('backbone', 'neck', 'projector'), momentum=momentum)
        self.queue = EmbeddingQueue(queue_len, feat_dim)

    def _embed(self, projector: nn.Module, feature_map: torch.Tensor,
               boxes: torch.Tensor) -> torch.Tensor:
        """(B, N, 4) boxes on a (B, C, h, w) map -> (B, N, D) unit embeddings."""
        regions = region_features(feature_map, boxes, self.feat_stride, self.roi_output_size)
        b, n, c = regions.shape
        embedded = projector((regions.reshape(b * n, c, 1, 1), ))[0]
        return F.normalize(embedded, dim=1).view(b, n, -1)

    @staticmethod
    def _stack(data_samples: List[DataSample], key: str, device) -> torch.Tensor:
        return host_to_device(torch.stack([torch.as_tensor(getattr(ds, key), dtype=torch.float32)
                                           for ds in data_samples]), device)

    @staticmethod
    def zero_masked_boxes(images: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        """Zero each image inside its box (after normalisation: the mean colour).

        Args:
            images: (B, 3, H, W). boxes: (B, 4) x1y1x2y2 in those pixels;
                a pixel is masked when its centre lies in the box.
        """
        h, w = images.shape[-2:]
        ys = torch.arange(h, device=images.device).view(1, h, 1) + 0.5
        xs = torch.arange(w, device=images.device).view(1, 1, w) + 0.5
        x1, y1, x2, y2 = (boxes[:, i].view(-1, 1, 1) for i in range(4))
        inside = (xs >= x1) & (xs < x2) & (ys >= y1) & (ys < y2)
        return images.masked_fill(inside[:, None], 0.0)

    @staticmethod
    def mask_mode(data_samples: List[DataSample]) -> str:
        """The batch's ``mask_mode``, set by the pipeline's ``MaskCoViews``.

        No default: a pipeline that does not pack the mode would otherwise get
        masking it did not ask for (or none it did).
        """
        modes = {getattr(ds, 'mask_mode', None) for ds in data_samples}
        if None in modes:
            raise ValueError(
                'MaskCo: a data sample carries no mask_mode: pack it with the views, '
                "PackInputs(algorithm_keys=['key_boxes', 'mask_box', 'mask_mode'])")
        if len(modes) > 1:
            raise ValueError(f'MaskCo: one batch mixes mask modes {sorted(modes)}')
        return modes.pop()

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # Checkpoints written before the queue became an EmbeddingQueue held
        # it as a (D, K) buffer 'queue' and a pointer 'queue_ptr'.
        legacy = state_dict.get(prefix + 'queue')
        if isinstance(legacy, torch.Tensor) and legacy.dim() == 2:
            state_dict[prefix + 'queue.embeddings'] = state_dict.pop(prefix + 'queue').T
            if prefix + 'queue_ptr' in state_dict:
                state_dict[prefix + 'queue.ptr'] = state_dict.pop(prefix + 'queue_ptr')
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def loss(self, inputs: List[torch.Tensor], data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        im_q, im_k = inputs[0], inputs[1]
        mask_box = self._stack(data_samples, 'mask_box', im_q.device)  # (B, 4) query px
        key_boxes = self._stack(data_samples, 'key_boxes', im_q.device)  # (B, N, 4) key px
        if self.mask_mode(data_samples) == 'after_norm':
            im_q = self.zero_masked_boxes(im_q, mask_box)

        q_map = self.neck(self.backbone(im_q))[0]
        q = self._embed(self.projector, q_map, mask_box[:, None])[:, 0]

        with torch.no_grad():
            self.target_net.follow(self)
            target = self.target_net.module
            # Shuffle-BN across processes; un-shuffle the feature maps before
            # RoI align so that each image's boxes read its own features.
            im_k, idx_unshuffle = batch_shuffle_ddp(im_k)
            k_map = target['neck'](target['backbone'](im_k))[0]
            k_map = batch_unshuffle_ddp(k_map, idx_unshuffle)
            # Without intra-image negatives only the positive box is a key:
            # pooling the other boxes would cost 16 RoIAligns per image for
            # nothing (the projector has no BN, so box 0's key is the same).
            used = key_boxes if self.intra_negatives else key_boxes[:, :1]
            k = self._embed(target['projector'], k_map, used)  # (B, N or 1, D)

        extra = k[:, 1:] if self.intra_negatives else None
        # Cloned: the enqueue below writes in place into what the query's
        # gradient needs. Intra-only: no row of the queue.
        queue = (self.queue.embeddings.clone() if self.queue_negatives
                 else q.new_zeros(0, q.shape[1]))
        loss = self.criterion(q, k[:, 0], queue, extra)
        # The positive keys of the whole (gathered) batch.
        self.queue.enqueue(k[:, 0])
        return dict(loss=loss)
