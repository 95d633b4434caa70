"""Every genlab model by name, as `rllab`'s ALGOS maps an algorithm to its config: the model's config
(`genlab.config`: its own fields on top of `TrainConfig`) and what builds it, importing the model's module (and
torch) only then. The training loop (`genlab.train`) knows no model; it uses the same few verbs of each:

    batches_per_step     real batches one update takes (the loop draws batch_size × this images)
    optimizers           every optimiser the model steps, by name (checkpointed; lr_schedule scales them)
    update(x, step)      one training step on images x in [0, 1]; returns the scalars to log
    figures(x)           (images, histograms) for TensorBoard, from a fixed batch of real images x
    evaluate(x)          held-out numbers (VAE: ELBO and IWAE bound; AE: reconstruction error; GANs: none)
    can_sample           sample(n, generator): n images from the prior
    can_reconstruct      reconstruct(x): images through the model's code
    has_code             code(x): a representation the disentanglement metrics score (on shapes)
    edits_weights_from_data   update() also sets weights from the images themselves (the sprite GAN seeds its
                         sprites from them): in a data-parallel run the loop then copies rank 0's weights to all
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from genlab.config import (
    AEConfig,
    GANConfig,
    InfoGANConfig,
    SpriteGANConfig,
    TrainConfig,
    VAEConfig,
    VAEGANConfig,
)
from labcore.config import build, defaults
from labcore.errors import UsageError, did_you_mean

if TYPE_CHECKING:
    from torch import nn


class Model(NamedTuple):
    config: type[TrainConfig]
    build: Callable[[Any, int, int, int], nn.Module]  # (cfg, channels, resolution, training images) → the model
    about: str


# Each builder imports its model's module, and torch with it, only when it builds one: the CLI reads this table
# for --help, list and bad input without torch (≈ 2 s).
def _vae(cfg: VAEConfig, channels: int, resolution: int, dataset_size: int) -> nn.Module:
    from genlab.vae import VAE, FactorVAE

    return (FactorVAE if cfg.objective == "factor-vae" else VAE)(cfg, channels, resolution, dataset_size)


def _ae(cfg: AEConfig, channels: int, resolution: int, dataset_size: int) -> nn.Module:
    from genlab.ae import AE

    return AE(cfg, channels, resolution)


def _gan(cfg: GANConfig, channels: int, resolution: int, dataset_size: int) -> nn.Module:
    from genlab.gan import GAN

    return GAN(cfg, channels, resolution)


def _infogan(cfg: InfoGANConfig, channels: int, resolution: int, dataset_size: int) -> nn.Module:
    from genlab.gan import InfoGAN

    return InfoGAN(cfg, channels, resolution)


def _vae_gan(cfg: VAEGANConfig, channels: int, resolution: int, dataset_size: int) -> nn.Module:
    from genlab.gan import VAEGAN

    return VAEGAN(cfg, channels, resolution)


def _sprite_gan(cfg: SpriteGANConfig, channels: int, resolution: int, dataset_size: int) -> nn.Module:
    from genlab.sprite_gan import SpriteGAN

    return SpriteGAN(cfg, channels, resolution)


MODELS = {
    "vae": Model(VAEConfig, _vae, "variational autoencoder; objective = elbo (β-VAE with beta > 1), capacity, "
                 "beta-tcvae or factor-vae"),
    "ae": Model(AEConfig, _ae, "autoencoder: a deterministic code, nothing to sample"),
    "gan": Model(GANConfig, _gan, "GAN with DCGAN or spatial-transformer networks; gan_loss = ns, hinge or wgan-gp"),
    "infogan": Model(InfoGANConfig, _infogan,
                     "InfoGAN: a categorical code that D's head Q must read back from the image"),
    "vae-gan": Model(VAEGANConfig, _vae_gan,
                     "VAE-GAN: an encoder trained with G as its decoder; G also learns from reconstruction"),
    "sprite-gan": Model(SpriteGANConfig, _sprite_gan,
                        "a GAN on the codes of sprites learnt first by reconstruction (images of rigid objects)"),
}


def config_class(name: Any) -> type[TrainConfig]:
    if not isinstance(name, str) or name not in MODELS:
        raise UsageError(f"unknown model {name!r}{did_you_mean(str(name), MODELS)}; choose from {', '.join(MODELS)}")
    return MODELS[name].config


def build_config(values: dict[str, Any]) -> TrainConfig:
    """The config of the model `values["model"]` names (default vae), from plain values, each key checked: one
    that belongs to another model says whose it is."""
    name = values.get("model", "vae")
    cls = config_class(name)
    if values.get("g_arch") == "sprites":
        raise UsageError('g_arch = "sprites" is a model of its own now: model = "sprite-gan" (the gan recipe\'s)')
    own = {f.name for f in dataclasses.fields(cls)}
    for key in values:
        other = next((m for m, spec in MODELS.items() if key not in own and key in defaults(spec.config)), None)
        if other:
            raise UsageError(f"config key '{key}' belongs to {other}; {name} does not use it")
    return build(cls, values)


def scale_stages(cls: type[TrainConfig], base: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """The stage lengths of a model trained in stages for a `steps` budget given without them: the base's
    (a recipe's, or the defaults') proportions, so `genlab train gan --steps 200` is a quick try of both stages."""
    if "steps" not in given:
        return {}
    start = {**defaults(cls), **base}
    return {key: max(1, round(start[key] * given["steps"] / start["steps"])) for key in cls.stages if key not in given}


REMOVED = {"supersample": 1, "d_arch": "dcgan"}  # GAN options only probes used (numbers in benchmarks/results/)


def stored_config(values: dict[str, Any]) -> TrainConfig:
    """A run's config as stored in config.toml or a checkpoint. Runs made before each model had a config of its
    own stored every model's fields in one (`objective` and `gan_loss` side by side); the sprite GAN was
    model = "gan" with g_arch = "sprites", InfoGAN and VAE-GAN a gan with info_weight or recon_weight > 0."""
    if not ("objective" in values and "gan_loss" in values):
        return build_config(values)
    values, name = dict(values), values.get("model")
    if name == "gan":
        for key, default in REMOVED.items():
            if values.get(key, default) != default:
                raise UsageError(f"this run was made with {key} = {values[key]!r}, an option since removed; "
                                 "it cannot be loaded")
        if values.get("g_arch") == "sprites":
            name = "sprite-gan"
        elif values.get("info_weight", 0) > 0:
            name, values["categories"] = "infogan", values["latent_categories"]
        elif values.get("recon_weight", 0) > 0:
            name, values["recon_beta"] = "vae-gan", values["beta"]
        elif values.get("latent_categories", 0) > 0:
            raise UsageError("this run's GAN had a categorical code without InfoGAN's term, an option since "
                             "removed (model = \"infogan\" has one); it cannot be loaded")
    cls = config_class(name)
    own = {f.name for f in dataclasses.fields(cls)}
    return build(cls, {**{k: v for k, v in values.items() if k in own}, "model": name})


def build_model(cfg: TrainConfig, channels: int, resolution: int, dataset_size: int = 0) -> nn.Module:
    """The config's model; `dataset_size` (the training images) is what beta-tcvae's estimator needs."""
    return MODELS[cfg.model].build(cfg, channels, resolution, dataset_size)


def restore(model: nn.Module, state: dict[str, Any], optimizers: bool = True) -> None:
    """A checkpoint's weights (and optimiser states) into `model`. Older checkpoints kept an autoencoder's one
    optimiser state bare, named the sprite optimiser "s", and counted the sprite GAN's steps in a buffer."""
    weights = dict(state["model"])
    weights.pop("step", None)  # no model has a buffer of that name now: the loop passes the step to update
    model.load_state_dict(weights)
    if optimizers:
        stored = state["optimizer"]
        if "param_groups" in stored:
            stored = {next(iter(model.optimizers)): stored}
        stored = {"sprites" if name == "s" else name: s for name, s in stored.items()}
        for name, optimizer in model.optimizers.items():
            optimizer.load_state_dict(stored[name])
