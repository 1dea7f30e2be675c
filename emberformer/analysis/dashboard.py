"""The training guide's "Recommended W&B Dashboard Layout" as a saved W&B workspace:
`python -m emberformer.dashboard wandb.project=emberformer [wandb.entity=...]`.

The six panels are `emberformer.analysis.panels.PANELS`, which `emberformer.report` draws offline.
Without network or credentials (or with WANDB_MODE=offline) the workspace is built and validated
but not saved, and the command says so.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import hydra
from omegaconf import DictConfig

from emberformer import config as config_lib
from emberformer.analysis.panels import PANELS, PanelSpec
from emberformer.errors import ConfigError, exit_on_user_error

WORKSPACE_NAME = "EmberFormer training"
SECTION_NAME = "EmberFormer"


def describe_panels(panels=PANELS) -> list[str]:
    """One line per panel, as the command prints them."""
    lines = []
    for i, panel in enumerate(panels, start=1):
        if panel.kind == "media":
            detail = "media"
        else:
            detail = f"line vs {panel.x}" + (f", smoothing {panel.smoothing:g}" if panel.smoothing else "")
            detail += ", log y" if panel.log_y else ""
        lines.append(f"({i}) {panel.title} [{detail}]: {panel.label()}")
    return lines


def build_workspace(project: str, entity: str, name: str = WORKSPACE_NAME, panels=PANELS):
    """A `wandb_workspaces` Workspace with one open section holding `panels`, in order."""
    try:
        import wandb_workspaces.reports.v2 as wr
        import wandb_workspaces.workspaces as ws
    except ImportError:
        raise ConfigError("the W&B dashboard needs the wandb-workspaces package: "
                          "pip install 'emberformer[dashboard]'") from None

    def to_panel(spec: PanelSpec):
        if spec.kind == "media":
            return wr.MediaBrowser(title=spec.title, media_keys=list(spec.keys), num_columns=2)
        smoothing = dict(smoothing_type="exponential", smoothing_factor=spec.smoothing) if spec.smoothing else {}
        keys = dict(metric_regex=spec.key_pattern) if spec.key_pattern else dict(y=list(spec.keys))
        return wr.LinePlot(title=spec.title, x="Step" if spec.x == "step" else spec.x, log_y=spec.log_y or None,
                           **keys, **smoothing)

    return ws.Workspace(
        entity=entity, project=project, name=name,
        sections=[ws.Section(name=SECTION_NAME, panels=[to_panel(p) for p in panels], is_open=True,
                             layout_settings=ws.SectionLayoutSettings(columns=3, rows=2))],
    )


def offline_reason(mode: str) -> str | None:
    """Why the workspace can't be saved now (None when it can): W&B mode, credentials, network."""
    from emberformer.training.wandb_logger import has_credentials, reachable

    if mode != "online":
        return f"W&B mode is {mode}"
    base_url = os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")
    if not has_credentials(base_url):
        return "no W&B credentials (run `wandb login` or set WANDB_API_KEY)"
    if not reachable(base_url):
        return f"{urlsplit(base_url).hostname} is unreachable"
    return None


@exit_on_user_error
def run(cfg: DictConfig) -> str | None:
    """Build, validate and (online) save the workspace. Returns its URL, or None when not saved."""
    project = cfg.wandb.project
    if not project or not isinstance(project, str):
        raise ConfigError(f"wandb.project={project} must be a W&B project name, e.g. wandb.project=emberformer")
    reason = offline_reason(cfg.wandb.mode)
    entity = cfg.wandb.entity
    if reason is None and not entity:
        import wandb

        entity = wandb.Api().default_entity
    workspace = build_workspace(project, entity or "your-entity", cfg.name)
    # The same conversion `Workspace.save()` uploads: every panel must serialise before anything is sent.
    workspace._to_model()
    print(f'W&B workspace "{cfg.name}" for project {project}: {len(PANELS)} panels in section "{SECTION_NAME}"')
    for line in describe_panels():
        print(f"  {line}")
    if reason is not None:
        print(f"not saved ({reason}): saving a workspace needs network access and a W&B login; "
              f"the layout above is checked, rerun online to save it")
        return None
    workspace.save()
    print(f"saved: {workspace.url}")
    return workspace.url


@hydra.main(version_base="1.3", config_path=str(config_lib.CONFIG_DIR), config_name="dashboard")
def main(cfg: DictConfig) -> None:
    run(cfg)
