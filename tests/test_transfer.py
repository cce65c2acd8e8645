"""Transfer: checkpoint tools, the checked backbone loading, and the downstream
libraries training from a pretraining checkpoint on the synthetic scenes."""
import os.path as osp
import pickle
import subprocess
import sys

import pytest
import torch
from mmengine.registry import init_default_scope

from mmssl_ext.models.utils import PretrainedBackboneInit, load_with_report

from .conftest import REPO_ROOT

TOOLS = osp.join(REPO_ROOT, 'tools')
BENCHMARKS = osp.join(REPO_ROOT, 'configs', 'benchmarks')


def _resnet18():
    from mmpretrain.models import ResNet
    torch.manual_seed(0)
    return ResNet(depth=18)


def _fresh_logger():
    """A new current MMLogger, its handler on this test's captured stdout."""
    import uuid

    from mmengine.logging import MMLogger
    MMLogger.get_instance(f'transfer-{uuid.uuid4()}')


def _state(path):
    import mmssl_ext.compat  # noqa: F401
    return torch.load(path, map_location='cpu', weights_only=True)['state_dict']


def test_pretrained_backbone_loads_everything_and_reports(pretrained_r18, capsys):
    _fresh_logger()
    backbone = _resnet18()
    PretrainedBackboneInit(pretrained_r18)(backbone)
    state = _state(pretrained_r18)
    for key, value in backbone.state_dict().items():
        torch.testing.assert_close(value, state['backbone.' + key], msg=key)
    n = len(list(backbone.parameters()))  # BN statistics are loaded, but not counted
    assert f'{n}/{n} parameters loaded' in capsys.readouterr().out


def test_pretrained_backbone_fails_loudly_on_nothing_loaded(pretrained_r18, tmp_path):
    with pytest.raises(RuntimeError, match=r"received nothing.*prefixes are \['backbone\.'"):
        PretrainedBackboneInit(pretrained_r18, prefix='encoder.')(_resnet18())
    with pytest.raises(ValueError, match='no checkpoint given'):
        PretrainedBackboneInit(None)(_resnet18())
    # Another architecture: every shared key has another shape.
    from mmpretrain.models import ResNet
    wide = ResNet(depth=18, stem_channels=32, base_channels=32)
    torch.save(dict(state_dict={'backbone.' + k: v for k, v in wide.state_dict().items()}),
               str(tmp_path / 'wide.pth'))
    with pytest.raises(RuntimeError, match='shape mismatch'):
        PretrainedBackboneInit(str(tmp_path / 'wide.pth'))(_resnet18())


def test_pretrained_backbone_reports_partial_loads(pretrained_r18, tmp_path, capsys):
    _fresh_logger()
    state = _state(pretrained_r18)
    partial = {k: v for k, v in state.items() if not k.startswith('backbone.layer4')}
    torch.save(dict(state_dict=partial), str(tmp_path / 'partial.pth'))
    backbone = _resnet18()
    PretrainedBackboneInit(str(tmp_path / 'partial.pth'))(backbone)
    out = capsys.readouterr().out
    assert 'missing: layer4.' in out
    with pytest.raises(RuntimeError, match=r"only 45 of the module's 60 parameters"):
        PretrainedBackboneInit(str(tmp_path / 'partial.pth'), min_loaded=1.0)(_resnet18())


def test_extract_backbone_keeps_backbone_and_meta(pretrained_r18, tmp_path):
    out = tmp_path / 'backbone.pth'
    proc = subprocess.run([sys.executable, osp.join(TOOLS, 'model_converters',
                                                    'extract_backbone.py'),
                           pretrained_r18, str(out)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    full = _state(pretrained_r18)
    extracted = torch.load(str(out), map_location='cpu', weights_only=True)
    assert set(extracted['state_dict']) == {k for k in full if k.startswith('backbone.')}
    assert any(not k.startswith('backbone.') for k in full)  # heads, momentum copy dropped
    assert extracted['meta']['kept_tensors'] == len(extracted['state_dict'])
    assert extracted['meta']['dropped_tensors'] == len(full) - len(extracted['state_dict'])
    # Loadable by the same init as the raw checkpoint.
    backbone = _resnet18()
    PretrainedBackboneInit(str(out))(backbone)
    torch.testing.assert_close(backbone.conv1.weight, full['backbone.conv1.weight'])


def test_extract_backbone_detectron2_names(pretrained_r18, tmp_path):
    out = tmp_path / 'backbone.pkl'
    proc = subprocess.run([sys.executable, osp.join(TOOLS, 'model_converters',
                                                    'extract_backbone.py'),
                           pretrained_r18, str(out), '--detectron2'], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    with open(out, 'rb') as f:
        model = pickle.load(f)['model']
    full = _state(pretrained_r18)
    # detectron2's ResNet naming (stem, res2..res5, conv*.norm, shortcut).
    assert (model['stem.conv1.weight'] == full['backbone.conv1.weight'].numpy()).all()
    assert (model['stem.conv1.norm.running_var'] ==
            full['backbone.bn1.running_var'].numpy()).all()
    assert (model['res5.0.shortcut.norm.weight'] ==
            full['backbone.layer4.0.downsample.1.weight'].numpy()).all()
    assert (model['res2.1.conv2.norm.bias'] == full['backbone.layer1.1.bn2.bias'].numpy()).all()
    assert not any('num_batches_tracked' in k or 'layer' in k or 'bn' in k for k in model)


def test_extract_backbone_refuses_a_checkpoint_without_the_prefix(pretrained_r18, tmp_path):
    proc = subprocess.run([sys.executable, osp.join(TOOLS, 'model_converters',
                                                    'extract_backbone.py'),
                           pretrained_r18, str(tmp_path / 'x.pth'), '--prefix', 'encoder.'],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "no key starts with 'encoder.'" in proc.stderr


def _downstream_backbone_equals_pretrained(checkpoint, pretrained, prefix='backbone.'):
    """Conv weights of the downstream run's backbone equal the pretrained ones
    (the runs use lr 0, so training left them as loaded), and are not what a
    fresh initialisation gives."""
    downstream, source = _state(checkpoint), _state(pretrained)
    convs = [k for k in source if k.startswith('backbone.') and k.endswith('conv1.weight')]
    assert convs
    for key in convs:
        torch.testing.assert_close(downstream[prefix + key[len('backbone.'):]], source[key],
                                   msg=key)


def _assert_fully_loaded(log: str, module: str) -> None:
    import re
    found = re.findall(rf'PretrainedBackbone: {module} <- .*?: (\d+)/(\d+) parameters loaded', log)
    assert found, f'no PretrainedBackbone report for {module}'
    for loaded, total in found:
        assert loaded == total and int(total) > 0


def _mim_train(package, config, checkpoint, root, work_dir, env, *extra, lr0=True):
    """``mim train <package> <config>`` from ``work_dir``'s parent (outside the
    repo): the checkpoint given once, the synthetic data, 2 iterations then a
    validation on 4 images, lr 0 (unless ``lr0=False``). Returns the output."""
    mim = osp.join(osp.dirname(sys.executable), 'mim')
    options = [f'model.backbone.init_cfg.checkpoint={checkpoint}',
               f'train_dataloader.dataset.data_root={root}',
               f'val_dataloader.dataset.data_root={root}', 'train_cfg.max_iters=2',
               'train_cfg.val_interval=2', 'default_hooks.checkpoint.interval=2', *extra]
    if lr0:
        options.append('optim_wrapper.optimizer.lr=0.0')
    proc = subprocess.run(
        [mim, 'train', package, config, '--work-dir', str(work_dir), '--cfg-options', *options],
        cwd=str(osp.dirname(str(work_dir))), env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:]
    return proc.stdout


@pytest.mark.slow
def test_mmdet_mask_rcnn_trains_from_the_pretrained_backbone(
        pretrained_r18, synthetic_root, tmp_path, subprocess_env):
    config = osp.join(BENCHMARKS, 'mmdetection', 'mask-rcnn_r18_fpn_1xb4-20i_synthetic.py')
    root = synthetic_root + '/'
    # mmdet's own train.py through mim, run outside the repo, the checkpoint given once.
    out = _mim_train('mmdet', config, pretrained_r18, root, tmp_path / 'det', subprocess_env,
                     'val_dataloader.dataset.indices=4',
                     f'val_evaluator.ann_file={root}annotations/instances_val.json')
    _assert_fully_loaded(out, 'ResNet')
    assert 'coco/bbox_mAP' in out  # mmdet's evaluation ran
    _downstream_backbone_equals_pretrained(str(tmp_path / 'det' / 'iter_2.pth'), pretrained_r18)


@pytest.mark.slow
def test_mmseg_fcn_trains_from_the_pretrained_backbone(
        pretrained_r18, synthetic_root, tmp_path, subprocess_env):
    config = osp.join(BENCHMARKS, 'mmsegmentation', 'fcn_r18-d8_1xb4-20i_synthetic.py')
    root = synthetic_root + '/'
    # Our wrapper (one process: GPUS=1), which runs mmseg's train.py through
    # mim and hands the checkpoint to the backbone's init_cfg.
    env = dict(subprocess_env, WORK_DIR=str(tmp_path / 'seg'))
    proc = subprocess.run(
        ['bash', osp.join(TOOLS, 'benchmarks', 'mmsegmentation', 'mim_dist_train.sh'), config,
         pretrained_r18, '1', '--cfg-options',
         f'train_dataloader.dataset.data_root={root}', f'val_dataloader.dataset.data_root={root}',
         'val_dataloader.dataset.indices=4', 'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
         'default_hooks.checkpoint.interval=2', 'optim_wrapper.optimizer.lr=0.0',
         'param_scheduler.0.eta_min=0.0'],
        cwd=str(tmp_path), env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:]
    _assert_fully_loaded(proc.stdout, 'ResNet')
    assert 'mIoU' in proc.stdout  # mmseg's evaluation ran
    _downstream_backbone_equals_pretrained(str(tmp_path / 'seg' / 'iter_2.pth'), pretrained_r18)


@pytest.mark.slow
def test_mmpretrain_linear_probe_trains_on_the_frozen_pretrained_backbone(
        pretrained_r18, synthetic_root, tmp_path, subprocess_env):
    config = osp.join(BENCHMARKS, 'classification', 'resnet18-conv5_1xb32-linear-20i_synthetic.py')
    out = _mim_train('mmpretrain', config, pretrained_r18, synthetic_root + '/', tmp_path / 'cls',
                     subprocess_env, 'train_dataloader.batch_size=4', lr0=False)
    _assert_fully_loaded(out, 'ResNet')
    assert 'accuracy/top1' in out
    # Frozen (the lr is not 0): the probe trained only its head.
    _downstream_backbone_equals_pretrained(str(tmp_path / 'cls' / 'iter_2.pth'), pretrained_r18)


def test_ccmim_encoder_loads_fully_into_mmpretrain_vit(tmp_path):
    # ccMIM's backbone is mmpretrain's MAEViT plus methods: its weights are a
    # VisionTransformer's, which the linear and fine-tuning benchmarks build.
    from mmengine.config import Config
    from mmpretrain.models import VisionTransformer

    from mmssl_ext import register_all_modules
    from mmssl_ext.registry import MODELS
    register_all_modules(init_default_scope=False)
    init_default_scope('mmssl_ext')
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'ccmim',
                                   'ccmim_vit-tiny-p8_1xb32-600i_synthetic.py'))
    ccmim = MODELS.build(cfg.model)
    ccmim.init_weights()
    torch.save(dict(state_dict=ccmim.state_dict()), str(tmp_path / 'ccmim.pth'))
    vit = VisionTransformer(arch=dict(cfg.model.backbone.arch), img_size=64, patch_size=8,
                            out_type='cls_token')
    _fresh_logger()
    PretrainedBackboneInit(str(tmp_path / 'ccmim.pth'), min_loaded=1.0)(vit)
    torch.testing.assert_close(vit.layers[0].attn.qkv.weight,
                               ccmim.backbone.layers[0].attn.qkv.weight)
    torch.testing.assert_close(vit.pos_embed, ccmim.backbone.pos_embed)
    # With averaged patch tokens, the new norm after pooling is all that is missing.
    averaged = VisionTransformer(arch=dict(cfg.model.backbone.arch), img_size=64, patch_size=8,
                                 out_type='avg_featmap')
    report = load_with_report(averaged, ccmim.state_dict(), 'backbone.')
    assert report.missing == ['ln2.weight', 'ln2.bias'] and not report.mismatched


@pytest.mark.slow
def test_mmdet_c4_on_voc_format_loads_backbone_and_res5_head(
        pretrained_r18, synthetic_root, tmp_path, subprocess_env):
    # The scenes as VOC trees (our converter), then the C4 protocol through
    # our wrapper: one checkpoint for the backbone and for the res5 head.
    converter = osp.join(TOOLS, 'dataset_converters', 'coco_to_voc.py')
    for split, voc_split in (('train', 'trainval'), ('val', 'test')):
        proc = subprocess.run(
            [sys.executable, converter,
             osp.join(synthetic_root, 'annotations', f'instances_{split}.json'),
             osp.join(synthetic_root, 'images', split),
             str(tmp_path / 'voc' / split / 'VOC2007'), '--split', voc_split],
            capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
    config = osp.join(BENCHMARKS, 'mmdetection', 'faster-rcnn_r18-c4_1xb4-20i_synthetic-voc.py')
    env = dict(subprocess_env, WORK_DIR=str(tmp_path / 'det'),
               CHECKPOINT_KEYS='model.roi_head.shared_head.init_cfg.checkpoint')
    proc = subprocess.run(
        ['bash', osp.join(TOOLS, 'benchmarks', 'mmdetection', 'mim_dist_train.sh'), config,
         pretrained_r18, '1', '--cfg-options',
         f'train_dataloader.dataset.data_root={tmp_path}/voc/train/',
         f'val_dataloader.dataset.data_root={tmp_path}/voc/val/',
         'val_dataloader.dataset.indices=4', 'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
         'default_hooks.checkpoint.interval=2', 'optim_wrapper.optimizer.lr=0.0'],
        cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:]
    _assert_fully_loaded(proc.stdout, 'ResNet')  # C4: layer1-3 (layer4 unexpected)
    assert 'PretrainedBackbone: ResLayerExtraNorm <- ' in proc.stdout
    assert 'missing: norm.weight, norm.bias' in proc.stdout  # the extra norm is new
    assert 'pascal_voc/mAP' in proc.stdout
    downstream, source = _state(str(tmp_path / 'det' / 'iter_2.pth')), _state(pretrained_r18)
    for key in ('layer1.0.conv1.weight', 'layer3.1.conv2.weight'):
        torch.testing.assert_close(downstream['backbone.' + key], source['backbone.' + key])
    # res5 of the shared head is the pretrained backbone's layer4
    for key in ('layer4.0.conv1.weight', 'layer4.1.conv2.weight'):
        torch.testing.assert_close(downstream['roi_head.shared_head.' + key],
                                   source['backbone.' + key])


@pytest.mark.slow
def test_a_project_outside_the_repo_inherits_our_benchmark_config(
        pretrained_r18, synthetic_root, tmp_path, subprocess_env):
    # Someone else's mmdet project: its own config file, in its own folder,
    # inherits ours through the installed configs (no copy), changes a loss
    # weight, and trains with mmdet's tools.
    config_dir = subprocess.run([sys.executable, '-m', 'mmssl_ext', 'config-dir'],
                                cwd=str(tmp_path), env=subprocess_env, capture_output=True,
                                text=True, timeout=60).stdout.strip()
    assert osp.isfile(osp.join(config_dir, 'benchmarks', 'mmdetection',
                               'mask-rcnn_r18_fpn_1xb4-20i_synthetic.py'))
    project = tmp_path / 'their_project' / 'configs'
    project.mkdir(parents=True)
    (project / 'my_mask_rcnn.py').write_text(
        "_base_ = '{{$MMSSL_EXT_CONFIGS:}}/benchmarks/mmdetection/"
        "mask-rcnn_r18_fpn_1xb4-20i_synthetic.py'\n"
        "model = dict(roi_head=dict(bbox_head=dict(loss_bbox=dict(loss_weight=2.0))))\n")
    env = dict(subprocess_env, MMSSL_EXT_CONFIGS=config_dir)
    root = synthetic_root + '/'
    mim = osp.join(osp.dirname(sys.executable), 'mim')
    proc = subprocess.run(
        [mim, 'train', 'mmdet', str(project / 'my_mask_rcnn.py'), '--work-dir',
         str(tmp_path / 'work'), '--cfg-options',
         f'model.backbone.init_cfg.checkpoint={pretrained_r18}',
         f'train_dataloader.dataset.data_root={root}', f'val_dataloader.dataset.data_root={root}',
         'val_dataloader.dataset.indices=4',
         f'val_evaluator.ann_file={root}annotations/instances_val.json',
         'train_cfg.max_iters=1', 'train_cfg.val_interval=1',
         'default_hooks.checkpoint.interval=1'],
        cwd=str(tmp_path / 'their_project'), env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:]
    _assert_fully_loaded(proc.stdout, 'ResNet')
    dumped = (tmp_path / 'work' / 'my_mask_rcnn.py').read_text()
    assert 'loss_weight=2.0' in dumped and "_scope_='mmssl_ext'" in dumped


def test_knn_eval_tool_scores_a_pretraining_checkpoint(
        pretrained_r18, synthetic_root, tmp_path, subprocess_env):
    from .conftest import SMALL_CONFIG
    tool = osp.join(TOOLS, 'benchmarks', 'classification', 'knn_eval.py')
    proc = subprocess.run([sys.executable, tool, SMALL_CONFIG, pretrained_r18, '--data-root',
                           synthetic_root, '--linear'],
                          cwd=str(tmp_path), env=subprocess_env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'kNN top-1 (k 20, T 0.07):' in proc.stdout and '(24 train, 12 val, 512-d)' in proc.stdout
    assert 'linear top-1:' in proc.stdout
    # A checkpoint of another model is refused, not scored as random weights.
    other = tmp_path / 'other.pth'
    torch.save(dict(state_dict={'encoder.w': torch.zeros(2)}), str(other))
    proc = subprocess.run([sys.executable, tool, SMALL_CONFIG, str(other), '--data-root',
                           synthetic_root], cwd=str(tmp_path), env=subprocess_env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0 and 'does not fit the backbone of' in proc.stderr
    assert 'top-level prefixes: encoder.' in proc.stderr


def test_vit_position_embedding_is_resized_to_the_downstream_grid():
    # Pretrained on an 8 x 8 grid, fine-tuned on 12 x 12 (mmseg's MAE backbone,
    # which UperNet uses): resized as mmpretrain resizes, everything else loaded.
    from mmpretrain.models import VisionTransformer
    from mmpretrain.models.utils import resize_pos_embed
    from mmseg.models.backbones import MAE
    torch.manual_seed(0)
    arch = dict(embed_dims=96, num_layers=2, num_heads=3, feedforward_channels=384)
    vit = VisionTransformer(arch=arch, img_size=64, patch_size=8)
    vit.pos_embed.data.normal_()
    state = {'backbone.' + k: v for k, v in vit.state_dict().items()}
    seg = MAE(img_size=(96, 96), patch_size=8, embed_dims=96, num_layers=2, num_heads=3,
              out_indices=[1])
    report = load_with_report(seg, state, 'backbone.')
    assert not report.mismatched and report.unexpected == ['ln1.weight', 'ln1.bias']
    torch.testing.assert_close(seg.pos_embed, resize_pos_embed(vit.pos_embed, (8, 8), (12, 12)))
    torch.testing.assert_close(seg.layers[1].attn.qkv.weight, vit.layers[1].attn.qkv.weight)
    # new in mmseg's MAE: layer scales and (zero-initialised) relative position tables
    assert all('gamma' in k or 'relative_position' in k for k in report.missing)


@pytest.fixture(scope='module')
def pretrained_ccmim(tmp_path_factory, synthetic_root):
    """A ccMIM checkpoint (the tiny ViT, 2 iterations on the synthetic scenes)."""
    work_dir = str(tmp_path_factory.mktemp('pretrained_ccmim'))
    config = osp.join(REPO_ROOT, 'configs', 'ccmim', 'ccmim_vit-tiny-p8_1xb32-600i_synthetic.py')
    proc = subprocess.run(
        [sys.executable, osp.join(TOOLS, 'train.py'), config, '--work-dir', work_dir,
         '--cfg-options', f'train_dataloader.dataset.data_root={synthetic_root}',
         'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0',
         'train_cfg.max_iters=2', 'default_hooks.checkpoint.interval=2'],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:]
    return osp.join(work_dir, 'iter_2.pth')


@pytest.mark.slow
def test_mmseg_upernet_vit_trains_from_a_ccmim_checkpoint(
        pretrained_ccmim, synthetic_root, tmp_path, subprocess_env):
    from mmpretrain.models.utils import resize_pos_embed
    config = osp.join(BENCHMARKS, 'mmsegmentation', 'upernet_vit-tiny-p8_1xb4-20i_synthetic.py')
    out = _mim_train('mmsegmentation', config, pretrained_ccmim, synthetic_root + '/',
                     tmp_path / 'seg', subprocess_env, 'val_dataloader.dataset.indices=4',
                     'param_scheduler.0.eta_min=0.0')
    assert 'PretrainedBackbone: MAE <- ' in out and 'mIoU' in out
    assert 'shape mismatch' not in out.split('PretrainedBackbone: MAE')[1][:2000]
    downstream, source = _state(str(tmp_path / 'seg' / 'iter_2.pth')), _state(pretrained_ccmim)
    for key in ('layers.3.attn.qkv.weight', 'layers.1.ffn.layers.0.0.weight',
                'patch_embed.projection.weight'):
        torch.testing.assert_close(downstream['backbone.' + key], source['backbone.' + key],
                                   msg=key)
    torch.testing.assert_close(downstream['backbone.pos_embed'],
                               resize_pos_embed(source['backbone.pos_embed'], (8, 8), (12, 12)))


@pytest.mark.slow
def test_mmdet_mask_rcnn_vit_sfp_trains_from_a_ccmim_checkpoint(
        pretrained_ccmim, synthetic_root, tmp_path, subprocess_env):
    config = osp.join(BENCHMARKS, 'mmdetection', 'mask-rcnn_vit-tiny-p8_sfp_1xb4-20i_synthetic.py')
    root = synthetic_root + '/'
    out = _mim_train('mmdet', config, pretrained_ccmim, root, tmp_path / 'det', subprocess_env,
                     'val_dataloader.dataset.indices=4',
                     f'val_evaluator.ann_file={root}annotations/instances_val.json')
    # 64 px scenes resized to 128 px: the 8 x 8 pretrained pos_embed becomes 16 x 16
    _assert_fully_loaded(out, 'VisionTransformer')
    assert 'coco/segm_mAP' in out
    downstream, source = _state(str(tmp_path / 'det' / 'iter_2.pth')), _state(pretrained_ccmim)
    # Loaded after the layers' own init (which redraws their MLPs).
    for key in ('layers.2.ffn.layers.0.0.weight', 'layers.0.attn.qkv.weight'):
        torch.testing.assert_close(downstream['backbone.' + key], source['backbone.' + key],
                                   msg=key)


def test_simple_feature_pyramid_gives_strides_4_to_64():
    from mmssl_ext.models.detection import SimpleFeaturePyramid
    x = torch.randn(2, 96, 8, 8)  # a stride-16 map of a 128 px image
    outs = SimpleFeaturePyramid(96, 32, norm_cfg=dict(type='BN'))((x, ))
    assert [tuple(o.shape[-2:]) for o in outs] == [(32, 32), (16, 16), (8, 8), (4, 4), (2, 2)]
    assert all(o.shape[1] == 32 for o in outs)
    # 8 px patches: a stride-8 map, the same strides with scales (2, 1, 0.5, 0.25)
    outs = SimpleFeaturePyramid(96, 32, scales=(2, 1, 0.5, 0.25), num_outs=4,
                                norm_cfg=dict(type='BN'))((torch.randn(1, 96, 16, 16), ))
    assert [tuple(o.shape[-2:]) for o in outs] == [(32, 32), (16, 16), (8, 8), (4, 4)]
    with pytest.raises(ValueError, match='scales'):
        SimpleFeaturePyramid(96, scales=(3, ))


def test_vit_layer_decay_constructor_scales_lr_by_depth():
    import importlib

    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import MODELS as ROOT_MODELS
    cfg = Config.fromfile(osp.join(BENCHMARKS, 'mmdetection',
                                   'mask-rcnn_vit-base-p16_sfp_1x_coco.py'))
    for module in cfg.custom_imports['imports']:
        importlib.import_module(module)
    init_default_scope('mmdet')
    model = ROOT_MODELS.build(cfg.model)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    group_of = {id(p): g for g in wrapper.optimizer.param_groups for p in g['params']}
    named = dict(model.named_parameters())

    def lr(name):
        return group_of[id(named[name])]['lr']

    base = 3e-4
    assert lr('backbone.layers.0.attn.qkv.weight') == pytest.approx(base * 0.75 ** 12)
    assert lr('backbone.layers.11.ffn.layers.1.weight') == pytest.approx(base * 0.75)
    assert lr('backbone.patch_embed.projection.weight') == pytest.approx(base * 0.75 ** 13)
    assert lr('roi_head.bbox_head.fc_cls.weight') == pytest.approx(base)
    assert group_of[id(named['backbone.pos_embed'])]['weight_decay'] == 0
    assert group_of[id(named['backbone.layers.3.ln1.weight'])]['weight_decay'] == 0
    assert group_of[id(named['backbone.layers.3.attn.qkv.weight'])]['weight_decay'] == 0.05
    assert sum(len(g['params']) for g in wrapper.optimizer.param_groups) == \
        sum(p.requires_grad for p in model.parameters())


@pytest.mark.slow
def test_mmpretrain_vit_finetune_from_a_ccmim_checkpoint(
        pretrained_ccmim, synthetic_root, tmp_path, subprocess_env):
    import re
    config = osp.join(BENCHMARKS, 'classification', 'vit-tiny-p8_1xb32-finetune-20i_synthetic.py')
    out = _mim_train('mmpretrain', config, pretrained_ccmim, synthetic_root + '/', tmp_path / 'ft',
                     subprocess_env, 'train_dataloader.batch_size=4')
    # MAE's fine-tuning pools the patch tokens through a new norm (ln2): all
    # else comes from the checkpoint.
    [(loaded, total)] = re.findall(r'PretrainedBackbone: VisionTransformer <- .*?: '
                                   r'(\d+)/(\d+) parameters loaded \(BN statistics not counted\); '
                                   r'2 missing: ln2.weight, ln2.bias',
                                   out)
    assert int(loaded) == int(total) - 2
    assert 'accuracy/top1' in out
    downstream, source = _state(str(tmp_path / 'ft' / 'iter_2.pth')), _state(pretrained_ccmim)
    # Loaded after the layers' own init (their MLPs), the position embedding kept.
    for key in ('layers.1.attn.proj.weight', 'layers.2.ffn.layers.0.0.weight', 'pos_embed'):
        torch.testing.assert_close(downstream['backbone.' + key], source['backbone.' + key],
                                   msg=key)


@pytest.mark.parametrize('config, options, source_prefix', [
    ('nnclr/nnclr_r18_1xb32-600i_synthetic.py', {}, 'backbone.'),
    # DINO: the teacher by default (what the paper evaluates), the student on request
    ('dino/dino_r18_1xb32-600i_synthetic.py', {}, 'teacher.module.backbone.'),
    ('dino/dino_r18_1xb32-600i_synthetic.py', dict(prefer_teacher=False), 'backbone.'),
    ('dino/dino_r18_1xb32-600i_synthetic.py', dict(prefix='teacher.module.backbone.'),
     'teacher.module.backbone.'),
])
def test_nnclr_and_dino_checkpoints_initialise_the_linear_probe(
        config, options, source_prefix, tmp_path):
    """The state of an NNCLR or DINO model, saved as a pretraining checkpoint,
    initialises the ResNet-18 of the linear benchmark config completely."""
    from mmengine.config import Config
    from mmengine.logging import MessageHub
    from mmpretrain.registry import MODELS as CLS_MODELS

    from mmssl_ext.registry import MODELS
    MessageHub.get_current_instance().update_info('max_iters', 10)
    init_default_scope('mmssl_ext')
    torch.manual_seed(0)
    pretraining = MODELS.build(Config.fromfile(osp.join(REPO_ROOT, 'configs', config)).model)
    if hasattr(pretraining, 'teacher'):  # make the teacher differ from the student
        with torch.no_grad():
            for param in pretraining.teacher.parameters():
                param.add_(1.)
    checkpoint = str(tmp_path / 'pretrained.pth')
    torch.save(dict(state_dict=pretraining.state_dict(), meta=dict()), checkpoint)
    probe_cfg = Config.fromfile(osp.join(
        BENCHMARKS, 'classification', 'resnet18-conv5_1xb32-linear-20i_synthetic.py'))
    probe_cfg.model.backbone.init_cfg.update(checkpoint=checkpoint, **options)
    init_default_scope('mmpretrain')
    probe = CLS_MODELS.build(probe_cfg.model)
    probe.init_weights()
    source = pretraining.state_dict()
    for key, value in probe.backbone.state_dict().items():
        if not key.endswith('num_batches_tracked'):
            torch.testing.assert_close(value, source[source_prefix + key], msg=key)
