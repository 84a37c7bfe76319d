"""Pure-Python reference behaviour the C module is checked against."""

import re

SEPARATORS = " \t\n\r\f\v.,;:!?\"'()[]{}<>"
_SPLIT = re.compile("[" + re.escape(SEPARATORS) + "]+")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ref_tokenize(text, scratch_size):
    """Words of text, ASCII-lowercased, each cut to scratch_size - 1 UTF-8 bytes."""
    words = []
    for word in _SPLIT.split(text):
        if word:
            cut = word.encode()[: scratch_size - 1]
            words.append(cut.decode(errors="ignore").translate(_ASCII_LOWER))
    return words
