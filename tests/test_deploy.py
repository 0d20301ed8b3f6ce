"""deploy/ on this machine: three app replicas behind Debian's nginx (deploy/run-local.sh, the
same configuration compose uses), driven by Chromium. Sessions spread over the replicas and stay
on theirs; /_stcore/metrics is not served through the proxy; the load harness runs through it;
and when a replica dies, its visitors land on another one with a fresh session and a sentence
saying why. The compose file's nginx.conf is checked to be the generator's output.

The browser tests share one set of replicas and run in file order: the last one kills a replica.
Server logs and nginx's are in ``tests/artifacts/deploy/`` when a test fails.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from streamlit_browser import ROOT, photo_drawn, settle

sys.path.insert(0, str(ROOT / "deploy"))
import nginx_conf  # noqa: E402

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
ARTIFACTS = ROOT / "tests" / "artifacts" / "deploy"
SERVER = re.compile(r"Server: (r\d)")
MOVED = "The server your session was on stopped"


def require_nginx() -> None:
    """Skip without nginx, except in CI, where it is a failure (.ci/run installs it)."""
    if Path(NGINX).exists():
        return
    if os.environ.get("CI"):
        raise RuntimeError(f"{NGINX} is missing although .ci/run should have installed it")
    pytest.skip("nginx is missing: install Debian's nginx (apt-get install nginx), as .ci/run does",
                allow_module_level=True)


def status(url: str) -> int:
    try:
        return urllib.request.urlopen(url, timeout=10).status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_the_compose_nginx_conf_is_the_generators_output():
    committed = (ROOT / "deploy" / "nginx.conf").read_text()
    assert committed == nginx_conf.render(nginx_conf.COMPOSE_REPLICAS), \
        "deploy/nginx.conf is stale: python3 deploy/nginx_conf.py > deploy/nginx.conf"
    assert "location ^~ /_stcore/metrics { return 404; }" in committed
    assert "ip_hash" not in committed, "one classroom NAT, or one test machine, would land on one replica"


def test_compose_runs_the_replicas_nginx_conf_names_without_root():
    """Containers cannot run here: the files are checked against the one generator instead."""
    compose = (ROOT / "deploy" / "docker-compose.yml").read_text()
    for name, addr in nginx_conf.COMPOSE_REPLICAS:
        host, port = addr.split(":")
        block = re.search(rf"^  {name}:\n((?:    .*\n)+)", compose, re.M)
        assert block, f"compose has no service {name}"
        assert f"ALEXNET_VIZ_REPLICA: {name}" in block.group(1) and f"ipv4_address: {host}" in block.group(1)
        assert port == "8501"
    assert "/weights:ro" in compose and "restart: on-failure" in compose and "script-health-check" in compose
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert re.search(r"^USER (?!root)\w+", dockerfile, re.M), "the app does not run as root"
    assert "ALEXNET_VIZ_WEIGHT_DIR=/weights" in dockerfile and "ALEXNET_VIZ_HOME=/cache" in dockerfile


# -- the replicas, running ------------------------------------------------------------------------
def free_ports(n: int) -> int:
    """The first of ``n`` consecutive free loopback ports (run-local.sh numbers replicas from it)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + n > 65000:
            continue
        try:
            for p in range(base, base + n):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
    raise RuntimeError("no run of free ports")


@pytest.fixture(scope="module")
def replicas(tmp_path_factory):
    """deploy/run-local.sh with 3 replicas on free loopback ports; yields (url, its folder)."""
    require_nginx()
    folder = tmp_path_factory.mktemp("deploy") / "local"
    base = free_ports(4)  # three replicas and the proxy
    env = dict(os.environ, ALEXNET_VIZ_OFFLINE="1", ALEXNET_VIZ_LOCAL_DIR=str(folder), PYTHON=sys.executable,
               REPLICAS="3", APP_PORT=str(base), PROXY_PORT=str(base + 3), NGINX_BIN=NGINX)
    script = str(ROOT / "deploy" / "run-local.sh")
    try:
        start = subprocess.run([script], env=env, capture_output=True, text=True, timeout=240)
        assert start.returncode == 0, start.stdout + start.stderr
        yield f"http://127.0.0.1:{base + 3}", folder
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for log in folder.glob("*.log"):  # stop removes the folder: keep the logs
            shutil.copy(log, ARTIFACTS / log.name)
        subprocess.run([script, "stop"], env=env, capture_output=True, timeout=60)
    assert not folder.exists(), "stop leaves nothing behind"


def pid_of(folder: Path, replica: str) -> int:
    return int((folder / f"replica-{replica}.pid").read_text())


def replica_of(pg) -> str:
    """The replica named in the page's sidebar ("Server: r2")."""
    text = pg.locator('[data-testid="stSidebar"]').get_by_text(SERVER).first.inner_text()
    return SERVER.search(text).group(1)


def visitors(browser, url: str, n: int) -> list:
    """``n`` pages, each in its own browser context (its own cookies: a different visitor)."""
    pages = []
    for _ in range(n):
        pg = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
        pg.set_default_timeout(60_000)
        pg.goto(url)
        settle(pg)
        pages.append(pg)
    return pages


def choose_sample(pg, name: str) -> None:
    box = pg.get_by_label("Sample photo", exact=True)
    box.click()
    box.fill(name)
    pg.get_by_role("option", name=name).first.click()
    settle(pg)


@pytest.mark.slow
def test_metrics_are_not_served_through_the_proxy(replicas):
    url, folder = replicas
    assert status(url + "/_stcore/health") == 200
    direct = url.rsplit(":", 1)[0] + ":" + str(int(url.rsplit(":", 1)[1]) - 3)  # replica r1 itself
    assert status(direct + "/_stcore/metrics") == 200, "Streamlit serves it: the proxy must hide it"
    assert status(direct + "/_stcore/script-health-check") == 200
    for path in ("/_stcore/metrics", "/_stcore/metrics?x=1", "//_stcore/metrics", "/_stcore/%6detrics",
                 "/_stcore/script-health-check"):
        assert status(url + path) == 404, path


@pytest.mark.browser
@pytest.mark.slow
def test_sessions_spread_over_the_replicas_and_stay_on_theirs(replicas, browser):
    url, _ = replicas
    pages = visitors(browser, url, 4)
    first = [replica_of(pg) for pg in pages]
    assert len(set(first)) > 1, f"every session landed on one replica: {first}"
    for pg, was in zip(pages, first):
        choose_sample(pg, "Coffee cup")  # a rerun, and uploads and /media, stay on the session's replica
        assert replica_of(pg) == was
        assert pg.get_by_text("Coffee cup").first.is_visible(), "the session (its choice) survived"
        cookie = {c["name"]: c["value"] for c in pg.context.cookies()}
        assert cookie.get(nginx_conf.COOKIE) == was
        assert pg.get_by_text(MOVED).count() == 0
    for pg in pages:
        pg.context.close()


@pytest.mark.browser
@pytest.mark.slow
def test_the_load_harness_runs_through_the_proxy(replicas):
    url, folder = replicas
    pids = [pid_of(folder, r) for r in ("r1", "r2", "r3")]
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_load.py"), "--url", url,
                          "--sessions", "2", *[a for p in pids for a in ("--pid", str(p))]],
                         capture_output=True, text=True, timeout=400)
    assert out.returncode == 0, out.stdout + out.stderr[-2000:]
    assert "failures: 0 of 2" in out.stdout
    cpu = float(re.search(r"([\d.]+) CPU-s per session", out.stdout).group(1))
    assert cpu > 0, "the replicas' own counters moved"
    assert "grad_cam" in out.stdout, "every action of the walkthrough ran"


@pytest.mark.browser
@pytest.mark.slow
def test_a_dead_replicas_visitors_reconnect_elsewhere_and_are_told(replicas, browser, tmp_path):
    url, folder = replicas
    pages = visitors(browser, url, 3)
    on = [replica_of(pg) for pg in pages]
    victim = pages[0]
    dead = on[0]
    os.kill(pid_of(folder, dead), signal.SIGKILL)  # a crash, not a clean shutdown
    # Streamlit's page reconnects by itself; nginx sends it to one of the dead replica's backups
    victim.locator('[data-testid="stSidebar"]').get_by_text(MOVED).wait_for(timeout=90_000)
    settle(victim)
    now = replica_of(victim)
    assert now != dead
    assert {c["name"]: c["value"] for c in victim.context.cookies()}[nginx_conf.COOKIE] == now, \
        "the browser is pinned to its new replica"
    for pg, was in zip(pages[1:], on[1:]):
        if was != dead:  # visitors of the live replicas noticed nothing
            assert replica_of(pg) == was and pg.get_by_text(MOVED).count() == 0
    # the fresh session works (uploads pass XSRF on the new replica) and the note goes once used
    from PIL import Image

    photo = tmp_path / "after.png"
    Image.new("RGB", (320, 240), (200, 120, 40)).save(photo)
    victim.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(photo))
    settle(victim)
    # the server's own picture of the photo, not the uploader's row (photo_drawn says why)
    photo_drawn(victim, "after.png").wait_for()
    assert victim.get_by_text(MOVED).count() == 0
    assert victim.locator('[data-testid="stException"]').count() == 0
    for pg in pages:
        pg.context.close()
