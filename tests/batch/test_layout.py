"""Which files of an hour folder are data: the lander's published names, nothing else."""

import pytest

from batch.layout import FileName

NAME = "surge.events+3+0000000000000001200+0000000000000001499.parquet"


def test_a_published_name_round_trips():
    name = FileName.parse(NAME)
    assert name == FileName("surge.events", 3, 1200, 1499)
    assert name.encode() == NAME


@pytest.mark.parametrize(
    "other",
    [
        "part-00000.parquet",
        "_SUCCESS",
        NAME + ".tmp",
        "." + NAME,  # hidden: a temp file being written
        "_" + NAME,
        "surge.events+3+12+x.parquet",
    ],
)
def test_anything_else_is_not_data(other):
    assert FileName.parse(other) is None


def test_the_lander_reads_back_the_names_compaction_writes():
    filenames = pytest.importorskip("stream.filenames")
    name = FileName("surge.events", 5, 7, 2**63 - 1)
    lander = filenames.FileName.parse(name.encode())
    assert (lander.topic, lander.partition, lander.first, lander.last) == (
        "surge.events",
        5,
        7,
        2**63 - 1,
    )
