"""DetCon: contrastive detection (Hénaff et al., ICCV 2021), DetCon_S and DetCon_B."""
from typing import Dict, List, Optional, Tuple, Union

import numpy as np
import torch
from mmpretrain.models.selfsup.base import BaseSelfSupervisor
from mmpretrain.structures import DataSample
from torch import nn

from mmssl_ext.models.utils import CosineMomentumEMA, host_to_device, mask_pool, sample_present_ids
from mmssl_ext.registry import MODELS
from mmssl_ext.structures import majority_ids


class _MaskPooling:
    """What both variants share: from view id maps to mask-pooled features."""

    num_samples: int

    def _region_ids(self, data_samples: List[DataSample], grid: Tuple[int, int],
                    device) -> Tuple[torch.Tensor, torch.Tensor]:
        """Majority id per feature cell (2, B, gh * gw) of view 1 and view 2,
        and ``num_samples`` ids drawn among the present ones (2, B, R): shared
        by the online and the target network.

        The cells come from the data pipeline's ``view_cells``
        (:class:`~mmssl_ext.datasets.transforms.DetConCells`) when the samples
        carry them, copied to the device without waiting for it (pinned,
        ``non_blocking``); else they are computed here from the ``view_ids``
        maps, which waits for the device several times a view (``unique``
        and ``bincount`` of data-dependent size). The draw is on the device,
        without a wait.
        """
        b = len(data_samples)
        if 'view_cells' in data_samples[0]:
            cells = np.stack([ds.view_cells for ds in data_samples], axis=1)  # (2, B, N)
            if cells.shape[-1] != grid[0] * grid[1]:
                raise ValueError(
                    f'the pipeline gave {cells.shape[-1]} cells per view (DetConCells.'
                    f'feature_stride), the backbone a {grid[0]}x{grid[1]} feature map: set '
                    'feature_stride to the stride of the feature map pooled')
            cells = host_to_device(cells, device, dtype=torch.long).flatten(0, 1)
        else:
            view_ids = torch.stack([torch.as_tensor(ds.view_ids) for ds in data_samples], dim=1)
            view_ids = host_to_device(view_ids, device, dtype=torch.long)
            cells = majority_ids(view_ids.flatten(0, 1), grid)
        samples = sample_present_ids(cells, self.num_samples)
        return cells.view(2, b, -1), samples.view(2, b, -1)

    @staticmethod
    def _project(projector: nn.Module, feature_map: torch.Tensor, cells: torch.Tensor,
                 samples: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) -> mask-pooled (B, R, C) -> projector -> (B, R, D)."""
        pooled = mask_pool(feature_map, cells, samples)
        b, r, c = pooled.shape
        return projector((pooled.reshape(b * r, c, 1, 1), ))[0].view(b, r, -1)


@MODELS.register_module()
class DetConS(BaseSelfSupervisor, _MaskPooling):
    """DetCon_S: SimCLR with the contrastive detection loss.

    One network. Each view's ResNet C5 map is mask-pooled over ``num_samples``
    mask ids drawn among the masks present in that view (majority label per
    feature cell), projected by the SimCLR MLP (``neck``), and the
    :class:`~mmssl_ext.models.losses.DetConLoss` contrasts the latents of both
    views (predictions and targets are the same latents).

    Args:
        backbone (dict): encoder; its last output is the feature map pooled.
        neck (dict): the projector, taking ``(B * R, C, 1, 1)`` — e.g.
            ``NonLinearNeck(with_avg_pool=False)``.
        loss (dict): ``DetConLoss`` config. Defaults to temperature 0.1.
        num_samples (int): mask ids per view, with replacement. Defaults to 16.

    Inputs: ``inputs`` = [view 1, view 2] (B, 3, H, W); each data sample
    carries ``view_cells`` (2, cells), the mask id of each feature cell of
    the two views (``DetConCells``), or ``view_ids`` (2, H, W), the id maps
    of the two views (slower: the cells are then computed on the device).
    """

    # Read by mmssl_ext.utils.config_check: a short last batch on one rank breaks it.
    equal_batches_reason = "gathers the batch's mask targets across processes for its negatives"

    def __init__(self, backbone: dict, neck: dict,
                 loss: dict = dict(type='DetConLoss', temperature=0.1),
                 num_samples: int = 16, pretrained: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[Union[List[dict], dict]] = None) -> None:
        super().__init__(backbone=backbone, neck=neck, pretrained=pretrained,
                         data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.criterion = MODELS.build(loss)
        self.num_samples = num_samples

    def loss(self, inputs: List[torch.Tensor], data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        b = inputs[0].shape[0]
        # SimCLR: both views in one pass (BN statistics over 2B images).
        fmap = self.backbone(torch.cat([inputs[0], inputs[1]]))[-1]
        cells, samples = self._region_ids(data_samples, fmap.shape[-2:], fmap.device)
        cells, samples = cells.flatten(0, 1), samples.flatten(0, 1)
        latents = self._project(self.neck, fmap, cells, samples)
        z1, z2 = latents[:b], latents[b:]
        ids1, ids2 = samples[:b], samples[b:]
        return dict(loss=self.criterion(z1, z2, z1, z2, ids1, ids2))


@MODELS.register_module()
class DetConB(BaseSelfSupervisor, _MaskPooling):
    """DetCon_B: BYOL with the contrastive detection loss.

    Online: backbone -> mask pooling -> projector (``neck``, 2048-4096-256 with
    BN) -> ``predictor`` (256-4096-256). Target: a ``CosineMomentumEMA`` copy of
    backbone + projector (momentum ``base_momentum`` = 1 - 0.996, annealed to 0,
    i.e. tau 0.996 -> 1), fed the same mask ids per view. The loss contrasts
    online predictions of each view with target latents of both views.

    Args:
        backbone (dict), neck (dict): encoder and projector, as in :class:`DetConS`.
        predictor (dict): the predictor MLP on ``(B * R, D, 1, 1)``.
        loss (dict): ``DetConLoss`` config. Defaults to temperature 0.1.
        num_samples (int): mask ids per view. Defaults to 16.
        base_momentum (float): mmengine's EMA momentum at the start (1 - tau).
            Defaults to 0.004 (tau = 0.996, BYOL's).
    """

    # Read by mmssl_ext.utils.config_check: a short last batch on one rank breaks it.
    equal_batches_reason = "gathers the batch's mask targets across processes for its negatives"

    def __init__(self, backbone: dict, neck: dict, predictor: dict,
                 loss: dict = dict(type='DetConLoss', temperature=0.1),
                 num_samples: int = 16, base_momentum: float = 0.004,
                 pretrained: Optional[str] = None, data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[Union[List[dict], dict]] = None) -> None:
        super().__init__(backbone=backbone, neck=neck, pretrained=pretrained,
                         data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.predictor = MODELS.build(predictor)
        self.criterion = MODELS.build(loss)
        self.num_samples = num_samples
        self.target_net = CosineMomentumEMA.of_submodules(self, ('backbone', 'neck'),
                                                          momentum=base_momentum)

    def loss(self, inputs: List[torch.Tensor], data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        preds, ids, cells_per_view = [], [], []
        region_ids = None
        # BYOL: each view through the online network on its own.
        for index, view in enumerate(inputs[:2]):
            fmap = self.backbone(view)[-1]
            if region_ids is None:  # once for both views: their grids are equal
                region_ids = self._region_ids(data_samples, fmap.shape[-2:], fmap.device)
            cells, samples = region_ids[0][index], region_ids[1][index]
            proj = self._project(self.neck, fmap, cells, samples)
            b, r, d = proj.shape
            preds.append(self.predictor((proj.reshape(b * r, d, 1, 1), ))[0].view(b, r, -1))
            ids.append(samples)
            cells_per_view.append(cells)
        with torch.no_grad():
            self.target_net.follow(self)
            target = self.target_net.module
            targets = [
                self._project(target['neck'], target['backbone'](view)[-1], cells, samples)
                for view, cells, samples in zip(inputs[:2], cells_per_view, ids)]
        # DetConLoss L2-normalises predictions and targets itself.
        loss = self.criterion(preds[0], preds[1], targets[0], targets[1], ids[0], ids[1])
        return dict(loss=loss)
