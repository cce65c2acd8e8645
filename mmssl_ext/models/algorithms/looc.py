"""LooC: leave-one-out contrastive learning (Xiao et al., ICLR 2021)."""
from typing import Dict, List, Optional, Union

import torch
import torch.nn.functional as F
from mmpretrain.models.selfsup.base import BaseSelfSupervisor
from mmpretrain.models.utils import batch_shuffle_ddp, batch_unshuffle_ddp
from mmpretrain.structures import DataSample
from torch import nn

from mmssl_ext.models.utils import EmbeddingQueue, MomentumEMA
from mmssl_ext.registry import MODELS


@MODELS.register_module()
class LooC(BaseSelfSupervisor):
    """LooC: one embedding space per augmentation group, plus an invariant one.

    A shared backbone feeds ``num_groups + 1`` projection heads (each built
    from ``neck``). Space 0 is invariant to every augmentation: all keys
    ``k_0..k_n`` are positives of the query. Space i is invariant to all
    augmentations but group i: only ``k_i``, which shares group i's
    parameters with the query, is its positive; the other keys of the same
    image are negatives there, besides the space's own queue. MoCo-style:
    the keys come from a momentum copy of backbone and heads, with
    shuffle-BN, and each space keeps a queue of ``k_0``'s embeddings.

    Args:
        backbone (dict): e.g. ResNet-50.
        neck (dict): one projection head (e.g. MoCo v2's ``MoCoV2Neck``),
            built once per space.
        num_groups (int): n, the augmentation groups of ``LooCViews``.
        queue_len (int): per space. Defaults to 16384 (the paper's, for
            ImageNet-100).
        feat_dim (int): embedding channels. Defaults to 128.
        momentum (float): mmengine's EMA momentum (0.001: m = 0.999).
        loss (dict): the InfoNCE of each space against its queue, temperature
            included. Defaults to ``QueueInfoNCELoss`` at 0.2.
        concat_spaces (bool): LooC++: the representation given to
            ``extract_feat`` (and so to kNN / linear evaluation) is the
            concatenation of every space's normalised embedding of the pooled
            feature instead of the backbone's pooled feature. Defaults to False.

    Inputs: ``inputs`` = [q, k_0, k_1, ..., k_n], each (B, 3, H, W).
    Loss: the mean over spaces of each space's InfoNCE (space 0: the mean over
    its n + 1 positives).
    """

    # Arguments of older releases, and where they went (check_config says so).
    renamed_arguments = {'temperature': "loss=dict(type='QueueInfoNCELoss', temperature=...)"}

    def __init__(self, backbone: dict, neck: dict, num_groups: int = 2,
                 queue_len: int = 16384, feat_dim: int = 128, momentum: float = 0.001,
                 loss: dict = dict(type='QueueInfoNCELoss', temperature=0.2),
                 concat_spaces: bool = False, pretrained: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[Union[List[dict], dict]] = None) -> None:
        super().__init__(backbone=backbone, neck=None, pretrained=pretrained,
                         data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if num_groups < 1:
            raise ValueError(f'num_groups must be >= 1, got {num_groups}')
        self.num_groups = num_groups
        self.criterion = MODELS.build(loss)
        self.concat_spaces = concat_spaces
        self.heads = nn.ModuleList([MODELS.build(neck) for _ in range(num_groups + 1)])
        self.target_net = MomentumEMA.of_submodules(self, ('backbone', 'heads'),
                                                    momentum=momentum)
        self.queues = nn.ModuleList(
            [EmbeddingQueue(queue_len, feat_dim) for _ in range(num_groups + 1)])

    @staticmethod
    def _embed(heads: nn.ModuleList, features) -> List[torch.Tensor]:
        """Backbone output -> per space (B, D) unit embeddings."""
        return [F.normalize(h(features)[0], dim=1) for h in heads]

    def extract_feat(self, inputs: torch.Tensor, **kwargs):
        features = self.backbone(inputs)
        if not self.concat_spaces:
            return features
        return (torch.cat(self._embed(self.heads, features), dim=1), )

    def space_losses(self, queries: List[torch.Tensor],
                     keys: List[List[torch.Tensor]]) -> List[torch.Tensor]:
        """InfoNCE of every space.

        Args:
            queries: per space s, the query embeddings (B, D).
            keys: per space s, the embeddings of [k_0, ..., k_n], each (B, D).

        Returns:
            n + 1 scalars: space 0, the mean over its positives k_0..k_n;
            space i, positive k_i with the other keys of the image as extra
            negatives.
        """
        losses = []
        invariant_queue = self.queues[0].embeddings.clone()
        losses.append(torch.stack([
            self.criterion(queries[0], key, invariant_queue)
            for key in keys[0]]).mean())
        for space in range(1, self.num_groups + 1):
            others = torch.stack([k for j, k in enumerate(keys[space]) if j != space], dim=1)
            losses.append(self.criterion(queries[space], keys[space][space],
                                         self.queues[space].embeddings.clone(), others))
        return losses

    def loss(self, inputs: List[torch.Tensor], data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        if len(inputs) != self.num_groups + 2:
            raise ValueError(f'LooC with {self.num_groups} groups needs {self.num_groups + 2} '
                             f'views (q, k_0..k_n), got {len(inputs)}; match num_groups to '
                             'the groups of LooCViews')
        queries = self._embed(self.heads, self.backbone(inputs[0]))
        with torch.no_grad():
            self.target_net.follow(self)
            target = self.target_net.module
            keys = [[] for _ in range(self.num_groups + 1)]
            for view in inputs[1:]:
                view, idx_unshuffle = batch_shuffle_ddp(view)
                embedded = self._embed(target['heads'], target['backbone'](view))
                for space, key in enumerate(embedded):
                    keys[space].append(batch_unshuffle_ddp(key, idx_unshuffle))
        losses = self.space_losses(queries, keys)
        for space in range(self.num_groups + 1):
            self.queues[space].enqueue(keys[space][0])
        out = dict(loss=torch.stack(losses).mean())
        # logged, not summed again: mmengine adds up only the keys with 'loss'
        out.update({f'nce_space{s}': loss.detach() for s, loss in enumerate(losses)})
        return out
