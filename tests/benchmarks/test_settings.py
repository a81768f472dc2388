import pytest

from vprop.benchmarks import settings
from vprop.benchmarks.settings import EngineSettings, bf16_warning, cpu_has_native_bf16
from vprop.errors import VpropError


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    plain = tmp_path / "plain"
    plain.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f\n")
    native = tmp_path / "native"
    native.write_text("processor\t: 0\nflags\t\t: fpu avx512f avx512_bf16\n")
    assert cpu_has_native_bf16(str(plain)) is False
    assert cpu_has_native_bf16(str(native)) is True
    assert cpu_has_native_bf16(str(tmp_path / "absent")) is True  # cannot tell: no warning


def test_bf16_warning_only_for_bf16_work_on_a_cpu_without_it(monkeypatch):
    monkeypatch.setattr(settings, "cpu_has_native_bf16", lambda: False)
    monkeypatch.delenv("VPROP_NO_BF16_WARNING", raising=False)
    amp = EngineSettings(autocast="bfloat16")
    assert "--precision bf16 on a CPU" in bf16_warning(amp, "cpu")  # flag renamed (issue 13)
    assert bf16_warning(amp, "cuda") is None
    assert bf16_warning(EngineSettings(), "cpu") is None
    both = bf16_warning(EngineSettings(autocast="bfloat16", feature_dtype="bfloat16"), "cpu")
    assert "--precision bf16 and --feature-dtype bfloat16" in both
    monkeypatch.setattr(settings, "cpu_has_native_bf16", lambda: True)
    assert bf16_warning(amp, "cpu") is None


def test_screen_factor_is_in_the_resume_signature_of_screened_runs(monkeypatch):
    exact, screened = EngineSettings(affinity="exact"), EngineSettings(affinity="screened")
    assert "screen_factor" not in exact.signature()  # exact affinities never use it
    assert screened.signature()["screen_factor"] == 3
    monkeypatch.setattr(settings, "SCREEN_FACTOR", 5)  # another factor: another signature
    assert screened.signature()["screen_factor"] == 5


def test_certified_runs_sign_as_exact_ones():
    certified, exact = EngineSettings(affinity="certified"), EngineSettings(affinity="exact")
    assert certified.signature() == exact.signature()
    assert EngineSettings(affinity="screened").signature() != exact.signature()


def test_certified_needs_float32_features():
    with pytest.raises(VpropError, match="^--affinity: certified needs --feature-dtype float32"):
        EngineSettings(affinity="certified", feature_dtype="bfloat16")


def test_bf16_warning_names_a_screening_affinity(monkeypatch):
    monkeypatch.setattr(settings, "cpu_has_native_bf16", lambda: False)
    monkeypatch.delenv("VPROP_NO_BF16_WARNING", raising=False)
    assert "--affinity certified on a CPU" in bf16_warning(
        EngineSettings(affinity="certified"), "cpu")
    assert bf16_warning(EngineSettings(affinity="exact"), "cpu") is None
