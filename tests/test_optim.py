import io

import pytest
import torch
from torch import nn

from labcore.errors import UsageError
from labcore.optim import OPTIMIZERS, Adam, clip_grad_norm, make_optimizer, scheduled_lr, set_lr, step


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
    assert isinstance(make_optimizer("adam", w, 1e-3), Adam)
    assert make_optimizer("adamw", w, 1e-3).kernel is torch._fused_adamw_
    assert isinstance(make_optimizer("rmsprop", w, 1e-3), torch.optim.RMSprop)
    assert isinstance(make_optimizer("adagrad", w, 1e-3), torch.optim.Adagrad)
    momentum = make_optimizer("momentum", w, 1e-3)
    assert isinstance(momentum, torch.optim.SGD) and momentum.param_groups[0]["momentum"] == 0.9
    assert make_optimizer("sgd", w, 1e-3).param_groups[0]["momentum"] == 0


def _net_and_batches(seed):
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 3))
    return net, [(torch.randn(8, 5), torch.randn(8, 3)) for _ in range(12)]


def _train(net, opt, batches):
    for x, y in batches:
        step(opt, ((net(x) - y) ** 2).mean(), max_grad_norm=1.0)


def _through_a_file(state):
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


@pytest.mark.parametrize("name, reference", [("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW)])
def test_adam_gives_torch_optims_numbers_and_shares_its_state_dict(name, reference):
    """Ours and torch.optim's fused Adam/AdamW take the same steps, and a state saved by either resumes in the other."""
    settings = {"lr": 3e-3, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1}
    ours, batches = _net_and_batches(0)
    theirs, _ = _net_and_batches(0)
    opt_ours = make_optimizer(name, ours.parameters(), settings["lr"], betas=settings["betas"], eps=settings["eps"],
                              weight_decay=settings["weight_decay"])
    opt_theirs = reference(theirs.parameters(), **settings, fused=True)
    _train(ours, opt_ours, batches[:6])
    _train(theirs, opt_theirs, batches[:6])
    opt_ours.param_groups[0]["initial_lr"] = opt_theirs.param_groups[0]["initial_lr"] = 0.5  # a schedule's key
    for a, b in zip(ours.parameters(), theirs.parameters()):
        assert torch.equal(a, b)
    assert opt_ours.state_dict()["param_groups"][0]["weight_decay"] == 0.1
    # swap: each continues from the other's saved state (through torch.save, as a checkpoint does)
    mine, other = (_through_a_file(opt.state_dict()) for opt in (opt_ours, opt_theirs))
    swapped_ours = make_optimizer(name, ours.parameters(), 1.0)
    swapped_ours.load_state_dict(other)
    swapped_theirs = reference(theirs.parameters(), lr=1.0, fused=True)
    swapped_theirs.load_state_dict(mine)
    _train(ours, swapped_ours, batches[6:])
    _train(theirs, swapped_theirs, batches[6:])
    for a, b in zip(ours.parameters(), theirs.parameters()):
        assert torch.equal(a, b)
    assert float(swapped_ours.state[0]["step"]) == 12
    assert swapped_ours.param_groups[0]["lr"] == 3e-3 and swapped_ours.param_groups[0]["initial_lr"] == 0.5


def test_adam_refuses_a_state_for_other_parameters():
    opt = Adam([nn.Parameter(torch.zeros(2)), nn.Parameter(torch.zeros(1))], 1e-3)
    other = Adam([nn.Parameter(torch.zeros(2))], 1e-3)
    with pytest.raises(ValueError, match="holds 1 parameters"):
        opt.load_state_dict(other.state_dict())
    with pytest.raises(ValueError, match="empty"):
        Adam([], 1e-3)


def test_unknown_optimizer():
    with pytest.raises(UsageError, match="did you mean 'adam'"):
        make_optimizer("adma", [nn.Parameter(torch.zeros(1))], 1e-3)


def test_gradient_clipping_bounds_the_step():
    w = nn.Parameter(torch.zeros(2))
    opt = make_optimizer("sgd", [w], lr=1.0)
    step(opt, (w * torch.tensor([300.0, 400.0])).sum(), max_grad_norm=1.0)  # grad (300, 400), norm 500
    assert torch.allclose(w.detach(), torch.tensor([-0.6, -0.8]))


@pytest.mark.parametrize("max_norm", [0.05, 1e3])
def test_clip_grad_norm_matches_torch(max_norm):
    nets = [_net_and_batches(1)[0] for _ in range(2)]
    x = torch.randn(4, 5)
    for net in nets:
        net(x).pow(3).sum().backward()
    theirs = nn.utils.clip_grad_norm_(list(nets[1].parameters()), max_norm)
    assert torch.equal(clip_grad_norm(list(nets[0].parameters()), max_norm), theirs)
    assert all(torch.equal(a.grad, b.grad) for a, b in zip(nets[0].parameters(), nets[1].parameters()))


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
