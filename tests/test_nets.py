import pytest
import torch
from torch import nn

from labcore.errors import UsageError
from labcore.nets import ACTIVATIONS, activation, conv_decoder, conv_encoder, mlp


def test_mlp_shapes_and_layers():
    net = mlp(4, [32, 16], 3)
    assert net(torch.zeros(5, 4)).shape == (5, 3)
    linears = [m for m in net if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(4, 32), (32, 16), (16, 3)]
    assert isinstance(net[-1], nn.Linear)  # plain linear head, no activation after it


def test_mlp_without_head_ends_in_activation():
    net = mlp(4, [8], act="tanh")
    assert isinstance(net[-1], nn.Tanh)
    assert net(torch.zeros(2, 4)).shape == (2, 8)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_every_activation_by_name(name):
    assert isinstance(activation(name), ACTIVATIONS[name])
    assert mlp(3, [4], 1, act=name)(torch.zeros(2, 3)).shape == (2, 1)


def test_activation_from_a_factory():
    net = mlp(3, [4, 4], 1, act=lambda: nn.LeakyReLU(0.2))
    acts = [m for m in net if isinstance(m, nn.LeakyReLU)]
    assert len(acts) == 2 and all(a.negative_slope == 0.2 for a in acts) and acts[0] is not acts[1]


def test_norm_and_dropout():
    net = mlp(4, [8, 8], 2, norm="layer", dropout=0.1)
    assert sum(isinstance(m, nn.LayerNorm) for m in net) == 2
    assert sum(isinstance(m, nn.Dropout) for m in net) == 2
    net = mlp(4, [8], 2, norm="batch")
    assert any(isinstance(m, nn.BatchNorm1d) for m in net)
    assert net(torch.randn(6, 4)).shape == (6, 2)


def test_bad_names_are_usage_errors():
    with pytest.raises(UsageError, match="did you mean 'relu'"):
        activation("rleu")
    with pytest.raises(UsageError, match="norm"):
        mlp(2, [2], norm="group")


def test_nature_dqn_encoder_shape():
    net, flat = conv_encoder((4, 84, 84))
    assert flat == 64 * 7 * 7
    assert net(torch.zeros(2, 4, 84, 84)).shape == (2, 3136)


def test_conv_decoder_mirrors_encoder():
    enc, flat = conv_encoder((1, 32, 32), channels=(32, 64), kernels=(4, 4), strides=(2, 2), padding=(1, 1))
    assert flat == 64 * 8 * 8
    dec = conv_decoder(10, (64, 8, 8), channels=(32, 1), kernels=(4, 4), strides=(2, 2), padding=(1, 1))
    assert dec(torch.zeros(3, 10)).shape == (3, 1, 32, 32)
    assert isinstance(dec[-1], nn.ConvTranspose2d)  # logits out, no final activation
