"""Optimisers by name, learning-rate schedules and gradient clipping.

Adam and AdamW are `Adam` below: PyTorch's fused Adam kernel driven without `torch.optim.Optimizer`, whose
constructor and `step` import `torch._dynamo` (≈ 1.3 s, on every training run) and wrap each step in hooks and
profiler records (≈ 70 µs of a 1.7 ms DQN update; both measured in docs/performance.md)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from labcore.distributed import average_gradients
from labcore.errors import UsageError, did_you_mean


class Adam:
    """Adam (Kingma & Ba, 2015), or AdamW with `decoupled=True`: each step is one call of the kernel that
    `torch.optim.Adam(fused=True)` runs, so the numbers are the same (tested), and the state dict has its layout,
    so checkpoints written by either load in the other."""

    def __init__(self, params: Iterable[nn.Parameter], lr: float, *, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, decoupled: bool = False) -> None:
        self.params = list(params)
        if not self.params:
            raise ValueError("optimizer got an empty parameter list")
        self.param_groups = [{"params": self.params, "lr": lr, "betas": tuple(betas), "eps": eps,
                              "weight_decay": weight_decay}]
        self.kernel = torch._fused_adamw_ if decoupled else torch._fused_adam_
        self.state: list[dict[str, torch.Tensor]] = [{} for _ in self.params]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        group = self.param_groups[0]
        batches: dict[tuple, tuple[list, ...]] = {}  # the kernel takes tensors of one device and dtype
        for p, state in zip(self.params, self.state):
            if p.grad is None:
                continue
            if not state:
                state.update(step=torch.zeros((), device=p.device), exp_avg=torch.zeros_like(p),
                             exp_avg_sq=torch.zeros_like(p))
            lists = batches.setdefault((p.device, p.dtype), ([], [], [], [], []))
            for column, tensor in zip(lists, (p, p.grad, state["exp_avg"], state["exp_avg_sq"], state["step"])):
                column.append(tensor)
        for params, grads, exp_avgs, exp_avg_sqs, steps in batches.values():
            torch._foreach_add_(steps, 1)
            self.kernel(params, grads, exp_avgs, exp_avg_sqs, [], steps, lr=group["lr"], beta1=group["betas"][0],
                        beta2=group["betas"][1], weight_decay=group["weight_decay"], eps=group["eps"],
                        amsgrad=False, maximize=False)

    def state_dict(self) -> dict[str, Any]:
        group = {k: v for k, v in self.param_groups[0].items() if k != "params"}
        flags = {**TORCH_ADAM_FLAGS, "decoupled_weight_decay": self.kernel is torch._fused_adamw_}
        return {"state": {i: dict(s) for i, s in enumerate(self.state) if s},
                "param_groups": [{**group, **flags, "params": list(range(len(self.params)))}]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        groups = state_dict["param_groups"]
        if len(groups) != 1 or len(groups[0]["params"]) != len(self.params):
            raise ValueError(f"the optimiser state holds {sum(len(g['params']) for g in groups)} parameters "
                             f"in {len(groups)} group(s); this optimiser has {len(self.params)} in one")
        saved = state_dict["state"]
        for i, (p, index) in enumerate(zip(self.params, groups[0]["params"])):
            s = saved.get(index, {})
            self.state[i] = {"step": s["step"].to(p.device, torch.float32, copy=True).reshape(()),
                             "exp_avg": s["exp_avg"].to(p, copy=True),
                             "exp_avg_sq": s["exp_avg_sq"].to(p, copy=True)} if s else {}
        # lr, betas, eps, weight_decay and what a loop keeps there (a schedule's initial_lr)
        self.param_groups[0].update({k: v for k, v in groups[0].items() if k != "params" and k not in TORCH_ADAM_FLAGS})


# torch.optim.Adam's switches, at the values that describe this one: written into the state dict, so that
# torch.optim.Adam resumes from it with the fused kernel
TORCH_ADAM_FLAGS = {"amsgrad": False, "maximize": False, "foreach": None, "capturable": False, "differentiable": False,
                    "fused": True, "decoupled_weight_decay": False}

Optimizer = Adam | torch.optim.Optimizer

OPTIMIZERS = ("sgd", "momentum", "adagrad", "rmsprop", "adam", "adamw")
SCHEDULES = ("constant", "linear")


def make_optimizer(
    name: str,
    params: Iterable[nn.Parameter],
    lr: float,
    *,
    weight_decay: float = 0.0,
    eps: float | None = None,
    betas: tuple[float, float] = (0.9, 0.999),
) -> Optimizer:
    """An optimiser by name; `momentum` is SGD with Nesterov momentum 0.9."""
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay)
    if name == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay)
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=lr, weight_decay=weight_decay, eps=eps or 1e-10)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=0.99, eps=eps or 1e-5, weight_decay=weight_decay)
    if name in ("adam", "adamw"):
        return Adam(params, lr, betas=betas, eps=eps or 1e-8, weight_decay=weight_decay, decoupled=name == "adamw")
    raise UsageError(f"unknown optimizer {name!r}{did_you_mean(name, OPTIMIZERS)}; choose from {', '.join(OPTIMIZERS)}")


def scheduled_lr(schedule: str, lr: float, progress: float) -> float:
    """Learning rate at `progress` ∈ [0, 1] of training: constant, or linear decay to 0."""
    if schedule == "constant":
        return lr
    if schedule == "linear":
        return lr * max(0.0, 1.0 - progress)
    raise UsageError(f"unknown lr schedule {schedule!r}; choose from {', '.join(SCHEDULES)}")


def set_lr(optimizer: Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def step(optimizer: Optimizer, loss: torch.Tensor, max_grad_norm: float = 0.0) -> None:
    """zero_grad → backward → in a data-parallel run, the gradients averaged over ranks → clip the global gradient
    norm of the optimiser's parameters (when `max_grad_norm` > 0) → step."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    params = [p for group in optimizer.param_groups for p in group["params"]]
    average_gradients(params)
    if max_grad_norm:
        clip_grad_norm(params, max_grad_norm)
    optimizer.step()


@torch.no_grad()
def clip_grad_norm(params: list[nn.Parameter], max_norm: float) -> torch.Tensor:
    """Gradients scaled by min(1, max_norm / (‖g‖ + 1e-6)), ‖g‖ the global 2-norm, which is returned: the same ops
    as `nn.utils.clip_grad_norm_` (tested equal) in half its time for a small network (60 vs 115 µs, measured),
    for parameters on one device."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.zeros(())
    total = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
    torch._foreach_mul_(grads, (max_norm / (total + 1e-6)).clamp_(max=1.0))
    return total
