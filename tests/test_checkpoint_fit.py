"""A checkpoint that does not fit stops the run (issue 20, item 1).

The rule (``mmssl_ext.utils.checkpoint_fit``) is shared by ``PretrainedBackbone``,
``extract_backbone.py --config``, ``knn_eval.py`` and ``CheckpointMatchHook``
(``load_from``/``--resume``, also in the downstream benchmark configs).
"""
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from mmssl_ext.models.utils import PretrainedBackboneInit, load_with_report
from mmssl_ext.utils.checkpoint_fit import (CheckpointMismatchError, compare_state,
                                            describe_architecture)

from .conftest import REPO_ROOT

TOOLS = osp.join(REPO_ROOT, 'tools')
C4_DETECTOR = osp.join(REPO_ROOT, 'configs', 'benchmarks', 'mmdetection',
                       'faster-rcnn_r18-c4_1xb4-20i_synthetic-voc.py')
CLASSIFIER = osp.join(REPO_ROOT, 'configs', 'benchmarks', 'classification',
                      'resnet18-conv5_1xb32-linear-20i_synthetic.py')


def _save_backbone(module, path, prefix='backbone.') -> str:
    torch.save(dict(state_dict={prefix + k: v for k, v in module.state_dict().items()}),
               str(path))
    return str(path)


def _mmdet_c4_parts(depth):
    """The backbone and the RoI head's res5 of the C4 detector config, at ``depth``."""
    import mmdet.models  # noqa: F401
    from mmdet.registry import MODELS
    cfg = Config.fromfile(C4_DETECTOR)
    init_default_scope('mmdet')
    backbone_cfg = dict(cfg.model.backbone, depth=depth)
    head_cfg = dict(cfg.model.roi_head.shared_head, depth=depth)
    for part in (backbone_cfg, head_cfg):
        part.pop('init_cfg', None)
    return MODELS.build(backbone_cfg), MODELS.build(head_cfg)


@pytest.fixture(scope='module')
def resnet50_checkpoint(tmp_path_factory) -> str:
    from mmpretrain.models import ResNet
    torch.manual_seed(0)
    return _save_backbone(ResNet(depth=50), tmp_path_factory.mktemp('r50') / 'r50.pth')


def test_architecture_is_read_from_the_tensors():
    from mmpretrain.models import ResNet, VisionTransformer
    assert describe_architecture(ResNet(depth=50).state_dict()) == \
        'ResNet-50 (Bottleneck, blocks 3-4-6-3, widths 256-512-1024-2048)'
    assert describe_architecture(ResNet(depth=18).state_dict()) == \
        'ResNet-18 (BasicBlock, blocks 2-2-2-2, widths 64-128-256-512)'
    vit = VisionTransformer(arch=dict(embed_dims=48, num_layers=3, num_heads=3,
                                      feedforward_channels=96), img_size=32, patch_size=8)
    assert describe_architecture(vit.state_dict()) == 'ViT (patch 8, width 48, depth 3)'
    whole = {'backbone.' + k: v for k, v in ResNet(depth=18).state_dict().items()}
    whole['roi_head.bbox_head.fc_cls.weight'] = torch.zeros(2, 2)
    assert describe_architecture(whole).startswith('backbone ResNet-18 (BasicBlock')
    assert describe_architecture(whole).endswith('with roi_head')


def test_resnet50_checkpoint_into_the_r18_c4_detector_is_refused(resnet50_checkpoint):
    """The issue's case: R50 MaskCo weights into the R18 Faster R-CNN used to log
    '59/75 tensors loaded' (BN statistics and a few 3x3 convs) and train."""
    backbone, res5 = _mmdet_c4_parts(18)
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    with pytest.raises(CheckpointMismatchError) as err:
        PretrainedBackboneInit(resnet50_checkpoint)(backbone)
    message = str(err.value)
    assert 'does not fit ResNet' in message
    assert 'checkpoint (\'backbone.\'): ResNet-50 (Bottleneck' in message
    assert 'module: ResNet stages layer1-layer3 (BasicBlock, blocks 2-2-2' in message
    assert 'shape mismatch' in message and 'allow_partial=True' in message
    assert 'BN statistics not counted' in message
    # Refused before anything was copied.
    for key, value in backbone.state_dict().items():
        assert torch.equal(value, before[key]), key
    with pytest.raises(CheckpointMismatchError, match='res'):
        PretrainedBackboneInit(resnet50_checkpoint)(res5)


def test_bn_statistics_are_no_evidence_of_a_load():
    """A checkpoint whose only fitting tensors are BN buffers loads nothing."""
    from mmpretrain.models import ResNet
    module = ResNet(depth=18)
    buffers = {k: v for k, v in module.state_dict().items()
               if k.endswith(('running_mean', 'running_var', 'num_batches_tracked'))}
    report, matched = compare_state(module, buffers)
    assert len(matched) == len(buffers) > 0
    assert report.loaded == 0 and report.total == len(list(module.parameters()))
    assert report.problems()


def test_resnet18_checkpoint_into_a_resnet50_is_refused(tmp_path):
    from mmpretrain.models import ResNet
    path = _save_backbone(ResNet(depth=18), tmp_path / 'r18.pth')
    with pytest.raises(CheckpointMismatchError, match=r'ResNet-18 .*\n  module: ResNet-50'):
        PretrainedBackboneInit(path)(ResNet(depth=50))


def test_vit_base_checkpoint_into_a_vit_small_is_refused():
    from mmpretrain.models import VisionTransformer
    base = VisionTransformer(arch='b', img_size=224, patch_size=16)
    small = VisionTransformer(arch='s', img_size=224, patch_size=16)
    state = {'backbone.' + k: v for k, v in base.state_dict().items()}
    with pytest.raises(CheckpointMismatchError) as err:
        load_with_report(small, state, 'backbone.', check=True, checkpoint='vit-b.pth')
    assert 'ViT (patch 16, width 768, depth 12)' in str(err.value)
    assert 'module: ViT (patch 16, width 768, depth 8)' in str(err.value)  # mmpretrain's 's'


def test_a_detector_checkpoint_into_a_classifier(tmp_path, synthetic_root):
    """``load_from`` of a whole detector into a classifier is refused by the
    strict ``CheckpointMatchHook`` (in every benchmark config); read as a
    backbone with the wrong prefix it loads nothing and says which prefixes
    the checkpoint has."""
    import mmdet.models  # noqa: F401
    from mmdet.registry import MODELS
    init_default_scope('mmdet')
    detector = MODELS.build(Config.fromfile(C4_DETECTOR).model)
    ckpt = str(tmp_path / 'detector.pth')
    torch.save(dict(state_dict=detector.state_dict()), ckpt)

    cfg = Config.fromfile(CLASSIFIER)
    cfg.work_dir = str(tmp_path / 'classifier')
    cfg.train_dataloader.dataset.data_root = synthetic_root
    cfg.train_dataloader.num_workers = 0
    cfg.train_dataloader.pop('persistent_workers', None)
    cfg.model.backbone.init_cfg = None
    cfg.val_dataloader = cfg.val_evaluator = cfg.val_cfg = None
    cfg.load_from = ckpt
    runner = Runner.from_cfg(cfg)
    with pytest.raises(CheckpointMismatchError) as err:
        runner.load_or_resume()
    message = str(err.value)
    assert 'does not match the model' in message
    assert 'checkpoint: backbone ResNet stages layer1-layer3' in message
    assert 'rpn_head' in message and 'model: backbone ResNet-18' in message

    from mmpretrain.models import ResNet
    with pytest.raises(CheckpointMismatchError, match=r"received nothing.*'backbone\.'"):
        PretrainedBackboneInit(ckpt, prefix='')(ResNet(depth=18))


def test_a_genuinely_partial_load_is_accepted_with_allow_partial(tmp_path, capsys):
    """A ViT checkpoint with 2 of the module's 6 blocks: refused, then loaded
    with ``allow_partial=True`` (what fits is copied, the rest reported)."""
    from mmpretrain.models import VisionTransformer
    arch = dict(embed_dims=48, num_heads=3, feedforward_channels=96)
    shallow = VisionTransformer(arch=dict(arch, num_layers=2), img_size=32, patch_size=8)
    deep = VisionTransformer(arch=dict(arch, num_layers=6), img_size=32, patch_size=8)
    path = _save_backbone(shallow, tmp_path / 'shallow.pth')
    import uuid

    from mmengine.logging import MMLogger
    MMLogger.get_instance(f'fit-{uuid.uuid4()}')  # a handler on this test's stdout
    with pytest.raises(CheckpointMismatchError, match=r'only \d+ of the module\'s \d+ param'):
        PretrainedBackboneInit(path)(deep)
    PretrainedBackboneInit(path, allow_partial=True)(deep)
    for key, value in shallow.state_dict().items():
        assert torch.equal(deep.state_dict()[key], value), key
    assert 'missing: layers.2.' in capsys.readouterr().out


def test_a_subset_of_stages_is_a_fit_without_allow_partial(resnet50_checkpoint):
    """The C4 detector's parts take their stages of a ResNet-50 checkpoint:
    the other stages are not counted as unused."""
    backbone, res5 = _mmdet_c4_parts(50)
    PretrainedBackboneInit(resnet50_checkpoint)(backbone)
    PretrainedBackboneInit(resnet50_checkpoint)(res5)
    state = torch.load(resnet50_checkpoint, weights_only=True)['state_dict']
    assert torch.equal(res5.state_dict()['layer4.2.conv3.weight'],
                       state['backbone.layer4.2.conv3.weight'])
    assert torch.equal(backbone.state_dict()['layer3.5.conv3.weight'],
                       state['backbone.layer3.5.conv3.weight'])


def test_extract_backbone_and_knn_eval_refuse_a_checkpoint_that_does_not_fit(
        resnet50_checkpoint, pretrained_r18, synthetic_root, tmp_path, subprocess_env):
    extract = osp.join(TOOLS, 'model_converters', 'extract_backbone.py')
    out = tmp_path / 'backbone.pth'
    proc = subprocess.run([sys.executable, extract, resnet50_checkpoint, str(out), '--config',
                           C4_DETECTOR], env=subprocess_env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode != 0 and not out.exists()
    assert 'does not fit ResNet (model.backbone of' in proc.stderr, proc.stderr
    assert '--allow-partial' in proc.stderr and 'Traceback' not in proc.stderr
    proc = subprocess.run([sys.executable, extract, pretrained_r18, str(out), '--config',
                           C4_DETECTOR], env=subprocess_env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0 and out.exists(), proc.stderr
    assert 'ResNet-18 (BasicBlock' in proc.stdout and 'fits' in proc.stdout

    knn = osp.join(TOOLS, 'benchmarks', 'classification', 'knn_eval.py')
    config = osp.join(REPO_ROOT, 'configs', 'mocov2', 'mocov2_r18_1xb32-600i_synthetic.py')
    proc = subprocess.run([sys.executable, knn, config, resnet50_checkpoint, '--data-root',
                           synthetic_root], env=subprocess_env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode != 0, proc.stdout
    assert 'knn_eval:' in proc.stderr and 'ResNet-50 (Bottleneck' in proc.stderr
    assert 'Traceback' not in proc.stderr
