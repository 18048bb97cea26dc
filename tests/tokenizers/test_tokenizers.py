"""Tokenizers: bytes built in, SentencePiece from a model file, the instruction template."""

import pytest
from hypothesis import given, strategies as st

from hawkzoo.tokenizers import ByteTokenizer, SentencePieceTokenizer, instruction_prompt

sentencepiece = pytest.importorskip("sentencepiece")


@given(text=st.text())
def test_bytes_round_trip_any_text_after_a_bos(text):
    tokenizer = ByteTokenizer()
    ids = tokenizer.encode(text)
    assert ids[0] == tokenizer.bos_id and all(3 <= i < 256 for i in ids[1:])
    assert tokenizer.decode([*ids, tokenizer.eos_id, tokenizer.pad_id]) == text
    assert tokenizer.encode(text, add_bos=False) == ids[1:]


def test_bytes_number_specials_as_recurrentgemma_does():
    tokenizer = ByteTokenizer()
    assert (tokenizer.pad_id, tokenizer.eos_id, tokenizer.bos_id) == (0, 1, 2)
    assert tokenizer.encode("A", add_bos=False) == [ord("A") + 3]
    assert tokenizer.stop_ids == (1,)


def test_sentencepiece_encodes_with_a_bos_and_decodes_back(sentencepiece_model):
    tokenizer = SentencePieceTokenizer(sentencepiece_model)
    assert (tokenizer.pad_id, tokenizer.eos_id, tokenizer.bos_id) == (0, 1, 2)
    assert tokenizer.vocab_size == 64
    ids = tokenizer.encode("the lazy fox")
    assert ids[0] == 2 and tokenizer.decode(ids) == "the lazy fox"
    assert tokenizer.encode("the lazy fox", add_bos=False) == ids[1:]
    assert tokenizer.decode([*ids, 64, 10**6]) == "the lazy fox"  # ids it lacks: nothing


def test_instruction_prompts_use_the_turn_template_and_stop_at_the_end_of_turn(
    sentencepiece_model,
):
    tokenizer = SentencePieceTokenizer(sentencepiece_model)
    prompt = instruction_prompt("hi")
    assert prompt == "<start_of_turn>user\nhi<end_of_turn>\n<start_of_turn>model\n"
    eos, end_of_turn = tokenizer.stop_ids
    assert eos == 1 and tokenizer.encode(prompt).count(end_of_turn) == 1


def test_a_missing_or_broken_model_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no SentencePiece model at"):
        SentencePieceTokenizer(tmp_path / "missing.model")
    broken = tmp_path / "broken.model"
    broken.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="is not a SentencePiece model"):
        SentencePieceTokenizer(broken)


@given(text=st.text(alphabet="abcdefghijklmnopqrstuvwxyz .,0123456789é\n", max_size=60))
def test_token_bytes_spell_the_text_each_tokenizer_reads(sentencepiece_model, text):
    for tokenizer in (ByteTokenizer(), SentencePieceTokenizer(sentencepiece_model)):
        sizes = tokenizer.token_bytes()
        assert sizes.shape == (tokenizer.vocab_size,)
        assert sizes[[tokenizer.pad_id, tokenizer.bos_id, tokenizer.eos_id]].tolist() == [0, 0, 0]
        spelled = tokenizer.decode(tokenizer.encode(text))  # as the tokenizer normalises it
        prefix = isinstance(tokenizer, SentencePieceTokenizer) and bool(spelled)  # its "▁"
        assert sizes[tokenizer.encode(text)].sum() == len(spelled.encode()) + prefix
