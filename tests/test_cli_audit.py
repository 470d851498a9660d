"""`checkerscope audit` / `checkerscope fix`: targets, outputs, exit codes, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from checkerscope import zoo
from cli_runner import run_cli

USER_MODEL = textwrap.dedent(
    """
    import torch
    from torch import nn

    def make():
        return nn.Sequential(nn.ConvTranspose2d(8, 3, 3, stride=2, padding=1, output_padding=1))

    def make_clean():
        return nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(8, 3, 3, padding=1))

    def make_pair():
        return make(), torch.randn(1, 8, 16, 16)

    def broken():
        raise RuntimeError("weights missing")

    def not_a_model():
        return 42
    """
)


@pytest.fixture()
def user_file(tmp_path: Path) -> Path:
    path = tmp_path / "user_models.py"
    path.write_text(USER_MODEL)
    return path


def test_zoo_model_with_uneven_deconvolutions_exits_1(capsys) -> None:
    code, out, _ = run_cli(capsys, "audit", "zoo:article_deconv_last2", "--no-probe")
    assert code == 1
    assert "uneven overlap" in out and "periods 2, 4" in out and "ARTIFACTS" in out


def test_zoo_resize_model_is_clean_exit_0(capsys) -> None:
    code, out, _ = run_cli(capsys, "audit", "zoo:article_resize", "--seeds", "1")
    assert code == 0 and "CLEAN" in out and "init score" in out


def test_json_prints_only_json(capsys) -> None:
    code, out, _ = run_cli(capsys, "audit", "zoo:dcgan32", "--seeds", "1", "--json")
    data = json.loads(out)
    assert code == 1 and data["has_artifacts"] is True and data["kind"] == "generator"
    assert data["init_score"]["samples"] == 2


def test_html_report_is_written(capsys, tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    code, _, err = run_cli(capsys, "audit", "zoo:melgan", "--no-probe", "--html", str(target))
    assert code == 0  # MelGAN's kernels are twice its strides: even, and no probe asked
    assert target.read_text().startswith("<!DOCTYPE html>") and "wrote" in err


@pytest.mark.parametrize("argv", [["--list-zoo"], ["zoo:"]])
def test_zoo_listing(capsys, argv: list[str]) -> None:
    code, out, _ = run_cli(capsys, "audit", *argv)
    assert code == 0
    for name in zoo.MODELS:
        assert f"zoo:{name} " in out


def test_user_file_callable(capsys, user_file: Path) -> None:
    code, out, _ = run_cli(
        capsys, "audit", f"{user_file}:make", "--input-shape", "1,8,16,16", "--no-probe"
    )
    assert code == 1 and "ConvTranspose2d" in out
    code, _, _ = run_cli(
        capsys, "audit", f"{user_file}:make_clean", "--input-shape", "1,8,16,16", "--seeds", "1"
    )
    assert code == 0


def test_user_dotted_module_from_cwd(capsys, user_file: Path, monkeypatch) -> None:
    monkeypatch.chdir(user_file.parent)
    monkeypatch.syspath_prepend(str(user_file.parent))
    code, out, _ = run_cli(capsys, "audit", "user_models:make_pair", "--no-probe")
    assert code == 1 and "16x16 -> 32x32" in out


@pytest.mark.parametrize(
    ("target", "extra", "message"),
    [
        ("README.md", [], "expected zoo:NAME, MODULE:CALLABLE"),
        ("zoo:nope", [], "unknown zoo model 'nope'"),
        ("{file}:broken", ["--input-shape", "1,8,4,4"], "raised RuntimeError: weights missing"),
        ("{file}:not_a_model", ["--input-shape", "1,8,4,4"], "returned int"),
        ("{file}:absent", ["--input-shape", "1,8,4,4"], "has no callable 'absent'"),
        ("{file}:make", [], "needs --input-shape"),
        ("{file}:make", ["--input-shape", "1,5,4,4"], "failed on an input of shape 1x5x4x4"),
        ("{file}:make", ["--input-shape", "1,x"], "input shape must be positive integers"),
        ("no_such_module_xyz:make", [], "cannot import module"),
        ("{dir}/missing.py:make", [], "no such Python file"),
        ("{dir}/garbage.onnx", [], "is not a valid ONNX model"),
        ("{dir}/missing.onnx", [], "no such ONNX file"),
        ("{dir}/tensor.pt", ["--input-shape", "1,8,4,4"], "not a whole nn.Module"),
        ("{dir}/garbage.pt", ["--input-shape", "1,8,4,4"], "is not a saved model"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    capsys, user_file: Path, target: str, extra: list[str], message: str
) -> None:
    folder = user_file.parent
    (folder / "garbage.onnx").write_bytes(b"this is not a protobuf \x00\xff" * 4)
    (folder / "garbage.pt").write_bytes(b"not a pickle")
    torch.save(torch.zeros(3), folder / "tensor.pt")
    target = target.format(file=user_file, dir=folder)
    code, out, err = run_cli(capsys, "audit", target, *extra)
    assert code == 2, err
    assert message in err
    assert err.count("\n") == 1 and err.startswith("checkerscope audit: error:")
    assert out == ""


def test_fix_saves_a_loadable_model_and_prints_before_after(capsys, tmp_path: Path) -> None:
    out_file = tmp_path / "fixed.pt"
    code, out, _ = run_cli(capsys, "fix", "zoo:dcgan32", "--out", str(out_file), "--seeds", "1")
    assert code == 0
    assert "ConvTranspose2d(k4 s2 p1) -> ResizeConv2d(k3 x2)" in out
    assert "init score at period 2:" in out and "verdict: artifacts -> clean" in out
    fixed = torch.load(out_file, weights_only=False)
    assert fixed(torch.randn(2, 100, 1, 1)).shape == (2, 3, 32, 32)
    # the saved model audits clean
    code, out, _ = run_cli(
        capsys, "audit", str(out_file), "--input-shape", "1,100,1,1", "--no-probe"
    )
    assert code == 0 and "ResizeConv2d" in out


def test_fix_json_and_downsample(capsys, tmp_path: Path) -> None:
    out_file = tmp_path / "disc.pt"
    code, out, _ = run_cli(
        capsys,
        "fix",
        "zoo:disc_k3_first_stride2",
        "--downsample",
        "--out",
        str(out_file),
        "--seeds",
        "1",
        "--json",
    )
    data = json.loads(out)
    assert code == 0 and data["score"] == "gradient score"
    assert data["before"]["has_artifacts"] and not data["after"]["has_artifacts"]
    assert all("BlurPool2d" in line for line in data["replacements"])


def test_fix_rejects_onnx(capsys, tmp_path: Path) -> None:
    code, _, err = run_cli(capsys, "fix", "m.onnx", "--out", str(tmp_path / "x.pt"))
    assert code == 2 and "ONNX" in err


def test_help_says_that_loading_runs_user_code() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import importlib.util, sys; from checkerscope.cli import main; "
            "sys.exit(main(['audit', '--help']))",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0
    assert "runs its code" in proc.stdout and "torch.hub" in proc.stdout


def test_zoo_listing_shows_the_real_architectures(capsys) -> None:
    code, out, _ = run_cli(capsys, "audit", "--list-zoo")
    assert code == 0
    for name in zoo.ARCHITECTURES:
        assert f"zoo:{name} " in out
    code, out, _ = run_cli(capsys, "audit", "--list-zoo", "--json")
    assert set(json.loads(out)) == set(zoo.MODELS) | set(zoo.ARCHITECTURES)


def test_report_is_named_after_the_model_class(capsys, user_file: Path) -> None:
    code, out, _ = run_cli(
        capsys, "audit", f"{user_file}:make", "--input-shape", "1,8,16,16", "--no-probe"
    )
    assert code == 1 and out.startswith("checkerscope audit: Sequential (torch")


def test_progress_per_forward_pass_shows_in_a_log(capsys, monkeypatch) -> None:
    monkeypatch.setenv("CHECKERSCOPE_PROGRESS_SECONDS", "0")
    code, _, err = run_cli(capsys, "audit", "zoo:dcgan32", "--seeds", "2")
    assert code == 1
    assert "forward pass 1 of 5" in err and "forward pass 5 of 5" in err
    assert err.rstrip().endswith("done in " + err.rstrip().rsplit("done in ", 1)[1])


VOCODER = textwrap.dedent(
    """
    import torch
    from torch import nn
    from torch.nn.utils import parametrizations

    class TinyVocoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.pre = parametrizations.weight_norm(nn.Conv1d(8, 8, 7, padding=3))
            self.up = parametrizations.weight_norm(nn.ConvTranspose1d(8, 4, 16, 8, 4))
            self.post = nn.Conv1d(4, 1, 7, padding=3)

        def forward(self, x):
            x = nn.functional.leaky_relu(self.up(self.pre(x)), 0.1)
            return torch.tanh(self.post(x))

    def make():
        print("built a TinyVocoder")  # model code that prints must not reach --json
        return TinyVocoder()
    """
)


def _console_script() -> Path:
    script = Path(sys.executable).with_name("checkerscope")
    if not script.is_file():
        pytest.skip("the checkerscope console script is not installed beside this Python")
    return script


def test_a_fix_saved_from_a_file_audits_again_from_its_folder_and_beside_it(
    tmp_path: Path,
) -> None:
    """The console script does not put the current folder on sys.path, as `python -c`
    would: the saved model's classes must still be found, from the model's folder and from
    anywhere else when the file sits beside the .pt. Weight norm (parametrized, which
    torch.save refuses) is folded into the saved weights."""
    script = _console_script()
    project = tmp_path / "project"
    project.mkdir()
    (project / "vocoder.py").write_text(VOCODER)
    fixed = project / "fixed.pt"
    proc = subprocess.run(
        [script, "fix", "vocoder.py:make", "--input-shape", "1,8,32", "--out", "fixed.pt"]
        + ["--seeds", "1", "--json"],
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["before"]["model"] == "TinyVocoder" and "built a TinyVocoder" in proc.stderr
    assert any("folded into plain weights" in line for line in data["replacements"])
    assert data["before"]["has_artifacts"] and not data["after"]["has_artifacts"]
    for folder in (project, tmp_path):
        proc = subprocess.run(
            [script, "audit", str(fixed), "--input-shape", "1,8,32", "--seeds", "1"],
            cwd=folder,
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith("checkerscope audit: TinyVocoder (torch, generator, 1-D)")
        assert "ResizeConv1d" in proc.stdout and "CLEAN" in proc.stdout


def test_fix_downsample_options(capsys, tmp_path: Path) -> None:
    code, _, err = run_cli(
        capsys, "fix", "zoo:patchgan70", "--blur-first", "--out", str(tmp_path / "a.pt")
    )
    assert code == 2 and "need --downsample" in err
    out_file = tmp_path / "disc.pt"
    options = ["--downsample", "--blur-first", "--min-channels", "4", "--seeds", "1", "--json"]
    code, out, _ = run_cli(
        capsys, "fix", "zoo:disc_k3_first_stride2", *options, "--out", str(out_file)
    )
    data = json.loads(out)
    fixed = torch.load(out_file, weights_only=False)
    convs = [m for m in fixed.modules() if isinstance(m, torch.nn.Conv2d) and m.stride != (1, 1)]
    # blur first keeps the strided convs' strides; the RGB stem (3 < 4 channels) is left
    assert convs and convs[0].in_channels == 3
    assert data["replacements"][0] == "0: Conv2d left: 3 input channels < min_channels=4"
    assert data["replacements"][1:] == [
        f"{index}: Conv2d(k3 s2) -> BlurPool2d(s1) + Conv2d(s2)" for index in (2, 5, 8)
    ]
    # the stem left as it is keeps its uneven backward overlap: still artifacts
    assert code == 1 and data["after"]["has_artifacts"]


def test_onnx_audit_probes_the_given_weights(capsys, tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    model = torch.nn.Sequential(torch.nn.ConvTranspose2d(8, 3, 3, 2, 1, output_padding=1))
    path = tmp_path / "deconv.onnx"
    torch.onnx.export(model, (torch.randn(1, 8, 16, 16),), str(path), dynamo=False)
    code, out, _ = run_cli(capsys, "audit", str(path), "--seeds", "2", "--json")
    data = json.loads(out)
    assert code == 1 and data["source"] == "onnx" and data["given_score"]["samples"] >= 2
    code, out, _ = run_cli(capsys, "audit", str(path), "--no-probe", "--json")
    assert json.loads(out)["given_score"] is None


def test_a_fixed_model_that_cannot_be_pickled_is_one_line_and_nothing_written(
    capsys, tmp_path: Path
) -> None:
    (tmp_path / "lambdas.py").write_text(
        textwrap.dedent(
            """
            from torch import nn

            def make():
                model = nn.Sequential(nn.ConvTranspose2d(4, 3, 3, 2, 1, output_padding=1))
                model.postprocess = lambda x: x.clamp(-1, 1)  # pickle refuses lambdas
                return model
            """
        )
    )
    out_file = tmp_path / "fixed.pt"
    code, out, err = run_cli(
        capsys,
        *["fix", f"{tmp_path / 'lambdas.py'}:make", "--input-shape", "1,4,8,8", "--seeds", "1"],
        *["--out", str(out_file)],
    )
    assert code == 2 and out == "" and not out_file.exists()
    assert err.count("\n") == 1 and "cannot be saved whole with torch.save" in err


# ----------------------------------------------------------------- --checkpoint (state dicts)


def _checkpoint_files(user_file: Path) -> dict[str, Path]:
    """State dicts for USER_MODEL's ``make``: its deconvolution silenced (zero weights,
    bias 0.5: a constant, grid-free output), saved bare, nested, with DataParallel's
    prefix, with a key missing, and with a wrong shape."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("checkpoint_source", user_file)
    assert spec is not None and spec.loader is not None
    source = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(source)
    model = source.make()
    with torch.no_grad():
        model[0].weight.zero_()
        model[0].bias.fill_(0.5)
    state = model.state_dict()
    folder = user_file.parent
    files = {
        "bare": {k: v.clone() for k, v in state.items()},
        "nested": {"epoch": 3, "state_dict": state},
        "dataparallel": {f"module.{k}": v for k, v in state.items()},
        "missing": {"0.weight": state["0.weight"]},
        "shape": {"0.weight": torch.zeros(8, 3, 5, 5), "0.bias": state["0.bias"]},
        "not_a_state": {"epoch": 3, "note": "no tensors here"},
    }
    paths = {}
    for name, value in files.items():
        paths[name] = folder / f"{name}.pth"
        torch.save(value, paths[name])
    return paths


@pytest.mark.parametrize("variant", ["bare", "nested", "dataparallel"])
def test_a_checkpoint_is_loaded_into_the_model_the_factory_builds(
    capsys, user_file: Path, variant: str
) -> None:
    paths = _checkpoint_files(user_file)
    target = f"{user_file}:make"
    shape = ["--input-shape", "1,8,16,16", "--seeds", "2", "--json"]
    code, out, _ = run_cli(capsys, "audit", target, *shape)
    random_weights = json.loads(out)["given_score"]["median_db"]
    code, out, err = run_cli(capsys, "audit", target, *shape, "--checkpoint", str(paths[variant]))
    silenced = json.loads(out)["given_score"]["median_db"]
    assert code == 1, err  # the structure is still uneven, whatever the weights
    # the silenced deconvolution paints a constant: exactly 0 dB (the score's floor)
    assert random_weights > 1 and abs(silenced) < 1e-6


@pytest.mark.parametrize(
    ("variant", "message"),
    [
        ("missing", "does not fit the model: keys 1 missing (e.g. '0.bias')"),
        ("shape", "does not fit the model: RuntimeError"),
        ("not_a_state", "holds a dict with no state_dict in it"),
    ],
)
def test_a_checkpoint_that_does_not_fit_is_one_line(
    capsys, user_file: Path, variant: str, message: str
) -> None:
    paths = _checkpoint_files(user_file)
    code, out, err = run_cli(
        capsys,
        *["audit", f"{user_file}:make", "--input-shape", "1,8,16,16", "--no-probe"],
        *["--checkpoint", str(paths[variant])],
    )
    assert code == 2 and out == "" and err.count("\n") == 1 and message in err, err


def test_a_checkpoint_with_code_in_it_is_refused_unrun(capsys, user_file: Path) -> None:
    """weights_only=True: a pickle that would run code is refused, and the code never runs."""
    marker = user_file.parent / "ran.txt"

    class Payload:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (Path.write_text, (marker, "ran"))

    evil = user_file.parent / "evil.pth"
    torch.save({"state_dict": Payload()}, evil)
    code, _, err = run_cli(
        capsys,
        *["audit", f"{user_file}:make", "--input-shape", "1,8,16,16", "--no-probe"],
        *["--checkpoint", str(evil)],
    )
    assert code == 2 and "not a state_dict torch can read safely" in err
    assert not marker.exists()


def test_fix_projects_from_a_checkpoint(capsys, user_file: Path, tmp_path: Path) -> None:
    paths = _checkpoint_files(user_file)
    out_file = tmp_path / "fixed.pt"
    code, out, err = run_cli(
        capsys,
        *["fix", f"{user_file}:make", "--input-shape", "1,8,16,16", "--seeds", "1"],
        *["--checkpoint", str(paths["nested"]), "--weights", "project", "--json"],
        *["--out", str(out_file)],
    )
    assert code == 0, err
    fixed = torch.load(out_file, weights_only=False)
    with torch.no_grad():  # the silenced deconvolution projects to a silenced resize-conv
        assert torch.allclose(fixed(torch.randn(1, 8, 16, 16)), torch.tensor(0.5), atol=1e-5)
    assert json.loads(out)["replacements"]


@pytest.mark.parametrize("target", ["model.pt", "model.onnx"])
def test_a_checkpoint_needs_a_model_to_load_into(capsys, tmp_path: Path, target: str) -> None:
    path = tmp_path / target
    path.write_bytes(b"x")
    state = tmp_path / "state.pth"
    torch.save({}, state)
    code, _, err = run_cli(
        capsys, "audit", str(path), "--input-shape", "1,8,4,4", "--checkpoint", str(state)
    )
    assert code == 2 and "--checkpoint" in err and err.count("\n") == 1


def test_an_onnx_file_with_dynamic_sizes_needs_its_shape_to_be_probed(
    capsys, tmp_path: Path
) -> None:
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    model = torch.nn.Sequential(torch.nn.ConvTranspose2d(3, 3, 3, 2, 1, output_padding=1))
    path = tmp_path / "dynamic.onnx"
    axes = {"x": {0: "batch", 2: "height", 3: "width"}}
    torch.onnx.export(
        model, (torch.randn(1, 3, 16, 16),), str(path), input_names=["x"], dynamic_axes=axes,
        dynamo=False,
    )  # fmt: skip
    code, out, err = run_cli(capsys, "audit", str(path))
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "--input-shape" in err and "--no-probe" in err
    code, out, _ = run_cli(capsys, "audit", str(path), "--input-shape", "1,3,32,32", "--json")
    assert code == 1 and json.loads(out)["given_score"] is not None
    code, out, _ = run_cli(capsys, "audit", str(path), "--no-probe", "--json")
    assert code == 1 and json.loads(out)["given_score"] is None
