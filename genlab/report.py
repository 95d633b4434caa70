"""One-paragraph summaries of a genlab run's eval.json: likelihoods, the sample judgement, disentanglement."""

from __future__ import annotations

from genlab.shapes import FACTORS, SHAPES, SIZES


def describe_result(result: dict) -> str:
    lines = []
    if "elbo" in result or "mse" in result:
        lines.append(describe_likelihood(result))
    if "valid" in result:
        kl = result["coverage_kl"]
        coverage = "— (no valid sample)" if kl is None else f"{kl:.3f} nats"
        lines.append(f"{result['valid']:.1%} of {result['samples']} samples valid (IoU ≥ 0.9 with a real render; "
                     f"median IoU {result['iou_median']:.3f}), factor coverage KL {coverage} (worst factor), "
                     f"Fréchet distance (factor-network features) {result['frechet']:.2f}")
        if "valid_scale_0" in result:  # judged before the breakdown existed: no second line
            lines.append("valid by best match: " + ", ".join(f"{s} {_percent(result[f'valid_{s}'])}" for s in SHAPES)
                         + "; by scale, smallest first: "
                         + ", ".join(_percent(result[f"valid_scale_{k}"]) for k in range(SIZES[1])))
    if "mig" in result or "factor_vae" in result or "dci_disentanglement" in result:
        lines.append(describe_disentanglement(result))
    return "\n".join(lines) or "no sample metrics: they need the shapes data (genlab.quality judges samples against " \
        "its renders)"


def describe_disentanglement(result: dict) -> str:
    parts = []
    if "mig" in result:
        per = ", ".join(f"{f} {result[f'mig_{f}']:.2f}" for f in FACTORS if f"mig_{f}" in result)
        parts.append(f"MIG {result['mig']:.3f} ({per})")
    for key, name in (("factor_vae", "FactorVAE score"), ("beta_vae", "β-VAE score"), ("sap", "SAP")):
        if key in result:
            parts.append(f"{name} {result[key]:.3f}")
    if "dci_disentanglement" in result:
        parts.append(f"DCI disentanglement {result['dci_disentanglement']:.3f}, completeness "
                     f"{result['dci_completeness']:.3f}, informativeness {result['dci_informativeness']:.3f}")
    return "disentanglement: " + "; ".join(parts)


def describe_likelihood(result: dict) -> str:
    if "elbo" in result:
        return (f"held-out ELBO {result['elbo']:.2f}, IWAE (k={result['iwae_k']}) {result['iwae']:.2f} nats per "
                f"image over {result['images']} images")
    return (f"held-out reconstruction: {result['recon_nats']:.2f} nats per image, MSE {result['mse']:.5f} "
            f"over {result['images']} images")


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"
