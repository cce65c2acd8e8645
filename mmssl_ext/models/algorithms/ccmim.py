"""ccMIM: contrasting-aided contextual masked image modelling (Zhang et al., ICLR 2023)."""
from typing import Dict, List, Optional, Union

import torch
from mmpretrain.models.selfsup.base import BaseSelfSupervisor
from mmpretrain.structures import DataSample

from mmssl_ext.registry import MODELS


@MODELS.register_module()
class CCMIM(BaseSelfSupervisor):
    """MAE whose masked set is the important patches, plus a CLS contrast.

    One step, for images (B, 3, H, W) cut into N patches:

    1. the backbone (:class:`~mmssl_ext.models.backbones.ImportanceMaskingViT`)
       scores the patches with a no-grad pass of the current encoder and
       divides them into a visible set (K = N (1 - mask_ratio)) and a masked
       set (N - K), by its ``strategy``;
    2. the shared encoder encodes each set with the CLS token — the masked set
       without building a graph when ``stop_grad_masked`` (its CLS is only a
       stop-gradient key, so the graph would be dead weight);
    3. only the visible set feeds the MAE decoder (``neck``) and the
       normalised-pixel MSE on the masked patches (``head``);
    4. both CLS tokens go through the ``projector`` (D-D-256 with BN); the
       visible one (through ``predictor`` when given, for ``L_align``) is
       contrasted with the masked one by ``loss``.

    Total loss: ``loss_rec + loss_contrast``, the latter ``contrast_weight``
    times the contrast (logged unweighted as ``contrast``).

    Args:
        backbone (dict): ``ImportanceMaskingViT``.
        neck (dict): MAE decoder, e.g. mmpretrain's ``MAEPretrainDecoder``.
        head (dict): e.g. ``MAEPretrainHead(norm_pix=True)``: mmpretrain's
            head, which holds the reconstruction loss (``L_rec``).
        projector (dict): on a CLS token (B, D) -> (B, 256), e.g.
            ``NonLinearNeck(with_avg_pool=False)``.
        loss (dict): the contrastive term, ``CrossBatchInfoNCELoss``
            (``L_NCE``, default, temperature 0.5) or
            ``CosineSimilarityLoss(shift_factor=1)`` (``L_align``,
            SimSiam-style; give a ``predictor`` with it).
        predictor (dict, optional): applied to the visible projection only.
        contrast_weight (float): lambda. Defaults to 0.2 (the paper; the
            official code's final value is 0.1). 0 drops the contrast, and the
            masked-set pass with it.
        stop_grad_masked (bool): the masked CLS is a stop-gradient key.
            Defaults to True (the paper and official code).
        masked_set_graph (bool): with ``stop_grad_masked``, encode the masked
            set with a graph and detach the key, as the official code does
            (its gather has no gradient): the same values and gradients, more
            memory and time; for ``benchmark_ccmim.py``'s comparison.
            Defaults to False (the masked set runs without a graph).
    """

    # Read by mmssl_ext.utils.config_check: a short last batch on one rank breaks it.
    equal_batches_reason = ("gathers the batch's embeddings across processes for its "
                            'contrastive term')

    # Arguments of older releases, and where they went (check_config says so).
    renamed_arguments = {'contrast_loss': 'loss=dict(...) (the same dict)'}

    def __init__(self, backbone: dict, neck: dict, head: dict, projector: dict,
                 loss: dict = dict(type='CrossBatchInfoNCELoss', temperature=0.5),
                 predictor: Optional[dict] = None, contrast_weight: float = 0.2,
                 stop_grad_masked: bool = True, masked_set_graph: bool = False,
                 pretrained: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[Union[List[dict], dict]] = None) -> None:
        super().__init__(backbone=backbone, neck=neck, head=head, pretrained=pretrained,
                         data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if not hasattr(self.backbone, 'divide'):
            raise TypeError('CCMIM needs a backbone with importance division, e.g. '
                            f'ImportanceMaskingViT; got {type(self.backbone).__name__}')
        self.contrast_weight = contrast_weight
        # Without the contrast, its modules would be parameters without
        # gradients (DDP refuses them): not built at all.
        contrast = contrast_weight != 0
        self.projector = MODELS.build(projector) if contrast else None
        self.predictor = MODELS.build(predictor) if contrast and predictor else None
        self.criterion = MODELS.build(loss) if contrast else None
        self.stop_grad_masked, self.masked_set_graph = stop_grad_masked, masked_set_graph

    def extract_feat(self, inputs: torch.Tensor):
        return self.backbone(inputs, mask=None)

    def _project(self, cls_token: torch.Tensor) -> torch.Tensor:
        """(B, D) CLS token -> (B, d) contrastive embedding."""
        return self.projector((cls_token, ))[0]

    def loss(self, inputs: torch.Tensor, data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        keep, masked, ids_restore, mask = self.backbone.divide(inputs)
        tokens = self.backbone.patch_tokens(inputs)  # shared by both sets
        visible = self.backbone.encode_set(tokens, keep)
        loss_rec = self.head.loss(self.neck(visible, ids_restore), inputs, mask)
        if self.contrast_weight == 0:
            return dict(loss_rec=loss_rec)

        if self.stop_grad_masked and not self.masked_set_graph:
            with torch.no_grad():
                key = self._project(self.backbone.encode_set(tokens, masked)[:, 0])
        else:
            key = self._project(self.backbone.encode_set(tokens, masked)[:, 0])
        query = self._project(visible[:, 0])
        if self.predictor is not None:
            query = self.predictor((query, ))[0]
        loss_contrast = self.criterion(query, key.detach() if self.stop_grad_masked else key)
        # mmengine sums every "loss*" entry: the weighted term is the loss, the
        # raw value is only logged.
        return dict(loss_rec=loss_rec, loss_contrast=self.contrast_weight * loss_contrast,
                    contrast=loss_contrast.detach())
