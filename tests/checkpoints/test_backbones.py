"""Any published backbone: each format loads and gives the features of its source model.

Expected features come from an independent path: timm's own ``forward_features`` on the source
model (ViTs), and torchvision's ResNet modified as videowalk does (CRW's ResNet-18).
"""

from __future__ import annotations

import sys
import types

import pytest
import torch
import torch.nn.functional as F
import torchvision

from vprop.checkpoints import create_backbone, load_backbone


def _randomised(name: str, seed: int = 0, **kwargs) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = create_backbone(name, **kwargs).eval()
    with torch.no_grad():
        for key in ("pos_embed", "cls_token", "reg_token"):
            if getattr(model, key, None) is not None:
                getattr(model, key).normal_()
        for param in model.parameters():
            param.copy_(param.half().float())  # survives fp16 storage exactly
    return model


def _fp16(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone().half() if v.is_floating_point() else v.clone()
            for k, v in model.state_dict().items()}


def _timm_reference(model, images):
    with torch.no_grad():
        tokens = model.forward_features(images)[:, model.num_prefix_tokens:]
    p = model.patch_embed.patch_size[0]
    h, w = images.shape[-2] // p, images.shape[-1] // p
    return F.normalize(tokens, dim=-1).transpose(1, 2).reshape(images.shape[0], -1, h, w)


def test_dinov2_with_registers_patch14(tmp_path, writers):
    source = _randomised("vit_small_patch14_reg4_dinov2", depth=1, img_size=224)
    path = tmp_path / "dinov2_vits14_reg4_pretrain.pth"
    torch.save(writers["dinov2"](_fp16(source)), path)
    extractor = load_backbone("vit_small_patch14_reg4_dinov2", path, depth=1)
    info = extractor.describe()
    assert info["format"] == "dinov2" and info["num_prefix_tokens"] == 5
    assert extractor.stride == 14 and info["pos_embed_grid"] == [16, 16]
    assert info["dropped_keys"] == ["mask_token"]
    x = torch.randn(2, 3, 224, 224)
    torch.testing.assert_close(extractor(x), _timm_reference(source, x), atol=2e-5, rtol=1e-5)


def test_eva02_from_safetensors(tmp_path):
    from safetensors.torch import save_file

    source = _randomised("eva02_tiny_patch14_224", depth=1)
    path = tmp_path / "model.safetensors"
    save_file(_fp16(source), str(path))
    extractor = load_backbone("eva02_tiny_patch14_224", path, depth=1)
    assert extractor.describe()["pos_embed"] == "native"  # RoPE + timm's own resampling
    x = torch.randn(1, 3, 224, 224)
    torch.testing.assert_close(extractor(x), _timm_reference(source, x), atol=2e-5, rtol=1e-5)


def test_deit_tiny_release(tmp_path, writers):
    source = _randomised("deit_tiny_patch16_224")
    state = _fp16(source) | {"head.weight": torch.randn(1000, 192).half()}
    path = tmp_path / "deit_tiny_patch16_224-a1311bcf.pth"
    torch.save({"model": state}, path)
    extractor = load_backbone("deit_tiny_patch16_224", path)
    assert extractor.describe()["format"] == "deit"
    x = torch.randn(1, 3, 224, 224)
    torch.testing.assert_close(extractor(x), _timm_reference(source, x), atol=2e-5, rtol=1e-5)


def _videowalk_resnet18(state, padding_mode="zeros"):
    """CRW's encoder built from torchvision as videowalk's ResNet.modify does it."""
    net = torchvision.models.resnet18()
    net.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)
    for module in net.layer3.modules():
        if isinstance(module, torch.nn.Conv2d):
            module.stride = (1, 1)
    for module in net.modules():
        if isinstance(module, torch.nn.Conv2d) and sum(module.padding) > 0:
            module.padding_mode = padding_mode
    net.eval()

    def forward(x):
        with torch.no_grad():
            x = net.maxpool(net.relu(net.bn1(net.conv1(x))))
            x = net.layer3(net.layer2(net.layer1(x)))
        return F.normalize(x, dim=1)

    return forward


def _randomised_resnet18():
    torch.manual_seed(3)
    model = create_backbone("resnet18").eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.normal_(0, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    return model


@pytest.mark.parametrize("fmt, padding", [("crw", "reflect"), ("plain", "zeros")])
def test_resnet18_res4_at_stride_8(tmp_path, writers, fmt, padding):
    state = {k: v.detach().clone() for k, v in _randomised_resnet18().state_dict().items()}
    path = tmp_path / f"{fmt}.pth"
    torch.save(writers[fmt](state), path)
    extractor = load_backbone("resnet18", path)
    info = extractor.describe()
    assert info["format"] == fmt and info["padding_mode"] == padding
    assert extractor.stride == 8 and extractor.embed_dim == 256
    assert not any(k.startswith("layer4") for k in dict(extractor.named_parameters()))
    x = torch.randn(2, 3, 96, 128)
    out = extractor(x)
    assert out.shape == (2, 256, 12, 16)
    expected = _videowalk_resnet18(state, padding)(x)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


def test_resnet_keeps_partial_border_cells_like_videowalk(tmp_path, writers):
    """CRW evaluates at the native 480x854: a 60x107 grid (ceil), the last column partial."""
    state = {k: v.detach().clone() for k, v in _randomised_resnet18().state_dict().items()}
    path = tmp_path / "crw.pth"
    torch.save(writers["crw"](state), path)
    extractor = load_backbone("resnet18", path)
    x = torch.randn(1, 3, 40, 854 // 4)  # 40x213: 5 x 27 cells, the last one partial
    out = extractor(x)
    assert out.shape[-2:] == (5, 27) and extractor.pads_input
    torch.testing.assert_close(out, _videowalk_resnet18(state, "reflect")(x), atol=1e-5,
                               rtol=1e-5)


def test_resnet_checkpoint_without_arch_is_recognised(tmp_path, writers):
    state = _randomised_resnet18().state_dict()
    path = tmp_path / "pretrained.pth"
    torch.save(writers["crw"](state), path)
    assert load_backbone(None, path).describe()["arch"] == "r18"


@pytest.fixture
def fake_lightning(monkeypatch):
    """Lightning's AttributeDict under its real module name, without Lightning installed."""
    names = ["lightning", "lightning.fabric", "lightning.fabric.utilities",
             "lightning.fabric.utilities.data"]
    modules = {name: types.ModuleType(name) for name in names}
    attribute_dict = type("AttributeDict", (dict,), {"__module__": names[-1]})
    modules[names[-1]].AttributeDict = attribute_dict
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    return attribute_dict


def test_lightning_ckpt_loads_under_weights_only(tmp_path, fake_lightning, monkeypatch,
                                                  make_source, encoder_state, timm_features):
    source = make_source()
    hparams = fake_lightning(lr=1e-3, arch="vit_test_patch16", crop=(0.2, 1.0))
    state = {f"model.backbone.{k}": v for k, v in encoder_state(source).items()}
    state |= {"model.head.weight": torch.randn(8, 64), "model.teacher_head.bias": torch.ones(8)}
    path = tmp_path / "epoch=99-step=1000.ckpt"
    torch.save({"epoch": 99, "global_step": 1000, "pytorch-lightning_version": "2.2.0",
                "state_dict": state, "hyper_parameters": hparams, "hparams_name": "kwargs",
                "optimizer_states": [], "lr_schedulers": []}, path)
    for name in list(sys.modules):  # the reader must not need Lightning
        if name.startswith("lightning"):
            monkeypatch.delitem(sys.modules, name)
    extractor = load_backbone("vit_test_patch16", path)
    info = extractor.describe()
    assert info["format"] == "lightning" and info["meta"]["encoder_prefix"] == "model.backbone."
    assert "model.head.weight" in info["dropped_keys"]
    x = torch.randn(2, 3, 224, 224)
    torch.testing.assert_close(extractor(x), timm_features(source, x), atol=1e-5, rtol=1e-5)


def test_code_carrying_pickle_is_still_refused(tmp_path, make_source, encoder_state):
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": encoder_state(make_source()), "hook": print}, path)
    with pytest.raises(Exception, match="refusing to unpickle.*print"):
        load_backbone("vit_test_patch16", path)
