"""What every GAN of the lab shares: the adversarial game of Goodfellow et al. (2014), played in alternation,

    d_steps times:  x ~ data, z ~ p(z):   min_D  L_D(D(x), D(G(z)))  (+ the penalties of `d_objective`)
    then once:      z ~ p(z):             min_G  L_G(D(G(z)))

with the objectives of `genlab.gan_losses` (ns, hinge, wgan-gp; R1, one-sided label smoothing), an optimiser
per player with Adam's β1, β2 and a step size each (TTUR, Heusel et al. 2017), and an exponential moving
average of G's weights (Yazıcı et al. 2019), which is what `sample` draws from: it averages out G's
oscillation around the equilibrium.

A model of the family (`genlab.gan.GAN` and its variants, `genlab.sprite_gan.SpriteGAN`) says what the
players see, and nothing of the step itself:

    noise(n, generator)   z for n samples
    images(g, z)          the images in [0, 1] that generator network g draws for z
    fake(g, z)            D's input for them (default: the images themselves; the sprite GAN's D sees codes)
    d_input(x)            D's input for real images x (default: x)
    discriminate(v)       D's logits (B,) on its inputs, and its extra outputs (InfoGAN's Q head) or None
    d_terms, g_terms      terms a published variant adds to either player's loss (InfoGAN, VAE-GAN)
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from genlab.config import AdversarialConfig
from genlab.gan_losses import d_objective, g_loss
from genlab.images import grid
from labcore.optim import make_optimizer
from labcore.optim import step as optimizer_step


class Adversarial(nn.Module):
    """A generator and a discriminator playing the game above; see the module docstring for what a model of
    the family provides. Owns both players' optimisers ("g", "d") and the moving average `g_ema`."""

    can_sample, can_reconstruct, has_code = True, False, False
    edits_weights_from_data = False

    def __init__(self, cfg: AdversarialConfig, generator: nn.Module, discriminator: nn.Module):
        super().__init__()
        self.cfg = cfg
        self.generator, self.discriminator = generator, discriminator
        self.g_ema = copy.deepcopy(generator).requires_grad_(False)
        self.batches_per_step = cfg.d_steps  # real batches per update, one per discriminator step
        self.optimizers = self.player_optimizers(generator.parameters())

    def player_optimizers(self, g_params) -> dict[str, torch.optim.Optimizer]:
        """G's optimiser over `g_params` and D's, each with the config's betas and step size."""
        cfg, betas = self.cfg, (self.cfg.beta1, self.cfg.beta2)
        return {"g": make_optimizer(cfg.optimizer, g_params, cfg.learning_rate, betas=betas),
                "d": make_optimizer(cfg.optimizer, self.discriminator.parameters(),
                                    cfg.d_learning_rate or cfg.learning_rate, betas=betas)}

    # ---- defaults of what a model of the family provides (noise, images and discriminate it must) ----
    def fake(self, g: nn.Module, z: torch.Tensor) -> torch.Tensor:
        return self.images(g, z)

    def d_input(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def d_terms(self, loss_d: torch.Tensor, extra: torch.Tensor | None,
                z: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """D's loss with a variant's terms added (from D's extra outputs on the fakes), and their values."""
        return loss_d, {}

    def g_terms(self, loss_g: torch.Tensor, extra: torch.Tensor | None, z: torch.Tensor,
                real: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """G's loss with a variant's terms added (`real`: the last D step's real batch), and their values."""
        return loss_g, {}

    # ---- the game ----
    def critic(self, x: torch.Tensor) -> torch.Tensor:
        """D's logits (B,) on real images x."""
        return self.discriminate(self.d_input(x))[0]

    def update(self, x: torch.Tensor, step: int) -> dict[str, float]:
        """d_steps discriminator steps (x holds d_steps real batches), then one generator step."""
        cfg = self.cfg
        for real in x.chunk(cfg.d_steps):
            real_in = self.d_input(real).requires_grad_(cfg.r1_weight > 0)  # R1 differentiates D at real inputs
            z = self.noise(len(real))
            with torch.no_grad():
                fake = self.fake(self.generator, z)
            (d_real, _), (d_fake, extra) = self.discriminate(real_in), self.discriminate(fake)
            loss_d = d_objective(cfg, lambda v: self.discriminate(v)[0], real_in, fake, d_real, d_fake)
            loss_d, metrics_d = self.d_terms(loss_d, extra, z)
            optimizer_step(self.optimizers["d"], loss_d, cfg.max_grad_norm)
        z = self.noise(len(real))
        d_fake_g, extra = self.discriminate(self.fake(self.generator, z))
        adversarial = g_loss(cfg.gan_loss, d_fake_g)
        loss_g, metrics_g = self.g_terms(adversarial, extra, z, real.detach())
        optimizer_step(self.optimizers["g"], loss_g, cfg.max_grad_norm)
        self.update_ema()
        return {"loss/d": loss_d.item(), "loss/g": adversarial.item(), **metrics_g, **metrics_d,
                "loss/total": loss_d.item() + loss_g.item(), "d/real": d_real.mean().item(),
                "d/fake": d_fake.mean().item()}

    @torch.no_grad()
    def update_ema(self) -> None:
        decay = self.cfg.ema
        for p_ema, p in zip(self.g_ema.parameters(), self.generator.parameters()):
            p_ema.lerp_(p, 1 - decay)
        for b_ema, b in zip(self.g_ema.buffers(), self.generator.buffers()):
            b_ema.copy_(b)  # batch-norm statistics follow G's

    # ---- sampling and what TensorBoard shows ----
    @torch.no_grad()
    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] for noise z, from the averaged generator (G itself when ema = 0) in eval mode."""
        g = self.g_ema if self.cfg.ema > 0 else self.generator
        was_training = g.training
        g.eval()
        out = self.images(g, z)
        g.train(was_training)
        return out

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, batch: int = 500) -> torch.Tensor:
        """n images (n, C, r, r) in [0, 1]."""
        z = self.noise(n, generator)
        return torch.cat([self.generate(z[i:i + batch]) for i in range(0, n, batch)])

    @torch.no_grad()
    def figures(self, x: torch.Tensor) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Samples of a fixed noise batch; the histogram of D's logits on the real images x."""
        samples = self.sample(64, torch.Generator().manual_seed(self.cfg.seed))
        return {"samples": grid(samples, 8)}, {"d/logits_real": self.critic(x)}

    def evaluate(self, x: torch.Tensor) -> dict[str, float]:
        """No held-out likelihood: a GAN is judged on its samples (`genlab.scores`)."""
        return {}
