"""Watching the score while training: the monitor, the Lightning callback, the metric's plot."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from checkerscope.callbacks import CheckerboardMonitor, fingerprint_image
from checkerscope.errors import CheckerscopeError
from checkerscope.metrics import checkerboard_score

CHECKER = torch.tensor([[1.0, -1.0], [-1.0, 1.0]])
# Lightning's own deprecation notice about torch's pytree, not ours
pytestmark = pytest.mark.filterwarnings("ignore:.*LeafSpec.*")


def _photos(n: int = 4, size: int = 32) -> torch.Tensor:
    from checkerscope.experiments.data import photo_patches

    return photo_patches(n, size, seed=5, split="eval")


def test_the_monitor_scores_like_the_metric_and_keeps_history() -> None:
    monitor = CheckerboardMonitor(period=2, name="cb")
    photos = _photos()
    logs = monitor.update(photos, step=3)
    expected = checkerboard_score(photos).db
    assert logs == {
        "cb/db": pytest.approx(float(np.median(expected))),
        "cb/db_max": pytest.approx(float(expected.max())),
    }
    assert monitor.history == [(3, pytest.approx(logs["cb/db"]))]
    assert monitor.fingerprint is not None and monitor.fingerprint.shape == (2, 2)
    monitor.update(photos)
    assert monitor.history[-1][0] == 1  # default step: the update's index


def test_the_monitor_warns_only_when_a_grid_grows() -> None:
    photos = _photos()
    monitor = CheckerboardMonitor(period=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        monitor.update(photos, 0)
        monitor.update(photos + 0.002 * CHECKER.repeat(16, 16), 1)  # rises, stays below 10 dB
    assert monitor.history[1][1] > monitor.history[0][1]
    with pytest.warns(UserWarning, match="rose to"):
        monitor.update(photos + 0.1 * CHECKER.repeat(16, 16), 2)
    # the fingerprint of that grid: the checker, brighter at (0, 0)
    assert monitor.fingerprint[0, 0] > 0 > monitor.fingerprint[0, 1]
    image = monitor.fingerprint_image()
    assert image.shape == (32, 32, 3)
    assert image[0, 0, 0] == 255 and image[0, 0, 2] < 20  # red: brighter than the mean
    assert image[0, 16, 2] == 255 and image[0, 16, 0] < 20  # blue: darker


def test_fingerprint_images_of_signals_and_flat_patterns() -> None:
    assert fingerprint_image(np.array([1.0, 0.0, -1.0, 0.0]), cell=1).shape == (1, 4, 3)
    flat = fingerprint_image(np.zeros((2, 2)), cell=1)
    assert (flat == 255).all()
    with pytest.raises(CheckerscopeError, match="fingerprint"):
        fingerprint_image(np.zeros((2, 2, 2)))


def test_the_monitor_plots_and_refuses_bad_input() -> None:
    monitor = CheckerboardMonitor(period=4, dims=1)
    with pytest.raises(CheckerscopeError, match="update"):
        monitor.fingerprint_image()
    signal = torch.randn(2, 1, 64)
    monitor.update(signal, 0)
    monitor.update(signal, 1)
    figure, axes = monitor.plot()
    assert len(axes.lines[0].get_xdata()) == 2
    with pytest.raises(CheckerscopeError, match="tensor"):
        monitor.update(np.zeros((1, 1, 64)))  # type: ignore[arg-type]
    with pytest.raises(CheckerscopeError, match="period"):
        CheckerboardMonitor(period=1)


def test_the_metric_plots_a_value_and_a_history() -> None:
    pytest.importorskip("torchmetrics")
    from checkerscope.streaming import CheckerboardMetric

    metric = CheckerboardMetric()
    metric.update(_photos())
    value = metric.compute()
    assert value.ndim == 0 and value.dtype == torch.get_default_dtype()
    figure, _ = metric.plot()
    assert figure is not None
    figure, axes = metric.plot([value, value + 1])
    assert len(axes.lines) >= 1
    with_threshold = CheckerboardMetric(threshold_db=10.0)
    with_threshold.update(_photos())
    result = with_threshold.compute()
    assert all(v.ndim == 0 for v in result.values())
    with_threshold.plot()


# --------------------------------------------------------------------------- Lightning


def _lightning_module(grid_from_epoch: int | None):
    lightning = pytest.importorskip("lightning")
    from checkerscope.streaming import CheckerboardMetric

    class Upsampler(lightning.LightningModule):
        """A tiny x2 upsampler trained to reproduce nearest-upsampled photos."""

        def __init__(self) -> None:
            super().__init__()
            self.up = nn.ConvTranspose2d(3, 3, 4, stride=2, padding=1)
            self.metric = CheckerboardMetric()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.up(x)

        def training_step(self, batch, batch_idx):
            x, y = batch
            return nn.functional.mse_loss(self(x), y)

        def validation_step(self, batch, batch_idx):
            x, _ = batch
            out = self(x)
            if grid_from_epoch is not None and self.current_epoch >= grid_from_epoch:
                out = out + 0.2 * CHECKER.repeat(out.shape[-2] // 2, out.shape[-1] // 2)
            self.metric.update(out)
            self.log("val/checkerboard_db", self.metric)
            return {"samples": out}

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=1e-3)

    photos = _photos(8, 32)
    small = nn.functional.avg_pool2d(photos, 2)
    dataset = torch.utils.data.TensorDataset(small, photos)
    loader = torch.utils.data.DataLoader(dataset, batch_size=4)
    return lightning, Upsampler(), loader, small


def _trainer(lightning, tmp_path, callbacks, epochs: int = 2):
    from lightning.pytorch.loggers import CSVLogger

    return lightning.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        devices=1,
        logger=CSVLogger(tmp_path),
        callbacks=callbacks,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        num_sanity_val_steps=0,
        log_every_n_steps=1,
    )


def test_the_callback_runs_in_a_real_trainer(tmp_path) -> None:
    lightning, module, loader, small = _lightning_module(grid_from_epoch=None)
    from checkerscope.callbacks import CheckerboardCallback

    from_outputs = CheckerboardCallback(period=2)
    from_inputs = CheckerboardCallback(inputs=small[:4], every_n_epochs=2, log_image=False)
    trainer = _trainer(lightning, tmp_path, [from_outputs, from_inputs])
    trainer.fit(module, loader, loader)
    assert [step for step, _ in from_outputs.monitor.history] == [0, 1]
    assert [step for step, _ in from_inputs.monitor.history] == [1]
    assert "checkerboard/db" in trainer.callback_metrics
    assert "val/checkerboard_db" in trainer.callback_metrics  # the metric, logged as it is
    pictures = sorted((tmp_path / "lightning_logs").rglob("fingerprint_epoch*.png"))
    assert [p.name for p in pictures] == ["fingerprint_epoch0000.png", "fingerprint_epoch0001.png"]
    expected = checkerboard_score(module(small[:4]).detach()).db
    assert from_inputs.monitor.history[0][1] == pytest.approx(float(np.median(expected)), abs=1e-4)


def test_the_callback_warns_when_the_grid_appears(tmp_path) -> None:
    lightning, module, loader, _ = _lightning_module(grid_from_epoch=1)
    from checkerscope.callbacks import CheckerboardCallback

    callback = CheckerboardCallback(period=2)
    trainer = _trainer(lightning, tmp_path, [callback])
    with pytest.warns(UserWarning, match="rose to"):
        trainer.fit(module, loader, loader)
    first, second = (db for _, db in callback.monitor.history)
    assert second > first + 3


def test_the_callback_says_when_it_has_no_samples(tmp_path) -> None:
    lightning, module, loader, _ = _lightning_module(grid_from_epoch=None)
    from checkerscope.callbacks import CheckerboardCallback

    callback = CheckerboardCallback(output_key="images")  # validation_step returns "samples"
    trainer = _trainer(lightning, tmp_path, [callback], epochs=1)
    with pytest.warns(UserWarning, match="found no samples"):
        trainer.fit(module, loader, loader)
    assert callback.monitor.history == []
    with pytest.raises(CheckerscopeError, match="every_n_epochs"):
        CheckerboardCallback(every_n_epochs=0)
