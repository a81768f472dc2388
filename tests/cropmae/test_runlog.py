from vprop.cropmae.runlog import duration, items_text, sig3


def test_sig3_keeps_three_significant_digits_without_exponent():
    assert sig3(0.0) == "0"
    assert sig3(0.45678) == "0.457"
    assert sig3(3.14159) == "3.14"
    assert sig3(12.0) == "12"
    assert sig3(1234.5) == "1230"
    assert sig3(0.000123456) == "0.000123"


def test_duration_and_item_words():
    assert duration(0) == "0:00:00" and duration(3725.4) == "1:02:05"
    assert items_text(1, "images") == "1 image" and items_text(200, "images") == "200 images"
    assert items_text(3, "frames") == "3 frame folders" and items_text(1, "videos") == "1 video"
