"""Figures of a finished `tune` study, from its database: the optimisation history and the parameters' importance.

    python benchmarks/study_plots.py sqlite:///docs/tuning/acrobot-ppo-study.db acrobot-ppo docs/tuning/acrobot-ppo

writes PREFIX-history.png (the completed trials' values and the best so far) and
PREFIX-importance.png (Optuna's fANOVA importance over the completed trials), with Optuna's matplotlib plots.
"""

from __future__ import annotations

import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import optuna  # noqa: E402
from optuna.visualization.matplotlib import plot_optimization_history, plot_param_importances  # noqa: E402


def main() -> None:
    url, name, prefix = sys.argv[1:4]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=name, storage=url)
    for what, draw in (("history", plot_optimization_history), ("importance", plot_param_importances)):
        ax = draw(study)
        ax.figure.set_size_inches(8, 4.5)
        ax.figure.tight_layout()
        ax.figure.savefig(f"{prefix}-{what}.png", dpi=110)
        plt.close(ax.figure)
        print(f"wrote {prefix}-{what}.png")


if __name__ == "__main__":
    main()
