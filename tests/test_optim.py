import pytest
import torch
from torch import nn

from labcore.errors import UsageError
from labcore.optim import OPTIMIZERS, make_optimizer, scheduled_lr, set_lr, step


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_every_optimizer_lowers_a_quadratic(name):
    w = nn.Parameter(torch.tensor([3.0, -2.0]))
    opt = make_optimizer(name, [w], lr=0.1)
    start = float((w.detach() ** 2).sum())
    for _ in range(20):
        step(opt, (w**2).sum())
    assert float((w.detach() ** 2).sum()) < start


def test_optimizer_kinds():
    w = [nn.Parameter(torch.zeros(1))]
    assert isinstance(make_optimizer("adam", w, 1e-3), torch.optim.Adam)
    assert isinstance(make_optimizer("adamw", w, 1e-3), torch.optim.AdamW)
    assert isinstance(make_optimizer("rmsprop", w, 1e-3), torch.optim.RMSprop)
    assert isinstance(make_optimizer("adagrad", w, 1e-3), torch.optim.Adagrad)
    momentum = make_optimizer("momentum", w, 1e-3)
    assert isinstance(momentum, torch.optim.SGD) and momentum.param_groups[0]["momentum"] == 0.9
    assert make_optimizer("sgd", w, 1e-3).param_groups[0]["momentum"] == 0


def test_unknown_optimizer():
    with pytest.raises(UsageError, match="did you mean 'adam'"):
        make_optimizer("adma", [nn.Parameter(torch.zeros(1))], 1e-3)


def test_gradient_clipping_bounds_the_step():
    w = nn.Parameter(torch.zeros(2))
    opt = make_optimizer("sgd", [w], lr=1.0)
    step(opt, (w * torch.tensor([300.0, 400.0])).sum(), max_grad_norm=1.0)  # grad (300, 400), norm 500
    assert torch.allclose(w.detach(), torch.tensor([-0.6, -0.8]))


def test_schedules():
    assert scheduled_lr("constant", 0.1, 0.7) == 0.1
    assert scheduled_lr("linear", 0.1, 0.0) == 0.1
    assert scheduled_lr("linear", 0.1, 0.75) == pytest.approx(0.025)
    assert scheduled_lr("linear", 0.1, 1.2) == 0.0
    w = nn.Parameter(torch.zeros(1))
    opt = make_optimizer("adam", [w], 1e-3)
    set_lr(opt, 5e-4)
    assert opt.param_groups[0]["lr"] == 5e-4
    with pytest.raises(UsageError):
        scheduled_lr("cosine", 0.1, 0.5)
