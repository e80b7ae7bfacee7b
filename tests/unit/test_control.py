"""The daemon's control socket without a daemon: the closed unpickling (tuimon/server/wire.py),
the socket's mode and stale files, and ControlChannel's routing between several clients
(tuimon/server/control.py); the subcommands' command lines (tuimon/cli.py)."""

from __future__ import annotations

import os
import pickle
import socket
import stat
import time

import pytest

from tuimon.cli import client_config, config_from, build_parser, serve_config
from tuimon.config import Config
from tuimon.errors import TuimonError
from tuimon.server.control import ControlChannel, ControlError, connect, open_listener
from tuimon.server.protocol import (Packets, PacketList, Page, Ping, Pong, Query, Save,
                                    Served, Status, Stop, WritePcap, CAPTURING)
from tuimon.server.wire import BadMessage, dumps, loads_reply, loads_request


class Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/tuimon-pwned",))


# -- wire -------------------------------------------------------------------------------

def test_requests_round_trip():
    for request in (Query(view="conversations", cursor_key=(6, b"\x0a\0\0\1", 80, b"x", None)),
                    Save("x", 3), Ping(2), Packets((17, b"ab", 7, b"cd", 9), 4), Stop()):
        assert loads_request(dumps(request)) == request


def test_code_in_a_request_is_refused_not_run():
    with pytest.raises(BadMessage, match="posix.system|os.system"):
        loads_request(pickle.dumps(Evil()))
    assert not os.path.exists("/tmp/tuimon-pwned")


def test_a_reply_class_is_not_a_request():
    with pytest.raises(BadMessage, match="Pong"):
        loads_request(dumps(Pong(1, 2, [])))


def test_fields_of_the_wrong_type_are_refused():
    bad = Query()
    object.__setattr__(bad, "limit", "50")
    with pytest.raises(BadMessage, match="Query.limit"):
        loads_request(dumps(bad))
    with pytest.raises(BadMessage, match="no view"):
        loads_request(dumps(Query(view="nope")))
    extra = Ping(1)
    extra.more = 1
    with pytest.raises(BadMessage, match="unknown fields"):
        loads_request(dumps(extra))
    with pytest.raises(BadMessage, match="damaged"):
        loads_request(b"\x80\x05garbage")


def test_replies_carry_tuimon_classes_only():
    assert loads_reply(dumps(Status(CAPTURING, "", "eth0", True))).source == "eth0"
    with pytest.raises(BadMessage):
        loads_reply(pickle.dumps(Evil()))


# -- the socket -------------------------------------------------------------------------

def test_socket_mode_stale_file_and_a_listening_daemon(tmp_path):
    path = str(tmp_path / "run" / "d.sock")
    listener = open_listener(path, None)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o660
    with pytest.raises(ControlError, match="another tuimon serve is listening"):
        open_listener(path, None)
    listener.close()  # a daemon killed: its file stays, nobody listens
    assert os.path.exists(path)
    open_listener(path, None).close()
    (tmp_path / "plain").write_text("x")
    with pytest.raises(ControlError, match="not a socket"):
        open_listener(str(tmp_path / "plain"), None)
    with pytest.raises(ControlError, match="no group named"):
        open_listener(str(tmp_path / "g.sock"), "no-such-group-tuimon")
    with pytest.raises(ControlError, match="no tuimon serve listens"):
        connect(str(tmp_path / "none.sock"))


def _wait(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("timed out")


def _recv(conn):
    assert conn.poll(5)
    return loads_reply(conn.recv_bytes())


def test_replies_go_to_the_client_that_asked(tmp_path):
    path = str(tmp_path / "c.sock")
    config = Config(csv=str(tmp_path / "daemon-csv"), subcommand="serve")
    logged = []
    channel = ControlChannel(open_listener(path, None),
                             lambda: [Served("eth0", 1), Status(CAPTURING, "", "eth0", True)],
                             config, logged.append)
    channel.start()
    try:
        one, two = connect(path), connect(path)
        for conn in (one, two):
            assert isinstance(_recv(conn), Served) and isinstance(_recv(conn), Status)
        one.send_bytes(dumps(Ping(1)))
        two.send_bytes(dumps(Packets((6, b"a", 1, b"b", 2), 7)))
        two.send_bytes(dumps(Save("/etc", 8, final=True)))
        two.send_bytes(dumps(WritePcap((6, b"a", 1, b"b", 2), "/etc", 9)))
        _wait(lambda: sum(len(c.pending) for c in channel.clients.values()) == 4)
        asked = {}
        for _ in range(2):
            batch = channel.poll(0.1)
            for request in batch:
                asked[type(request).__name__] = request
            if isinstance(batch[0], Ping):
                channel.send(Pong(1, 0, []))  # sent while one's batch is the current one
        # the socket's group does not choose where the daemon writes, nor stop its capture
        assert asked["Save"] == Save(config.csv, 8, final=False)
        assert asked["WritePcap"].folder is None
        channel.send(PacketList(7, (6, b"a", 1, b"b", 2)))  # the drill thread's answer
        channel.send(Status(CAPTURING, "news", "eth0", True))  # to everyone
        assert isinstance(_recv(one), Pong)
        assert isinstance(_recv(two), PacketList)
        assert _recv(one).message == _recv(two).message == "news"
        # Stop detaches that client only; the channel never says the UI has gone
        one.send_bytes(dumps(Stop()))
        _wait(lambda: len(channel.clients) == 1)
        assert channel.poll(0.05) == [] and channel.send(Page(0, "hosts", "bytes", True, "",
                                                              None, 0, 0, 0, 0))
        # a frame that is not a request: that client is disconnected, with one log line
        two.send_bytes(pickle.dumps(os.getcwd))
        _wait(lambda: not channel.clients)
        assert len(logged) == 1 and "refused on the control socket" in logged[0]
    finally:
        channel.close()
    assert not os.path.exists(path)


def test_a_client_that_reads_nothing_is_disconnected_not_waited_for(tmp_path):
    path = str(tmp_path / "slow.sock")
    logged = []
    channel = ControlChannel(open_listener(path, None), lambda: [], Config(), logged.append)
    channel.start()
    try:
        slow = socket.socket(socket.AF_UNIX)
        slow.connect(path)
        slow.sendall(len(dumps(Ping(1))).to_bytes(4, "big") + dumps(Ping(1)))
        _wait(lambda: any(c.pending for c in channel.clients.values()))
        channel.poll(0.1)
        big = Pong(1, 0, ["x" * 1000] * 1000)
        started = time.monotonic()
        for _ in range(2000):  # far more than the socket's buffer and the outbox hold
            channel.send(big)
        assert time.monotonic() - started < 5
        _wait(lambda: not channel.clients)
        assert any("disconnected" in line for line in logged)
        slow.close()
    finally:
        channel.close()


# -- the command line -------------------------------------------------------------------

def test_subcommands_parse_into_the_config():
    config = serve_config(build_parser(serve=True).parse_args(
        ["eth0", "--control", "/run/x.sock", "--control-group", "adm", "--csv", "out"]))
    assert (config.subcommand, config.serve, config.interfaces, config.control,
            config.control_group, config.csv) == ("serve", True, ("eth0",), "/run/x.sock",
                                                  "adm", "out")
    assert not config.no_ui and config.ring_bytes == 64 << 20 and config.play_speed == 1
    with pytest.raises(TuimonError, match="drop --no-ui"):
        serve_config(build_parser(serve=True).parse_args(["eth0", "--no-ui"]))
    assert client_config("attach", ["/s.sock"]).control == "/s.sock"
    web = client_config("web", [])
    assert web.web_bind == ("127.0.0.1", 8080) and web.control is None
    assert client_config("web", ["--web-bind", "[::1]:9000"]).web_bind == ("::1", 9000)
    assert client_config("web", ["--web-bind", ":9001"]).web_bind == ("127.0.0.1", 9001)
    ctl = client_config("ctl", ["counters", "--reset", "a", "--reset", "b", "/s.sock"])
    assert (ctl.ctl_reset, ctl.ctl_reset_all, ctl.control) == (("a", "b"), False, "/s.sock")


def test_an_interface_named_serve_after_two_dashes():
    args = build_parser().parse_args(["--", "serve"])
    assert config_from(args).interfaces == ("serve",)


@pytest.mark.parametrize("argv", [["attach"], ["web"], ["ctl", "counters"]])
def test_no_daemon_is_one_line(argv, tmp_path, capsys):
    from tuimon.cli import run

    code, _ = run([*argv, str(tmp_path / "none.sock")])
    err = capsys.readouterr().err
    assert code == 2 and err == f"tuimon: no tuimon serve listens on {tmp_path}/none.sock " \
                                "(no such socket)\n"


def test_serve_on_a_path_that_is_not_a_socket_is_one_line(tmp_path, capsys):
    from tuimon.cli import run

    (tmp_path / "f").write_text("")
    code, _ = run(["serve", "-r", "x.pcap", "--control", str(tmp_path / "f")])
    assert code == 2
    assert capsys.readouterr().err == f"tuimon: --control {tmp_path}/f: exists and is not a socket\n"
