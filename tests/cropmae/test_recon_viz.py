import torch

from vprop.checkpoints.registry import create_vit
from vprop.cropmae.masking import patchify
from vprop.cropmae.model import SiameseMAE
from vprop.cropmae.recon_viz import LABEL_WIDTH, panel_image, reconstruct


def test_panel_rows_show_the_visible_patches_unchanged():
    torch.manual_seed(0)
    model = SiameseMAE(create_vit("vit_test_patch16", img_size=64), mask_ratio=0.75,
                       decoder_dim=32, decoder_ffn_dim=64, decoder_depth=1)
    views = torch.randint(0, 256, (3, 2, 3, 64, 64), dtype=torch.uint8)
    noise = torch.rand(3, 16)
    rows = reconstruct(model, views, noise)
    assert (rows["view1"].int() - views[:, 0].int()).abs().max() <= 1  # de-normalised input
    visible = torch.argsort(noise, dim=1)[:, :4]  # int(16 * 0.25) = 4 visible patches
    view2 = patchify(views[:, 1].float(), 16)
    recon = patchify(rows["recon"].float(), 16)
    masked = patchify(rows["masked"].float(), 16)
    for i in range(3):
        for j in range(16):
            if j in visible[i]:
                assert (recon[i, j] - view2[i, j]).abs().max() <= 1
                assert (masked[i, j] - view2[i, j]).abs().max() <= 1
            else:  # masked patches are drawn in the ImageNet mean colour
                assert (masked[i, j].view(-1, 3) - torch.tensor([124.0, 116.0, 104.0])
                        ).abs().max() <= 1
    bare = panel_image(rows, labels=False)
    assert bare.shape == (4 * 64 + 3 * 4, 3 * 64 + 2 * 4, 3)
    assert (bare[64:68] == 255).all()  # white gap between rows
    panel = panel_image(rows)
    assert panel.shape == (4 * 64 + 3 * 4, LABEL_WIDTH + 3 * 64 + 2 * 4, 3)
    assert (panel[:, LABEL_WIDTH:] == bare).all()  # tiles unchanged, shifted right
    for r in range(4):  # each row band of the label column holds dark text pixels
        band = panel[r * 68 : r * 68 + 64, :LABEL_WIDTH]
        assert (band < 128).any()
