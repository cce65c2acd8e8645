"""NNCLR: nearest-neighbour contrastive learning (Dwibedi et al., ICCV 2021)."""
from typing import Dict, List, Optional, Union

import torch
import torch.nn.functional as F
from mmpretrain.models.selfsup.base import BaseSelfSupervisor
from mmpretrain.structures import DataSample

from mmssl_ext.models.utils import EmbeddingQueue
from mmssl_ext.registry import MODELS


@MODELS.register_module()
class NNCLR(BaseSelfSupervisor):
    """NNCLR: the positive of a view is the nearest neighbour of the other view.

    Both views go through ``backbone`` -> ``neck`` (the projection MLP, giving
    ``z``) -> ``predictor`` (giving ``p``). The support set is a queue of
    projections ``z`` of view 1; ``NN(z_1)``, the hard nearest neighbour of
    view 1's projection in it, is the positive of view 2's prediction ``p_2``
    (and ``NN(z_2)`` of ``p_1``) in the :class:`NNCLRLoss`, with the other
    images of the (gathered) batch as negatives. No momentum encoder.

    Args:
        backbone (dict): the encoder, e.g. ResNet-50.
        neck (dict): the projection MLP on pooled features, e.g. mmpretrain's
            ``NonLinearNeck`` 2048-2048-2048-256 with BN (the paper's).
        predictor (dict): the prediction MLP on ``(B, D)`` projections, a neck
            too, e.g. ``NonLinearNeck`` 256-4096-256 (the paper's).
        loss (dict): defaults to ``NNCLRLoss`` with temperature 0.1.
        queue_len (int): support set size. Must be a multiple of the global
            batch size. Defaults to 98304 (the paper's best).
        feat_dim (int): projection channels ``D``. Defaults to 256.

    Inputs: ``inputs`` = [view 1, view 2], each (B, 3, H, W), normalised.
    """

    # Read by mmssl_ext.utils.config_check: a short last batch on one rank breaks it.
    equal_batches_reason = "gathers the batch's predictions and neighbours across processes"

    def __init__(self, backbone: dict, neck: dict, predictor: dict,
                 loss: dict = dict(type='NNCLRLoss', temperature=0.1), queue_len: int = 98304,
                 feat_dim: int = 256, pretrained: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[Union[List[dict], dict]] = None) -> None:
        super().__init__(backbone=backbone, neck=neck, pretrained=pretrained,
                         data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.predictor = MODELS.build(predictor)
        self.criterion = MODELS.build(loss)
        self.support_set = EmbeddingQueue(queue_len, feat_dim)

    def _project(self, view: torch.Tensor):
        """(B, 3, H, W) -> projection z (B, D) and prediction p (B, D)."""
        z = self.neck(self.backbone(view))[0]
        p = self.predictor((z, ))[0]
        return z, p

    def loss(self, inputs: List[torch.Tensor], data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        z1, p1 = self._project(inputs[0])
        z2, p2 = self._project(inputs[1])
        neighbours_1, _ = self.support_set.nearest_neighbours(z1)
        neighbours_2, _ = self.support_set.nearest_neighbours(z2)
        loss = self.criterion(neighbours_1, neighbours_2, p1, p2)
        # The support set holds one view's projections (the paper's choice).
        self.support_set.enqueue(F.normalize(z1.detach(), dim=1))
        return dict(loss=loss)
