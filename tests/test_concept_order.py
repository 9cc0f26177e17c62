"""No notebook uses what a later notebook teaches.

Each concept below has a home: the notebook that teaches it. The code cells of every earlier
notebook must not use it. Some concepts may appear earlier as a black box (a network that
contains the layer, built by a helper), but only where the notebook defines the concept in one
line and points to its home.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

NOTEBOOKS = sorted(Path(__file__).resolve().parents[1].joinpath("notebooks").glob("0*_*.py"))


@dataclass(frozen=True)
class Concept:
    name: str
    home: str  # number prefix of the notebook that teaches it
    uses: str  # regex on code cells: computing or inspecting the concept itself
    taught: str  # regex on the home's markdown: where it is taught
    black_box: str | None = None  # regex on code cells: the concept inside a helper-built network


CONCEPTS = [
    Concept("batch normalisation", "06",
            uses=r"BatchNormalization\(|\bbatchnorm_(?:forward|backward)\b|moving_(?:mean|variance)\b",
            taught=r"^# ## \d+\. The batch-normalisation algorithm",
            black_box=r"\bbatchnorm\s*=\s*[\"']"),
    Concept("backward pass derived on a computational graph", "06",
            uses=r"_backward_naive\b",
            taught=r"^# ### The backward pass, derived on the computational graph"),
    Concept("gradient check (finite differences)", "06",
            uses=r"\bcheck_gradients\(|\bnumerical_gradient\(",
            taught=r"\*\*gradient check\*\*"),
    Concept("automatic differentiation (tf.GradientTape)", "06",
            uses=r"\bGradientTape\b",
            taught=r"automatic differentiation \(`tf\.GradientTape`"),
    Concept("segmentation scores (pixel accuracy, IoU)", "03",
            uses=r"\b(?:segmentation_scores|score_segmenter|fit_segmenter)\(",
            taught=r"\*\*How a segmentation is scored\.\*\*"),
    Concept("backprop through convolution", "07",
            uses=r"\b(?:conv2d|dilated_conv2d|depthwise_conv2d|separable_conv2d|conv2d_transpose)_backward\w*",
            taught=r"^# # 07 · Backpropagation through convolution"),
]


def _cells(path: Path) -> tuple[list[str], str]:
    """The code cells (comments dropped) and the markdown of a notebook's text twin."""
    code, markdown = [], []
    for cell in re.split(r"^# %%", path.read_text(), flags=re.M)[1:]:
        kind, _, body = cell.partition("\n")
        if "[markdown]" in kind:
            markdown.append(body)
        else:
            code.append("\n".join(line.split("#")[0] if not line.lstrip().startswith("#") else ""
                                  for line in body.splitlines()))
    return code, "\n".join(markdown)


def _number(path: Path) -> str:
    return path.name[:2]


def _hits(pattern: str, code: list[str]) -> list[str]:
    return [line.strip() for cell in code for line in cell.splitlines() if re.search(pattern, line)]


def _notebook(number: str) -> Path:
    return next(p for p in NOTEBOOKS if _number(p) == number)


@pytest.mark.parametrize("concept", CONCEPTS, ids=[c.name for c in CONCEPTS])
def test_no_notebook_uses_a_concept_before_the_notebook_that_teaches_it(concept):
    early = {p.name: _hits(concept.uses, _cells(p)[0]) for p in NOTEBOOKS if _number(p) < concept.home}
    offenders = {name: lines[:3] for name, lines in early.items() if lines}
    assert not offenders, f"{concept.name} is taught in notebook {concept.home} but used before: {offenders}"


@pytest.mark.parametrize("concept", CONCEPTS, ids=[c.name for c in CONCEPTS])
def test_the_home_notebook_teaches_and_uses_the_concept(concept):
    code, markdown = _cells(_notebook(concept.home))
    assert re.search(concept.taught, markdown, flags=re.M), f"notebook {concept.home} does not teach {concept.name}"
    assert _hits(concept.uses, code), f"notebook {concept.home} teaches {concept.name} but never uses it in code"


@pytest.mark.parametrize("concept", [c for c in CONCEPTS if c.black_box],
                         ids=[c.name for c in CONCEPTS if c.black_box])
def test_a_black_box_before_the_home_is_defined_in_one_line_and_points_to_it(concept):
    for path in NOTEBOOKS:
        if _number(path) >= concept.home:
            continue
        code, markdown = _cells(path)
        if _hits(concept.black_box, code):
            pointer = re.search(rf"\*\*{concept.name}\*\*[^\n]*in one line[^\n]*notebook {concept.home}",
                                markdown, flags=re.I)
            assert pointer, (f"{path.name} uses {concept.name} inside a network before notebook {concept.home} "
                             "teaches it, without a one-line definition that points there")


def test_the_patterns_find_what_they_are_meant_to_find():
    # each pattern on a line it must match and on one it must not
    examples = {
        "batch normalisation": ("bn = layers.BatchNormalization()", 'mobile_table["type"] == "BatchNormalization"'),
        "backward pass derived on a computational graph": ("dx = batchnorm_backward_naive(d, x, g)",
                                                           "ops.batchnorm_backward(d, cache)"),
        "gradient check (finite differences)": ("ops.check_gradients(f, b, [x])", "checks = {}"),
        "automatic differentiation (tf.GradientTape)": ("with tf.GradientTape() as tape:", "tape = None"),
        "segmentation scores (pixel accuracy, IoU)": ("s = segmentation.segmentation_scores(y, p, 4)",
                                                      "segmentation.synthetic_shapes(16, seed=1)"),
        "backprop through convolution": ("ops.dilated_conv2d_backward_broken(d, c)", "ops.conv2d_forward(x, w, b)"),
    }
    for concept in CONCEPTS:
        hit, miss = examples[concept.name]
        assert re.search(concept.uses, hit) and not re.search(concept.uses, miss), concept.name
    assert re.search(CONCEPTS[0].black_box, 'small_cnn(shape, 10, batchnorm="before_relu")')
    assert not re.search(CONCEPTS[0].black_box, "small_cnn(shape, 10, batchnorm=placement)")
