"""A tiny sentence-transformers model built at test time (WordPiece vocabulary of the words below, a
2-layer BERT with random weights, mean pooling): real loading, encoding and model2vec distillation
in well under a second, with nothing downloaded."""

from __future__ import annotations

from pathlib import Path

WORDS = ("how do i reset my password can you what is the capital of france spain write a poem about autumn "
         "leaves order where arrived please help me with python code fast learn times prime number city "
         "tell explain show list give tips sleep better good morning translate into french").split()


def build_tiny_sentence_transformer(path: Path) -> str:
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    from tokenizers import Tokenizer, models as tok_models, normalizers, pre_tokenizers
    from transformers import BertConfig, BertModel, BertTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    letters = sorted({c for w in WORDS for c in w})
    vocab = {t: i for i, t in enumerate(dict.fromkeys(specials + sorted(set(WORDS)) + letters
                                                      + [f"##{c}" for c in letters] + list("0123456789?.,!")))}
    tok = Tokenizer(tok_models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    hf_dir = path / "hf"
    fast = BertTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                             sep_token="[SEP]", mask_token="[MASK]")
    fast.save_pretrained(hf_dir)
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=128)
    BertModel(cfg).save_pretrained(hf_dir)
    word = Transformer(str(hf_dir), max_seq_length=128)
    st = SentenceTransformer(modules=[word, Pooling(word.get_embedding_dimension(), "mean")], device="cpu")
    out = path / "st"
    st.save(str(out))
    return str(out)
