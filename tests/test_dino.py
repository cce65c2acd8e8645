"""DINO: schedules, centering, loss, head, multi-crop, and a short run."""
import json
import math
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.registry import init_default_scope

from mmssl_ext.models.losses import DINOLoss, teacher_temperature
from mmssl_ext.models.necks import DINONeck, WeightNormLinear
from mmssl_ext.registry import MODELS, TRANSFORMS

from .conftest import REPO_ROOT, config_with_options, run_mim_and_dist_train

CONFIGS = osp.join(REPO_ROOT, 'configs', 'dino')
SMALL = osp.join(CONFIGS, 'dino_r18_1xb32-600i_synthetic.py')


# --------------------------------------------------------------------------- schedules

def test_teacher_temperature_is_the_official_linspace_then_constant():
    warmup = np.linspace(0.04, 0.07, 30)
    for epoch in range(30):
        assert teacher_temperature(epoch, 30, 0.04, 0.07) == pytest.approx(warmup[epoch])
    assert teacher_temperature(0, 30, 0.04, 0.07) == 0.04
    assert teacher_temperature(29, 30, 0.04, 0.07) == pytest.approx(0.07)
    assert teacher_temperature(30, 30, 0.04, 0.07) == 0.07
    assert teacher_temperature(500, 30, 0.04, 0.07) == 0.07
    assert teacher_temperature(0, 0, 0.04, 0.07) == 0.07  # no warm-up
    assert teacher_temperature(0, 1, 0.04, 0.07) == 0.04


# --------------------------------------------------------------------------- loss

def _reference_loss(student, teacher, center, student_temp, teacher_temp):
    """The paper's H(P_t, P_s) over pairs of different views, sample by sample."""
    def softmax(x):
        e = np.exp(x - x.max())
        return e / e.sum()

    total, terms = 0., 0
    for i, t_view in enumerate(teacher):
        for j, s_view in enumerate(student):
            if i == j:
                continue
            per_sample = []
            for t, s in zip(t_view, s_view):
                p_t = softmax((t - center) / teacher_temp)
                p_s = softmax(s / student_temp)
                per_sample.append(-(p_t * np.log(p_s)).sum())
            total += np.mean(per_sample)
            terms += 1
    return total / terms


def test_loss_matches_an_independent_computation():
    rng = np.random.default_rng(0)
    batch, k = 3, 7
    student = [rng.normal(size=(batch, k)) for _ in range(5)]  # 2 global + 3 local
    teacher = [rng.normal(size=(batch, k)) for _ in range(2)]
    criterion = DINOLoss(out_channels=k, student_temp=0.1, center_momentum=0.9)
    center = rng.normal(size=(1, k))
    criterion.center.copy_(torch.tensor(center, dtype=torch.float32))
    loss, _ = criterion([torch.tensor(s, dtype=torch.float32) for s in student],
                        [torch.tensor(t, dtype=torch.float32) for t in teacher], 0.05)
    expected = _reference_loss(student, teacher, center[0], 0.1, 0.05)
    assert float(loss) == pytest.approx(expected, rel=1e-4)


def test_center_is_an_ema_of_the_teacher_batch_mean():
    k = 4
    criterion = DINOLoss(out_channels=k, center_momentum=0.9)
    gen = torch.Generator().manual_seed(1)
    teacher = [torch.randn(3, k, generator=gen) for _ in range(2)]
    student = [torch.randn(3, k, generator=gen) for _ in range(3)]
    criterion(student, teacher, 0.04)
    mean_1 = torch.cat(teacher).mean(0, keepdim=True)
    torch.testing.assert_close(criterion.center, 0.1 * mean_1)  # from zero
    teacher_2 = [t + 1 for t in teacher]
    criterion(student, teacher_2, 0.04)
    torch.testing.assert_close(criterion.center, 0.9 * 0.1 * mean_1 + 0.1 * (mean_1 + 1))


def test_loss_uses_the_center_before_updating_it():
    k = 3
    criterion = DINOLoss(out_channels=k)
    student = [torch.zeros(2, k)] * 3
    teacher = [torch.tensor([[5., 0., 0.]] * 2)] * 2
    _, stats = criterion(student, teacher, 1.0)
    # targets of the zero center: softmax(5, 0, 0)
    p = torch.softmax(torch.tensor([5., 0., 0.]), 0)
    assert float(stats['teacher_entropy']) == pytest.approx(float(-(p * p.log()).sum()),
                                                            rel=1e-5)


def test_teacher_entropies_read_the_two_collapses_and_a_healthy_batch():
    k = 16
    criterion = DINOLoss(out_channels=k)
    student = [torch.randn(4, k) for _ in range(3)]
    # uniform collapse: every target uniform
    _, uniform = criterion(student, [torch.zeros(4, k)] * 2, 0.04)
    assert float(uniform['teacher_entropy']) == pytest.approx(math.log(k), rel=1e-5)
    assert float(uniform['teacher_marginal_entropy']) == pytest.approx(math.log(k), rel=1e-5)
    # one-hot collapse: every image on the same dimension
    same = torch.zeros(4, k)
    same[:, 3] = 10.
    criterion.center.zero_()
    _, peaked = criterion(student, [same] * 2, 0.04)
    assert float(peaked['teacher_entropy']) < 1e-6
    assert float(peaked['teacher_marginal_entropy']) < 1e-6
    # healthy: each image one-hot on its own dimension; the batch spreads over 4
    own = torch.zeros(4, k)
    own[torch.arange(4), torch.arange(4)] = 10.
    criterion.center.zero_()
    _, healthy = criterion(student, [own] * 2, 0.04)
    assert float(healthy['teacher_entropy']) < 1e-6
    assert float(healthy['teacher_marginal_entropy']) == pytest.approx(math.log(4), rel=1e-5)


def test_loss_refuses_a_single_view():
    with pytest.raises(ValueError, match='at least two student views'):
        DINOLoss(out_channels=3)([torch.zeros(1, 3)], [torch.zeros(1, 3)], 0.04)


# --------------------------------------------------------------------------- head

def test_weight_norm_linear_is_weight_normalisation():
    torch.manual_seed(0)
    layer = WeightNormLinear(5, 3)
    x = torch.randn(4, 5)
    v = layer.weight.detach()
    expected = x @ (v / v.norm(dim=1, keepdim=True)).T  # g = 1
    torch.testing.assert_close(layer(x), expected)
    # the same as torch's weight norm with g fixed at 1
    reference = torch.nn.Linear(5, 3, bias=False)
    reference.weight.data.copy_(v)
    reference = torch.nn.utils.parametrizations.weight_norm(reference)
    reference.parametrizations.weight.original0.data.fill_(1.)
    torch.testing.assert_close(layer(x), reference(x))
    assert [n for n, _ in layer.named_parameters()] == ['weight']
    learnable = WeightNormLinear(5, 3, learnable_norm=True)
    learnable.scale.data.fill_(2.)
    w = learnable.weight.detach()
    torch.testing.assert_close(learnable(x), 2 * x @ (w / w.norm(dim=1, keepdim=True)).T)


@pytest.mark.parametrize('shape', [(4, 32), (4, 32, 3, 3)])
def test_dino_neck_pools_normalises_and_projects(shape):
    torch.manual_seed(0)
    neck = DINONeck(in_channels=32, out_channels=10, hidden_channels=16, bottleneck_channels=8,
                    use_bn=len(shape) == 4)
    neck.init_weights()
    x = torch.randn(*shape)
    out = neck((x, ))[0]
    assert out.shape == (4, 10)
    pooled = x.mean(dim=(2, 3)) if x.dim() == 4 else x
    bottleneck = F.normalize(neck.mlp(pooled), dim=-1)
    torch.testing.assert_close(out, neck.last_layer(bottleneck))
    # every logit is a cosine: unit bottleneck against unit rows
    assert out.abs().max() <= 1 + 1e-5


# --------------------------------------------------------------------------- multi-crop

def _multi_crop(**overrides):
    cfg = dict(type='MultiCrop', global_transforms=[[dict(type='RandomFlip', prob=0.5)],
                                                    [dict(type='Solarize', thr=128, prob=1.)]],
               local_transforms=[dict(type='RandomFlip', prob=0.5)], num_local_crops=3,
               global_size=48, local_size=24)
    cfg.update(overrides)
    return TRANSFORMS.build(cfg)


def test_multi_crop_shapes_and_order():
    init_default_scope('mmssl_ext')
    rng = np.random.default_rng(0)
    image = rng.integers(160, 256, size=(80, 120, 3), dtype=np.uint8)  # all above 128
    out = _multi_crop()(dict(img=image))
    shapes = [v.shape for v in out['img']]
    assert shapes == [(48, 48, 3)] * 2 + [(24, 24, 3)] * 3
    # the second global view has its own pipeline: solarised (inverted above 128)
    assert out['img'][1].max() < 128 and out['img'][0].min() >= 128


def test_multi_crop_batches_into_views_of_two_sizes():
    from mmengine.dataset import default_collate
    init_default_scope('mmssl_ext')
    pipeline = [_multi_crop(), TRANSFORMS.build(dict(type='PackInputs'))]
    rng = np.random.default_rng(1)
    samples = []
    for _ in range(2):
        results = dict(img=rng.integers(0, 255, size=(64, 64, 3), dtype=np.uint8))
        for step in pipeline:
            results = step(results)
        samples.append(results)
    batch = default_collate(samples)
    preprocessor = MODELS.build(dict(type='SelfSupDataPreprocessor', mean=[0, 0, 0],
                                     std=[1, 1, 1], to_rgb=True))
    views = preprocessor(batch, training=True)['inputs']
    assert [tuple(v.shape) for v in views] == [(2, 3, 48, 48)] * 2 + [(2, 3, 24, 24)] * 3


@pytest.mark.parametrize('bad, message', [
    (dict(global_transforms=[]), 'at least one global view'),
    (dict(num_local_crops=-1), 'num_local_crops'),
    (dict(local_scale=(0.5, 1.2)), 'local_scale'),
])
def test_multi_crop_refuses_bad_arguments(bad, message):
    init_default_scope('mmssl_ext')
    with pytest.raises(ValueError, match=message):
        _multi_crop(**bad)


# --------------------------------------------------------------------------- model

def _model(path=SMALL, **options):
    init_default_scope('mmssl_ext')
    cfg = Config.fromfile(path)
    cfg.model.update(options)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    return model


def _views(batch=2, sizes=(32, 32, 16, 16)):
    gen = torch.Generator().manual_seed(0)
    return [torch.randn(batch, 3, s, s, generator=gen) for s in sizes]


def _step_with_policy(model, optimizer):
    """One official-style step: backward, the model's gradient policy, update."""
    optimizer.zero_grad()
    model.loss(_views(), [None] * 2)['loss'].backward()
    model.before_optimizer_step(optimizer)
    optimizer.step()


def test_frozen_last_layer_has_no_gradient_and_no_optimizer_state_until_the_freeze_ends():
    # cancel_gradients_last_layer sets p.grad = None: AdamW keeps no state for
    # the layer while frozen, so its first update after the freeze is AdamW's
    # first step (|update| = lr for every element, whatever the gradient scale),
    # not the ~3x larger one of moments decayed over counted steps.
    hub = MessageHub.get_current_instance()
    hub.update_info('max_iters', 100)
    model = _model(freeze_last_layer=3, by_epoch=False, clip_grad_per_param=None)
    last = model.neck.last_layer.weight
    lr = 1e-3
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.)
    for it in range(3):
        hub.update_info('iter', it)
        before = last.detach().clone()
        _step_with_policy(model, optimizer)
        assert last.grad is None and last not in optimizer.state, it
        torch.testing.assert_close(last, before)
        assert model.neck.mlp[0].weight in optimizer.state  # the rest learns
    hub.update_info('iter', 3)  # the freeze is over
    before = last.detach().clone()
    _step_with_policy(model, optimizer)
    assert optimizer.state[last]['step'] == 1
    moved = (last - before).abs()
    clear = last.grad.abs() > 1e-4  # AdamW's eps (1e-8) does not matter there
    assert clear.sum() > moved.numel() // 4
    torch.testing.assert_close(moved[clear], torch.full_like(moved[clear], lr), rtol=1e-3,
                               atol=0)
    hub.update_info('iter', 0)


def test_gradients_are_clipped_per_parameter_not_by_the_global_norm():
    # utils.clip_gradients: each parameter's gradient rescaled to norm <= 3.
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.)
    params = [p for p in model.parameters() if p.requires_grad][:3]
    grads = [torch.full_like(params[0], 10.), torch.full_like(params[1], 1e-3),
             torch.full_like(params[2], 2.)]
    for p, g in zip(params, grads):
        p.grad = g.clone()
    MessageHub.get_current_instance().update_info('epoch', 5)  # not frozen
    model.before_optimizer_step(optimizer)
    for p, g in zip(params, grads):
        norm = float(g.norm())
        expected = g * min(1., 3. / (norm + 1e-6))
        torch.testing.assert_close(p.grad, expected)
    MessageHub.get_current_instance().update_info('epoch', 0)


def test_the_freeze_clock_counts_epochs_when_by_epoch():
    hub = MessageHub.get_current_instance()
    model = _model(freeze_last_layer=1, by_epoch=True, teacher_temp_warmup=30,
                   warmup_teacher_temp=0.04, teacher_temp=0.07)
    hub.update_info('iter', 5000)  # many iterations into epoch 0: still frozen
    hub.update_info('epoch', 0)
    assert model.last_layer_frozen()
    assert model.current_teacher_temp() == pytest.approx(0.04)
    hub.update_info('epoch', 1)
    assert not model.last_layer_frozen()
    assert model.current_teacher_temp() == pytest.approx(0.04 + 0.03 / 29)
    hub.update_info('epoch', 0)
    hub.update_info('iter', 0)


def test_teacher_momentum_follows_the_cosine_schedule_from_0996_to_1():
    # The official cosine_scheduler(0.996, 1, epochs, niter_per_ep) by
    # iteration: m_t = 1 - (1 - 0.996) (cos(pi t / T) + 1) / 2; mmengine's
    # momentum is 1 - m_t. Hand-computed for T = 4: 0.0034142, 0.002, 0.00058579.
    hub = MessageHub.get_current_instance()
    hub.update_info('max_iters', 4)
    model = _model()
    online = torch.nn.ModuleDict(dict(backbone=model.backbone, neck=model.neck))
    model.teacher.update_parameters(online)  # the copy
    weight = model.backbone.conv1.weight
    target = model.teacher.module['backbone'].conv1.weight
    for expected in (0.00341421, 0.002, 0.000585786):
        with torch.no_grad():
            weight.add_(1.0)
        before = target.detach().clone()
        model.teacher.update_parameters(online)
        moved = (target - before) / (weight.detach() - before)
        torch.testing.assert_close(moved, torch.full_like(moved, expected), rtol=1e-4,
                                   atol=1e-8)


def test_every_dino_config_carries_the_gradient_hook_and_no_global_clip():
    import glob
    for path in glob.glob(osp.join(CONFIGS, '*.py')):
        cfg = Config.fromfile(path)
        assert 'ModelGradientHook' in [h['type'] for h in cfg.custom_hooks], path
        assert cfg.optim_wrapper.get('clip_grad') is None, path
        assert cfg.model.get('clip_grad_per_param', 3.0) == 3.0, path


def test_teacher_is_a_momentum_copy_fed_the_global_views_only():
    hub = MessageHub.get_current_instance()
    hub.update_info('max_iters', 100)
    hub.update_info('iter', 0)
    model = _model()
    assert not any(p.requires_grad for p in model.teacher.parameters())
    seen = []
    handle = model.teacher.module['backbone'].register_forward_hook(
        lambda m, args, out: seen.append(tuple(args[0].shape)))
    losses = model.loss(_views(), [None] * 2)
    handle.remove()
    assert seen == [(4, 3, 32, 32)]  # both global views in one pass, no local view
    assert set(losses) == {'loss', 'teacher_entropy', 'teacher_marginal_entropy',
                           'teacher_temp'}
    assert float(losses['teacher_temp']) == pytest.approx(0.04)
    # mmengine's EMA copies the student at its first update
    for (name, p), (_, q) in zip(model.backbone.named_parameters(),
                                 model.teacher.module['backbone'].named_parameters()):
        torch.testing.assert_close(p, q, msg=name)


def test_vit_config_trains_on_global_and_local_sizes_and_the_teacher_has_no_drop_path():
    hub = MessageHub.get_current_instance()
    hub.update_info('max_iters', 100)
    path = osp.join(CONFIGS, 'dino_vit-small-p16_8xb64-coslr-100e_in1k.py')
    model = _model(path, neck=dict(type='DINONeck', in_channels=384, out_channels=64,
                                   hidden_channels=32, bottleneck_channels=16),
                   loss=dict(type='DINOLoss', out_channels=64))
    drop = [m.drop_prob for m in model.teacher.modules() if hasattr(m, 'drop_prob')]
    assert drop and not any(drop)
    assert any(getattr(m, 'drop_prob', 0) > 0 for m in model.backbone.modules())
    losses = model.loss(_views(1, (64, 64, 32)), [None])
    assert torch.isfinite(losses['loss'])


# --------------------------------------------------------------------------- training

def _options(root, iters, extra=()):
    return [f'train_dataloader.dataset.data_root={root}', 'train_dataloader.batch_size=8',
            'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
            f'train_cfg.max_iters={iters}', 'default_hooks.logger.interval=1',
            f'default_hooks.checkpoint.interval={iters}', *extra]


@pytest.mark.slow
def test_dino_trains_through_dist_train(tmp_path, synthetic_root, subprocess_env):
    run_mim_and_dist_train(SMALL, _options(synthetic_root, 2), tmp_path, subprocess_env,
                           mim=False)


@pytest.mark.slow
def test_short_run_on_synthetic_scenes_does_not_collapse(tmp_path, synthetic_root):
    """The teacher's targets are neither one-hot nor uniform, and they differ
    from image to image. Entropy alone cannot tell an untrained head from a
    collapsing one: with random prototypes and spread features it already sits
    near 0.8-0.9 log K; a uniform collapse (measured: a head without BN on
    these scenes) reaches 0.997 log K within 100 iterations. So the test also
    asks for information: the entropy of the batch-mean target minus the mean
    entropy, which is 0 in both collapses (see the unit test above)."""
    from mmengine.runner import Runner
    iters, k = 30, 256
    options = _options(synthetic_root, iters, [
        f'model.neck.out_channels={k}', f'model.loss.out_channels={k}',
        'model.teacher_temp_warmup=10', 'model.freeze_last_layer=5',
        'train_dataloader.dataset.pipeline.1.global_size=32',
        'train_dataloader.dataset.pipeline.1.local_size=16'])
    cfg = config_with_options(SMALL, options, tmp_path)
    cfg.param_scheduler = [dict(type='ConstantLR', factor=1., by_epoch=False)]
    runner = Runner.from_cfg(cfg)
    runner.train()
    log = [json.loads(line) for line in open(
        osp.join(tmp_path, runner.timestamp, 'vis_data', 'scalars.json'))]
    rows = [r for r in log if 'teacher_entropy' in r]
    assert len(rows) == iters
    entropy = np.array([r['teacher_entropy'] for r in rows])
    information = np.array([r['teacher_marginal_entropy'] for r in rows]) - entropy
    assert np.isfinite(entropy).all() and np.isfinite(information).all()
    # after the center has settled (momentum 0.9) and the temperature warmed up
    late_entropy, late_information = entropy[-10:].mean(), information[-10:].mean()
    assert 0.1 * math.log(k) < late_entropy < 0.97 * math.log(k), entropy / math.log(k)
    assert late_information > 0.1, information


def test_vit_schedule_raises_weight_decay_from_004_to_04_and_leaves_norms_undecayed():
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import PARAM_SCHEDULERS
    cfg = Config.fromfile(osp.join(CONFIGS, 'dino_vit-small-p16_8xb64-coslr-100e_in1k.py'))
    init_default_scope('mmssl_ext')
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4))
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    epoch_length = 5
    schedulers = []
    for step in cfg.param_scheduler:
        step = dict(step)
        kind = PARAM_SCHEDULERS.get(step.pop('type'))
        step.pop('convert_to_iter_based')
        schedulers.append(kind.build_iter_from_epoch(wrapper.optimizer,
                                                     epoch_length=epoch_length, **step))

    def decays():
        return sorted(group['weight_decay'] for group in wrapper.optimizer.param_groups)

    assert max(decays()) == pytest.approx(0.04) and min(decays()) == 0
    for _ in range(cfg.train_cfg.max_epochs * epoch_length):
        wrapper.optimizer.step()
        for scheduler in schedulers:
            scheduler.step()
    # the decayed group (the Linear weight) ends at 0.4; norm and bias stay at 0
    assert max(decays()) == pytest.approx(0.4, rel=1e-3)
    assert decays().count(0) == len(decays()) - 1
    assert wrapper.optimizer.param_groups[0]['lr'] == pytest.approx(1e-6, rel=5e-2)


def test_resume_restores_the_center_and_the_teacher(tmp_path, synthetic_root):
    from mmengine.runner import Runner

    def cfg_for(iters, work_dir):
        options = _options(synthetic_root, iters, [
            'model.neck.out_channels=64', 'model.loss.out_channels=64',
            'train_dataloader.batch_size=2',
            'train_dataloader.dataset.pipeline.1.global_size=32',
            'train_dataloader.dataset.pipeline.1.local_size=16'])
        return config_with_options(SMALL, options, work_dir)

    Runner.from_cfg(cfg_for(2, tmp_path / 'a')).train()
    ckpt = str(tmp_path / 'a' / 'iter_2.pth')
    saved = torch.load(ckpt, map_location='cpu', weights_only=True)['state_dict']
    assert saved['criterion.center'].abs().sum() > 0
    cfg = cfg_for(3, tmp_path / 'b')
    cfg.resume, cfg.load_from = True, ckpt
    resumed = Runner.from_cfg(cfg)
    resumed.load_or_resume()
    assert resumed.iter == 2
    state = resumed.model.state_dict()
    for key in ('criterion.center', 'teacher.steps', 'teacher.module.neck.last_layer.weight',
                'teacher.module.backbone.conv1.weight'):
        torch.testing.assert_close(state[key], saved[key], msg=key)


def test_transfer_takes_the_teacher_of_a_dino_checkpoint_by_default(tmp_path, subprocess_env):
    # The paper evaluates the teacher: extract_backbone, the checked Pretrained
    # init and knn_eval read teacher.module.backbone.* unless told otherwise.
    import subprocess
    import sys

    from mmssl_ext.models.utils import PretrainedBackboneInit
    model = _model()
    with torch.no_grad():
        for p in model.teacher.parameters():
            p.add_(1.0)  # teacher != student
    path = str(tmp_path / 'dino.pth')
    torch.save(dict(state_dict=model.state_dict()), path)
    extract = osp.join(REPO_ROOT, 'tools', 'model_converters', 'extract_backbone.py')
    for flag, source in (([], model.teacher.module['backbone']), (['--student'], model.backbone)):
        out = str(tmp_path / f'backbone{len(flag)}.pth')
        subprocess.run([sys.executable, extract, path, out, *flag], check=True,
                       env=subprocess_env, capture_output=True)
        state = torch.load(out, weights_only=True)['state_dict']
        assert set(state) == {'backbone.' + k for k in source.state_dict()}
        for key, value in source.state_dict().items():
            torch.testing.assert_close(state['backbone.' + key], value)
    for prefer_teacher, source in ((True, model.teacher.module['backbone']),
                                   (False, model.backbone)):
        fresh = MODELS.build(dict(type='ResNet', depth=18, norm_cfg=dict(type='BN')))
        PretrainedBackboneInit(path, prefer_teacher=prefer_teacher)(fresh)
        torch.testing.assert_close(fresh.conv1.weight, source.conv1.weight)
