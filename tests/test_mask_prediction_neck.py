"""MaskCo's MPH neck: shape, identity at 0 blocks, and the bottleneck maths."""
import pytest
import torch
import torch.nn.functional as F
from mmengine.registry import init_default_scope

from mmssl_ext.registry import MODELS


def test_zero_blocks_is_identity():
    init_default_scope('mmssl_ext')
    neck = MODELS.build(dict(type='MaskPredictionNeck', in_channels=64, num_blocks=0))
    x = torch.randn(2, 64, 7, 7)
    assert neck((torch.randn(1), x))[0] is x


@pytest.mark.parametrize('num_blocks', [1, 3, 4])
def test_shape_and_stride_are_kept(num_blocks):
    neck = MODELS.build(dict(type='MaskPredictionNeck', in_channels=64, num_blocks=num_blocks))
    out = neck((torch.randn(2, 64, 5, 6), ))
    assert len(out) == 1 and out[0].shape == (2, 64, 5, 6)
    assert len(neck.blocks) == num_blocks


def test_one_block_matches_a_hand_written_bottleneck():
    neck = MODELS.build(dict(type='MaskPredictionNeck', in_channels=16, num_blocks=1))
    neck.eval()  # BN uses its running stats: identity at initialisation
    block = neck.blocks[0]
    for conv in (block.conv1, block.conv2, block.conv3):
        torch.nn.init.normal_(conv.weight, std=0.1)
    x = torch.randn(2, 16, 4, 4)
    # relu(x + conv1x1(relu(conv3x3(relu(conv1x1(x)))))), inner width 16 / 4 = 4.
    h = F.relu(F.conv2d(x, block.conv1.weight))
    h = F.relu(F.conv2d(h, block.conv2.weight, padding=1))
    expected = F.relu(x + F.conv2d(h, block.conv3.weight))
    with torch.no_grad():
        torch.testing.assert_close(neck((x, ))[0], expected)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match='divisible'):
        MODELS.build(dict(type='MaskPredictionNeck', in_channels=30, num_blocks=1))
    with pytest.raises(ValueError, match='num_blocks'):
        MODELS.build(dict(type='MaskPredictionNeck', in_channels=32, num_blocks=-1))


def test_the_mph_is_initialised_as_the_resnet_backbone():
    # Kaiming normal, fan-out, ReLU (mmengine's KaimingInit defaults, which
    # mmpretrain's ResNet uses): each conv weight's std is sqrt(2 / fan_out);
    # PyTorch's default init (kaiming_uniform, a = sqrt(5)) gives about
    # 1 / sqrt(3 fan_in), far from it for the 1x1 convs.
    import math

    import torch
    torch.manual_seed(0)
    neck = MODELS.build(dict(type='MaskPredictionNeck', in_channels=256, num_blocks=2))
    neck.init_weights()
    convs = [m for m in neck.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 6
    for conv in convs:
        fan_out = conv.out_channels * conv.kernel_size[0] * conv.kernel_size[1]
        std = float(conv.weight.std())
        assert abs(std / math.sqrt(2 / fan_out) - 1) < 0.1, (conv, std)
