"""A tiny corpus for the rules tests (tests/test_rules_*.py): a handful of papers whose dates,
categories, code links, featuring and wording are chosen so that each filter, sort and ranking
rule gives a different answer when broken. Embedding runs ~25 abstracts/s: keep it small."""

from __future__ import annotations

import datetime as dt
from typing import Any

from dailypapers.ingest import hf_daily
from dailypapers.ingest.records import SOURCE_OAI, Author, PaperRecord, ParsedItem
from tests.helpers import hf_item, store

# arXiv-only papers (never featured), one per year, all about zebrafish.
Y2019, Y2020, Y2021, Y2022 = "1906.00001", "2006.00002", "2106.00003", "2206.00004"
# Featured on Hugging Face's daily list (2026-03-02), with upvotes.
FEAT_FISH, FEAT_CARS = "2603.00005", "2603.00006"
# Mentions "automobile" once, in an abstract about something else entirely.
KEYWORD_ONLY = "2107.00007"

ARXIV = [
    (Y2019, "2019-06-01", ["cs.CL"], None, "Zebrafish larvae tracking with recurrent networks",
     "We track zebrafish larvae in video with a recurrent network and report swimming bouts."),
    (Y2020, "2020-06-01", ["cs.LG"], None, "Zebrafish heart regeneration imaging",
     "Light-sheet imaging of zebrafish heart regeneration after injury, quantified over weeks."),
    (Y2021, "2021-06-01", ["q-bio.QM"], "https://github.com/example/fishsocial",
     "Zebrafish social behaviour under changing light",
     "Groups of zebrafish change their shoaling behaviour when the light changes."),
    (Y2022, "2022-06-01", ["cs.CV"], None, "Segmenting zebrafish embryos in microscopy",
     "A segmentation model for zebrafish embryos in bright-field microscopy images."),
    (KEYWORD_ONLY, "2021-07-01", ["q-bio.BM"], None, "Protein folding energy landscapes",
     "Folding funnels of small proteins, whose energy is released like an automobile "
     "engine's, measured by single-molecule force spectroscopy."),
]
FEATURED = [
    (FEAT_FISH, 7, "Zebrafish sleep genetics",
     "Genetic screens in zebrafish reveal genes that regulate sleep."),
    (FEAT_CARS, 2, "Traffic flow of cars and trucks on highways",
     "We model vehicle traffic: cars, trucks and their drivers on congested motorways."),
]
FEATURE_DAY = dt.date(2026, 3, 2)
ALL_IDS = {p[0] for p in ARXIV} | {p[0] for p in FEATURED}
FISH = {Y2019, Y2020, Y2021, Y2022, FEAT_FISH}


def load_corpus(engine: Any) -> None:
    items = [ParsedItem(PaperRecord(
        arxiv_id=pid, source=SOURCE_OAI, title=title, abstract=abstract,
        authors=[Author("Ada Lovelace")], categories=cats, primary_category=cats[0],
        submitted_at=day, updated_at=day, github_repo=repo))
        for pid, day, cats, repo, title, abstract in ARXIV]
    store(engine, items)
    hf = [hf_item(pid, title=title, upvotes=votes, day=FEATURE_DAY.isoformat(), summary=abstract)
          for pid, votes, title, abstract in FEATURED]
    store(engine, list(hf_daily.parse_items(hf, day=FEATURE_DAY)))
