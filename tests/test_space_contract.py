"""Every built-in search space passes nas.testing.check_space at a tiny input size."""
from __future__ import annotations

import pytest

from nas.space import BUILTIN_SPACES, builtin_space
from nas.testing import check_space

# name -> (options, input shape, samples): ResNet50 is heavy to build, so it gets fewer samples
SETTINGS = {"cnn": ({}, (16, 16, 3), 10), "resnet50": ({"weights": None}, (32, 32, 3), 2),
            "modern": ({}, (16, 16, 3), 10)}


def test_every_builtin_space_has_settings():
    assert sorted(SETTINGS) == sorted(BUILTIN_SPACES)


@pytest.mark.parametrize("name", sorted(BUILTIN_SPACES))
def test_builtin_space_contract(name):
    options, input_shape, samples = SETTINGS[name]
    report = check_space(builtin_space(name, **options), input_shape, num_classes=7, samples=samples)
    assert report["genomes"] >= 1 and len(report["params"]) == report["genomes"]
