"""HDFS: one NameNode and one DataNode, WebHDFS on, replication 1, state under the stack dir."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from xml.sax.saxutils import escape

from infra.jvm import JvmSpec
from infra.settings import StackSettings

NAMENODE = "namenode"
DATANODE = "datanode"

LOG4J = """\
log4j.rootLogger=INFO,console
log4j.appender.console=org.apache.log4j.ConsoleAppender
log4j.appender.console.layout=org.apache.log4j.PatternLayout
log4j.appender.console.layout.ConversionPattern=%d{ISO8601} %p %c{2}: %m%n
# One line per block operation at INFO buries everything else.
log4j.logger.org.apache.hadoop.hdfs.server.datanode.DataNode.clienttrace=WARN
log4j.logger.org.apache.hadoop.hdfs.StateChange=WARN
log4j.logger.BlockStateChange=WARN
"""


def default_fs(settings: StackSettings) -> str:
    return f"hdfs://{settings.host}:{settings.namenode_port}"


def webhdfs_url(settings: StackSettings) -> str:
    return f"http://{settings.host}:{settings.namenode_http_port}"


def _state(settings: StackSettings) -> Path:
    return settings.stack_dir / "hdfs"


def _conf_dir(settings: StackSettings) -> Path:
    return settings.stack_dir / "conf" / "hadoop"


def write_config(settings: StackSettings) -> Path:
    """Write core-site.xml, hdfs-site.xml and log4j.properties from settings, on every start."""
    conf = _conf_dir(settings)
    conf.mkdir(parents=True, exist_ok=True)
    host, state = settings.host, _state(settings)
    core = {
        "fs.defaultFS": default_fs(settings),
        "hadoop.tmp.dir": str(state / "tmp"),
    }
    hdfs = {
        "dfs.namenode.name.dir": f"file://{state / 'name'}",
        "dfs.datanode.data.dir": f"file://{state / 'data'}",
        "dfs.replication": "1",
        "dfs.webhdfs.enabled": "true",
        "dfs.namenode.rpc-address": f"{host}:{settings.namenode_port}",
        "dfs.namenode.http-address": f"{host}:{settings.namenode_http_port}",
        "dfs.datanode.address": f"{host}:{settings.datanode_port}",
        "dfs.datanode.http.address": f"{host}:{settings.datanode_http_port}",
        "dfs.datanode.ipc.address": f"{host}:{settings.datanode_ipc_port}",
        # WebHDFS redirects clients to the DataNode by the name it registers with: make that
        # the address it listens on, not whatever the machine's hostname resolves to.
        "dfs.datanode.hostname": host,
        # A single DataNode: leave safe mode as soon as its blocks are reported.
        "dfs.namenode.safemode.extension": "0",
        # A lone DataNode cannot be replaced in a write pipeline; do not try.
        "dfs.client.block.write.replace-datanode-on-failure.enable": "false",
    }
    (conf / "core-site.xml").write_text(_site_xml(core))
    (conf / "hdfs-site.xml").write_text(_site_xml(hdfs))
    (conf / "log4j.properties").write_text(LOG4J)
    return conf


def _site_xml(properties: dict[str, str]) -> str:
    body = "".join(
        f"  <property><name>{escape(k)}</name><value>{escape(v)}</value></property>\n"
        for k, v in properties.items()
    )
    return f'<?xml version="1.0"?>\n<configuration>\n{body}</configuration>\n'


def _jvm(
    settings: StackSettings, classpath: str, name: str, main: str, heap: str, *args: str
) -> JvmSpec:
    # The conf dir goes first so that our *-site.xml and log4j.properties win.
    return JvmSpec(
        name=name,
        main_class=main,
        classpath=f"{_conf_dir(settings)}:{classpath}",
        heap=heap,
        args=args,
        system_properties=(f"hadoop.log.dir={settings.stack_dir / 'logs'}",),
    )


def format_spec(settings: StackSettings, classpath: str) -> JvmSpec | None:
    """The NameNode format command, or None when it is already formatted (first start only)."""
    if (_state(settings) / "name" / "current" / "VERSION").exists():
        return None
    return _jvm(
        settings,
        classpath,
        NAMENODE,
        "org.apache.hadoop.hdfs.server.namenode.NameNode",
        settings.namenode_heap,
        "-format",
        "-nonInteractive",
    )


def namenode_spec(settings: StackSettings, classpath: str) -> JvmSpec:
    return _jvm(
        settings,
        classpath,
        NAMENODE,
        "org.apache.hadoop.hdfs.server.namenode.NameNode",
        settings.namenode_heap,
    )


def datanode_spec(settings: StackSettings, classpath: str) -> JvmSpec:
    return _jvm(
        settings,
        classpath,
        DATANODE,
        "org.apache.hadoop.hdfs.server.datanode.DataNode",
        settings.datanode_heap,
    )


def is_healthy(webhdfs: str) -> bool:
    """One health probe: the NameNode is out of safe mode and has a live DataNode."""
    query = f"{webhdfs}/jmx?qry=Hadoop:service=NameNode,name=NameNodeInfo"
    try:
        with urllib.request.urlopen(query, timeout=3) as answer:
            beans = json.load(answer)["beans"]
    except (OSError, urllib.error.URLError, ValueError):
        return False
    if not beans:
        return False
    info = beans[0]
    return info.get("Safemode") == "" and json.loads(info.get("LiveNodes") or "{}") != {}
