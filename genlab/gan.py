"""Generative adversarial network (Goodfellow et al. 2014) with DCGAN networks (Radford et al. 2016).

The discriminator D and the generator G play, in alternation (D step(s), then one G step):

    max_D  E_x[log D(x)] + E_z[log(1 − D(G(z)))]          z ~ N(0, I)
    ns:     L_D = softplus(−D(x)) + softplus(D(G(z)))       L_G = softplus(−D(G(z)))  (non-saturating)
    hinge:  L_D = relu(1 − D(x)) + relu(1 + D(G(z)))         L_G = −D(G(z))            (Lim & Ye 2017)
    wgan-gp: L_D = D(G(z)) − D(x) + λ (‖∇D(x̂)‖ − 1)²         L_G = −D(G(z))            (Gulrajani et al. 2017)

D outputs a logit (no sigmoid). Stabilisers, each a config switch: spectral norm on D (Miyato et al.
2018); the R1 penalty (γ/2)‖∇D(x)‖² on real images (Mescheder et al. 2018), which keeps D flat on the
data so the game converges instead of circling; one-sided label smoothing (ns); Adam with β1 = 0.5
(or 0 for hinge + spectral norm); separate learning rates for D and G (TTUR); and an exponential
moving average of G's weights (Yazıcı et al. 2019), which is what `sample` and the logged grids use:
it averages out G's oscillation around the equilibrium. Architecture options: a spatial-transformer
generator (a glyph placed by a pose read off z; `TransformerGenerator`), optionally drawn at k times
the resolution and averaged down as the shapes data are rasterised; a VGG-style discriminator (two 3×3
convs and an average pool per halving) instead of DCGAN's strided convs; CoordConv channels in G
and D (Liu et al. 2018), a minibatch-std feature in D (Karras et al. 2018), a categorical part of z, which
InfoGAN's term (Chen et al. 2016; `info_weight` > 0) makes readable from the image: a head Q on D's conv
stack guesses the category, and D and G both add λ · CE(Q(G(z, c)), c) to their losses.
VAE-GAN (Larsen et al. 2016; `recon_weight` > 0): an encoder q(z|x) is trained with G as its decoder,
and G's loss adds the weighted negative ELBO of the real batch, so that G also learns from every pixel.
Images are in [0, 1]; G ends in a sigmoid and D sees 2x − 1. `g_arch = sprites` builds a different
model, `genlab.sprite_gan.SpriteGAN` (a GAN on the codes of learnt sprites). The losses live in
`genlab.gan_losses`, shared by both.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from genlab.gan_losses import d_loss, d_objective, g_loss, gradient_penalty, r1_penalty
from genlab.gan_nets import AddCoords, MinibatchStd, TransformerGenerator, discriminator, generator
from genlab.losses import kl_normal, log_bernoulli, reparameterize
from labcore.config import check
from labcore.optim import make_optimizer

__all__ = ["GAN", "GANConfig", "AddCoords", "MinibatchStd", "TransformerGenerator", "d_loss", "d_objective",
           "discriminator", "g_loss", "generator", "gradient_penalty", "r1_penalty"]


@dataclass
class GANConfig:
    gan_loss: Literal["ns", "hinge", "wgan-gp"] = "ns"
    """GAN objective: ns (non-saturating), hinge or wgan-gp."""
    d_norm: Literal["auto", "batch", "spectral", "none"] = "auto"
    """Discriminator normalisation: batch, spectral (on every layer) or none; auto = batch, but none for wgan-gp
    (batch norm mixes the samples that its per-sample gradient penalty needs apart)."""
    r1_weight: float = 0.0
    """γ of the R1 penalty (γ/2)·E‖∇D(x)‖² on real images (Mescheder et al. 2018); 0 = off."""
    g_channels: int = 64
    """Generator width: channels of its last hidden layer (doubling towards the 4×4 start)."""
    d_channels: int = 64
    """Discriminator width: channels of its first layer (doubling at each halving)."""
    latent_categories: int = 0
    """Add a uniform categorical code (one-hot, this many values) to G's Gaussian noise (0 = none): a
    discrete choice lets G keep separate modes (shapes) apart instead of blending them where z crosses over.
    With g_arch = transformer the code reaches the glyph only, not the pose: it chooses what is drawn."""
    info_weight: float = 0.0
    """InfoGAN (Chen et al. 2016): > 0 gives D latent_categories more outputs, the logits of a guess Q(c|x) of
    the category that drew x, and adds this times its cross-entropy on generated images to D's and G's losses
    (a lower bound on the mutual information between c and G(z, c), up to a constant), so the category must
    show in the image: one category per mode instead of an arbitrary input. Needs latent_categories. 0 = off."""
    g_arch: Literal["dcgan", "transformer", "sprites"] = "dcgan"
    """Generator: dcgan (transposed convs straight to the image), transformer (the DCGAN net draws a glyph
    in its own frame and a spatial transformer places it: rotation, scale, shift read off z), or sprites
    (`genlab.sprite_gan`: K sprites learnt by reconstruction first, then a GAN on (sprite, pose) codes; for
    images of a few rigid objects, such as shapes; g_channels and d_channels are then its MLPs' widths)."""
    sprites: int = 6
    """sprites only: how many sprites (more than the objects in the data is safe: spares share an object)."""
    sprite_steps: int = 3000
    """sprites only: steps of stage 1 (learning the sprites by reconstruction) before the GAN on codes."""
    sprite_angles: int = 128
    """sprites only: angles tried when fitting a sprite to an image (the pose's rotation is on this grid)."""
    sprite_learning_rate: float = 3e-2
    """sprites only: Adam step size of the sprites' pixels (constant, then decaying over stage 1's last 30 %)."""
    fourier_features: int = 40
    """sprites only: random Fourier features of the code that D sees beside it (Tancik et al. 2020), 0 = none."""
    fourier_scale: float = 3.0
    """sprites only: standard deviation of those features' frequencies, per standard deviation of the code."""
    prior_sizes: bool = False
    """sprites only: draw each sample's size with its sprite from the real codes' histogram of (sprite, log size),
    as its sprite alone is drawn otherwise (a conditional GAN whose labels come from the data): G then gives the
    angle and position for that sprite at that size, and D judges the whole code. The sizes of shapes lie on a
    grid that G's continuous map blurs; drawn from the data they are exact."""
    supersample: int = 1
    """transformer only: draw the canvas at this many times the resolution and average each block (after the
    sigmoid), as the shapes data are rasterised; 1 = draw at the resolution itself."""
    d_arch: Literal["dcgan", "vgg"] = "dcgan"
    """Discriminator: dcgan (a stride-2 4×4 conv per halving) or vgg (two 3×3 convs, then 2×2 average pooling,
    per halving: finer, and dearer: a GAN step with it at 16 channels takes 1.8 × as long as with dcgan at 32)."""
    coord_conv: bool = False
    """Append x, y coordinate channels before every conv of G and D (CoordConv)."""
    minibatch_std: bool = False
    """Give D the batch's feature standard deviation before its last layer, so it can see mode collapse."""
    d_steps: int = 1
    """Discriminator steps per generator step (5 is usual for wgan-gp)."""
    gp_weight: float = 10.0
    """λ of the WGAN-GP gradient penalty."""
    d_learning_rate: float = 0.0
    """Discriminator Adam step size (0 = learning_rate, the generator's)."""
    beta1: float = 0.5
    """Adam β1 of both optimisers (DCGAN: 0.5; hinge + spectral norm: 0)."""
    beta2: float = 0.999
    """Adam β2 of both optimisers."""
    label_smoothing: float = 0.0
    """One-sided label smoothing for ns: real targets are 1 − this."""
    ema: float = 0.999
    """Decay of the moving average of G's weights used for sampling (0 = sample from G itself)."""
    recon_weight: float = 0.0
    """VAE-GAN (Larsen et al. 2016): > 0 adds an encoder q(z|x) (D's conv stack, with batch norm) that is
    trained with G as its decoder, and adds this times their negative ELBO on the real batch (Bernoulli
    reconstruction plus `beta` times the KL to N(0, I)) to G's loss; G then learns from every pixel of
    real images, not only from D's verdict. 0 = off."""

    def __post_init__(self):
        for key in ("g_channels", "d_channels", "d_steps", "supersample"):
            check(getattr(self, key) > 0, key, f"must be > 0, not {getattr(self, key)}")
        check(0 <= self.ema < 1, "ema", "must be in [0, 1)")
        check(0 <= self.label_smoothing < 1, "label_smoothing", "must be in [0, 1)")
        for key in ("gp_weight", "d_learning_rate", "r1_weight", "latent_categories", "recon_weight", "info_weight"):
            check(getattr(self, key) >= 0, key, f"must be >= 0, not {getattr(self, key)}")
        check(not (self.gan_loss == "wgan-gp" and self.d_norm == "batch"), "d_norm",
              "batch is not for wgan-gp (batch norm breaks the per-sample gradient penalty); use none or spectral")
        check(self.recon_weight == 0 or self.latent_categories == 0, "recon_weight",
              "needs latent_categories = 0 (the encoder gives a Gaussian code, no category)")
        check(self.info_weight == 0 or self.latent_categories > 0, "info_weight",
              "needs latent_categories > 0 (the code whose mutual information with the image it raises)")
        for key in ("sprites", "sprite_steps", "sprite_angles", "sprite_learning_rate"):
            check(getattr(self, key) > 0, key, f"must be > 0, not {getattr(self, key)}")
        check(self.fourier_features >= 0, "fourier_features", f"must be >= 0, not {self.fourier_features}")
        check(self.fourier_scale > 0, "fourier_scale", f"must be > 0, not {self.fourier_scale}")
        if self.g_arch == "sprites":
            for key in ("latent_categories", "info_weight", "recon_weight"):
                check(getattr(self, key) == 0, key, "does not apply to g_arch = sprites (its sprite index is "
                      "the category, and it reconstructs through its sprites)")
        check(self.supersample == 1 or self.g_arch == "transformer", "supersample",
              "needs g_arch = transformer (the dcgan generator draws at the resolution itself)")


class GAN(nn.Module):
    def __init__(self, cfg, channels: int, resolution: int):
        super().__init__()
        self.cfg = cfg
        z_dim = cfg.latent_categories + cfg.latent_dim
        if cfg.g_arch == "transformer":
            self.generator = TransformerGenerator(z_dim, channels, resolution, cfg.g_channels, cfg.coord_conv,
                                                  supersample=cfg.supersample, glyph_only=cfg.latent_categories)
        else:
            self.generator = generator(z_dim, channels, resolution, cfg.g_channels, cfg.coord_conv)
        norm = cfg.d_norm if cfg.d_norm != "auto" else ("none" if cfg.gan_loss == "wgan-gp" else "batch")
        self.q_outputs = cfg.latent_categories if cfg.info_weight > 0 else 0  # InfoGAN's Q head shares D's stack
        self.discriminator = discriminator(channels, resolution, cfg.d_channels, norm, cfg.coord_conv,
                                           cfg.minibatch_std, cfg.d_arch, outputs=1 + self.q_outputs)
        self.g_ema = copy.deepcopy(self.generator).requires_grad_(False)
        # VAE-GAN's encoder: image → (mu, log σ²) of q(z|x); absent otherwise, so plain GAN checkpoints keep their keys
        self.encoder = discriminator(channels, resolution, cfg.d_channels, "batch", cfg.coord_conv,
                                     outputs=2 * z_dim) if cfg.recon_weight > 0 else None
        betas = (cfg.beta1, cfg.beta2)
        self.batches_per_step = cfg.d_steps  # real batches per update, one per discriminator step
        g_params = [*self.generator.parameters(), *(self.encoder.parameters() if self.encoder is not None else [])]
        self.opt_g = make_optimizer(cfg.optimizer, g_params, cfg.learning_rate, betas=betas)
        self.opt_d = make_optimizer(cfg.optimizer, self.discriminator.parameters(),
                                    cfg.d_learning_rate or cfg.learning_rate, betas=betas)

    def critic(self, x: torch.Tensor) -> torch.Tensor:
        return self.discriminate(x)[0]

    def discriminate(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """D's logit (B,) for images x in [0, 1], and InfoGAN's category logits (B, K) (None without it)."""
        out = self.discriminator(2 * x - 1)
        return (out[:, 0], out[:, 1:]) if self.q_outputs else (out, None)

    def info_loss(self, q_logits: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """InfoGAN: the cross-entropy of Q's guess against the category in z's one-hot part."""
        return F.cross_entropy(q_logits, z[:, :self.q_outputs].argmax(1))

    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """z (n, latent_categories + latent_dim): a uniform one-hot category (if any), then N(0, I)."""
        device = next(self.parameters()).device
        z = torch.randn(n, self.cfg.latent_dim, generator=generator)
        if self.cfg.latent_categories:
            c = torch.randint(self.cfg.latent_categories, (n,), generator=generator)
            z = torch.cat([F.one_hot(c, self.cfg.latent_categories).float(), z], dim=1)
        return z.to(device)

    def update(self, x: torch.Tensor) -> dict[str, float]:
        """d_steps discriminator steps (x holds d_steps real batches), then one generator step."""
        cfg = self.cfg
        for real in x.chunk(cfg.d_steps):
            z = self.noise(len(real))
            with torch.no_grad():
                fake = torch.sigmoid(self.generator(z))
            real.requires_grad_(cfg.r1_weight > 0)
            (d_real, _), (d_fake, q_fake) = self.discriminate(real), self.discriminate(fake)
            loss_d = d_objective(cfg, self.critic, real, fake, d_real, d_fake)
            if self.q_outputs:
                loss_info_d = self.info_loss(q_fake, z)
                loss_d = loss_d + cfg.info_weight * loss_info_d
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            self.opt_d.step()
        z = self.noise(len(real))
        d_fake_g, q_fake_g = self.discriminate(torch.sigmoid(self.generator(z)))
        loss_g = g_loss(cfg.gan_loss, d_fake_g)
        metrics = {"loss/g": loss_g.item()}
        if self.q_outputs:
            loss_info = self.info_loss(q_fake_g, z)
            loss_g = loss_g + cfg.info_weight * loss_info
            metrics.update({"loss/info": loss_info.item(), "loss/info_d": loss_info_d.item()})
        if self.encoder is not None:  # a separate G pass: its batch-norm statistics are the codes', not the prior's
            # one real batch per G step, as for the adversarial term: the last D step's (all of x when d_steps = 1)
            recon, kl = self.vae_terms(real.detach())
            loss_g = loss_g + cfg.recon_weight * (recon + cfg.beta * kl)
            metrics.update({"loss/recon": recon.item(), "loss/kl": kl.item()})
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        self._update_ema()
        return {"loss/d": loss_d.item(), **metrics, "loss/total": loss_d.item() + loss_g.item(),
                "d/real": d_real.mean().item(), "d/fake": d_fake.mean().item()}

    @property
    def can_reconstruct(self) -> bool:
        """Only a VAE-GAN has an encoder to reconstruct with."""
        return self.encoder is not None

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """VAE-GAN: (mu, log σ²) of q(z|x) for images x (B, C, r, r) in [0, 1], each (B, latent), as the VAE's."""
        return self.encoder(2 * x - 1).chunk(2, dim=1)

    def vae_terms(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """VAE-GAN: (−E_q log p(x|z), KL(q(z|x) ‖ N(0, I))), each the batch mean in nats per image, with G as
        the Bernoulli decoder and one reparameterised z per image."""
        mu, logvar = self.encode(x)
        recon = -log_bernoulli(x, self.generator(reparameterize(mu, logvar))).mean()
        return recon, kl_normal(mu, logvar).sum(1).mean()

    @torch.no_grad()
    def _update_ema(self) -> None:
        decay = self.cfg.ema
        for p_ema, p in zip(self.g_ema.parameters(), self.generator.parameters()):
            p_ema.lerp_(p, 1 - decay)
        for b_ema, b in zip(self.g_ema.buffers(), self.generator.buffers()):
            b_ema.copy_(b)  # batch-norm statistics follow G's

    def optimizers(self) -> tuple[torch.optim.Optimizer, ...]:
        return self.opt_g, self.opt_d

    def optimizer_state(self) -> dict:
        return {"g": self.opt_g.state_dict(), "d": self.opt_d.state_dict()}

    def load_optimizer_state(self, state: dict) -> None:
        self.opt_g.load_state_dict(state["g"])
        self.opt_d.load_state_dict(state["d"])

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, batch: int = 500) -> torch.Tensor:
        """n images (n, C, r, r) in [0, 1] from the averaged generator (G itself when ema = 0)."""
        z = self.noise(n, generator)
        return torch.cat([self.generate(z[i:i + batch]) for i in range(0, n, batch)])

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """VAE-GAN only: images x (B, C, r, r) in [0, 1] through the encoder's mean code and the averaged generator."""
        return self.generate(self.encode(x)[0])

    @torch.no_grad()
    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] for noise z (B, latent), from the averaged generator in eval mode."""
        g = self.g_ema if self.cfg.ema > 0 else self.generator
        was_training = g.training
        g.eval()
        out = torch.sigmoid(g(z))
        g.train(was_training)
        return out
