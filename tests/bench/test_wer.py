"""Word error rate arithmetic: the units counted and the distance between word sequences."""

from __future__ import annotations

from voicebot.bench.wer import edit_distance, words


def test_words_ignore_case_and_punctuation_and_read_number_words_as_digits():
    assert words("My case number is zero one-two, THREE.") == ["my", "case", "number", "is", "0", "1", "2", "3"]
    assert words("I'm all set!") == ["i'm", "all", "set"]


def test_edit_distance_counts_substitutions_insertions_and_deletions():
    assert edit_distance(["a", "b", "c"], ["a", "b", "c"]) == 0
    assert edit_distance(["a", "b", "c"], ["a", "x", "c"]) == 1
    assert edit_distance(["a", "b", "c"], ["a", "c"]) == 1
    assert edit_distance(["a", "b"], ["a", "b", "b", "b"]) == 2
    assert edit_distance([], ["a"]) == 1
