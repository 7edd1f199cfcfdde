"""`python -m kit.preflight`: every repository a recipe downloads, checked at its pinned revision against a fake
HfApi (no network), and the plan's fit from kit.run's own dry run. The fake's methods have the installed
huggingface_hub's signatures (hf_api.py: HfApi.model_info, dataset_info, auth_check; a test keeps them equal) and
raise its own error classes, built as hf_raise_for_status builds them (errors.py: HfHubHTTPError(message, *,
response, server_message=None); GatedRepoError is a RepositoryNotFoundError)."""

from __future__ import annotations

import inspect
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from huggingface_hub import HfApi
from huggingface_hub.errors import (GatedRepoError, OfflineModeIsEnabled, RepositoryNotFoundError,
                                    RevisionNotFoundError)

from kit import preflight
from kit.compose import load_recipe

GPQA = "Idavidrein/gpqa"
GPQA_REV = "633f5ee89ab8ad4522a9f850766b73f62147ffdd"  # kit/eval/benchmarks/gpqa_diamond.py


def _http_error(cls: type[Exception], status: int, url: str) -> Exception:
    response = httpx.Response(status, request=httpx.Request("GET", url))
    return cls(f"{status} Client Error for url: {url}", response=response)


class FakeHfApi:
    """Answers as the Hub would: `missing` repos do not exist, `gated` ones are gated (their info is public) and this
    login may read only the `granted` ones, `bad_revisions` lack the pinned revision; `offline` fails every call as
    HF_HUB_OFFLINE does."""

    def __init__(self, missing=(), gated=(), granted=(), bad_revisions=(), offline: bool = False):
        self.missing, self.gated, self.granted = set(missing), set(gated), set(granted)
        self.bad_revisions, self.offline = set(bad_revisions), offline
        self.calls: list[tuple[str, str, Any]] = []

    def _info(self, kind: str, repo_id: str, revision: str | None) -> SimpleNamespace:
        self.calls.append((f"{kind}_info", repo_id, revision))
        url = f"https://huggingface.co/api/{kind}s/{repo_id}/revision/{revision}"
        if self.offline:
            raise OfflineModeIsEnabled(f"Cannot reach {url}: offline mode is enabled.")
        if repo_id in self.missing:
            raise _http_error(RepositoryNotFoundError, 404, url)
        if repo_id in self.bad_revisions:
            raise _http_error(RevisionNotFoundError, 404, url)
        return SimpleNamespace(id=repo_id, sha=revision, gated="manual" if repo_id in self.gated else False)

    # signatures as in huggingface_hub/hf_api.py (HfApi.model_info, HfApi.dataset_info, HfApi.auth_check)
    def model_info(self, repo_id: str, *, revision: str | None = None, timeout: float | None = None,
                   securityStatus: bool | None = None, files_metadata: bool = False, expand: list | None = None,
                   token: bool | str | None = None) -> SimpleNamespace:
        return self._info("model", repo_id, revision)

    def dataset_info(self, repo_id: str, *, revision: str | None = None, timeout: float | None = None,
                     files_metadata: bool = False, expand: list | None = None,
                     token: bool | str | None = None) -> SimpleNamespace:
        return self._info("dataset", repo_id, revision)

    def auth_check(self, repo_id: str, *, repo_type: str | None = None, token: bool | str | None = None,
                   write: bool = False) -> None:
        self.calls.append(("auth_check", repo_id, repo_type))
        if repo_id in self.gated and repo_id not in self.granted:
            raise _http_error(GatedRepoError, 403, f"https://huggingface.co/api/{repo_type}s/{repo_id}/auth-check")


class NoNetwork:
    """An api that must not be called: a fixture recipe downloads nothing."""

    def __getattr__(self, name: str):
        raise AssertionError(f"HfApi.{name} called for a recipe that downloads nothing")


@pytest.mark.parametrize("method", ["model_info", "dataset_info", "auth_check"])
def test_fake_has_the_installed_huggingface_hub_signature(method):
    real = inspect.signature(getattr(HfApi, method)).parameters
    fake = inspect.signature(getattr(FakeHfApi, method)).parameters
    assert [(p.name, p.kind) for p in fake.values()] == [(p.name, p.kind) for p in real.values()]


def test_resources_of_a_hub_recipe_are_its_model_training_sets_and_pinned_benchmarks():
    res = {(r.kind, r.repo_id): r for r in preflight.resources(load_recipe("qwen3-0.6b-t4"))}
    assert res[("model", "Qwen/Qwen3-0.6B-Base")].uses == ["model.id"]
    assert ("dataset", "ReasoningTransferability/math_rl_48k") in res
    assert ("dataset", "ReasoningTransferability/math_sft_40K") in res
    assert res[("dataset", GPQA)].revision == GPQA_REV
    assert res[("dataset", "CogComp/mc_taco")].revision == "refs/convert/parquet"
    assert len(res) == 3 + 12  # one repository per benchmark (HaluEval's and ACPBench's configs share theirs)


def test_fixture_recipe_needs_no_network_and_passes(kit_cache, capsys):
    assert preflight.main(["smoke"], api=NoNetwork()) == 0
    out = capsys.readouterr().out
    assert "downloads: none" in out and "preflight passed" in out


def test_everything_reachable_passes_and_checks_each_pinned_revision(capsys, monkeypatch):
    monkeypatch.setattr(preflight, "_logged_in", lambda: True)
    api = FakeHfApi(gated={GPQA}, granted={GPQA})  # this login accepted GPQA's terms
    assert preflight.main(["qwen3-0.6b-t4", "--gpu", "t4"], api=api) == 0
    out = capsys.readouterr().out
    assert ("dataset_info", GPQA, GPQA_REV) in api.calls and ("model_info", "Qwen/Qwen3-0.6B-Base", "main") in api.calls
    assert [c for c in api.calls if c[0] == "auth_check"] == [("auth_check", GPQA, "dataset")]  # only the gated one
    assert out.count("\n  ok ") == 17 and "plan fits Tesla T4" in out and "ok         tracker: none" in out


def test_gated_without_access_names_the_page_to_accept_and_fails(capsys, monkeypatch):
    monkeypatch.setattr(preflight, "_logged_in", lambda: False)
    assert preflight.main(["qwen3-0.6b-t4", "--gpu", "t4"], api=FakeHfApi(gated={GPQA})) == 2
    captured = capsys.readouterr()
    gated = [ln for ln in captured.out.splitlines() if ln.strip().startswith("gated")]
    assert len(gated) == 1 and GPQA in gated[0]
    assert f"accept the terms at https://huggingface.co/datasets/{GPQA}" in gated[0] and "log in" in gated[0]
    assert "1 of 17 checks failed" in captured.err


def test_missing_repository_and_revision_are_not_found(capsys, monkeypatch):
    monkeypatch.setattr(preflight, "_logged_in", lambda: True)
    api = FakeHfApi(missing={"Qwen/Qwen3-0.6B-Base"}, bad_revisions={GPQA})
    assert preflight.main(["qwen3-0.6b-t4", "--gpu", "t4"], api=api) == 2
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.strip().startswith("not found")]
    assert len(lines) == 2
    assert "Qwen/Qwen3-0.6B-Base" in lines[0] and f"no revision '{GPQA_REV}'" in lines[1]


def test_offline_hub_is_one_line_per_resource(capsys, monkeypatch):
    monkeypatch.setattr(preflight, "_logged_in", lambda: True)
    assert preflight.main(["qwen3-0.6b-t4", "--gpu", "t4"], api=FakeHfApi(offline=True)) == 2
    out = capsys.readouterr().out
    assert out.count("\n  offline ") == 15 and "HF_HUB_OFFLINE" in out


def test_a_connection_error_from_httpx_reads_offline():
    class Unreachable(FakeHfApi):
        def dataset_info(self, repo_id, **kwargs):
            raise httpx.ConnectError("[Errno -3] Temporary failure in name resolution")

    res = preflight.Resource("dataset", GPQA, GPQA_REV, ["benchmark gpqa_diamond"])
    check = preflight.check_resource(Unreachable(), res, logged_in=True)
    assert check.status == "offline" and "name resolution" in check.detail


def test_a_plan_that_does_not_fit_the_card_fails(capsys, monkeypatch):
    monkeypatch.setattr(preflight, "_logged_in", lambda: True)
    assert preflight.main(["qwen3-14b", "--gpu", "t4"], api=FakeHfApi()) == 2
    plan = [ln for ln in capsys.readouterr().out.splitlines() if "plan" in ln and "no fit" in ln]
    assert len(plan) == 1 and "exceeds this GPU" in plan[0]


def test_a_gpu_recipe_on_this_cpu_does_not_pass(capsys, monkeypatch):
    """Without --gpu the plan is for the detected machine: the T4 preset cannot run on a CPU."""
    monkeypatch.setattr(preflight, "_logged_in", lambda: True)
    assert preflight.main(["qwen3-0.6b-t4"], api=FakeHfApi()) == 2
    assert "needs a CUDA GPU" in capsys.readouterr().out


def test_bad_override_is_one_line_and_exit_2(capsys):
    assert preflight.main(["smoke", "eval.itemz=3"], api=NoNetwork()) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "itemz" in err[0]
