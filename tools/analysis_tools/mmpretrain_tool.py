"""Run one of mmpretrain's analysis tools on a config of ours.

mmpretrain's tools build models with ``default_scope='mmpretrain'`` (its
``get_model``) and datasets in the scope the tool picks, where our modules
(``MaskCo``, ``COCOImageDataset``...) are not found: a registry looks in its
parents, never in its children. This wrapper writes the config once more with
``_scope_='mmssl_ext'`` on the model and on the datasets (mmengine then
builds each from our registry, which falls back to mmpretrain's), and runs
mmpretrain's own script (shipped in ``mmpretrain/.mim/tools``) on it, with
the other arguments as given. Nothing of the tool is rewritten.

    python tools/analysis_tools/mmpretrain_tool.py get_flops CONFIG --shape 224
    python tools/analysis_tools/mmpretrain_tool.py vis_tsne CONFIG --checkpoint CKPT \
        --test-cfg configs/benchmarks/classification/resnet18-conv5_1xb32-linear-20i_synthetic.py \
        --work-dir work_dirs/tsne
    python tools/analysis_tools/mmpretrain_tool.py vis_scheduler CONFIG -d 19200 \
        --not-show -s work_dirs/lr.png
    # analyze_logs reads logs, not configs: mmpretrain's as it is
    mim run mmpretrain analyze_logs plot_curve work_dirs/RUN/TS/vis_data/scalars.json \
        --keys loss --out work_dirs/loss.png

The first argument after the tool's name is the config; ``--test-cfg`` (t-SNE)
is scoped the same way. A DINO checkpoint's teacher is what the paper
evaluates: extract it first (``tools/model_converters/extract_backbone.py``),
then pass the extracted file as ``--checkpoint``.
"""
import glob
import os
import os.path as osp
import subprocess
import sys
import tempfile
from typing import List, Optional

from mmssl_ext.utils.tool_errors import InputError, load_config, run_tool

# The tools that take a config first.
CONFIG_TOOLS = ('get_flops', 'vis_tsne', 'vis_scheduler')
# mmpretrain 1.2.0's browse_dataset calls matplotlib's private
# _tight_bbox.adjust_bbox with the arguments of older releases: with the
# matplotlib installed (3.11) it fails on any config, mmpretrain's own included.
NOT_RUN = {'browse_dataset': (
    'mmpretrain 1.2.0\'s browse_dataset fails with matplotlib 3.11 (it calls the private '
    '_tight_bbox.adjust_bbox with an older signature), on any config',
    'draw our pipelines with tools/visualization/browse_maskco.py, browse_detcon.py or '
    'browse_ccmim.py')}
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def mmpretrain_script(name: str) -> str:
    """The path of mmpretrain's tool ``name`` (``.mim/tools/**/NAME.py``)."""
    import mmpretrain
    root = osp.join(osp.dirname(mmpretrain.__file__), '.mim', 'tools')
    found = sorted(glob.glob(osp.join(root, '**', f'{name}.py'), recursive=True))
    if not found:
        raise InputError(root, f'holds no {name}.py', 'install mmpretrain 1.2.0 from its wheel '
                         '(make install), which ships its tools under .mim/tools')
    return min(found, key=len)


def scoped_config(path: str, scope: str, out_dir: str) -> str:
    """``path`` rewritten to ``out_dir`` with ``_scope_=scope`` on its model and
    on the dataset of each dataloader; returns the new file's path."""
    cfg = load_config(path, needs=())
    scope = cfg.get('default_scope', scope)
    if isinstance(cfg.get('model'), dict):
        cfg.model.setdefault('_scope_', scope)
    for loader in LOADERS:
        dataset = cfg.get(loader, {}) and cfg[loader].get('dataset')
        if isinstance(dataset, dict):
            dataset.setdefault('_scope_', scope)
    out = osp.join(out_dir, osp.basename(path))
    cfg.dump(out)
    return out


def command(argv: List[str], tmp_dir: str) -> List[str]:
    """The command that runs mmpretrain's tool on scoped copies of the configs."""
    if not argv or argv[0] in ('-h', '--help'):
        raise SystemExit(__doc__)
    name, args = argv[0], list(argv[1:])
    if name in NOT_RUN:
        raise InputError(name, *NOT_RUN[name])
    if name not in CONFIG_TOOLS:
        raise InputError(name, 'is not a config tool of mmpretrain this wrapper runs',
                         f'choose one of {", ".join(CONFIG_TOOLS)} (analyze_logs: `mim run '
                         'mmpretrain analyze_logs ...` on the logs as they are)')
    if not args or args[0].startswith('-'):
        raise InputError(name, 'needs a config first', f'{name} CONFIG [its options]')
    args[0] = scoped_config(args[0], 'mmssl_ext', tmp_dir)
    if '--test-cfg' in args:
        index = args.index('--test-cfg') + 1
        if index < len(args):
            os.makedirs(osp.join(tmp_dir, 'test'), exist_ok=True)
            args[index] = scoped_config(args[index], 'mmssl_ext', osp.join(tmp_dir, 'test'))
    return [sys.executable, mmpretrain_script(name), *args]


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    with tempfile.TemporaryDirectory(prefix='mmssl_mmpretrain_tool_') as tmp_dir:
        proc = subprocess.run(command(argv, tmp_dir))
    return proc.returncode


if __name__ == '__main__':
    raise SystemExit(run_tool(main))
