"""INDI wire messages: what ekos.send_property sends to Ekos' INDI server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from lxml import etree

from ekos_occult.errors import EkosCommandFailed
from ekos_occult.kstars.indiwire import new_vector_xml, send_xml, server_port_from_log


def test_new_vector_xml_escapes_and_names_every_element() -> None:
    xml = new_vector_xml("CCD Simulator", "RECORD_FILE", "text", [("RECORD_FILE_DIR", "/a&<b>")])
    root = etree.fromstring(xml)
    assert root.tag == "newTextVector"
    assert (root.get("device"), root.get("name")) == ("CCD Simulator", "RECORD_FILE")
    (one,) = root
    assert (one.tag, one.get("name"), one.text) == ("oneText", "RECORD_FILE_DIR", "/a&<b>")
    sw = etree.fromstring(new_vector_xml("C", "S", "switch", [("ON", "On"), ("OFF", "Off")]))
    assert [(e.tag, e.text) for e in sw] == [("oneSwitch", "On"), ("oneSwitch", "Off")]


def test_server_port_from_ekos_log() -> None:
    log = [
        "2026-11-21T22:00:01 Devices connected.",
        "2026-11-21T21:59:58 INDI services started on port 40,727.",
        "2026-11-21T21:00:00 INDI services started on port 7624.",
    ]
    assert server_port_from_log(log) == 40727  # newest first, thousands separator
    assert server_port_from_log(["nothing here"]) is None


def test_send_xml_delivers_the_message() -> None:
    async def scenario() -> bytes:
        got: asyncio.Queue[bytes] = asyncio.Queue()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await got.put(await reader.read())
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            await send_xml("127.0.0.1", port, b"<x/>\n", 5.0)
            return await asyncio.wait_for(got.get(), 5.0)

    assert asyncio.run(scenario()) == b"<x/>\n"


def test_send_xml_to_a_closed_port_is_an_ekos_error() -> None:
    async def free_port() -> int:
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = int(server.sockets[0].getsockname()[1])
        server.close()
        await server.wait_closed()
        return port

    port = asyncio.run(free_port())
    with pytest.raises(EkosCommandFailed, match="Cannot send to the INDI server"):
        asyncio.run(send_xml("127.0.0.1", port, b"<x/>", 2.0))


def test_remote_profile_names_the_server_local_profile_does_not() -> None:
    from ekos_occult.kstars.indiwire import server_from_profile

    remote = (
        '{"name": "SM", "mode": "remote", "remote_host": "stellarmate.local", "remote_port": 7624}'
    )
    found = server_from_profile(remote)
    assert found is not None and (found.host, found.port, found.is_local) == (
        "stellarmate.local",
        7624,
        False,
    )
    assert "recordings stay there" in found.describe()
    web_manager_here = '{"mode": "remote", "remote_host": "localhost", "remote_port": 7624}'
    here = server_from_profile(web_manager_here)
    assert here is not None and here.is_local and here.host == "127.0.0.1"
    for text in ('{"mode": "local", "remote_port": 7624}', "not json", "[]", '{"mode": "remote"}'):
        assert server_from_profile(text) is None


def test_port_from_kstars_indiserver_child() -> None:
    from ekos_occult.kstars.indiwire import port_from_cmdline

    argv = "/tmp/sb/home/bin/indi-srv -v -p 47147 -m 1024 -r 0 -f /tmp/indififoa7".split()
    assert port_from_cmdline(argv) == 47147  # OBSERVED: the sandbox's KStars 3.6.2 child
    assert port_from_cmdline(["/usr/bin/indiserver", "-v", "indi_simulator_ccd"]) == 7624
    assert port_from_cmdline(["/usr/bin/Xvfb", "-p", "5"]) is None
    assert port_from_cmdline([]) is None


def test_the_remote_profile_of_kstars_user_database(tmp_path: Path) -> None:
    import sqlite3

    from ekos_occult.kstars.indiwire import server_from_userdb

    path = tmp_path / "userdb.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE profile (id INTEGER PRIMARY KEY, name TEXT, host TEXT, port INTEGER)")
    db.executemany(
        "INSERT INTO profile (name, host, port) VALUES (?, ?, ?)",
        [("Local", None, None), ("SM", "stellarmate.local", 7625), ("Web", "localhost", None)],
    )
    db.commit()
    db.close()
    sm = server_from_userdb(path, "SM")
    assert sm is not None and (sm.host, sm.port, sm.is_local) == ("stellarmate.local", 7625, False)
    assert "profile 'SM'" in sm.how
    web = server_from_userdb(path, "Web")  # INDI Web Manager on this machine: local files
    assert web is not None and web.is_local and web.port == 7624
    assert server_from_userdb(path, "Local") is None  # local mode: KStars' own indiserver
    assert server_from_userdb(path, "Nope") is None
    assert server_from_userdb(tmp_path / "missing.sqlite", "SM") is None
    (tmp_path / "junk.sqlite").write_bytes(b"not a database" * 100)
    assert server_from_userdb(tmp_path / "junk.sqlite", "SM") is None
