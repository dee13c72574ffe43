"""Explanation: Grad-CAM heatmaps for any model the search produces, overlays to read them, and how far to trust them.

:func:`gradcam` weights the last convolutional feature map by the gradient of the class score (Selvaraju et al.,
ICCV 2017) or, with ``method="gradcam++"``, by positive second-order weights (Chattopadhyay et al., WACV 2018). It
finds that feature map itself, also inside a nested backbone such as the ResNet-50 of space ``resnet50``. An
ensemble's heatmap (:mod:`nas.ensemble`) is the mean of its members' maps, each from the member's own feature map.

Faithfulness is measured, not assumed: :func:`deletion_auc` and :func:`insertion_auc` (Petsiuk et al., BMVC 2018)
remove or reveal pixels in the heatmap's order and follow the class probability; :func:`energy_in_mask` and
:func:`pointing_game` compare the heatmap with a lesion mask. :func:`evaluate_faithfulness` reports each against
random heatmaps, the floor a useful explanation must clear.

The package: :mod:`nas.explain.cam` (finding the feature map, tracing the gradients, Grad-CAM),
:mod:`nas.explain.panels` (overlays, captions, PNG panels) and :mod:`nas.explain.faithfulness` (the figures above);
the ``nas explain`` command is :mod:`nas.cli.explain`. Importing it imports neither TensorFlow nor Keras.

Example:
    >>> import nas.explain                                                    # doctest: +SKIP
    >>> model = nas.load_run("runs/demo").model()
    >>> heatmaps = nas.explain.gradcam(model, images)                 # (N, H, W) in [0, 1], predicted class
    >>> nas.explain.save_panel("mole.png", images[0], heatmaps[0], "Melanoma (mel): 87%, malignant")
    >>> nas.explain.evaluate_faithfulness(model, x_test, masks_test)["deletion_auc"]
    {'heatmap': 0.12, 'random': 0.31}
"""
from __future__ import annotations

from .cam import _CACHE, METHODS, feature_layer, feature_layer_names, gradcam  # noqa: F401 - _CACHE: inspected by tests
from .faithfulness import (  # noqa: F401 - _baseline_images and _curves: used by tests
    BASELINES,
    _baseline_images,
    _curves,
    deletion_auc,
    energy_in_mask,
    evaluate_faithfulness,
    insertion_auc,
    pointing_game,
    random_heatmaps,
)
from .panels import caption, overlay, panel_png, save_panel

__all__ = ["METHODS", "BASELINES", "gradcam", "feature_layer", "feature_layer_names", "overlay", "panel_png",
           "save_panel", "caption", "random_heatmaps", "deletion_auc", "insertion_auc", "energy_in_mask",
           "pointing_game", "evaluate_faithfulness"]
