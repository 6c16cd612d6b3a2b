"""The bundled real-data suites on the shared public data: contents, ids, and a run each."""

from __future__ import annotations

import csv
import math
import re
import tomllib
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.data import load_examples, load_suite_data
from bench.data.masc import masc_categories, strip_tags
from bench.data.reviews import PRODUCTS, parse_product_reviews, review_label
from bench.errors import DataError, SuiteError
from bench.runner import RunConfig, run
from bench.scoring.tables import metrics_table
from bench.suites import load_suite, parse_suite


def test_uci_sentiment_matches_an_independent_parse(shared_data: Path) -> None:
    data = load_suite_data(load_suite("uci-sentiment"), data_dir=shared_data)
    for domain, name in (("amazon", "amazon_cells_labelled.txt"), ("imdb", "imdb_labelled.txt"),
                         ("yelp", "yelp_labelled.txt")):
        frame = pd.read_csv(shared_data / "uci-sentiment" / name, sep="\t", header=None, quoting=csv.QUOTE_NONE,
                            names=["text", "label"], encoding="utf-8")
        examples = data.domains[domain].train + data.domains[domain].test
        assert len(examples) == len(frame) == 1000
        by_line = {int(ex.id.rsplit(":", 1)[1]): ex for ex in examples}
        for line, (text, label) in enumerate(zip(frame.text, frame.label, strict=True), start=1):
            assert by_line[line].text == text.strip()
            assert by_line[line].targets["sentiment"] == label
        assert sum(ex.targets["sentiment"] for ex in examples) == 500
    imdb = data.domains["imdb"].train + data.domains["imdb"].test
    assert not any(ex.text != ex.text.strip() for ex in imdb)  # trailing spaces before the tab are gone


def test_ids_are_stable_across_loads(shared_data: Path) -> None:
    suite = load_suite("uci-sentiment")
    first = [(ex.id, ex.text) for ex in load_examples(suite, data_dir=shared_data)]
    second = [(ex.id, ex.text) for ex in load_examples(suite, data_dir=shared_data)]
    assert first == second and len({i for i, _ in first}) == len(first)


@pytest.mark.parametrize(("head", "label"), [
    ("picture quality[+2],size[+1]", 1), ("battery[-3], screen[+1]", 0), ("zoom[+1],flash[-1]", None),
    ("", None), ("design[+]", 1), ("price[2]", None), ("lens[-3[p]", 0), ("remote[+1}, control[+1]", 1),
    ("feature[u]", None),
])
def test_review_label_is_the_sign_of_the_summed_scores(head: str, label: int | None) -> None:
    assert review_label(head) == label


def test_product_review_lines() -> None:
    text = "[t]great camera\npicture[+2]##the pictures are great .\n##no tags here .\nzoom[+1],flash[-1]##mixed .\n"
    assert parse_product_reviews(text) == [(2, "the pictures are great .", 1)]


def _uncapped(name: str) -> dict:
    suite = load_suite(name)
    document = tomllib.loads(suite.path.read_text(encoding="utf-8"))
    del document["source"]["max_examples"]
    return document


def test_reviews_movies_products(shared_data: Path) -> None:
    data = load_suite_data(parse_suite(_uncapped("reviews-movies-products")), data_dir=shared_data)
    movies = data.domains["movies"].train + data.domains["movies"].test
    assert len(movies) == 10662 and sum(ex.targets["sentiment"] for ex in movies) == 5331
    products = data.domains["products"].train + data.domains["products"].test
    expected = 0
    for corpus in ("product_reviews_1", "product_reviews_2"):
        with zipfile.ZipFile(shared_data / f"nltk_data/corpora/{corpus}.zip") as archive:
            for name in archive.namelist():
                if name.endswith(".txt") and "README" not in name:
                    expected += len(parse_product_reviews(archive.read(name).decode("utf-8")))
    assert len(products) == expected > 3000
    assert {ex.id.split("/")[0] for ex in products} == {"product_reviews_1", "product_reviews_2"}


def test_max_examples_keeps_a_stable_subset(shared_data: Path) -> None:
    capped = load_suite_data(load_suite("reviews-movies-products"), data_dir=shared_data)
    movies = capped.domains["movies"].train + capped.domains["movies"].test
    assert len(movies) == 2000
    assert abs(np.mean([ex.targets["sentiment"] for ex in movies]) - 0.5) < 0.05
    full = {ex.id: ex for ex in load_examples(parse_suite(_uncapped("reviews-movies-products")), data_dir=shared_data)}
    assert all(full[ex.id].text == ex.text for ex in movies)
    bad = _uncapped("reviews-movies-products")
    bad["source"]["max_examples"] = {"films": 10}
    with pytest.raises(SuiteError, match=r"'max_examples' names 'films', not a domain of the suite"):
        load_examples(parse_suite(bad), data_dir=shared_data)


def test_products_split_into_sub_domains(shared_data: Path) -> None:
    data = load_suite_data(load_suite("reviews-by-product"), data_dir=shared_data)
    assert set(data.domains) == {"movies", *PRODUCTS}
    pooled = load_suite_data(parse_suite(_uncapped("reviews-movies-products")), data_dir=shared_data)
    n_split = sum(len(d.train) + len(d.test) for name, d in data.domains.items() if name != "movies")
    assert n_split == len(pooled.domains["products"].train) + len(pooled.domains["products"].test)


def test_masc_documents_are_fixed_length_slices_of_the_source(shared_data: Path) -> None:
    suite = load_suite("masc-genres")
    data = load_suite_data(suite, data_dir=shared_data)
    archive = zipfile.ZipFile(shared_data / "nltk_data/corpora/masc_tagged.zip")
    genres = masc_categories(shared_data / "nltk_data/corpora/masc_tagged.zip")
    for domain in ("newspaper", "twitter", "telephone"):
        test = data.domains[domain].test
        assert 0 < len(test) <= suite.source["max_test_docs"]
        assert {ex.split for ex in test} == {"test"} and {ex.split for ex in data.domains[domain].train} == {"train"}
        for ex in test + data.domains[domain].train[:3]:
            words = ex.text.split()
            assert len(words) == suite.source["doc_tokens"]
            member, offset = ex.id.rsplit("@", 1)
            assert member in genres[domain]
            stripped = (re.sub(r"_[^_]+$", "", t) for t in archive.read(member).decode("utf-8").split())
            source = [w for w in stripped if w]  # tokens like "_UH" carry no word
            tail = source[int(offset) : int(offset) + len(words)]
            assert words[: len(tail)] == tail  # a document may run on into the next file
    assert strip_tags("It_PRP 's_VBZ e_mail_NN _UH M.") == ["It", "'s", "e_mail", "M."]


def test_masc_extra_domains_decode_per_their_encoding(shared_data: Path) -> None:
    data = load_suite_data(load_suite("masc-genres"), data_dir=shared_data)
    science = " ".join(ex.text for ex in data.domains["abc-science"].train)
    assert "°C" in science  # latin-1 byte 0xB0
    assert all("\r" not in ex.text for ex in data.domains["abc-science"].test)


def _masc_suite(**source: object) -> dict:
    return {"suite": {"name": "m", "in_domain": ["newspaper"]}, "source": {"type": "masc-genres", **source},
            "tasks": [{"name": "text", "kind": "language_modeling"}], "domains": ["newspaper", "telephone"]}


def test_masc_domain_too_small_for_a_document(shared_data: Path) -> None:
    suite = parse_suite(_masc_suite(doc_tokens=5000))
    with pytest.raises(DataError, match=r"domain 'telephone' has \d+ tokens, too few for one train document of 5000"):
        load_examples(suite, data_dir=shared_data)
    with pytest.raises(SuiteError, match=r"'source\.doc_tokens' must be an integer in \[1, 1000000\], got an integer 0"):
        load_examples(parse_suite(_masc_suite(doc_tokens=0)), data_dir=shared_data)
    bad = _masc_suite() | {"domains": ["newspaper", "poetry"]}
    with pytest.raises(SuiteError, match=r"Source 'masc-genres' has no domain\(s\) poetry\. Domains: .*blog"):
        load_examples(parse_suite(bad), data_dir=shared_data)


def _metrics(suite: str, models: tuple[str, ...], shared_data: Path, limit: int) -> pd.DataFrame:
    result = run(RunConfig(suites=(suite,), models=models, data_dir=str(shared_data), limit=limit))
    return metrics_table(result.records, result.task_infos).set_index(["model", "domain", "metric"])["value"]


def test_uci_and_reviews_run_per_domain(shared_data: Path) -> None:
    for suite, domains in (("uci-sentiment", ("yelp", "amazon", "imdb")), ("reviews-movies-products",
                                                                          ("movies", "products"))):
        values = _metrics(suite, ("majority", "uniform"), shared_data, limit=40)
        for domain in domains:
            assert 0 <= values[("majority", domain, "accuracy")] <= 1
            assert values[("uniform", domain, "cross_entropy")] == pytest.approx(math.log(2))


def test_masc_runs_the_byte_ngram_model(shared_data: Path) -> None:
    assert load_suite("masc-genres").models == ("byte-ngram",)
    values = _metrics("masc-genres", ("byte-ngram",), shared_data, limit=3)
    for domain in ("newspaper", "twitter", "abc-rural"):
        ce, bpb = values[("byte-ngram", domain, "cross_entropy")], values[("byte-ngram", domain, "bits_per_byte")]
        assert bpb == pytest.approx(ce / np.log(2))  # tokens are bytes
        assert 0.5 < bpb < 8  # better than uniform bytes (8 bits), worse than perfect
    assert values[("byte-ngram", "newspaper", "cross_entropy")] < values[("byte-ngram", "twitter", "cross_entropy")]


def test_cli_run_masc_uses_the_suite_models(shared_data: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    from bench.cli import main

    assert main(["run", "masc-genres", "--data-dir", str(shared_data), "--limit", "2", "--out", str(tmp_path), "-q"]) == 0
    out = capsys.readouterr().out
    assert "byte-ngram" in out and "cross_entropy" in out and "majority" not in out
    metrics = pd.read_csv(next((tmp_path / "runs").glob("*/metrics.csv")))
    assert set(metrics["metric"]) == {"cross_entropy", "bits_per_byte"}
    assert set(metrics["domain"]) == {*load_suite("masc-genres").domains, "ALL"}
