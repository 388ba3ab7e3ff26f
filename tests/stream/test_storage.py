"""One contract, every storage: the in-memory fake and the local folder always, HDFS (WebHDFS
and native RPC) against the real stack."""

import uuid

import pytest

from stream.storage import (
    HdfsStorage,
    LocalStorage,
    NativeHdfsStorage,
    StorageError,
    open_storage,
)
from tests.stream.doubles import MemoryStorage


@pytest.fixture(
    params=[
        "memory",
        "local",
        pytest.param("webhdfs", marks=pytest.mark.integration),
        pytest.param("native", marks=pytest.mark.integration),
    ]
)
def storage_and_root(request, tmp_path):
    kind = request.param
    root = f"/surge/lander-tests/storage-{uuid.uuid4().hex[:8]}"
    if kind == "memory":
        yield MemoryStorage(), root
        return
    if kind == "local":
        yield LocalStorage(tmp_path), root
        return
    stack = request.getfixturevalue("stack")
    if kind == "webhdfs":
        storage = HdfsStorage(stack.webhdfs_url, stack.hdfs_user)
    else:
        storage = NativeHdfsStorage(stack.hdfs_default_fs, stack.hdfs_user)
    try:
        yield storage, root
    finally:
        storage.delete(root, recursive=True)


def test_the_storage_contract(storage_and_root):
    storage, root = storage_and_root
    temp, final = f"{root}/_tmp/p/a.parquet", f"{root}/dt=2026-11-11/hr=00/a.parquet"
    assert storage.read(temp) is None and not storage.exists(temp)
    assert storage.list(f"{root}/nowhere") == []

    storage.write(temp, b"first")
    storage.write(temp, b"second")  # replaced whole
    assert storage.read(temp) == b"second" and storage.exists(temp)

    storage.mkdirs(f"{root}/dt=2026-11-11/hr=00")
    storage.mkdirs(f"{root}/dt=2026-11-11/hr=00")  # idempotent
    storage.rename(temp, final)
    assert not storage.exists(temp) and storage.read(final) == b"second"

    storage.write(temp, b"third")
    with pytest.raises(StorageError):
        storage.rename(temp, final)  # never overwrites
    assert storage.read(final) == b"second" and storage.exists(temp)
    with pytest.raises(StorageError):
        storage.rename(f"{root}/_tmp/p/missing", f"{root}/dt=2026-11-11/hr=00/b.parquet")

    assert storage.list(root) == ["_tmp", "dt=2026-11-11"]
    assert storage.list(f"{root}/dt=2026-11-11/hr=00") == ["a.parquet"]
    storage.delete(f"{root}/_tmp/p", recursive=True)
    storage.delete(f"{root}/_tmp/p", recursive=True)  # nothing to delete: fine
    assert storage.list(f"{root}/_tmp") == []


def test_storage_urls_pick_the_implementation(tmp_path):
    assert isinstance(open_storage(f"file://{tmp_path}"), LocalStorage)
    assert isinstance(open_storage("http://127.0.0.1:9870"), HdfsStorage)
    assert open_storage("webhdfs://127.0.0.1:9870").url == "http://127.0.0.1:9870"
    with pytest.raises(ValueError):
        open_storage("s3://bucket/x")


def test_injected_faults_fail_before_or_after_the_operation():
    storage = MemoryStorage()
    storage.fail("write", match="/a")
    with pytest.raises(StorageError):
        storage.write("/a", b"x")
    assert not storage.exists("/a")
    storage.fail("write", after=True)
    with pytest.raises(StorageError):
        storage.write("/a", b"x")
    assert storage.read("/a") == b"x"
