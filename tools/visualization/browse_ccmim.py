"""Draw ccMIM's importance, division and reconstruction for a few samples, to one PNG.

One row per sample, all at the model's input crop: the crop; the importance
map (the CLS attention to each patch summed over layers, the no-grad pass
that drives the division; brighter = more attended); the division (masked
patches greyed: the masked set is the important one, with noise for
importance sampling); and the reconstruction (decoder output on the masked
patches, de-normalised with each patch's own pixel mean and variance when
the head predicts normalised pixels, pasted among the visible patches).

Without ``--checkpoint`` the model is randomly initialised: the importance is
then nearly flat and the division nearly random, as at ccMIM's iteration 0.

    python tools/visualization/browse_ccmim.py \
        configs/ccmim/ccmim_vit-tiny-p8_1xb32-600i_synthetic.py \
        --checkpoint work_dirs/ccmim_vit-tiny-p8_1xb32-600i_synthetic/iter_600.pth \
        --num 4 --output work_dirs/browse_ccmim.png
"""
import argparse
from typing import Optional

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import default_collate
from mmengine.visualization import Visualizer

from mmssl_ext import register_all_modules
from mmssl_ext.utils.tool_errors import run_tool
from mmssl_ext.visualization import draw_panel, overlay, tile
from mmssl_ext.visualization.browse import (add_browse_args, dataset_and_views, load_browse_config,
                                            write_png)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    add_browse_args(parser, 'ccMIM', 'work_dirs/browse_ccmim.png', panel_size=192)
    parser.add_argument('--checkpoint', help='a ccMIM checkpoint (default: random init)')
    return parser.parse_args()


def build_model(cfg: Config, checkpoint: Optional[str]) -> torch.nn.Module:
    from mmengine.runner import load_checkpoint

    from mmssl_ext.registry import MODELS

    # as the Runner does: the config's top-level preprocessor is the model's
    model_cfg = dict(cfg.model)
    model_cfg.setdefault('data_preprocessor', cfg.get('data_preprocessor'))
    model = MODELS.build(model_cfg)
    model.init_weights()
    if checkpoint:
        load_checkpoint(model, checkpoint, map_location='cpu', strict=True)
    model.eval()
    return model


def heat_colours(values: np.ndarray) -> np.ndarray:
    """(H, W) values -> (H, W, 3) uint8, dark blue (low) to yellow (high)."""
    span = values.max() - values.min()
    t = (values - values.min()) / span if span > 0 else np.zeros_like(values)
    low, high = np.array([20, 20, 120.0]), np.array([255, 230, 40.0])
    return (low + t[..., None] * (high - low)).astype(np.uint8)


def patch_grid(per_patch: np.ndarray, grid: tuple, patch: int) -> np.ndarray:
    """(N,) per-patch values -> (h * patch, w * patch) pixel map."""
    return np.kron(per_patch.reshape(grid), np.ones((patch, patch)))


@torch.no_grad()
def analyse(model, inputs: torch.Tensor):
    """Importance, mask and reconstruction of a batch of model inputs.

    Returns:
        ``scores`` (B, N), ``mask`` (B, N) 1 = masked, ``recon`` (B, 3, H, W)
        in the inputs' (normalised) units, visible patches from the input.
    """
    backbone, head = model.backbone, model.head
    scores = backbone.importance(inputs)
    keep, _, ids_restore, mask = backbone.divide(inputs)
    visible = backbone.encode_set(backbone.patch_tokens(inputs), keep)
    pred = model.neck(visible, ids_restore)  # (B, N, p * p * 3)
    target = head.patchify(inputs)
    if head.norm_pix:  # the prediction is in per-patch normalised units
        mean = target.mean(dim=-1, keepdim=True)
        var = target.var(dim=-1, keepdim=True)
        pred = pred * (var + 1e-6) ** .5 + mean
    pasted = torch.where(mask[..., None].bool(), pred, target)
    return scores, mask, head.unpatchify(pasted)


def browse(cfg: Config, checkpoint: Optional[str], num: int, start: int, seed: int,
           panel_size: int) -> np.ndarray:
    """Rows of (crop, importance, division, reconstruction), RGB uint8."""
    dataset, transforms = dataset_and_views(cfg, 'PackInputs', 'browse_ccmim.py')
    indices = list(range(start, min(start + num, len(dataset))))
    if not indices:
        raise ValueError(f'no samples: the dataset has {len(dataset)} images, --start {start}')
    np.random.seed(seed)
    torch.manual_seed(seed)
    model = build_model(cfg, checkpoint)
    batch = default_collate([transforms(dict(dataset.get_data_info(i))) for i in indices])
    inputs = model.data_preprocessor(batch, training=False)['inputs']
    scores, mask, recon = analyse(model, inputs)

    preprocessor = model.data_preprocessor
    mean, std = preprocessor.mean.view(3, 1, 1), preprocessor.std.view(3, 1, 1)

    def to_rgb(image: torch.Tensor) -> np.ndarray:
        pixels = (image * std + mean).clamp(0, 255).byte().permute(1, 2, 0).numpy()
        # the preprocessor turned BGR into RGB when to_rgb; otherwise it is BGR
        return pixels if preprocessor._channel_conversion else pixels[..., ::-1].copy()

    grid = model.backbone.patch_resolution
    patch = inputs.shape[-1] // grid[1]
    vis = Visualizer()
    rows = []
    for k, index in enumerate(indices):
        crop = to_rgb(inputs[k])
        importance = patch_grid(scores[k].numpy(), grid, patch)
        masked = patch_grid(mask[k].numpy(), grid, patch).astype(bool)
        divided = crop.copy()
        divided[masked] = (0.35 * divided[masked] + 0.65 * 128).astype(np.uint8)
        n_masked = int(mask[k].sum())
        rows.append([
            draw_panel(vis, crop, panel_size, label=f'#{index}'),
            draw_panel(vis, overlay(crop, heat_colours(importance), 0.6), panel_size,
                       label='importance'),
            draw_panel(vis, divided, panel_size,
                       label=f'{n_masked}/{mask.shape[1]} masked (grey)'),
            draw_panel(vis, to_rgb(recon[k]), panel_size, label='reconstruction'),
        ])
    return tile(rows)


def main() -> None:
    args = parse_args()
    register_all_modules(init_default_scope=False)
    cfg = load_browse_config(args.config, args.cfg_options)
    canvas = browse(cfg, args.checkpoint, args.num, args.start, args.seed, args.panel_size)
    write_png(canvas, args.output)
    print(f'wrote {args.output} ({canvas.shape[1]}x{canvas.shape[0]} px)')


if __name__ == '__main__':
    run_tool(main)
