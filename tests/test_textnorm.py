import pytest

from emotionkit.textnorm import check_steps, normalize


def test_emoji_become_names():
    assert normalize("love this 😍", ("emoji",)) == "love this (smiling face with heart-eyes)"
    assert normalize("ok 😡😡", ("emoji",)) == "ok (enraged face) (enraged face)"
    assert normalize("no emoji here", ("emoji",)) == "no emoji here"
    # names with capitals lose their underscores too; the text's own words are left alone
    assert normalize("ok 👌 🇺🇸 #️⃣", ("emoji",)) == "ok (OK hand) (United States) (keycap #)"
    assert normalize("I hate (snake_case) names 😡", ("emoji",)) == "I hate (snake_case) names (enraged face)"


def test_other_steps():
    assert normalize("Sooooo GOOD @bob http://x.y/z", ("repeats", "mentions", "urls", "lowercase")) == "soo good @user http"


def test_unknown_step():
    with pytest.raises(ValueError, match=r"unknown normalization step\(s\) \['stem'\]"):
        check_steps(("emoji", "stem"))
