"""Fantano's own scores: the one name normalization, the bundled table, its builder and its lookups."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from sources.fantano import BUNDLED, FantanoReview, FantanoScores, ScoresError, dump
from sources.names import album_key, core_title, normalize_title
from training.__main__ import main
from training.reviews import fantano_scores, fetcher_scores, untokenized

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"the shared review tables are not at {DATA}")

TND = (
    "publishedAt,artist,title,rating,genres\n"
    "2023-07-02T03:38:01Z,Geese,3D Country,8,southern rock;;post-punk\n"
    "2012-04-25T00:00:00Z,Death Grips,The Money Store,1,experimental hip hop\n"  # tnd's misread score
    "2017-05-01T00:00:00Z,Björk,Utopia,7,art pop\n"
)
KAGGLE = (
    ",title,artist,review_date,review_type,score,word_score,best_tracks,worst_track,link\n"
    "0,The Money Store,Death Grips,2012-04-24,Album,10.0,,\"['GET GOT ', 'LOST BOYS']\",,"
    "https://www.youtube.com/watch?v=aaaaaaaaaaa\n"
    "1,Some EP,Tyler & Friends,2013-01-01,EP,6.0,,[],Worst,https://www.youtube.com/watch?v=bbbbbbbbbbb\n"
    "2,All Love's Legal,Planningtorock,2014-04-01,Album,10.0,,[],,https://www.youtube.com/watch?v=ccccccccccc\n"
)
FETCHER = (
    "id,video_id,publish_date,title,artist,album,rating,yellow_flannel,fav_tracks,least_fav_track,genres\n"
    '1,aaaaaaaaaaa,2012-04-24,x,Death Grips,The Money Store,10,1,"GET GOT, N/A",THE FEVER (AYE AYE),\n'
    "2,zzzzzzzzzzz,2015-01-01,x,Kanye West,Retro,classic,0,,,\n"
)


@pytest.mark.parametrize(
    ("a", "b"),
    [("Tyler, The Creator", "tyler the creator"), ("Simon & Garfunkel", "Simon and Garfunkel"),
     ("Björk", "BJORK"), ("  The  Fever (Aye Aye) ", "the fever aye aye"), ("Sigur Rós", "sigur ros")],
)  # fmt: skip
def test_normalize_title_folds_spellings(a: str, b: str) -> None:
    assert normalize_title(a) == normalize_title(b)
    assert normalize_title(a) != normalize_title(a + " 2")


@pytest.mark.parametrize(
    ("album", "same"),
    [("IGOR (Deluxe)", True), ("IGOR [Remastered]", True), ("IGOR (10th Anniversary Deluxe Edition)", True),
     ("IGOR (Expanded Edition) [2019 Remaster]", True), ("igor!", True), ("IGOR (Live)", False),
     ("IGOR 2", False)],
)  # fmt: skip
def test_album_key_drops_edition_qualifiers_only(album: str, same: bool) -> None:
    assert (album_key("Tyler, The Creator", album) == album_key("TYLER THE CREATOR", "IGOR")) is same


def test_album_key_keeps_brackets_that_name_a_different_record() -> None:
    assert album_key("Weezer", "Self-Titled (Teal)") != album_key("Weezer", "Self-Titled (White)")
    assert album_key("Taylor Swift", "Fearless (Taylor's Version)") != album_key("Taylor Swift", "Fearless")
    assert album_key("X", "(Deluxe)") == ("x", "deluxe")  # a title that is all qualifier keeps it
    assert core_title("IGOR (Live)") == "igor" and core_title("(Intro)") == "intro"


def _tables(tmp_path: Path) -> tuple[Path, Path, Path]:
    paths = tmp_path / "tnd_reviews.csv", tmp_path / "fantano_reviews.csv", tmp_path / "fetcher.csv"
    paths[0].write_text(TND, encoding="utf-8")
    paths[1].write_bytes(KAGGLE.encode("cp1252"))
    paths[2].write_text(FETCHER, encoding="utf-8")
    return paths


def test_bundled_build_merges_tnd_and_kaggle(tmp_path: Path) -> None:
    tnd, kaggle, _ = _tables(tmp_path)
    assert fantano_scores(tnd, kaggle) == [
        FantanoReview("Björk", "Utopia", 2017, 7, (), None, "2017-05-01", ("art pop",)),
        # Both tables score it: the Kaggle row wins, with the tnd row's genre tags (Kaggle has none).
        FantanoReview("Death Grips", "The Money Store", 2012, 10, ("GET GOT", "LOST BOYS"), None,
                      "2012-04-24", ("experimental hip hop",)),
        FantanoReview("Geese", "3D Country", 2023, 8, (), None, "2023-07-02", ("southern rock", "post-punk")),
        FantanoReview("Tyler & Friends", "Some EP", 2013, 6, (), "Worst", "2013-01-01"),  # only in Kaggle
    ]  # sorted by normalized artist; the April Fools' review dropped


def test_fetcher_build(tmp_path: Path) -> None:
    *_, fetcher = _tables(tmp_path)
    assert fetcher_scores(fetcher) == [
        FantanoReview("Death Grips", "The Money Store", 2012, 10, ("GET GOT",), "THE FEVER (AYE AYE)",
                      "2012-04-24"),
    ]


def test_cli_builds_a_table_that_loads_and_finds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _tables(tmp_path)
    out = tmp_path / "scores.csv"
    assert main(["reviews", "--data", str(tmp_path), "--out", str(out)]) == 0
    assert f"wrote {out}: 4 albums, 1 with favourite tracks" in capsys.readouterr().out
    scores = FantanoScores.load(out)
    assert len(scores) == 4
    money = scores.find("DEATH GRIPS", "the money store (deluxe edition)")
    assert money == FantanoReview("Death Grips", "The Money Store", 2012, 10, ("GET GOT", "LOST BOYS"), None,
                                  "2012-04-24", ("experimental hip hop",))
    assert scores.find("Tyler and Friends", "Some EP!").least_favourite == "Worst"
    assert scores.find("Bjork", "Utopia").score == 7
    assert scores.find("Death Grips", "Exmilitary") is None
    assert scores.find("Geese", "3D Country").year == 2023

    fetched = tmp_path / "local" / "fetched.csv"  # a directory of its own, created
    assert main(["reviews", "--from-fetcher", str(tmp_path / "fetcher.csv"), "--out", str(fetched)]) == 0
    money = FantanoScores.load(fetched).find("Death Grips", "The Money Store")
    assert money is not None and money.least_favourite == "THE FEVER (AYE AYE)"


def test_fetcher_table_is_never_written_over_the_bundled_one(capsys: pytest.CaptureFixture[str]) -> None:
    before = BUNDLED.read_bytes()
    assert main(["reviews", "--from-fetcher", "x.csv", "--out", str(BUNDLED)]) == 2
    assert "must not be bundled" in capsys.readouterr().err
    assert BUNDLED.read_bytes() == before


def test_autocomplete() -> None:
    scores = FantanoScores([
        FantanoReview("The Beatles", "Abbey Road", 2019, 8, (), None),
        FantanoReview("Beach House", "Bloom", 2012, 8, (), None),
        FantanoReview("Beach House", "Depression Cherry", 2015, 6, (), None),
        FantanoReview("Beach House", "Teen Dream", 2010, 7, (), None),
        FantanoReview("Björk", "Vulnicura", 2015, 8, (), None),
        FantanoReview("BEACH HOUSE", "Bloom (Deluxe)", 2012, 5, (), None),  # a duplicate: the first row wins
    ])
    assert len(scores) == 5
    assert scores.artists("bea") == ["Beach House", "The Beatles"]  # starts-with first, then a later word
    assert scores.artists("BJO") == ["Björk"]
    assert scores.artists("", limit=2) == ["Beach House", "Björk"]
    assert scores.artists("zzz") == []
    assert scores.albums("beach house", "") == ["Bloom", "Depression Cherry", "Teen Dream"]
    assert scores.albums("Beach House", "d", limit=1) == ["Depression Cherry"]
    assert scores.albums("Nobody", "") == []
    assert scores.find("Beach House", "Bloom").score == 8


def test_round_trip_and_bad_tables(tmp_path: Path) -> None:
    review = FantanoReview("A, B", 'Say "Hi"', None, 0, ("One", "Two, Three"), "Four")
    path = tmp_path / "t.csv"
    assert dump([review], path) == 1
    assert FantanoScores.load(path).find("A B", "say hi") == review
    with pytest.raises(ScoresError, match="contains"):
        dump([FantanoReview("A", "B", None, 5, ("x | y",), None)], tmp_path / "u.csv")
    path.write_text("artist,album,year,score,favourites,least_favourite\nA,B,,11,,\n", encoding="utf-8")
    with pytest.raises(ScoresError, match="line 2"):
        FantanoScores.load(path)
    path.write_text("artist,album\nA,B\n", encoding="utf-8")
    with pytest.raises(ScoresError, match="lacks the columns"):
        FantanoScores.load(path)
    with pytest.raises(ScoresError, match="not found"):
        FantanoScores.load(tmp_path / "absent.csv")


def test_bundled_table_loads_with_its_notice() -> None:
    scores = FantanoScores.load()
    assert len(scores) > 2600
    notice = BUNDLED.with_name("fantano_scores.md").read_text(encoding="utf-8")
    assert "MIT" in notice and "CC0" in notice and "tnd-reviews" in notice and "fantano_scraper" in notice


def test_bundled_picks_are_written_as_fantano_writes_them() -> None:
    # The Kaggle table's tokenizer spacing ("' 03 ADOLESCENCE", "ST . TROPEZ") is cleaned out at build time.
    scores = FantanoScores.load()
    cole = scores.find("J. Cole", "2014 Forest Hills Drive")
    assert cole.favourites[0] == "'03 ADOLESCENCE" and cole.least_favourite == "ST. TROPEZ"
    assert scores.find("Metronomy", "The English Riviera").favourites[-1] == "EVERYTHING GOES MY WAY."
    assert scores.find("Big K.R.I.T.", "4eva Is a Mighty Long Time").favourites[0] == "BIG K.R.I.T."
    with BUNDLED.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    picks = [p for r in rows for p in (*r["favourites"].split(" | "), r["least_favourite"]) if p]
    assert len(picks) > 7000 and [p for p in picks if untokenized(p) != p] == []


@needs_data
def test_bundled_table_is_what_the_builder_makes_from_the_shared_data(tmp_path: Path) -> None:
    out = tmp_path / "scores.csv"
    assert main(["reviews", "--data", str(DATA), "--out", str(out)]) == 0
    assert out.read_bytes() == BUNDLED.read_bytes()


@needs_data
def test_real_tables() -> None:
    rows = fantano_scores(DATA / "tnd_reviews.csv", DATA / "fantano_reviews.csv")
    # 2,658 tnd albums + 1,575 scored Kaggle albums, 1,550 of them in both.
    assert len(rows) == 2683
    assert sum(bool(r.favourites) for r in rows) == 1521
    scores = FantanoScores(rows)
    assert scores.find("Death Grips", "The Money Store").score == 10
    assert scores.find("Kendrick Lamar", "To Pimp a Butterfly").score == 10
    assert scores.find("La Dispute", "Wildlife").score == 8  # tnd says 1; Kaggle (and the fetcher table) 8
    assert scores.find("Geese", "3D Country").score == 8  # 2023: tnd only
    assert scores.find("Planningtorock", "All Love's Legal") is None
    assert "Flying Lotus" in scores.artists("flying")
