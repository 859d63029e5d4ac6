"""The fishbone diagram: six bones, the causes on them, the open ones marked."""

from __future__ import annotations

import io

from matplotlib.image import imread

from drillhall.reports.fishbone import CATEGORIES, EMPTY_BONE, fishbone_figure
from drillhall.reports.render import png_bytes


def texts(figure) -> list[str]:
    return [text.get_text() for text in figure.axes[0].texts]


def test_every_category_is_a_bone_and_open_ones_say_so():
    figure = fishbone_figure(
        "Users saw errors: 1542 of 1903 requests failed",
        {
            "platform": ["the fault: the primary store is killed"],
            "process": ["runbook step 2 failed its check"],
        },
    )
    drawn = texts(figure)

    assert [name.capitalize() for name in CATEGORIES] == [
        text for text in drawn if text.capitalize() == text and text.isalpha()
    ]
    assert any("the primary store" in text for text in drawn)
    assert any("step 2 failed its check" in text for text in drawn)
    assert drawn.count(EMPTY_BONE) == 4  # people, tooling, dependencies, monitoring
    assert any("1542 of 1903" in text.replace("\n", " ") for text in drawn)


def test_a_crowded_bone_shows_four_causes_and_counts_the_rest():
    causes = [f"cause {number}" for number in range(1, 8)]
    drawn = texts(fishbone_figure("effect", {"monitoring": causes}))

    assert [text for text in drawn if text.startswith("cause")] == causes[:4]
    assert "… and 3 more" in drawn


def test_the_diagram_is_a_png_image():
    figure = fishbone_figure("effect", {"people": ["a page came at night"]})
    data = png_bytes(figure)

    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    image = imread(io.BytesIO(data), format="png")
    height, width = image.shape[:2]
    assert width > 1000 and 0.3 < height / width < 0.7
    assert image.std() > 0.01  # not a blank canvas


def test_categories_outside_the_six_are_named_not_drawn(caplog):
    causes = {"weather": ["a storm"], "budget": ["no spare"], "people": ["paged"]}
    with caplog.at_level("WARNING", logger="drillhall.reports.fishbone"):
        drawn = texts(fishbone_figure("effect", causes))

    assert "paged" in drawn and "a storm" not in drawn and "no spare" not in drawn
    assert caplog.messages == ["fishbone: categories not drawn: budget, weather"]
