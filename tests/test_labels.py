import pytest

from emotionkit.labels import ID2LABEL, LABELS, parse_label


def test_order_is_dair_ai():
    assert LABELS == ("sadness", "joy", "love", "anger", "fear", "surprise")
    assert ID2LABEL[5] == "surprise"


@pytest.mark.parametrize(("value", "expected"), [("joy", 1), ("JOY ", 1), (2, 2), ("4", 4)])
def test_parse_label(value, expected):
    assert parse_label(value) == expected


@pytest.mark.parametrize("value", ["happy", 6, -1, "7", True, None, 1.0])
def test_parse_label_rejects(value):
    with pytest.raises(ValueError, match="expected a label name"):
        parse_label(value)
