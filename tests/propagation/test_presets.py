"""Every preset field can be overridden from text (``--preset-set FIELD=VALUE``)."""

from __future__ import annotations

import dataclasses

import pytest

from vprop.benchmarks.papers import get_preset
from vprop.errors import VpropError
from vprop.propagation.presets import Preset


def test_every_field_but_the_name_can_be_set_from_text():
    preset = get_preset("cropmae")
    changed = preset.override_text([
        "temperature=0.1", "topk=5", "radius=12", "shape=square", "context=7",
        "restrict_first=true", "pad_start=false", "label_downsample=nearest",
        "minmax_output=true", "pos_embed=exact", "mean=0.5,0.5,0.5", "std=0.228,0.224,0.225",
        "input_resize=uint8", "nearest=pil", "first_frame_output=ground-truth",
    ])
    assert {f.name for f in dataclasses.fields(Preset)} - {"name"} == {
        name for name in preset.to_dict() if getattr(changed, name) != getattr(preset, name)
    }
    assert changed.std == (0.228, 0.224, 0.225) and changed.restrict_first is True


@pytest.mark.parametrize("text", ["name=x", "foo=1", "topk", "topk=x", "restrict_first=yes",
                                  "nearest=bicubic", "std=1,2", "temperature=0"])
def test_bad_assignments_are_one_line_errors(text):
    with pytest.raises(VpropError):
        get_preset("cropmae").override_text([text])
